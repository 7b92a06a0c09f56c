"""WeCom end to end through `genjin serve` on a real port: verify, store once, reply, refuse forgeries."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bot.adapters.wecom_crypto import WecomCrypto, sign
from tests.support.fake_wecom import FakeWecom
from tests.support.serving import genjin_serve

pytestmark = pytest.mark.slow  # a real `genjin serve` against the fake WeCom

TOKEN = "e2eT0ken"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CHAT = "wrkE2E"


def _post(base: str, crypto: WecomCrypto, body: dict, signature: str | None = None) -> int:
    enc = crypto.encrypt(json.dumps(body, ensure_ascii=False))
    ts, nonce = str(int(time.time())), "n0nce"
    query = urllib.parse.urlencode(
        {"msg_signature": signature or sign(TOKEN, ts, nonce, enc), "timestamp": ts, "nonce": nonce}
    )
    request = urllib.request.Request(
        f"{base}/webhook/wecom?{query}",
        data=json.dumps({"encrypt": enc}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_callback_through_genjin_serve(tmp_path: Path):
    fake = FakeWecom(keys={"hook-e2e"}).start()
    (tmp_path / "config.toml").write_text(
        f'[wecom.chats."{CHAT}"]\nwebhook_key = "hook-e2e"\n', encoding="utf-8"
    )
    env = {
        "GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/wecom.db",
        "GENJIN_WECOM_TOKEN": TOKEN,
        "GENJIN_WECOM_ENCODING_AES_KEY": KEY,
        "GENJIN_WECOM_DOMAIN": fake.url,
    }
    crypto = WecomCrypto(TOKEN, KEY, "")
    try:
        with genjin_serve(tmp_path, env) as served:
            ts, nonce = str(int(time.time())), "abc"  # `serve` runs on the real clock
            echo = crypto.encrypt("echo-42")
            query = urllib.parse.urlencode(
                {
                    "msg_signature": sign(TOKEN, ts, nonce, echo),
                    "timestamp": ts,
                    "nonce": nonce,
                    "echostr": echo,
                }
            )
            with urllib.request.urlopen(
                f"{served.base}/webhook/wecom?{query}", timeout=5
            ) as response:
                assert response.read() == b"echo-42"
            body = {
                "msgid": "e2e-1",
                "aibotid": "AIBOT",
                "chatid": CHAT,
                "chattype": "group",
                "from": {"userid": "zhangsan"},
                "response_url": fake.response_url("re2e1"),
                "msgtype": "text",
                "text": {"content": "@跟进助手 /跟进 客户A 报价已发 明天回访"},
            }
            assert [_post(served.base, crypto, body) for _ in range(3)] == [
                200,
                200,
                200,
            ]  # redelivered
            forged = dict(body, msgid="e2e-forged")
            assert _post(served.base, crypto, forged, signature="0" * 40) == 403
            deadline = time.monotonic() + 10
            while not fake.responses() and time.monotonic() < deadline:
                time.sleep(0.1)
            (reply,) = fake.responses()
            assert reply.target == "re2e1" and "✅ 客户A｜跟进中 → 已报价" in reply.content
            with sqlite3.connect(tmp_path / "wecom.db") as conn:
                assert conn.execute("SELECT message_id FROM inbox").fetchall() == [("e2e-1",)]
            time.sleep(0.5)
            assert len(fake.responses()) == 1 and fake.webhook() == []
        assert KEY not in served.output() and "hook-e2e" not in served.output()
    finally:
        fake.stop()
