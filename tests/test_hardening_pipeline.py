"""Pipeline hardening: poison rows, per-chat sending, `say` across processes, honest health, retention.

Every test runs on SQLite and, with GENJIN_TEST_DATABASE_URL, on PostgreSQL (the ``engine``
fixture); PostgreSQL is where column lengths are enforced and several processes share the work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot import dispatcher
from bot.adapters.base import OutboundItem, SendResult
from bot.adapters.console import parse_console
from bot.app import create_app
from bot.config import ConfigError, load_settings
from bot.dispatcher import APOLOGY
from bot.messages import OutgoingMessage
from bot.outbox import enqueue
from bot.retention import Purged, daily_purge, purge
from bot.runtime import ReplyTimeout, Runtime
from bot.sender import _lease
from handlers import router
from models import Chat, Inbox, Member, Outbox
from models.pipeline import DONE, FAILED, PENDING, SENT, JobRun, MaintenanceRun, process_name


def _rows(runtime: Runtime, model):
    with runtime.sessions() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _cli(engine, tmp_path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "GENJIN_DATABASE_URL": _url(engine)}
    environment.pop("GENJIN_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment,
    )


class FailingAdapter:
    """The console, except that sends to ``chats`` fail with a retryable error; records sends."""

    platform = "console"

    def __init__(self, chats: set[str]) -> None:
        self.chats = chats
        self.sent: list[OutboundItem] = []
        self.lock = threading.Lock()

    def send(self, item: OutboundItem) -> SendResult:
        if item.chat_id in self.chats:
            return SendResult(ok=False, error="HTTP 502")
        with self.lock:
            self.sent.append(item)
        return SendResult(ok=True, message_id=f"m-{item.key}")


# -- 1. poison rows ----------------------------------------------------------------------------
AT = "2026-11-27T10:00"  # the test clock's start, for CLI processes
LONG_ID = "长" * 150  # longer than member.user_id (128)
LONG_NAME = "名" * 150  # longer than member.name (100)


def test_oversize_mention_and_sender_are_cut_and_the_command_runs(chat, caplog):
    chat.name = "群" * 250  # longer than chat.name (200)
    replies = chat.send(f"/跟进 客户A 约了 @{LONG_ID} 明天见面", as_=LONG_NAME[:120])
    assert replies and replies[0].startswith("🆕 新客户 客户A"), replies
    (stored,) = _rows(chat.runtime, Inbox)
    assert stored.status == DONE
    members = {m.user_id: m for m in _rows(chat.runtime, Member)}
    assert LONG_ID[:128] in members and len(members[LONG_ID[:128]].name) == 100
    assert all(len(m.user_id) <= 128 and len(m.name) <= 100 for m in members.values())
    (group,) = _rows(chat.runtime, Chat)
    assert len(group.name) == 200
    assert chat.send("/帮助")  # nothing is stuck behind it
    cuts = [r.getMessage() for r in caplog.records if r.name == "bot.messages"]
    assert any(m.startswith("incoming user_id of 150 characters cut to 128") for m in cuts)
    assert any(m.startswith("incoming sender_name of 120 characters cut to 100") for m in cuts)


def test_genjin_say_with_an_oversize_mention_answers(engine, tmp_path):
    out = _cli(
        engine,
        tmp_path,
        "say",
        "--chat",
        "c",
        "--as",
        "张三",
        "--at",
        AT,
        "--json",
        f"/跟进 客户B 约了 @{LONG_ID} 明天见面",
    )
    assert out.returncode == 0, out.stderr
    (reply,) = json.loads(out.stdout)
    assert reply["text"].startswith("🆕 新客户 客户B")
    follow = _cli(
        engine, tmp_path, "say", "--chat", "c", "--as", "张三", "--at", AT, "--json", "/帮助"
    )
    assert follow.returncode == 0 and json.loads(follow.stdout)
    with engine.connect() as conn:
        assert set(conn.scalars(select(Inbox.status))) == {DONE}
        assert set(conn.scalars(select(Outbox.status))) == {SENT}


def _refuse_member(monkeypatch, user_id: str) -> None:
    """member_for inserts a row the database refuses (NOT NULL) for ``user_id``: before the try."""
    real = router.member_for

    def refusing(session, chat_, uid, name, now):
        if uid == user_id:
            session.add(Member(chat_id=chat_.id, user_id=None, name=name, created_at=now))
            session.flush()
        return real(session, chat_, uid, name, now)

    monkeypatch.setattr(router, "member_for", refusing)


def test_a_row_refused_before_the_command_runs_fails_with_an_apology(chat, monkeypatch):
    _refuse_member(monkeypatch, "坏人")
    assert chat.send("/帮助", as_="坏人") == [APOLOGY]
    (row,) = _rows(chat.runtime, Inbox)
    assert row.status == FAILED and row.processed_at == chat.clock.now
    assert "IntegrityError" in row.error
    assert [m.user_id for m in _rows(chat.runtime, Member)] == []  # rolled back
    replies = chat.send("/跟进 客户A 拜访", as_="张三")  # the queue moves on
    assert replies[0].startswith("🆕 新客户 客户A")
    assert [r.status for r in _rows(chat.runtime, Inbox)] == [FAILED, DONE]


def test_a_mention_refused_by_the_database_fails_the_row_not_the_queue(chat, monkeypatch):
    _refuse_member(monkeypatch, "幽灵")
    assert chat.send("/跟进 客户A 和 @幽灵 拜访") == [APOLOGY]
    assert chat.send("/跟进 客户A 拜访")[0].startswith("🆕 新客户 客户A")


@pytest.mark.parametrize("refusals", [1, 2])
def test_a_row_refused_at_commit_fails_with_or_without_its_apology(chat, monkeypatch, refusals):
    """The transaction fails only when it commits; if the apology is refused too, no apology."""
    real = dispatcher.enqueue
    calls = []

    def refusing(session, *args, **kwargs):
        rows = real(session, *args, **kwargs)
        calls.append(1)
        if len(calls) <= refusals:
            session.add(Outbox(key=None, platform="console", chat_external_id="x", payload={}))
        return rows

    monkeypatch.setattr(dispatcher, "enqueue", refusing)
    replies = chat.send("/帮助")
    (row,) = _rows(chat.runtime, Inbox)
    assert row.status == FAILED and "IntegrityError" in row.error
    assert replies == ([APOLOGY] if refusals == 1 else [])
    assert len(_rows(chat.runtime, Outbox)) == (1 if refusals == 1 else 0)
    assert chat.send("/帮助")


def test_a_corrupt_payload_fails_its_row_with_an_apology_and_others_go_on(chat, runtime, clock):
    with runtime.sessions() as session, session.begin():
        session.add(
            Inbox(
                platform="console",
                message_id="old-1",
                chat_external_id=chat.name,
                sender_id="张三",
                payload={"written_by": "an older version"},
                received_at=clock.now,
            )
        )
    replies = chat.send("/帮助 跟进")
    assert replies and replies[0].startswith("📖 /跟进")
    bad, good = _rows(runtime, Inbox)
    assert (bad.status, good.status) == (FAILED, DONE)
    assert "TypeError" in bad.error
    apology = _rows(runtime, Outbox)[0]
    assert (apology.inbox_id, apology.reply_to, apology.status) == (bad.id, "old-1", SENT)
    assert apology.payload["text"] == APOLOGY
    assert runtime.dispatch() == 0  # never retried


def test_a_database_outage_before_the_command_leaves_the_row_pending(chat, monkeypatch):
    def outage(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(dispatcher, "chat_for", outage)
    chat.runtime.receive(parse_console(chat.name, "张三", "/帮助", "m1"))
    for _ in range(3):
        with pytest.raises(OperationalError):
            chat.runtime.dispatch()
    (row,) = _rows(chat.runtime, Inbox)
    assert (row.status, row.error) == (PENDING, "")
    monkeypatch.undo()
    assert chat.runtime.dispatch() == 1
    assert [r.status for r in _rows(chat.runtime, Inbox)] == [DONE]


def test_genjin_say_answers_behind_a_corrupt_row(engine, tmp_path, clock):
    with engine.begin() as conn:
        conn.execute(
            Inbox.__table__.insert().values(
                platform="console",
                message_id="old-1",
                chat_external_id="c",
                sender_id="张三",
                payload={"written_by": "an older version"},
                status=PENDING,
                error="",
                received_at=clock.now,
                handled_by="",
            )
        )
    out = _cli(
        engine, tmp_path, "say", "--chat", "c", "--as", "张三", "--at", AT, "--json", "/帮助 跟进"
    )
    assert out.returncode == 0, out.stderr
    (reply,) = json.loads(out.stdout)
    assert reply["text"].startswith("📖 /跟进")
    with engine.connect() as conn:
        assert list(conn.scalars(select(Inbox.status).order_by(Inbox.id))) == [FAILED, DONE]


# -- 3. `say` while another process handles its message ---------------------------------------
class Worker:
    """Another process's worker: dispatches and delivers in a thread, starting ``delay`` s late."""

    def __init__(self, runtime: Runtime, delay: float = 0.3) -> None:
        self.runtime, self.delay = runtime, delay
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                if _rows(self.runtime, Inbox):
                    break
                time.sleep(0.01)
            time.sleep(self.delay)  # the say has long looked for its replies by now
            while not self.stop.is_set():
                if not (self.runtime.dispatch() or self.runtime.deliver()):
                    time.sleep(0.01)
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.errors.append(exc)

    def __enter__(self) -> Worker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.errors


