"""The fault suite: a worker killed mid-burst, the database unreachable, the platform API down.

Each test polls with a deadline (no fixed long sleeps), stays on loopback and cleans up every
process, thread and schema it made. The PostgreSQL tests skip without GENJIN_TEST_DATABASE_URL.
(Two schedulers at the same instant: tests/test_scheduler.py and tests/test_cli.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.adapters.console import render_text
from bot.messages import OutgoingMessage
from bot.runtime import Runtime
from models import Customer, Inbox, Outbox
from models.db import make_engine
from models.pipeline import DONE, PENDING, SENT
from tests.support.fake_feishu import FakeFeishu  # noqa: F401  (fixture type)
from tests.support.feishu_fixtures import (
    CHAT,
    TOKEN,
    FeishuChat,
    configure_feishu,
    fake,  # noqa: F401  (fixture)
)
from tests.support.feishu_testkit import BOT_OPEN_ID, mention, message_event
from tests.support.harness import PG_URL
from tests.support.pgschema import pg_schema
from tests.support.serving import genjin_serve, get_json, stop_processes
from tests.support.tcp_proxy import TcpProxy

needs_pg = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (GENJIN_TEST_DATABASE_URL)")

WORKER_LEASE_SECONDS = 5  # a killed worker's reserved replies are taken over this soon


def _wait(condition: Any, timeout: float, what: str, step: float = 0.1) -> Any:
    """Poll ``condition()`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


# -- 1. kill -9 of a worker in the middle of a burst ---------------------------------------------

BURST = 200  # one message per chat: customers in one chat with near names get disambiguated


def _start_worker(tmp_path: Path, env: dict[str, str], name: str) -> subprocess.Popen:
    log = tmp_path / f"{name}.log"
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "worker", "--poll", "0.1"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _post(base: str, chat: str, as_: str, text_: str) -> None:
    body = json.dumps({"chat": chat, "as": as_, "text": text_}).encode()
    request = urllib.request.Request(
        f"{base}/sandbox/api/send", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read())["inbox_id"] is not None


def _transcript(base: str, chat: str) -> list[dict[str, Any]]:
    """Every event of a chat, following the sandbox API's cursors (200 per page)."""
    events: list[dict[str, Any]] = []
    in_after = out_after = 0
    while True:
        query = urllib.parse.urlencode({"chat": chat, "in_after": in_after, "out_after": out_after})
        page = get_json(f"{base}/sandbox/api/messages?{query}")["events"]
        if not page:
            return events
        events += page
        users = [e["id"] for e in page if e["kind"] == "user"]
        bots = [e["id"] for e in page if e["kind"] == "bot"]
        in_after = max(users, default=in_after)
        out_after = max(bots, default=out_after)


@needs_pg
@pytest.mark.parametrize("victim", ["sender", "dispatcher"])
@pytest.mark.slow
def test_worker_killed_mid_burst_every_message_answered_once(tmp_path, victim):
    """kill -9 of the worker that sends (the other one takes the sender lock over), or of the
    worker that only dispatches."""
    with pg_schema(PG_URL, "genjin_fault", migrate=True) as schema:
        db = schema.url
        env = {
            **os.environ,
            "GENJIN_DATABASE_URL": db,
            "GENJIN_SERVER_SANDBOX": "on",
            "GENJIN_SENDER_LEASE_SECONDS": str(WORKER_LEASE_SECONDS),
        }
        env.pop("GENJIN_CONFIG", None)
        check = make_engine(db)
        workers: list[subprocess.Popen] = []
        poster: threading.Thread | None = None
        posted: list[int] = []
        errors: list[BaseException] = []
        try:
            with genjin_serve(
                tmp_path, {"GENJIN_DATABASE_URL": db, "GENJIN_SERVER_SANDBOX": "on"}, command="web"
            ) as web:
                workers = [_start_worker(tmp_path, env, f"worker{n}") for n in range(2)]
                for n in range(2):
                    _wait(
                        lambda n=n: "running" in (tmp_path / f"worker{n}.log").read_text(),
                        30,
                        f"worker{n} to start",
                    )

                def burst() -> None:
                    try:
                        for i in range(BURST):
                            _post(
                                web.base, f"故障组{i:03d}", f"rep{i % 3}", f"/跟进 客户{i:03d} 拜访"
                            )
                            posted.append(i)
                    except BaseException as exc:  # reported by the main thread
                        errors.append(exc)

                poster = threading.Thread(target=burst, name="fault-burst", daemon=True)
                poster.start()

                def done() -> int:
                    with check.connect() as conn:
                        return conn.scalar(
                            text("SELECT count(*) FROM inbox WHERE status = :done"), {"done": DONE}
                        )

                def sender_pid() -> int | None:
                    with check.connect() as conn:
                        by = conn.scalar(
                            text("SELECT max(sent_by) FROM outbox WHERE sent_by <> ''")
                        )
                    return int(by.rsplit(":", 1)[1]) if by else None

                # in the middle of the burst: some handled and sent, more still arriving
                _wait(lambda: done() >= 40, 60, "the workers to handle 40 messages", step=0.02)
                _wait(lambda: sender_pid() is not None, 30, "a reply to be sent", step=0.02)
                sending = sender_pid()
                assert sending in {w.pid for w in workers}
                killed = next(w for w in workers if (w.pid == sending) == (victim == "sender"))
                handled_at_kill = done()
                posted_at_kill = len(posted)
                os.kill(killed.pid, signal.SIGKILL)
                assert killed.wait(timeout=10) == -signal.SIGKILL
                workers.append(_start_worker(tmp_path, env, "worker2"))

                poster.join(60)
                assert not poster.is_alive() and not errors, errors
                assert len(posted) == BURST

                def finished() -> bool:
                    with check.connect() as conn:
                        pending_in = conn.scalar(
                            text("SELECT count(*) FROM inbox WHERE status <> :done"),
                            {"done": DONE},
                        )
                        sent = conn.scalar(
                            text("SELECT count(*) FROM outbox WHERE status = :sent"),
                            {"sent": SENT},
                        )
                    return pending_in == 0 and sent >= BURST

                # Outbox rows the killed worker had leased wait for its lease to run out.
                started = time.monotonic()
                _wait(finished, 60 + WORKER_LEASE_SECONDS, "every message to be answered")
                waited = time.monotonic() - started
                time.sleep(0.5)  # let a late duplicate show itself (none may come)

                transcript = [_transcript(web.base, f"故障组{i:03d}") for i in range(BURST)]
            print(
                f"\nkilled worker after {handled_at_kill} handled / {posted_at_kill} posted; "
                f"all answered {waited:.1f}s later"
            )
            # the chats as people see them: every message once, every reply once
            for i, events in enumerate(transcript):
                kinds = [e["kind"] for e in events]
                assert kinds == ["user", "bot"], (i, events)
                assert events[1]["text"].startswith(f"🆕 新客户 客户{i:03d} 已建档"), events
            with check.connect() as conn:
                inbox = conn.execute(select(Inbox.id, Inbox.status, Inbox.payload)).all()
                outbox = conn.execute(
                    select(Outbox.inbox_id, Outbox.status, Outbox.payload, Outbox.key)
                ).all()
                customers = conn.execute(select(Customer.name)).scalars().all()
                senders = set(conn.execute(select(Outbox.sent_by)).scalars())
            assert len(inbox) == BURST
            assert {row.status for row in inbox} == {DONE}
            per_inbox = Counter(row.inbox_id for row in outbox)
            assert set(per_inbox) == {row.id for row in inbox}
            assert set(per_inbox.values()) == {1}  # one reply per message
            assert {row.status for row in outbox} == {SENT}
            assert len({row.key for row in outbox}) == len(outbox)
            asked = {row.id: row.payload["text"].split(" ")[1] for row in inbox}
            for row in outbox:  # each reply is about its own message's customer
                reply = render_text(OutgoingMessage.from_payload(row.payload))
                assert reply.startswith(f"🆕 新客户 {asked[row.inbox_id]} 已建档"), reply
            assert sorted(customers) == sorted(f"客户{i:03d}" for i in range(BURST))
            if victim == "sender":  # another process took the sender lock over
                assert any(not by.endswith(f":{killed.pid}") for by in senders)
        finally:
            stop_processes(workers, timeout=10)
            if poster is not None:
                poster.join(30)
            check.dispose()


# -- 2. the database unreachable for a while -----------------------------------------------------


@contextmanager
def proxied_runtime(settings: Any, clock: Any) -> Iterator[tuple[Runtime, TcpProxy, Engine]]:
    """A runtime whose database connections go through a TCP proxy to PostgreSQL.

    Yields (runtime, proxy, direct engine for checking rows behind the proxy's back).
    """
    with pg_schema(PG_URL, "genjin_fault", migrate=True) as schema:
        target = make_url(PG_URL)
        proxy = TcpProxy(target.port or 5432, target.host or "127.0.0.1")
        proxied = target.set(host="127.0.0.1", port=proxy.port)
        engine = make_engine(
            proxied.render_as_string(hide_password=False),
            connect_args={"options": f"-csearch_path={schema.name}", "connect_timeout": 5},
        )
        direct = make_engine(schema.url)
        try:
            yield Runtime(settings, engine=engine, clock=clock), proxy, direct
        finally:
            engine.dispose()
            direct.dispose()
            proxy.close()


def _rows(engine: Engine) -> tuple[list[Any], list[Any], list[str]]:
    with engine.connect() as conn:
        inbox = conn.execute(select(Inbox.message_id, Inbox.status).order_by(Inbox.id)).all()
        outbox = conn.execute(select(Outbox.inbox_id, Outbox.status).order_by(Outbox.id)).all()
        customers = conn.execute(select(Customer.name).order_by(Customer.id)).scalars().all()
    return inbox, outbox, customers


def _first_lines(feishu: FeishuChat) -> list[str]:
    return [t.split("\n")[0] for t in feishu.texts()]


def _created(name: str) -> str:
    return f'🆕 新客户 {name} 已建档，负责人 <at user_id="ou_zhang">ou_zhang</at>'


@needs_pg
def test_database_unreachable_webhook_answers_503_then_nothing_is_lost(
    settings,
    clock,
    fake,  # noqa: F811
):
    configure_feishu(settings, fake)
    with proxied_runtime(settings, clock) as (runtime, proxy, direct):
        feishu = FeishuChat(runtime, fake)
        response, _ = feishu.command("/跟进 客户甲 拜访")  # the pool holds live connections
        assert response.status_code == 200
        runtime.drain()
        assert runtime.health()["database"] == "ok"

        proxy.cut()
        held: list[dict] = []
        for name in ("客户乙", "客户丙", "客户丁"):
            started = time.monotonic()
            response, event = feishu.command(f"/跟进 {name} 拜访")
            assert response.status_code == 503, response.get_data(as_text=True)
            assert response.get_json() == {"error": "database unavailable"}
            assert time.monotonic() - started < 10
            held.append(event)
        health = runtime.health()
        assert health["status"] == "error" and health["database"] == "unreachable"
        with pytest.raises(OperationalError):
            runtime.dispatch()
        # nothing half-written: only the message from before the outage
        inbox, outbox, customers = _rows(direct)
        assert [row.message_id for row in inbox] == ["om_test_1"]
        assert len(outbox) == 1 and customers == ["客户甲"]

        proxy.restore()
        for event in held:  # Feishu retries after the 503 …
            assert feishu.post_event(event).status_code == 200
        assert feishu.post_event(held[0]).status_code == 200  # … and once more for luck
        assert runtime.health()["database"] == "ok"
        runtime.drain()
        inbox, outbox, customers = _rows(direct)
        assert [row.message_id for row in inbox] == [f"om_test_{i}" for i in range(1, 5)]
        assert {row.status for row in inbox} == {DONE}
        assert sorted(row.inbox_id for row in outbox) == sorted(set(r.inbox_id for r in outbox))
        assert len(outbox) == 4 and {row.status for row in outbox} == {SENT}
        assert customers == ["客户甲", "客户乙", "客户丙", "客户丁"]
        assert _first_lines(feishu) == [
            _created(n) for n in ("客户甲", "客户乙", "客户丙", "客户丁")
        ]


@needs_pg
def test_database_lost_while_a_command_is_being_written_rolls_it_all_back(
    settings,
    clock,
    fake,  # noqa: F811
):
    configure_feishu(settings, fake)
    with proxied_runtime(settings, clock) as (runtime, proxy, direct):
        feishu = FeishuChat(runtime, fake)
        assert feishu.command("/跟进 客户甲 拜访")[0].status_code == 200

        def cut_before_the_reply(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
                proxy.cut()  # the customer and activity are written, the reply not yet

        event.listen(runtime.engine, "before_cursor_execute", cut_before_the_reply)
        try:
            with pytest.raises(OperationalError):
                runtime.dispatch()
        finally:
            event.remove(runtime.engine, "before_cursor_execute", cut_before_the_reply)
        assert proxy.is_cut
        inbox, outbox, customers = _rows(direct)
        assert [(row.message_id, row.status) for row in inbox] == [("om_test_1", PENDING)]
        assert outbox == [] and customers == []

        proxy.restore()
        runtime.drain()
        inbox, outbox, customers = _rows(direct)
        assert [row.status for row in inbox] == [DONE]
        assert len(outbox) == 1 and outbox[0].status == SENT and customers == ["客户甲"]
        assert _first_lines(feishu) == [_created("客户甲")]


# -- 3. the platform API failing, slow and rate-limiting for minutes -----------------------------

OTHER = "oc_other_team"


def _event(feishu: FeishuChat, chat: str, text_: str) -> dict[str, Any]:
    feishu.count += 1
    event_ = message_event(
        f"@_user_1 {text_}",
        chat_id=chat,
        open_id="ou_zhang",
        token=TOKEN,
        message_id=f"om_fault_{feishu.count}",
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
        create_time_ms=feishu.now_ms(),
    )
    feishu.fake.note_event(event_)
    return event_


@pytest.mark.slow
def test_platform_down_slow_and_rate_limiting_then_outbox_drains_in_order_once(
    engine,
    settings,
    clock,
    fake,  # noqa: F811
):
    configure_feishu(settings, fake)
    settings.feishu.timeout_seconds = 0.5
    feishu = FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)
    runtime = feishu.runtime
    names = {CHAT: [f"客户A{i}" for i in range(5)], OTHER: [f"客户B{i}" for i in range(5)]}

    fake.down = True  # connections dropped
    for i in range(5):
        for chat in (CHAT, OTHER):
            response = feishu.post_event(_event(feishu, chat, f"/跟进 {names[chat][i]} 拜访"))
            assert response.status_code == 200
    runtime.drain()
    for _ in range(8):  # two minutes of dropped connections (test clock)
        clock.advance(seconds=15)
        runtime.deliver()
    fake.down = 503  # three minutes of a gateway error page
    for _ in range(6):
        clock.advance(seconds=30)
        runtime.deliver()
    assert fake.sent == []

    fake.down = False
    slow_from = len(fake.calls)
    fake.delay = 1.0  # slower than our timeout: Feishu posts, we hear nothing
    clock.advance(minutes=15)  # past the longest back-off
    runtime.deliver()
    fake.delay = 0
    # Feishu may still post what we gave up waiting for (under load the token call may time out
    # first, and nothing is posted): wait for those requests to finish before the next faults.
    _wait(
        lambda: all(c.status is not None for c in fake.calls[slow_from:]),
        10,
        "the slow requests to finish",
        step=0.05,
    )
    landed_late = len(fake.sent)
    fake.rate_limit_next(3, reset_seconds=30)  # then 429s, a chat-level limit and a 500
    fake.rate_limit_next(1, reset_seconds=5, chat_level=True)
    fake.fail_next(1, status=500)

    def drained() -> bool:
        clock.advance(minutes=1)
        runtime.deliver()
        with runtime.sessions() as session:
            rows = session.scalars(select(Outbox.status)).all()
        return len(rows) == 10 and set(rows) == {SENT}

    _wait(drained, 60, "the outbox to drain", step=0.2)
    assert fake.duplicates == landed_late  # their retries were recognised by the idempotency key
    for chat in (CHAT, OTHER):
        lines = [t.split("\n")[0] for t in fake.texts(chat)]
        assert lines == [_created(n) for n in names[chat]], chat  # in order, each once
    assert len(fake.sent) == 10
    assert len({s.uuid for s in fake.sent}) == 10
    assert fake.violations == 0
    with runtime.sessions() as session:
        rows = session.scalars(select(Outbox)).all()
    assert all(row.status == SENT and row.platform_message_id for row in rows)
