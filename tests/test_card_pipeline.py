"""A tap's way through the pipeline: stored, handled elsewhere, answered inline or sent later.

Every test runs on SQLite and, with GENJIN_TEST_DATABASE_URL, on PostgreSQL. The dispatcher runs
in another thread (tests/support/cards.py): the waiting side only sees the database.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from flask import Request, Response
from sqlalchemy import select

from bot.adapters.base import Adapter, OutboundItem, SendResult, WebhookAnswer
from bot.adapters.console import ConsoleAdapter
from bot.app import create_app
from bot.config import Settings
from bot.messages import ACT_DONE, ACT_SNOOZE, AWAITED_UNTIL, IncomingMessage, OutgoingMessage
from bot.runtime import INLINE
from bot.scheduler import tick
from models import Activity, Inbox, Outbox
from models.pipeline import PENDING, SENT
from tests.support.cards import action, dispatching, sent_card
from tests.support.harness import TZ, ChatHarness


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def nudged(chat: ChatHarness) -> tuple[str, int, list[OutboundItem]]:
    """A morning nudge sent to 张三 about 华为; (card id, 华为's id, what the console sends next)."""
    chat.clock.now = at(2026, 11, 25, 10)
    chat.send("/跟进 华为 报价已发 11月27日", as_="张三")
    tick(chat.runtime, at(2026, 11, 27, 9, 30))
    chat.clock.now = at(2026, 11, 27, 10, 32)
    card = sent_card(chat.runtime, "morning_nudges")
    customer = chat.customer("华为")
    assert customer is not None
    sent: list[OutboundItem] = []
    console = chat.runtime.adapters["console"]
    assert isinstance(console, ConsoleAdapter)
    console.listener = sent.append
    return card, customer.id, sent


def replies_of(chat: ChatHarness, message_id: str) -> list[Outbox]:
    with chat.runtime.sessions() as session:
        inbox = session.scalars(select(Inbox.id).where(Inbox.message_id == message_id)).one()
        return list(session.scalars(select(Outbox).where(Outbox.inbox_id == inbox)))


def test_receive_action_returns_the_answer_and_the_sender_never_sends_it(chat):
    card, hw, sent = nudged(chat)
    message = action(chat, card, ACT_SNOOZE, hw, arg="monday", tap_id="cb-1")
    with dispatching(chat.runtime):
        answer = chat.runtime.receive_action(message, wait=10.0)
    assert answer is not None and len(answer) == 1
    assert answer[0].update_of == card
    assert answer[0].toast == "已记录：华为｜已报价｜下次跟进 11月30日(周一)"
    (row,) = replies_of(chat, "cb-1")
    assert (row.status, row.sent_by, row.sent_at) == (SENT, INLINE, chat.clock.now)
    chat.clock.advance(seconds=60)
    chat.runtime.drain()
    assert sent == []


def test_a_redelivered_tap_is_answered_none_and_changes_nothing(chat):
    card, hw, _ = nudged(chat)
    message = action(chat, card, ACT_DONE, hw, form={"note": "报价跟进"}, tap_id="cb-2")
    with dispatching(chat.runtime):
        assert chat.runtime.receive_action(message, wait=10.0) is not None
        before = chat.count(Activity)
        assert chat.runtime.receive_action(message, wait=10.0) is None
    assert chat.count(Activity) == before
    assert len(replies_of(chat, "cb-2")) == 1


def test_a_tap_not_answered_in_time_is_none_and_the_sender_delivers_the_update(chat):
    card, hw, sent = nudged(chat)
    message = action(chat, card, ACT_SNOOZE, hw, arg="tomorrow", tap_id="cb-3")
    assert chat.runtime.receive_action(message, wait=0.05) is None  # nobody dispatching
    with chat.runtime.sessions() as session:
        row = session.scalars(select(Inbox).where(Inbox.message_id == "cb-3")).one()
        assert row.status == PENDING and AWAITED_UNTIL not in row.payload["platform_data"]
    chat.runtime.drain()  # a worker comes along: handled, then sent (no hold: nobody waits)
    (item,) = sent
    assert item.message.update_of == card and item.message.toast.startswith("已记录：华为")
    (reply,) = replies_of(chat, "cb-3")
    assert reply.status == SENT and reply.sent_by != INLINE


def test_a_taps_replies_are_held_for_its_waiter_and_let_go_when_it_gives_up(chat):
    card, hw, sent = nudged(chat)
    until = chat.clock.now.replace(second=2)
    message = action(chat, card, ACT_SNOOZE, hw, arg="tomorrow", tap_id="cb-4")
    message = replace(
        message, platform_data={**message.platform_data, AWAITED_UNTIL: until.isoformat()}
    )
    row_id = chat.runtime.receive(message)  # as receive_action stores it (its waiter elsewhere)
    assert row_id is not None
    chat.runtime.drain()
    assert sent == []  # held for the waiter
    chat.clock.advance(seconds=1)
    chat.runtime.drain()
    assert sent == []
    chat.runtime._let_go(row_id)  # the waiter's deadline passed after the row was handled
    chat.runtime.drain()
    assert [item.message.update_of for item in sent] == [card]


def test_a_held_reply_goes_out_by_itself_once_the_wait_is_over(chat):
    card, hw, sent = nudged(chat)
    until = chat.clock.now.replace(second=2)
    message = action(chat, card, ACT_SNOOZE, hw, arg="tomorrow", tap_id="cb-5")
    message = replace(
        message, platform_data={**message.platform_data, AWAITED_UNTIL: until.isoformat()}
    )
    chat.runtime.receive(message)  # its waiter died before claiming
    chat.runtime.drain()
    assert sent == []
    chat.clock.advance(seconds=3)
    chat.runtime.drain()
    assert len(sent) == 1


class TapAdapter(Adapter):
    """A platform whose webhook carries one tap as JSON and answers it with the toast."""

    platform = "tappy"

    def __init__(self, chat: ChatHarness | None = None) -> None:
        self.chat = chat
        self.receive: Callable[[IncomingMessage], object] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float]) -> TapAdapter:
        return cls()

    def parse_request(self, req: Request) -> WebhookAnswer:
        body = req.get_json()
        assert self.chat is not None
        message = action(self.chat, body["card"], body["verb"], body["target"], body["arg"])
        return [replace(message, message_id=body["id"])], Response("ack", 200)

    def action_response(
        self, message: IncomingMessage, replies: list[OutgoingMessage] | None
    ) -> Response | None:
        if replies is None:
            return None
        return Response(json.dumps({"toast": replies[0].toast}), 200, mimetype="application/json")

    def send(self, item: OutboundItem) -> SendResult:
        return SendResult(ok=True)

    def start_long_connection(
        self, receive: Callable[[IncomingMessage], object]
    ) -> threading.Thread | None:
        self.receive = receive
        thread = threading.Thread(target=lambda: None)
        thread.start()
        return thread