def _bystander(engine, settings, clock) -> Runtime:
    """A runtime whose own dispatcher and sender find nothing to do (another process has it)."""
    runtime = Runtime(settings, engine=engine, clock=clock)
    runtime.dispatch = lambda limit=None: 0
    runtime.deliver = lambda: 0
    return runtime


def test_say_waits_for_the_worker_that_handled_its_message(engine, settings, clock):
    say = _bystander(engine, settings, clock)
    with Worker(Runtime(settings, engine=engine, clock=clock)):
        replies = say.say("销售一组", "张三", "/跟进 客户A 报价已发")
    assert [r.text.splitlines()[0] for r in replies] == [
        "🆕 新客户 客户A 已建档，负责人 \ue0000\ue001"
    ]
    (row,) = _rows(say, Outbox)
    assert row.status == SENT


def test_say_gives_up_with_an_error_when_nobody_answers(engine, settings, clock):
    say = _bystander(engine, settings, clock)
    started = time.monotonic()
    with pytest.raises(ReplyTimeout, match="inbox row 1"):
        say.say("销售一组", "张三", "/帮助", wait=0.3)
    assert 0.3 <= time.monotonic() - started < 5
    assert [r.status for r in _rows(say, Inbox)] == [PENDING]  # still there for a worker


def test_say_does_not_wait_for_a_reply_scheduled_for_a_retry(runtime, clock):
    runtime.adapters["console"] = FailingAdapter({"销售一组"})
    started = time.monotonic()
    assert runtime.say("销售一组", "张三", "/帮助") == []
    assert runtime.say("销售一组", "张三", "/帮助 跟进") == []  # due, but behind the retry
    assert time.monotonic() - started < 5
    assert [r.status for r in _rows(runtime, Outbox)] == [PENDING, PENDING]


