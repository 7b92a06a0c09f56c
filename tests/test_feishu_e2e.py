"""End to end through `genjin serve` on a real port: a signed Feishu event in, a reply out."""

from __future__ import annotations

import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_feishu import FakeFeishu
from tests.support.feishu_testkit import (
    BOT_OPEN_ID,
    mention,
    message_event,
    signed_encrypted_request,
)
from tests.support.serving import genjin_serve

pytestmark = pytest.mark.slow  # a real `genjin serve` against the fake Feishu

ENCRYPT_KEY = "enc_e2e_key"
TOKEN = "vt_e2e"
CHAT = "oc_e2e_chat"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, FakeFeishu, Path]]:
    """`genjin serve` configured for Feishu (webhook mode) against a fake Feishu API."""
    fake = FakeFeishu(bot_open_id=BOT_OPEN_ID).start()
    env = {
        "GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/e2e.db",
        "GENJIN_FEISHU_APP_ID": fake.app_id,
        "GENJIN_FEISHU_APP_SECRET": fake.app_secret,
        "GENJIN_FEISHU_VERIFICATION_TOKEN": TOKEN,
        "GENJIN_FEISHU_ENCRYPT_KEY": ENCRYPT_KEY,
        "GENJIN_FEISHU_DOMAIN": fake.url,
    }
    try:
        with genjin_serve(tmp_path, env) as server:
            yield server.base, fake, tmp_path / "e2e.db"
        output = server.output()
    finally:
        fake.stop()
    for secret in (fake.app_secret, ENCRYPT_KEY, TOKEN):
        assert secret not in output  # secrets never reach the logs


def _post(base: str, event: dict) -> tuple[int, float]:
    body, headers = signed_encrypted_request(event, ENCRYPT_KEY)
    request = urllib.request.Request(f"{base}/webhook/feishu", data=body, headers=headers)
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, time.perf_counter() - start
    except urllib.error.HTTPError as exc:
        return exc.code, time.perf_counter() - start


def _event(text: str, message_id: str) -> dict:
    event = message_event(
        f"@_user_1 {text}",
        chat_id=CHAT,
        open_id="ou_zhang",
        token=TOKEN,
        message_id=message_id,
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
    )
    return event


def test_command_is_acknowledged_before_a_slow_api_and_answered_once(served):
    base, fake, _ = served
    fake.delay = 5.0  # Feishu's API is slow: the webhook must not wait for it
    event = _event("/跟进 客户A 报价已发 明天回访", "om_e2e_1")
    fake.note_event(event)
    status, _ = _post(base, event)
    assert status == 200
    assert fake.sent == []  # acknowledged while the reply is still on its way
    assert _post(base, event)[0] == 200  # Feishu redelivers: stored once
    (sent,) = fake.wait_for(1, timeout=20)
    assert sent.kind == "reply" and sent.reply_to == "om_e2e_1"
    assert "✅ 客户A｜跟进中 → 已报价" in sent.text
    time.sleep(0.5)
    assert len(fake.sent) == 1


def test_forgery_against_the_running_server_is_refused(served):
    base, fake, db = served
    event = _event("/跟进 客户B 报价已发", "om_e2e_forged")
    body, headers = signed_encrypted_request(event, "attacker-key")
    request = urllib.request.Request(f"{base}/webhook/feishu", data=body, headers=headers)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM inbox").fetchone() == (0,)
    time.sleep(0.5)
    assert fake.sent == []