def test_the_webhook_answers_a_tap_with_the_adapters_action_response(chat):
    card, hw, sent = nudged(chat)
    chat.runtime.adapters["tappy"] = TapAdapter(chat)
    client = create_app(runtime=chat.runtime).test_client()
    body = {"card": card, "verb": ACT_SNOOZE, "target": hw, "arg": "monday", "id": "cb-6"}
    with dispatching(chat.runtime):
        answer = client.post("/webhook/tappy", json=body)
        assert answer.status_code == 200
        assert answer.get_json() == {"toast": "已记录：华为｜已报价｜下次跟进 11月30日(周一)"}
        again = client.post("/webhook/tappy", json=body)  # redelivered: the plain ack
    assert (again.status_code, again.get_data(as_text=True)) == (200, "ack")


def test_the_long_connection_gets_the_answer_of_a_tap_from_receive(chat):
    card, hw, sent = nudged(chat)
    adapter = TapAdapter(chat)
    chat.runtime.adapters["tappy"] = adapter
    chat.runtime.start(poll=0.05)
    try:
        assert adapter.receive is not None
        tapped = action(chat, card, ACT_SNOOZE, hw, arg="monday", tap_id="cb-7")
        answer = adapter.receive(tapped)
        assert isinstance(answer, list) and answer[0].update_of == card
        typed = replace(tapped, kind="message", message_id="m-1", text="/客户 华为")
        assert isinstance(adapter.receive(typed), int)  # a message: stored, answered later
    finally:
        chat.runtime.stop()