def test_say_returns_replies_a_worker_handled_under_its_chat_lock(runtime, settings, clock):
    """PostgreSQL: the worker holds the chat while say's own dispatcher looks (and skips it)."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the chat lock of several dispatchers is PostgreSQL's")
    worker = Runtime(settings, engine=runtime.engine, clock=clock)
    result: list = []
    say = threading.Thread(target=lambda: result.append(runtime.say("一组", "张三", "/帮助 跟进")))
    with worker.sessions() as session, session.begin():
        dispatcher.lock_chat(session, "console", "一组")
        say.start()
        while not _rows(worker, Inbox):
            time.sleep(0.01)
        time.sleep(0.3)  # say has drained (skipping the chat) and is waiting
        row = session.scalars(select(Inbox)).one()
        dispatcher.handle_row(session, row, settings, clock())
    worker.deliver()
    say.join(10)
    (replies,) = result
    assert [r.text.splitlines()[0] for r in replies] == ["📖 /跟进 客户 内容 [下次时间]"]
    assert {row.sent_by for row in _rows(worker, Outbox)} == {process_name()}


# -- 2. one failing chat never starves the others ----------------------------------------------
def _queue(runtime: Runtime, chat: str, count: int, tag: str = "") -> None:
    with runtime.sessions() as session, session.begin():
        for i in range(count):
            enqueue(
                session,
                "console",
                chat,
                [OutgoingMessage(f"{chat} {tag}{i}")],
                key_base=f"{chat}:{tag}{i}",
                now=runtime.clock(),
            )


def test_a_failing_chat_with_a_long_queue_does_not_hold_up_the_others(runtime, clock):
    adapter = FailingAdapter({"堵住的群"})
    runtime.adapters["console"] = adapter
    _queue(runtime, "堵住的群", 1000)
    for chat in ("一组", "二组", "三组"):
        _queue(runtime, chat, 2)
    assert runtime.deliver() == 6  # the same round that tried the blocked head
    assert sorted(item.message.text for item in adapter.sent) == [
        "一组 0", "一组 1", "三组 0", "三组 1", "二组 0", "二组 1",
    ]  # fmt: skip
    blocked = [r for r in _rows(runtime, Outbox) if r.chat_external_id == "堵住的群"]
    head, rest = blocked[0], blocked[1:]
    assert (head.status, head.attempts, head.last_error) == (PENDING, 1, "HTTP 502")
    assert all(r.attempts == 0 and r.leased_until is None for r in rest)
    clock.advance(seconds=1)
    _queue(runtime, "一组", 1, tag="later ")
    assert runtime.deliver() == 1  # the head is in back-off: only 一组's new row goes
    assert adapter.sent[-1].message.text == "一组 later 0"
    clock.advance(hours=1)
    assert runtime.deliver() == 0  # the head is due again and fails again; nothing overtakes it
    head = _rows(runtime, Outbox)[0]
    assert head.attempts == 2
    assert sum(r.attempts for r in _rows(runtime, Outbox) if r.chat_external_id == "堵住的群") == 2


def test_a_chat_whose_head_another_sender_holds_is_skipped_whole(runtime, clock):
    """PostgreSQL: a head locked elsewhere (a `say` process sending it) — nothing behind it goes."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("row locks between senders are PostgreSQL's")
    adapter = FailingAdapter(set())
    runtime.adapters["console"] = adapter
    _queue(runtime, "一组", 3)
    _queue(runtime, "二组", 1)
    with runtime.sessions() as other, other.begin():
        head = other.scalars(select(Outbox).order_by(Outbox.id).limit(1).with_for_update()).one()
        assert runtime.deliver() == 1
        assert [item.message.text for item in adapter.sent] == ["二组 0"]
        head.leased_until = clock.now + timedelta(seconds=30)
    clock.advance(seconds=31)  # that sender died with its lease
    assert runtime.deliver() == 3
    assert [item.message.text for item in adapter.sent][1:] == ["一组 0", "一组 1", "一组 2"]


