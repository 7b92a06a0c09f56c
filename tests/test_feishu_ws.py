"""End to end through `genjin serve` in long-connection (ws) mode: an event pushed over the fake
Feishu websocket is acked, answered once, and a redelivery of it is acked but not answered again."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_feishu_ws import FakeFeishuWS
from tests.support.feishu_testkit import BOT_OPEN_ID, mention, message_event
from tests.support.serving import genjin_serve

pytestmark = pytest.mark.slow  # a real `genjin serve` on the long connection

REPLY = "✅ 客户A｜跟进中 → 已报价"


def _poll(check: Callable[[], Any], timeout: float, what: str, log: Path) -> Any:
    """Call ``check`` until it returns something truthy; fail with the server log on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout}s; server log:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)


def _health(base: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


@pytest.fixture
def served_ws(tmp_path: Path) -> Iterator[tuple[str, FakeFeishuWS, Path]]:
    """`genjin serve` in ws mode against a fake Feishu (open API + long connection)."""
    fake = FakeFeishuWS(bot_open_id=BOT_OPEN_ID).start()
    env = {
        "GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/ws.db",
        "GENJIN_FEISHU_APP_ID": fake.app_id,
        "GENJIN_FEISHU_APP_SECRET": fake.app_secret,
        "GENJIN_FEISHU_MODE": "ws",
        "GENJIN_FEISHU_DOMAIN": fake.url,
        "GENJIN_FEISHU_BOT_OPEN_ID": BOT_OPEN_ID,
    }
    unset = ("GENJIN_FEISHU_VERIFICATION_TOKEN", "GENJIN_FEISHU_ENCRYPT_KEY")
    try:
        with genjin_serve(tmp_path, env, unset) as server:
            yield server.base, fake, server.log
    finally:
        fake.stop()
    assert fake.app_secret not in server.log.read_text(
        errors="replace"
    )  # secrets stay out of the logs


def test_long_connection_event_is_acked_answered_once_and_redelivery_is_ignored(served_ws):
    base, fake, log = served_ws
    fake.wait_connected(timeout=10)
    (request,) = fake.endpoint_requests
    assert request == {"AppID": fake.app_id, "AppSecret": fake.app_secret}
    (conn,) = fake.connections
    assert conn.query["service_id"] == str(fake.service_id) and conn.query["device_id"]

    event = message_event(
        "@_user_1 /跟进 客户A 报价已发 明天回访",
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
        token="",
    )
    fake.note_event(event)
    message_id = event["event"]["message"]["message_id"]
    chat_id = event["event"]["message"]["chat_id"]

    first = fake.wait_ack(fake.push_event(event), timeout=10)
    assert first.code == 200, first
    assert first.biz_rt is not None  # the handler ran (it is absent when the handler raised)

    (sent,) = fake.wait_for(1, timeout=10)
    assert sent.kind == "reply" and sent.reply_to == message_id and sent.chat_id == chat_id
    assert REPLY in sent.text, sent.text

    # Feishu redelivers the same event (a new frame): acked, stored once, not answered again.
    second = fake.wait_ack(fake.push_event(event), timeout=10)
    assert second.code == 200, second
    _poll(
        lambda: (h := _health(base)) and h["inbox_pending"] == 0 and h["outbox_pending"] == 0,
        5,
        "the pipeline did not drain",
        log,
    )
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert len(fake.sent) == 1, fake.texts()
        time.sleep(0.1)
    assert fake.hits("/open-apis/im/v1/messages", "POST") == 1  # not even a deduplicated re-send
    assert fake.duplicates == 0
    assert [a.code for a in fake.acks] == [200, 200]
    assert len(fake.connections) == 1  # no reconnects along the way
