"""The runtime: engine, sessions, adapters and clock wired together, plus the worker threads.

`genjin serve` runs the workers as threads; `genjin say` drives the same steps synchronously.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, text

from bot import dispatcher, files, inbox, sender
from bot.adapters import PLATFORMS, Adapter
from bot.adapters.console import ConsoleAdapter
from bot.config import Settings
from bot.messages import (
    ACTION,
    AWAITED_UNTIL,
    FileNeeded,
    IncomingMessage,
    OutgoingMessage,
)
from models.db import make_engine, make_session_factory, read_only_sessions, upgrade

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SAY_WAIT_SECONDS = 10.0  # how long `say` waits for another process to answer its message
ACTION_WAIT = 2.0  # how long a tap's webhook waits for its answer (Feishu allows 3 s, WeCom 5 s)
ACTION_POLL = 0.03  # seconds between looks at the database while waiting for that answer
INLINE = "inline"  # outbox.sent_by of a reply delivered as the webhook's answer to a tap


class ReplyTimeout(Exception):
    """`say` stored its message, but nobody handled it and sent the replies in time."""


def system_clock() -> datetime:
    """The real time, aware UTC."""
    return datetime.now(UTC)


class Runtime:
    """Everything a process needs to receive, dispatch and send."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        clock: Clock | None = None,
        adapters: dict[str, Adapter] | None = None,
    ) -> None:
        self.settings = settings
        # Connections a busy process may hold at once: web threads, parallel sends, the
        # dispatcher, the sender lock, the scheduler and the name refresher.
        busy = settings.server.threads + settings.sender.concurrency + 4
        self.engine = engine or make_engine(settings.database.url, pool_size=busy)
        self.sessions = make_session_factory(self.engine)
        self.clock: Clock = clock or system_clock
        # Every configured platform of the table, unless the caller brings its own adapter.
        self.adapters: dict[str, Adapter] = {"console": ConsoleAdapter()}
        for name in settings.platforms():
            if name not in (adapters or {}):
                self.adapters[name] = (
                    PLATFORMS[name]
                    .adapter_class()
                    .from_settings(settings, clock=lambda: self.clock().timestamp())
                )
        self.adapters.update(adapters or {})
        self._inbox_wake = threading.Event()
        self._outbox_wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._long_connections: dict[str, threading.Thread] = {}
        self._scheduler: Any = None
        self._sender_lease: Any = None
        self._send_pool: Any = None
        self._poll = 1.0

    def migrate(self) -> None:
        """Bring the schema up to date (every start does this)."""
        upgrade(self.engine)

    # -- the pipeline steps ----------------------------------------------------------------
    def receive(self, message: IncomingMessage) -> int | None:
        """Durably store an incoming message; None when it is a redelivery. Wakes the dispatcher."""
        row_id = inbox.store(self.sessions, message, self.clock())
        if row_id is not None:
            self._inbox_wake.set()
        return row_id

    def receive_action(
        self, message: IncomingMessage, wait: float | None = None
    ) -> list[OutgoingMessage] | None:
        """Store a tap on a card and return its answer, claimed as delivered inline.

        The tap is stored like any message (a redelivery: None at once) and the dispatcher woken;
        whoever dispatches it (this process or another: the database is polled) holds its
        replies for this waiter until ``wait`` seconds (ACTION_WAIT) have passed. The replies
        found are marked sent here (sent_by "inline") in one transaction, so the sender never
        sends them again, and returned. None when they were not ready in time: they are let go
        to the sender, which delivers them (the card update through ``adapter.send``).
        """
        wait = ACTION_WAIT if wait is None else wait
        until = self.clock() + timedelta(seconds=wait)
        data = {**message.platform_data, AWAITED_UNTIL: until.isoformat()}
        row_id = self.receive(replace(message, platform_data=data))
        if row_id is None:
            return None
        deadline = time.monotonic() + wait
        while True:
            replies = self._claim_inline(row_id)
            if replies is not None:
                return replies or None
            if time.monotonic() >= deadline:
                self._let_go(row_id)
                return None
            time.sleep(ACTION_POLL)

    def _claim_inline(self, inbox_id: int) -> list[OutgoingMessage] | None:
        """The replies to a handled inbox row, marked sent inline; None while it is pending.

        Only rows still pending and not leased are taken (a sender that got one first sends it).
        The waiting looks read only (SQLite: without the write lock the dispatcher needs).
        """
        from sqlalchemy import Table, or_, select, update

        from models.pipeline import PENDING, SENT, Inbox, Outbox

        now = self.clock()
        table = cast(Table, Outbox.__table__)
        status = select(Inbox.status).where(Inbox.id == inbox_id)
        with read_only_sessions(self.engine)() as looking:  # polled: no write lock meanwhile
            if looking.scalar(status) == PENDING:
                return None
        with self.sessions() as session, session.begin():  # handled: its replies are written
            claimed = session.execute(
                update(table)
                .where(
                    table.c.inbox_id == inbox_id,
                    table.c.status == PENDING,
                    or_(table.c.leased_until.is_(None), table.c.leased_until <= now),
                )
                .values(status=SENT, sent_at=now, sent_by=INLINE, leased_until=None)
                .returning(table.c.id, table.c.payload)
            ).all()
        return [OutgoingMessage.from_payload(payload) for _, payload in sorted(claimed)]

    def _let_go(self, inbox_id: int) -> None:
        """Stop holding a tap's replies for this waiter: the sender delivers them when ready."""
        from sqlalchemy import select

        from models.pipeline import PENDING, Inbox, Outbox

        now = self.clock()
        with self.sessions() as session, session.begin():
            row = session.scalars(
                select(Inbox).where(Inbox.id == inbox_id).with_for_update()
            ).first()
            if row is not None and row.status == PENDING:  # not handled yet: handled unheld
                payload = dict(row.payload)
                data = dict(payload.get("platform_data") or {})
                data.pop(AWAITED_UNTIL, None)
                row.payload = {**payload, "platform_data": data}
                return
            for reply in session.scalars(
                select(Outbox).where(
                    Outbox.inbox_id == inbox_id,
                    Outbox.status == PENDING,
                    Outbox.next_attempt_at > now,
                )
            ):
                reply.next_attempt_at = now
        self._outbox_wake.set()

    def _receive_any(self, message: IncomingMessage) -> object:
        """What a long connection hands over: a tap waits for its answer, the rest are stored."""
        if message.kind == ACTION:
            return self.receive_action(message)
        return self.receive(message)

    def dispatch(self, limit: int | None = None) -> int:
        """Handle pending inbox rows; wakes the sender when replies were written."""
        count = dispatcher.process_pending(
            self.sessions, self.settings, self.clock, limit, fetch=self._fetch_file
        )
        if count:
            self._outbox_wake.set()
        return count

    def _fetch_file(self, request: FileNeeded) -> None:
        """Download a file a command asked for (outside its transaction) and store it."""
        files.fetch(self.sessions, self.adapters, request, self.clock())

    def deliver(self) -> int:
        """Send due outbox rows (different chats in parallel when the workers run)."""
        return sender.deliver_due(
            self.sessions, self.adapters, self.settings.sender, self.clock, pool=self._send_pool
        )

    def drain(self) -> None:
        """Dispatch and deliver until nothing is left that is due now (used by the CLI)."""
        while self.dispatch() or self.deliver():
            pass

    def say(
        self,
        chat: str,
        sender: str,
        text: str,
        at: datetime | None = None,
        message_id: str | None = None,
        wait: float = SAY_WAIT_SECONDS,
    ) -> list[OutgoingMessage] | None:
        """Send a console line through the whole pipeline and return the bot's replies.

        ``at`` fixes the clock for this message; None for a redelivered (dropped) message.
        Another process (a `genjin worker` on PostgreSQL) may handle the message or send its
        replies first: this waits up to ``wait`` seconds for whoever does, then raises
        ReplyTimeout. Replies waiting for a retry later are left to the sender, as before.
        """
        from bot.adapters.console import parse_console

        if at is not None:
            self.clock = lambda: at
        message = parse_console(
            chat,
            sender,
            text,
            message_id or f"console-{uuid.uuid4().hex}",
            sent_at=at.isoformat() if at else "",
            bot_name=self.settings.bot.name,
        )
        inbox_id = self.receive(message)
        deadline = time.monotonic() + wait
        while True:
            self.drain()
            if inbox_id is None:
                return None
            replies = self._settled_replies(inbox_id)
            if replies is not None:
                return replies
            if time.monotonic() >= deadline:
                raise ReplyTimeout(
                    f"say: the message was stored (inbox row {inbox_id}) but not answered within "
                    f"{wait:g} s; a running worker will still handle it"
                )
            time.sleep(0.05)

    def _settled_replies(self, inbox_id: int) -> list[OutgoingMessage] | None:
        """The sent replies to an inbox row, or None while someone is still on it.

        Settled: the row is handled, and each reply is sent, failed, or waiting for a later
        retry (its own or one ahead of it in its chat). Not settled: the row is pending, or a
        reply is leased (being sent) or due and free to go (the next drain sends it).
        """
        from sqlalchemy import or_, select

        from models.pipeline import PENDING, SENT, Inbox, Outbox

        now = self.clock()
        with self.sessions() as session:
            if session.scalar(select(Inbox.status).where(Inbox.id == inbox_id)) == PENDING:
                return None
            rows = session.scalars(
                select(Outbox).where(Outbox.inbox_id == inbox_id).order_by(Outbox.id)
            ).all()
            for row in rows:
                if row.status != PENDING:
                    continue
                if row.leased_until is not None and row.leased_until > now:
                    return None
                waiting = session.scalar(
                    select(Outbox.id)
                    .where(
                        Outbox.status == PENDING,
                        Outbox.platform == row.platform,
                        Outbox.chat_external_id == row.chat_external_id,
                        Outbox.id <= row.id,
                        Outbox.next_attempt_at > now,
                        or_(Outbox.leased_until.is_(None), Outbox.leased_until <= now),
                    )
                    .limit(1)
                )
                if waiting is None:
                    return None
            return [OutgoingMessage.from_payload(r.payload) for r in rows if r.status == SENT]

    def health(self) -> dict[str, object]:
        """Database status, pipeline backlog and ages for /healthz; status "ok" only when healthy.

        "stuck" (with its reasons) when messages wait too long to be handled or sent (see
        bot.health), "degraded" when a long connection stopped or is not up, "error" without database.
        """
        from bot.health import pipeline_figures

        try:
            with self.sessions() as session:
                session.execute(text("SELECT 1"))
                figures = pipeline_figures(session, self.clock(), self.settings.pipeline)
        except Exception as exc:
            return {"status": "error", "database": "unreachable", "error": type(exc).__name__}
        reasons = cast(list[str], figures.pop("reasons"))
        health: dict[str, object] = {
            "status": "stuck" if reasons else "ok",
            "database": "ok",
            "backend": self.engine.dialect.name,
            **figures,
            "reasons": reasons,
        }
        for name, thread in self._long_connections.items():
            alive = thread.is_alive()
            problem = self.adapters[name].long_connection_problem()
            health[f"{name}_long_connection"] = "running" if alive else "stopped"
            if not alive or problem:
                health["status"] = "degraded"
                reasons = [*reasons, f"{name}: {problem or 'the long connection stopped'}"]
                health["reasons"] = reasons
        return health

    # -- worker threads --------------------------------------------------------------------
    def prefetch(self) -> None:
        """Learn platform facts the webhook needs (the Feishu bot's open_id), off the hot path."""
        for name, adapter in self.adapters.items():
            threading.Thread(
                target=adapter.prefetch, name=f"genjin-{name}-info", daemon=True
            ).start()

    def start(self, poll: float = 1.0) -> None:
        """Start the workers, the scheduler heartbeat and the long connection (parsers loaded first).

        ``poll``: how often idle workers look for rows written by other processes. On
        PostgreSQL, other processes may share the database: this one sends only while it holds
        the sender lock (see bot.leader).
        """
        from models.parsing import warm_up

        warm_up()
        self._stop.clear()
        self._poll = poll
        self.prefetch()
        for name, adapter in self.adapters.items():
            thread = adapter.start_long_connection(self._receive_any)
            if thread is not None:
                self._long_connections[name] = thread
        from bot.scheduler import start_heartbeat

        self._scheduler = start_heartbeat(self)
        names = threading.Thread(target=self._names_loop, name="genjin-names", daemon=True)
        names.start()
        self._threads.append(names)
        from bot.leader import SenderLease

        self.send_in_parallel()
        self._sender_lease = SenderLease(self.engine)
        for name, step, wake in (
            ("genjin-inbox", self.dispatch, self._inbox_wake),
            ("genjin-outbox", self._deliver_if_sender, self._outbox_wake),
        ):
            thread = threading.Thread(
                target=self._loop, args=(name, step, wake), name=name, daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers after their current step."""
        self._stop.set()
        for name in list(self._long_connections):
            self.adapters[name].stop_long_connection()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self._inbox_wake.set()
        self._outbox_wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._sender_lease is not None:
            self._sender_lease.release()
            self._sender_lease = None
        if self._send_pool is not None:
            self._send_pool.shutdown(wait=True)
            self._send_pool = None

    def send_in_parallel(self) -> None:
        """From now on deliver() sends to up to ``sender.concurrency`` chats at once."""
        if self._send_pool is None and self.settings.sender.concurrency > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._send_pool = ThreadPoolExecutor(
                self.settings.sender.concurrency, thread_name_prefix="genjin-send"
            )

    def _deliver_if_sender(self) -> int:
        """deliver() in the process that holds the sender lock; standby elsewhere."""
        if self._sender_lease is None or not self._sender_lease.held():
            return 0
        return self.deliver()

    def wake(self) -> None:
        """Nudge both workers (after writing rows from outside them)."""
        self._inbox_wake.set()
        self._outbox_wake.set()

    def _loop(self, name: str, step: Callable[[], int], wake: threading.Event) -> None:
        """Run ``step`` until idle, then sleep until woken or a second passes; back off on errors."""
        failures = 0
        while not self._stop.is_set():
            wake.clear()
            try:
                did = step()
                failures = 0
            except Exception:
                failures += 1
                log.exception("%s step failed (%s in a row); retrying", name, failures)
                self._stop.wait(min(30.0, 0.5 * 2**failures))
                continue
            if not did:
                wake.wait(self._poll)

    def refresh_names(self, max_age: timedelta = timedelta(hours=6)) -> int:
        """Ask platforms for display names in chats where members lack one; returns names set."""
        from sqlalchemy import select

        from models.chat import Chat
        from models.member import Member

        now = self.clock()
        with self.sessions() as session:
            unnamed = select(Member.id).where(Member.chat_id == Chat.id, Member.name == "")
            chats = session.execute(
                select(Chat.id, Chat.platform, Chat.external_id, Chat.settings).where(
                    unnamed.exists()
                )
            ).all()
        learned = 0
        for chat_id, platform, external_id, chat_settings in chats:
            adapter = self.adapters.get(platform)
            fetched = (chat_settings or {}).get("names_fetched_at")
            if adapter is None:
                continue
            if fetched and now - datetime.fromisoformat(fetched) < max_age:
                continue
            names = adapter.member_names(external_id)
            if names is None:  # the platform cannot tell: nothing to remember either
                continue
            with self.sessions() as session, session.begin():
                chat = session.get(Chat, chat_id)
                if chat is None:  # deleted meanwhile
                    continue
                chat.settings = {**(chat.settings or {}), "names_fetched_at": now.isoformat()}
                for member in session.scalars(select(Member).where(Member.chat_id == chat_id)):
                    name = names.get(member.user_id)
                    if name and member.name != name:
                        member.name = name
                        learned += 1
        return learned

    def _names_loop(self) -> None:
        """Refresh unknown display names now and then (network calls stay off the hot path)."""
        while not self._stop.wait(5.0):
            try:
                self.refresh_names()
            except Exception:
                log.exception("refreshing member names failed")
            self._stop.wait(55.0)