def test_due_chats_share_a_round_in_order_however_long_one_queue_is(runtime, clock):
    _queue(runtime, "大群", 60)
    for n in range(3):
        _queue(runtime, f"小群{n}", 5)
    with runtime.sessions() as session, session.begin():
        leased = _lease(session, clock.now, 12, timedelta(seconds=30))
        texts = [row.payload["text"] for row in leased]
    # 4 heads, then 2 more each: the 60 older rows of 大群 do not take the round
    for chat in ("大群", "小群0", "小群1", "小群2"):
        assert [t for t in texts if t.split()[0] == chat] == [f"{chat} {i}" for i in range(3)]
    assert len(texts) == 12


@pytest.mark.slow
def test_genjin_say_prints_the_replies_another_process_sent(engine, tmp_path, settings, clock):
    """PostgreSQL: `genjin say` while a worker holds its chat; the worker answers, say prints it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL has other processes handling the inbox")
    worker = Runtime(settings, engine=engine, clock=clock)
    environment = {**os.environ, "GENJIN_DATABASE_URL": _url(engine)}
    environment.pop("GENJIN_CONFIG", None)
    command = [
        sys.executable,
        "-m",
        "bot.cli",
        "say",
        "--chat",
        "c",
        "--as",
        "张三",
        "--at",
        AT,
        "--json",
    ]
    with worker.sessions() as session, session.begin():
        dispatcher.lock_chat(session, "console", "c")
        say = subprocess.Popen(
            [*command, "/帮助 跟进"], cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not _rows(worker, Inbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # say's own dispatcher has looked and skipped the chat
        row = session.scalars(select(Inbox)).one()
        dispatcher.handle_row(session, row, settings, clock())
    worker.deliver()
    out, err = say.communicate(timeout=30)
    assert say.returncode == 0, err
    (reply,) = json.loads(out)
    assert reply["text"].startswith("📖 /跟进")


@pytest.mark.slow
def test_genjin_say_times_out_with_one_line_and_exit_1(engine, tmp_path):
    """PostgreSQL: nobody handles the message within 10 s (its chat stays locked)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL has other processes holding a chat")
    with Session(engine) as session, session.begin():
        dispatcher.lock_chat(session, "console", "c")
        out = _cli(
            engine, tmp_path, "say", "--chat", "c", "--as", "张三", "--at", AT, "--json", "/帮助"
        )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith("genjin: say: the message was stored (inbox row 1)")
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


