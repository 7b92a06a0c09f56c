"""Fixtures for Feishu tests: a fake Feishu API, a runtime wired to it, and an event poster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.app import create_app
from bot.runtime import Runtime
from tests.support.fake_feishu import FakeFeishu
from tests.support.feishu_testkit import (
    BOT_OPEN_ID,
    mention,
    message_event,
    signed_encrypted_request,
)
from tests.support.harness import Clock

ENCRYPT_KEY = "enc_test_key"
TOKEN = "vt_test"
CHAT = "oc_sales_team"


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeFeishu]:
    """A running fake Feishu open API that stamps sent messages on the test clock."""
    with FakeFeishu(
        bot_open_id=BOT_OPEN_ID,
        members={CHAT: {"ou_zhang": "张三", "ou_li": "李四"}},
        clock=lambda: clock().timestamp(),
    ) as server:
        yield server


def configure_feishu(settings: Any, fake: FakeFeishu, encrypt_key: str = ENCRYPT_KEY) -> None:
    """Point the settings at the fake, with real-looking credentials."""
    settings.feishu.app_id = fake.app_id
    settings.feishu.app_secret = fake.app_secret
    settings.feishu.verification_token = TOKEN
    settings.feishu.encrypt_key = encrypt_key
    settings.feishu.domain = fake.url
    settings.feishu.bot_open_id = BOT_OPEN_ID
    settings.sender.backoff_seconds = 1.0


class FeishuChat:
    """Post signed, encrypted events to the webhook like Feishu does."""

    def __init__(self, runtime: Runtime, fake: FakeFeishu) -> None:
        self.runtime = runtime
        self.fake = fake
        self.client = create_app(runtime.settings, runtime).test_client()
        self.count = 0

    def now_ms(self) -> int:
        """The runtime's clock in epoch milliseconds: events are stamped with the test's time."""
        return int(self.runtime.clock().timestamp() * 1000)

    def post_event(self, event: dict[str, Any], **request: Any) -> Any:
        """POST one event; returns the Flask response."""
        body, headers = signed_encrypted_request(
            event, self.runtime.settings.feishu.encrypt_key, timestamp=self.now_ms() // 1000
        )
        return self.client.post("/webhook/feishu", data=body, headers=headers, **request)

    def command(
        self, text: str, open_id: str = "ou_zhang", message_id: str | None = None, **kw: Any
    ) -> tuple[Any, dict]:
        """Send ``@跟进助手 text`` as ``open_id``; returns (response, event)."""
        self.count += 1
        mentions = [mention("@_user_1", BOT_OPEN_ID, "跟进助手"), *kw.pop("mentions", [])]
        kw.setdefault("create_time_ms", self.now_ms())
        event = message_event(
            f"@_user_1 {text}",
            chat_id=CHAT,
            open_id=open_id,
            token=TOKEN,
            message_id=message_id or f"om_test_{self.count}",
            mentions=mentions,
            **kw,
        )
        self.fake.note_event(event)
        return self.post_event(event), event

    def tap(self, callback: dict[str, Any], **request: Any) -> Any:
        """POST a card callback (``fake.tap`` / ``fake.submit``) signed like an event; a 200
        answer is shown by the fake client (toast, updated card). Returns the Flask response."""
        response = self.post_event(callback, **request)
        if response.status_code == 200:
            self.fake.answered(callback, response.get_json())
        return response

    def texts(self) -> list[str]:
        """Texts the fake Feishu received."""
        return self.fake.texts()


def content_of(sent: Any) -> dict[str, Any]:
    """The parsed content of a recorded message."""
    return sent.content if isinstance(sent.content, dict) else json.loads(sent.content)
