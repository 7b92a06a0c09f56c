"""Work shared between threads and processes: per-chat order, one sender, parallel chats, rate slots."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from bot.adapters.base import OutboundItem, SendResult
from bot.adapters.console import parse_console
from bot.dispatcher import _claim_postgres
from bot.leader import SenderLease
from bot.ratelimit import SlidingWindow, acquire_all
from bot.sender import deliver_due
from models import Activity, Inbox, Outbox
from models.pipeline import PENDING, SENT


def _store(runtime, chat: str, text: str, message_id: str) -> None:
    runtime.receive(parse_console(chat, "张三", text, message_id))


def _postgres_only(runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("several dispatchers need PostgreSQL")


def test_a_chat_being_handled_by_one_worker_is_skipped_by_another(runtime):
    _postgres_only(runtime)
    _store(runtime, "一组", "/跟进 客户A 拜访", "a1")
    _store(runtime, "一组", "/撤销", "a2")
    _store(runtime, "二组", "/跟进 客户B 拜访", "b1")
    with runtime.sessions() as first, first.begin():
        mine = _claim_postgres(first)
        assert mine is not None and mine.message_id == "a1"
        with runtime.sessions() as second, second.begin():
            other = _claim_postgres(second)
            # Not a2: 一组's next message waits until a1 is done; 二组 is free.
            assert other is not None and other.message_id == "b1"
            with runtime.sessions() as third, third.begin():
                assert _claim_postgres(third) is None  # both chats busy


def test_a_row_finished_meanwhile_is_not_claimed_again(runtime):
    _postgres_only(runtime)
    _store(runtime, "一组", "/帮助", "h1")
    with runtime.sessions() as session, session.begin():
        row = _claim_postgres(session)
        row.status = "done"
    with runtime.sessions() as session, session.begin():
        assert _claim_postgres(session) is None


def test_two_workers_keep_each_chats_order(runtime):
    """Two dispatchers in threads, three chats: every chat's commands run in the order sent."""
    _postgres_only(runtime)
    for i in range(30):
        _store(runtime, f"组{i % 3}", f"/跟进 客户{i % 3} 第{i}次拜访", f"m{i}")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            runtime.dispatch()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with runtime.sessions() as session:
        assert set(session.scalars(select(Inbox.status))) == {"done"}
        # Activity ids are taken as each command runs: per chat they follow the order sent.
        entries = session.scalars(select(Activity).order_by(Activity.id)).all()
    for group in range(3):
        visits = [
            int(e.text.removeprefix("第").removesuffix("次拜访"))
            for e in entries
            if e.customer_name == f"客户{group}" and e.kind == "follow_up"
        ]
        assert len(visits) == 10 and visits == sorted(visits), visits


def test_only_one_process_holds_the_sender_lock(runtime):
    _postgres_only(runtime)
    first, second = SenderLease(runtime.engine), SenderLease(runtime.engine)
    try:
        assert first.held()
        assert first.held()  # kept, not taken twice
        assert not second.held()
        first.release()  # the sender stopped (or died: its connection closed)
        assert second.held()
        assert not first.held()
    finally:
        first.release()
        second.release()


def test_sqlite_needs_no_sender_lock(runtime):
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    assert SenderLease(runtime.engine).held() and SenderLease(runtime.engine).held()


class SlowAdapter:
    """Takes 50 ms per send; records the order per chat and how many sends overlapped."""

    platform = "console"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_chat: dict[str, list[str]] = {}
        self.in_flight = 0
        self.most_in_flight = 0

    def send(self, item: OutboundItem) -> SendResult:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.05)
        with self.lock:
            self.in_flight -= 1
            self.by_chat.setdefault(item.chat_id, []).append(item.message.text)
        return SendResult(ok=True, message_id=item.key)


def test_parallel_sending_keeps_each_chats_order(runtime):
    from bot.messages import OutgoingMessage
    from bot.outbox import enqueue

    with runtime.sessions() as session, session.begin():
        for i in range(40):
            enqueue(
                session,
                "console",
                f"chat{i % 4}",
                [OutgoingMessage(f"{i:02d}")],
                key_base=f"k{i}",
                now=runtime.clock(),
            )
    adapter = SlowAdapter()
    with ThreadPoolExecutor(4) as pool:
        sent = 0
        while True:
            step = deliver_due(
                runtime.sessions, {"console": adapter}, runtime.settings.sender, runtime.clock,
                pool=pool,
            )  # fmt: skip
            if not step:
                break
            sent += step
    assert sent == 40
    assert adapter.most_in_flight > 1  # chats went out side by side
    for n in range(4):
        texts = adapter.by_chat[f"chat{n}"]
        assert texts == sorted(texts) and len(texts) == 10
    with runtime.sessions() as session:
        assert set(session.scalars(select(Outbox.status))) == {SENT}
        assert not session.scalars(select(Outbox).where(Outbox.status == PENDING)).all()


def test_a_rate_slot_counts_from_when_its_own_request_returned():
    now = [0.0]
    window = SlidingWindow(2, 1.0, clock=lambda: now[0])
    _, slow = window.acquire()  # a slow request starts at 0.0 …
    now[0] = 0.1
    _, fast = window.acquire()  # … a quick one at 0.1
    now[0] = 0.15
    window.settle(stamp=fast)  # the quick one returns first
    now[0] = 0.9
    window.settle(stamp=slow)  # the slow one only at 0.9: its slot counts from there
    # At 1.0 both requests may still sit in the platform's window (the quick one arrived by 0.15,
    # the slow one by 0.9): the next slot frees at 1.15, when the quick one's has surely passed.
    now[0] = 1.0
    assert window.wait_time() == pytest.approx(0.15)
    now[0] = 1.2
    assert window.try_acquire() == 0
    assert window.wait_time() == pytest.approx(0.7)  # then the slow one's, at 1.9


def test_acquire_all_takes_every_slot_or_none():
    per_chat, per_app = SlidingWindow(1, 1.0), SlidingWindow(5, 1.0)
    grant = acquire_all([(per_chat, "c"), (per_app, "")], max_sleep=0)
    assert grant.wait == 0 and len(grant.slots) == 2
    refused = acquire_all([(per_chat, "c"), (per_app, "")], max_sleep=0)
    assert refused.wait > 0 and not refused.slots
    assert per_app.wait_time() == 0 and len(per_app._events[""]) == 1  # nothing taken from the app
    grant.settle()