# -- 4. health that tells the truth ------------------------------------------------------------
TOKEN = "health-token-0123456789"


@pytest.fixture
def web(runtime):
    return create_app(runtime.settings, runtime).test_client()


def test_healthz_is_503_when_a_message_waits_too_long_to_be_handled(runtime, clock, web):
    runtime.receive(parse_console("一组", "张三", "/帮助", "m1"))
    clock.advance(seconds=300)
    assert web.get("/healthz").status_code == 200
    clock.advance(seconds=1)
    response = web.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["inbox_pending"], body["inbox_oldest_pending_seconds"]) == (
        "stuck", 1, 301.0,
    )  # fmt: skip
    assert body["reasons"] == [
        "inbox: a message has waited 301 s to be handled (pipeline.inbox_stuck_seconds = 300)"
    ]
    metrics = web.get("/metrics").text
    assert "genjin_inbox_oldest_pending_seconds 301.0\n" in metrics
    assert "genjin_healthy 0\n" in metrics
    runtime.dispatch()
    assert web.get("/healthz").status_code == 200


def test_healthz_is_503_when_due_replies_are_not_sent(runtime, clock, web):
    runtime.receive(parse_console("一组", "张三", "/帮助", "m1"))
    runtime.dispatch()  # the reply is due; no sender runs
    clock.advance(seconds=600)
    assert web.get("/healthz").status_code == 200
    clock.advance(seconds=1)
    response = web.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["reasons"] == [
        "outbox: a message has been due for 601 s and nothing was sent ever "
        "(pipeline.outbox_stuck_seconds = 600)"
    ]
    assert runtime.deliver() == 1
    body = web.get("/healthz").get_json()
    assert (body["status"], body["outbox_oldest_due_seconds"], body["outbox_last_sent_seconds"]) == (
        "ok", 0.0, 0.0,
    )  # fmt: skip


def test_a_chat_in_retry_backoff_is_not_stuck_while_other_chats_are_sent(runtime, clock, web):
    runtime.adapters["console"] = FailingAdapter({"坏群"})
    _queue(runtime, "坏群", 3)
    for minute in range(15):
        _queue(runtime, "好群", 1, tag=f"m{minute} ")
        runtime.deliver()
        clock.advance(minutes=1)
    body = web.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["outbox_oldest_due_seconds"] >= 600  # 坏群's rows waiting behind its head
    clock.advance(minutes=10)  # and now nothing at all gets through
    runtime.deliver()
    response = web.get("/healthz")
    assert response.status_code == 503
    assert "nothing was sent for 660 s" in response.get_json()["reasons"][0]


