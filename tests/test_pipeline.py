"""The durable pipeline: inbox dedupe, one transaction per command, outbox retry and order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.adapters.base import OutboundItem, SendResult
from bot.adapters.console import parse_console
from bot.runtime import Runtime
from models import Activity, Customer, Inbox, Outbox
from models.pipeline import DONE, FAILED, PENDING, SENT


class FlakyAdapter:
    """A console stand-in that fails as told, recording every attempt."""

    platform = "console"

    def __init__(self, results: list[SendResult] | None = None) -> None:
        self.results = list(results or [])
        self.attempts: list[OutboundItem] = []

    def send(self, item: OutboundItem) -> SendResult:
        self.attempts.append(item)
        if self.results:
            result = self.results.pop(0)
            if isinstance(result, Exception):
                raise result
            return result
        return SendResult(ok=True, message_id=f"m-{len(self.attempts)}")


def _rows(runtime: Runtime, model):
    with runtime.sessions() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def test_redelivered_message_is_dropped_and_changes_nothing(chat):
    first = chat.send("/跟进 客户A 报价已发", message_id="om_1")
    again = chat.send("/跟进 客户A 报价已发", message_id="om_1")
    assert first and again == []
    assert chat.last is None
    assert chat.count(Inbox) == 1
    assert chat.count(Activity) == 2  # create + follow_up, once
    assert chat.count(Outbox) == 1


def test_same_message_id_on_another_platform_is_a_different_message(runtime, clock):
    runtime.receive(parse_console("c", "u", "/帮助", "m1"))
    other = parse_console("c", "u", "/帮助", "m1")
    other.platform = "feishu"
    assert runtime.receive(other) is not None
    assert len(_rows(runtime, Inbox)) == 2


def test_inbox_row_is_committed_before_any_processing(runtime):
    inbox_id = runtime.receive(parse_console("销售一组", "张三", "/跟进 客户A 明天回访", "m1"))
    rows = _rows(runtime, Inbox)
    assert [r.id for r in rows] == [inbox_id]
    assert rows[0].status == PENDING
    assert _rows(runtime, Customer) == []


def test_pending_message_survives_a_restart_and_is_handled_once(runtime, engine, settings, clock):
    runtime.receive(parse_console("销售一组", "张三", "/跟进 客户A 明天回访", "m1"))
    restarted = Runtime(settings, engine=engine, clock=clock)
    restarted.drain()
    restarted.drain()
    assert [r.status for r in _rows(restarted, Inbox)] == [DONE]
    assert len(_rows(restarted, Customer)) == 1
    assert [r.status for r in _rows(restarted, Outbox)] == [SENT]


def test_handler_crash_rolls_back_and_user_gets_an_apology(chat, monkeypatch):
    import handlers.follow_up

    def boom(text: str):
        raise RuntimeError("bug in stage inference")

    monkeypatch.setattr(handlers.follow_up, "infer_stage", boom)
    replies = chat.send("/跟进 客户A 报价已发")
    assert replies == ["😥 抱歉，处理这条消息时出错了，已记录下来，这条没有保存，请稍后再试。"]
    assert chat.customers() == []
    assert chat.activities() == []
    (row,) = _rows(chat.runtime, Inbox)
    assert row.status == FAILED
    assert "bug in stage inference" in row.error
    monkeypatch.undo()
    assert chat.send("/跟进 客户A 报价已发")[0].startswith("🆕 新客户 客户A")


def test_database_outage_during_a_command_leaves_the_message_pending(chat, monkeypatch):
    import handlers.follow_up

    def outage(text: str):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(handlers.follow_up, "infer_stage", outage)
    chat.runtime.receive(parse_console("销售一组", "张三", "/跟进 客户A 报价已发", "m1"))
    with pytest.raises(OperationalError):
        chat.runtime.dispatch()
    assert [r.status for r in _rows(chat.runtime, Inbox)] == [PENDING]
    assert chat.customers() == [] and _rows(chat.runtime, Outbox) == []
    monkeypatch.undo()
    chat.runtime.drain()
    assert [r.status for r in _rows(chat.runtime, Inbox)] == [DONE]
    assert len(chat.customers()) == 1
    assert len(_rows(chat.runtime, Outbox)) == 1


def test_failed_send_is_retried_with_backoff_and_delivered_once(chat, clock):
    adapter = FlakyAdapter(
        [SendResult(ok=False, error="HTTP 502"), SendResult(ok=False, error="timeout")]
    )
    chat.runtime.adapters["console"] = adapter
    assert chat.send("/帮助") == []  # not delivered yet
    (row,) = _rows(chat.runtime, Outbox)
    assert (row.status, row.attempts, row.last_error) == (PENDING, 1, "HTTP 502")
    assert row.next_attempt_at > clock.now
    assert chat.runtime.deliver() == 0  # not due yet: no retry storm
    clock.advance(seconds=10)
    chat.runtime.deliver()
    clock.advance(seconds=10)
    assert chat.runtime.deliver() == 1
    (row,) = _rows(chat.runtime, Outbox)
    assert (row.status, row.attempts, row.platform_message_id) == (SENT, 3, "m-3")
    assert len({item.key for item in adapter.attempts}) == 1  # same idempotency key every time
    clock.advance(hours=1)
    assert chat.runtime.deliver() == 0


def test_backoff_grows_between_attempts(chat, clock):
    adapter = FlakyAdapter([SendResult(ok=False, error="down")] * 4)
    chat.runtime.adapters["console"] = adapter
    chat.send("/帮助")
    delays = []
    for _ in range(3):
        (row,) = _rows(chat.runtime, Outbox)
        delays.append((row.next_attempt_at - clock.now).total_seconds())
        clock.now = row.next_attempt_at
        chat.runtime.deliver()
    assert delays[0] < delays[1] < delays[2]


def test_platform_retry_after_is_honoured(chat, clock):
    chat.runtime.adapters["console"] = FlakyAdapter(
        [SendResult(ok=False, error="429", retry_after=30)]
    )
    chat.send("/帮助")
    (row,) = _rows(chat.runtime, Outbox)
    assert row.next_attempt_at == clock.now + timedelta(seconds=30)


def test_permanent_error_fails_the_row_without_retrying(chat, clock):
    adapter = FlakyAdapter([SendResult(ok=False, error="bot not in chat", permanent=True)])
    chat.runtime.adapters["console"] = adapter
    chat.send("/帮助")
    clock.advance(hours=2)
    chat.runtime.deliver()
    (row,) = _rows(chat.runtime, Outbox)
    assert (row.status, row.attempts, row.last_error) == (FAILED, 1, "bot not in chat")
    assert len(adapter.attempts) == 1


def test_row_fails_when_the_platform_stays_down_past_the_budget(chat, clock, settings):
    settings.sender.give_up_after_hours = 3
    adapter = FlakyAdapter([SendResult(ok=False, error="down")] * 100)
    chat.runtime.adapters["console"] = adapter
    chat.send("/帮助")
    for _ in range(5):
        clock.advance(hours=1)
        chat.runtime.deliver()
    (row,) = _rows(chat.runtime, Outbox)
    assert (row.status, row.attempts) == (FAILED, 4)  # tried at 0, 1, 2 h; at 3 h it gives up
    assert len(adapter.attempts) == 4


def test_adapter_exception_is_a_retry_not_a_loss(chat, clock):
    adapter = FlakyAdapter([ConnectionError("reset by peer")])
    chat.runtime.adapters["console"] = adapter
    chat.send("/帮助")
    (row,) = _rows(chat.runtime, Outbox)
    assert row.status == PENDING and "reset by peer" in row.last_error
    clock.advance(minutes=1)
    assert chat.runtime.deliver() == 1


def test_replies_in_one_chat_keep_their_order_while_one_is_retried(chat, clock):
    adapter = FlakyAdapter([SendResult(ok=False, error="down")])
    chat.runtime.adapters["console"] = adapter
    chat.send("/帮助 跟进")
    chat.send("/帮助 客户")
    assert [a.key for a in adapter.attempts][:1] == [_rows(chat.runtime, Outbox)[0].key]
    assert len(adapter.attempts) == 1  # the second waits behind the first
    clock.advance(minutes=1)
    chat.runtime.deliver()
    sent = [a.message.text.splitlines()[0] for a in adapter.attempts]
    assert sent == [
        "📖 /跟进 客户 内容 [下次时间]",
        "📖 /跟进 客户 内容 [下次时间]",
        "📖 /客户 客户",
    ]


def test_other_chats_are_not_held_up_by_a_failing_chat(runtime, clock):
    adapter = FlakyAdapter([SendResult(ok=False, error="down")])
    runtime.adapters["console"] = adapter
    runtime.say("一组", "张三", "/帮助")
    replies = runtime.say("二组", "李四", "/帮助")
    assert replies and len(replies) == 1


def test_a_leased_row_is_not_sent_twice(runtime, clock):
    from bot.sender import _lease

    runtime.receive(parse_console("c", "u", "/帮助", "m1"))
    runtime.dispatch()
    with runtime.sessions() as session, session.begin():
        assert len(_lease(session, clock.now, 10, timedelta(seconds=30))) == 1
    assert runtime.deliver() == 0  # leased by "another worker"
    clock.advance(seconds=31)  # the lease ran out: that worker died
    assert runtime.deliver() == 1


def test_every_command_writes_reply_with_stable_idempotency_key(chat):
    chat.send("/跟进 客户A 明天回访", message_id="om_9")
    (row,) = _rows(chat.runtime, Outbox)
    from bot.outbox import outbox_key

    assert row.key == outbox_key("reply:console:om_9", 0)
    assert len(row.key) <= 50
    assert row.reply_to == "om_9"