def test_metrics_expose_ages_and_failed_counts(runtime, clock, web):
    with runtime.sessions() as session, session.begin():
        session.add(
            Inbox(
                platform="console", message_id="bad", chat_external_id="一组", sender_id="x",
                payload={}, received_at=clock.now,
            )
        )  # fmt: skip
    runtime.adapters["console"] = FailingAdapter(set())
    runtime.dispatch()  # the bad row fails; its apology is due
    clock.advance(seconds=5)
    metrics = web.get("/metrics").text
    for line in (
        "genjin_up 1",
        "genjin_healthy 1",
        "genjin_inbox_pending 0",
        "genjin_inbox_failed 1",
        "genjin_inbox_oldest_pending_seconds 0.0",
        "genjin_outbox_pending 1",
        "genjin_outbox_failed 0",
        "genjin_outbox_oldest_due_seconds 5.0",
    ):
        assert f"\n{line}\n" in f"\n{metrics}", line
    assert "genjin_outbox_last_sent_seconds" not in metrics  # nothing sent yet
    runtime.deliver()
    clock.advance(seconds=2)
    assert "\ngenjin_outbox_last_sent_seconds 2.0\n" in web.get("/metrics").text


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_health_access_loopback_refuses_other_addresses(runtime, path):
    runtime.settings.server.health_access = "loopback"
    client = create_app(runtime.settings, runtime).test_client()
    for address, status in (
        ("10.1.2.3", 403), ("192.168.0.9", 403), ("::ffff:10.0.0.1", 403), ("", 403),
        ("127.0.0.1", 200), ("127.0.0.5", 200), ("::1", 200), ("::ffff:127.0.0.1", 200),
    ):  # fmt: skip
        response = client.get(path, environ_base={"REMOTE_ADDR": address})
        assert response.status_code == status, address


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_health_access_token_needs_the_bearer_token(runtime, path):
    runtime.settings.server.health_access = "token"
    runtime.settings.server.health_token = TOKEN
    client = create_app(runtime.settings, runtime).test_client()
    for header, status in (
        (None, 401),
        ("Bearer", 401),
        ("Bearer wrong-token-0123456789", 401),
        (f"Basic {TOKEN}", 401),
        (f"Bearer {TOKEN}x", 401),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
    ):
        response = client.get(path, headers={"Authorization": header} if header else {})
        assert response.status_code == status, header
        if status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert TOKEN not in response.get_data(as_text=True)


def test_health_settings_are_validated_without_showing_the_token():
    with pytest.raises(ConfigError, match="server.health_access must be"):
        load_settings(env={"GENJIN_SERVER_HEALTH_ACCESS": "public"})
    with pytest.raises(ConfigError, match="server.health_token of at least 16 characters"):
        load_settings(env={"GENJIN_SERVER_HEALTH_ACCESS": "token"})
    with pytest.raises(ConfigError) as caught:
        load_settings(
            env={"GENJIN_SERVER_HEALTH_ACCESS": "token", "GENJIN_SERVER_HEALTH_TOKEN": "short-tok"}
        )
    assert "short-tok" not in str(caught.value)
    env = {"GENJIN_SERVER_HEALTH_ACCESS": "token", "GENJIN_SERVER_HEALTH_TOKEN": TOKEN}
    assert load_settings(env=env).server.health_token == TOKEN
    for key in ("RETENTION_DAYS", "INBOX_STUCK_SECONDS", "OUTBOX_STUCK_SECONDS"):
        with pytest.raises(ConfigError, match=f"pipeline.{key.lower()} must be at least 1"):
            load_settings(env={f"GENJIN_PIPELINE_{key}": "0"})


# -- 5. retention ------------------------------------------------------------------------------
def _claims(runtime: Runtime, chat_id: int, created_at, *jobs_and_periods) -> None:
    with runtime.sessions() as session, session.begin():
        for job, period in jobs_and_periods:
            session.add(JobRun(job=job, chat_id=chat_id, period=period, created_at=created_at))


def test_purge_deletes_handled_rows_past_retention_and_keeps_everything_else(chat, runtime, clock):
    runtime.adapters["console"] = FailingAdapter({"二组"})  # a chat the platform refuses for weeks
    today = clock.now
    clock.now = today - timedelta(days=31)
    chat.send("/跟进 客户A 拜访", message_id="old-1")  # inbox done + outbox sent, 31 days ago
    runtime.say("二组", "李四", "/帮助", message_id="old-2")  # handled; its reply fails later
    (group, _) = _rows(runtime, Chat)
    _claims(
        runtime, group.id, clock.now,
        ("daily_digest", "2026-10-27"), ("response_sla", "2026-10-27T10:00"),
        ("stalled_deals#item", "c1:跟进中:20261001000000:L1"),  # could recur: kept
    )  # fmt: skip
    clock.now = today - timedelta(days=29)
    chat.send("/帮助 跟进", message_id="recent-1")
    clock.now = today
    with runtime.sessions() as session, session.begin():  # pending, however old: never purged
        enqueue(session, "console", "三组", [OutgoingMessage("x")], "k", today - timedelta(days=40))
    assert [r.status for r in _rows(runtime, Outbox)] == [SENT, FAILED, SENT, PENDING]
    purged = purge(runtime.sessions, clock.now, 30, batch=2)  # small batches: several rounds
    assert (purged.inbox, purged.outbox, purged.job_run) == (2, 2, 2)
    assert [r.message_id for r in _rows(runtime, Inbox)] == ["recent-1"]
    assert [(r.chat_external_id, r.status) for r in _rows(runtime, Outbox)] == [
        (chat.name, SENT),  # recent-1's reply
        ("三组", PENDING),
    ]
    assert [r.job for r in _rows(runtime, JobRun)] == ["stalled_deals#item"]
    assert chat.customer("客户A") is not None and len(chat.activities()) == 2  # business data stays
    assert chat.send("/帮助 跟进", message_id="recent-1") == [] and chat.last is None  # dedupe
    assert purge(runtime.sessions, clock.now, 30) == Purged()


def test_purge_keeps_a_reply_whose_message_is_purged(runtime, clock):
    """An outbox row outlives the inbox row it answers: the link is cleared, the row stays."""
    with runtime.sessions() as session, session.begin():
        row = Inbox(
            platform="console", message_id="m", chat_external_id="c", sender_id="u", payload={},
            status=DONE, received_at=clock.now - timedelta(days=40),
            processed_at=clock.now - timedelta(days=40),
        )  # fmt: skip
        session.add(row)
        session.flush()
        enqueue(session, "console", "c", [OutgoingMessage("late")], "k", clock.now, inbox_id=row.id)
    assert purge(runtime.sessions, clock.now, 30).inbox == 1
    (reply,) = _rows(runtime, Outbox)
    assert (reply.inbox_id, reply.status) == (None, PENDING)


def test_period_claims_are_kept_long_enough_that_no_job_runs_twice(chat, runtime, clock):
    chat.send("/帮助")
    (group,) = _rows(runtime, Chat)
    _claims(runtime, group.id, clock.now - timedelta(days=10), ("weekly_review", "2026-W46"))
    _claims(runtime, group.id, clock.now - timedelta(days=15), ("weekly_review", "2026-W45"))
    assert purge(runtime.sessions, clock.now, 1).job_run == 1  # retention 1 day, claims 14
    assert [r.period for r in _rows(runtime, JobRun)] == ["2026-W46"]


def test_stored_files_go_after_a_week_or_the_retention_if_shorter(runtime, clock):
    """Books sent for /导入 and built by /导出 are big: kept 7 days, fewer if retention is."""
    from models.stored_file import StoredFile

    with runtime.sessions() as session, session.begin():
        for days in (1, 6, 8, 40):
            session.add(
                StoredFile(
                    key=f"feishu:om_{days}", platform="feishu", chat_external_id="oc",
                    name="客户.xlsx", size=3, data=b"xls",
                    created_at=clock.now - timedelta(days=days),
                )
            )  # fmt: skip
    assert purge(runtime.sessions, clock.now, 30).stored_file == 2  # 8 and 40 days old
    assert purge(runtime.sessions, clock.now, 3).stored_file == 1  # then 6: retention 3 days
    assert [f.key for f in _rows(runtime, StoredFile)] == ["feishu:om_1"]


def _purge_together(worker: Runtime, barrier: threading.Barrier, results: list) -> None:
    barrier.wait()
    results.append(daily_purge(worker))


def test_daily_purge_runs_once_a_day_across_processes(engine, settings, clock):
    workers = [Runtime(settings, engine=engine, clock=clock) for _ in range(4)]
    clock.now = clock.now.replace(hour=2, minute=59)
    assert [daily_purge(w) for w in workers] == [None] * 4  # not before 03:00
    for day in range(2):
        clock.now = clock.now.replace(hour=3, minute=0) + timedelta(days=day)
        barrier = threading.Barrier(len(workers))
        results: list = []
        threads = [
            threading.Thread(target=_purge_together, args=(w, barrier, results)) for w in workers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(results, key=str) == sorted([Purged(), None, None, None], key=str)
        clock.advance(hours=5)
        assert daily_purge(workers[0]) is None  # later that day
    runs = _rows(workers[0], MaintenanceRun)
    assert [(r.task, r.period) for r in runs] == [("purge", "2026-11-27"), ("purge", "2026-11-28")]
    assert all(r.finished_at is not None and r.detail.startswith("inbox 0") for r in runs)


def test_the_heartbeat_schedules_the_daily_purge(runtime):
    from bot.scheduler import start_heartbeat

    scheduler = start_heartbeat(runtime)
    try:
        assert {job.id for job in scheduler.get_jobs()} == {"genjin-tick", "genjin-purge"}
        deadline = time.monotonic() + 10
        while not _rows(runtime, MaintenanceRun) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    (run,) = _rows(runtime, MaintenanceRun)  # it ran at start, once
    assert (run.task, run.period, run.detail) == ("purge", "2026-11-27", str(Purged()))


@pytest.mark.slow
def test_genjin_db_purge_and_vacuum(engine, tmp_path, settings, clock):
    runtime = Runtime(settings, engine=engine, clock=clock)
    old = clock.now - timedelta(days=45)
    with runtime.sessions() as session, session.begin():
        for i in range(2000):
            session.add(
                Inbox(
                    platform="console", message_id=f"m{i}", chat_external_id="c",
                    sender_id="u", payload={"text": "旧消息" * 100}, status=DONE,
                    received_at=old, processed_at=old,
                )
            )  # fmt: skip
        session.add(
            Inbox(
                platform="console", message_id="new", chat_external_id="c", sender_id="u",
                payload={}, status=DONE, received_at=clock.now, processed_at=clock.now,
            )
        )  # fmt: skip
    file = engine.url.database if engine.dialect.name == "sqlite" else None
    at = clock.now.isoformat()
    out = _cli(engine, tmp_path, "db", "purge", "--at", at)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        "purged rows older than 30 days: inbox 2000, outbox 0, job_run 0, maintenance_run 0, "
        "stored_file 0\n"
    )
    assert [r.message_id for r in _rows(runtime, Inbox)] == ["new"]
    engine.dispose()
    before = os.path.getsize(file) if file else 0
    out = _cli(engine, tmp_path, "db", "vacuum")
    assert out.returncode == 0, out.stderr
    if file:
        assert out.stdout.startswith("SQLite database file rewritten")
        assert os.path.getsize(file) < before / 4
    else:
        assert out.stdout.startswith("PostgreSQL: VACUUM (ANALYZE) done")
    assert [r.message_id for r in _rows(runtime, Inbox)] == ["new"]
