"""The dispatcher: one inbox row → one transaction with the domain changes, the replies and done.

A user error (CommandError) rolls back the command's changes and answers with its text; a
crash rolls back too, answers with an apology and marks the row failed; a database outage
rolls back everything and leaves the row pending, so nothing acknowledged is lost.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.messages import (
    ACTION,
    AWAITED_UNTIL,
    FORM_PREFIX,
    VOICE,
    FileNeeded,
    IncomingMessage,
    OutgoingMessage,
    reply_token_of,
)
from bot.outbox import enqueue
from handlers import router
from models.chat import Chat
from models.db import read_only_engine
from models.pipeline import (  # noqa: F401 (CHAT_LOCK_CLASS, lock_chat: used by tests)
    CHAT_LOCK_CLASS,
    DONE,
    FAILED,
    PENDING,
    Inbox,
    chat_lock_key,
    lock_chat,
    process_name,
)

log = logging.getLogger(__name__)

APOLOGY = "😥 抱歉，处理这条消息时出错了，已记录下来，这条没有保存，请稍后再试。"
WELCOME = (
    "👋 大家好，我是跟进助手。聊完客户 @我 说一句就记下了：\n"
    "/跟进 客户 内容 [下次时间]，例如：/跟进 华为 报价已发 下周三回访\n"
    "发送 /帮助 查看全部命令"
)
CLAIM_SCAN = 64  # pending rows looked at to find a chat no other worker is busy with
# Messages at least this long are read once before their transaction (``rehearse``); shorter
# ones parse in well under a millisecond (docs/benchmarks.md, "Understanding one message").
REHEARSE_FROM = 80
MAX_HOLD = timedelta(seconds=10)  # the longest the replies to a tap wait for their webhook

_CHAT = select(Chat).where(Chat.platform == bindparam("p"), Chat.external_id == bindparam("e"))


def chat_for(session: Session, message: IncomingMessage, settings: Settings, now: datetime) -> Chat:
    """Get or create the chat a message came from."""
    chat = session.scalars(_CHAT, {"p": message.platform, "e": message.chat_id}).first()
    if chat is None:
        chat = Chat(
            platform=message.platform,
            external_id=message.chat_id,
            name=message.chat_name,
            timezone=settings.bot.timezone,
            settings={},
            created_at=now,
        )
        session.add(chat)
        session.flush()
    elif message.chat_name and chat.name != message.chat_name:
        chat.name = message.chat_name
    return chat


def handle_row(
    session: Session,
    row: Inbox,
    settings: Settings,
    clock_now: datetime,
    rehearsal: bool = False,
) -> None:
    """Process one claimed inbox row inside the caller's transaction.

    The command's own clock is when the message was sent, so "明天" means the same day however
    late a queued message is processed. ``rehearsal``: a read-only run before the real one
    (see ``rehearse``): a crash propagates instead of being answered.
    """
    message = IncomingMessage.from_payload(row.payload)
    sent_at = message.sent_at_dt() or row.received_at
    chat = chat_for(session, message, settings, row.received_at)
    now = sent_at.astimezone(ZoneInfo(chat.timezone))
    private = router.is_private(session, message)
    sender = None if private else router.meet(session, chat, message, now)
    if sender is None and not (private and message.kind in ("message", VOICE, ACTION)):
        _chat_event(session, row, message, chat, clock_now)
        return
    status = DONE
    try:
        if sender is None:  # a private chat works on its sender's team book (handlers.desk)
            replies = router.handle_private(session, chat, message, settings, now)
        else:
            replies = router.handle(session, chat, sender, message, settings, now)
    except Exception as exc:
        if rehearsal or is_transient(exc) or isinstance(exc, FileNeeded):
            raise  # the database is away, or a file is to be fetched: the row stays pending
        log.exception("command crashed on inbox row %s", row.id)
        replies, status = [OutgoingMessage(APOLOGY)], FAILED
        row.error = _reason()
    enqueue(
        session,
        message.platform,
        message.chat_id,
        replies,
        key_base=f"reply:{message.platform}:{message.message_id}",
        now=clock_now,
        reply_to=message.message_id,
        inbox_id=row.id,
        reply_token=message.reply_token,
        not_before=_awaited_until(message, clock_now),
    )
    row.status = status
    row.processed_at = clock_now
    row.handled_by = process_name()


def rehearse(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> bool:
    """Read the next long message once, outside any lock, so its text is understood beforehand.

    Parsing a long note costs milliseconds (bounded, see bench/parse_cost.py); no database lock
    may be held meanwhile. The oldest pending message of ``REHEARSE_FROM`` characters or more is
    handled in a read-only transaction that takes no lock (``models.db.read_only_engine``) and is
    rolled back, whatever happens; its dates and amounts stay remembered (``models.memo``), so
    the real run, under the lock, looks them up. True when a rehearsal ran.
    """
    engine = sessions.kw["bind"]
    with _Rehearsal(read_only_engine(engine), autoflush=False, expire_on_commit=False) as session:
        try:
            row = session.scalars(_OLDEST).first()
            if row is None or _text_length(row.payload) < REHEARSE_FROM:
                return False
            handle_row(session, row, settings, now, rehearsal=True)
        except Exception as exc:  # a write refused, a crash: the real run will tell
            log.debug("rehearsal stopped early: %s", type(exc).__name__)
        finally:
            session.rollback()
    return True


def _text_length(payload: Any) -> int:
    """Characters of text a stored message brings: its line, and a card form's values."""
    if not isinstance(payload, dict):
        return 0
    data = payload.get("platform_data")
    form = (
        [v for k, v in data.items() if str(k).startswith(FORM_PREFIX)]
        if isinstance(data, dict)
        else []
    )
    return len(str(payload.get("text") or "")) + sum(len(str(v)) for v in form)


class _Rehearsal(Session):
    """A session whose changes stay in memory: nothing is ever sent to the database.

    A command that creates its customer goes on to read its note as in the real run; what it
    reads from the database may differ (new rows are not there), which only costs a lookup miss.
    """

    def flush(self, objects: Any = None) -> None:
        """Keep the changes in memory (the rehearsal is rolled back anyway)."""
        return None


def _awaited_until(message: IncomingMessage, now: datetime) -> datetime | None:
    """Until when a waiting webhook claims the replies to a tap (Runtime.receive_action).

    At most ``MAX_HOLD`` from now: a stray value can never keep replies from being sent.
    """
    value = message.platform_data.get(AWAITED_UNTIL, "") if message.kind == ACTION else ""
    try:
        until = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if until is None or until.tzinfo is None:
        return None
    return min(until, now + MAX_HOLD)


def _chat_event(
    session: Session, row: Inbox, message: IncomingMessage, chat: Chat, clock_now: datetime
) -> None:
    """Platform events: a hello when the bot joins; names were learned from the mentions."""
    if message.kind == "bot_added":
        enqueue(
            session,
            message.platform,
            message.chat_id,
            [OutgoingMessage(WELCOME)],
            key_base=f"welcome:{message.platform}:{message.message_id}",
            now=clock_now,
            inbox_id=row.id,
        )
    elif message.kind == "bot_removed":
        log.info("bot removed from %s chat %s", message.platform, message.chat_id)
    row.status = DONE
    row.processed_at = clock_now
    row.handled_by = process_name()


def is_transient(exc: BaseException) -> bool:
    """A database outage (connection lost, server away, lock timeout): worth trying again later."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    # PostgreSQL files "program limit exceeded" (a value too big for an index) under
    # OperationalError too, yet it fails the same way every time.
    return not str(getattr(exc.orig, "sqlstate", "") or "").startswith("54")


def _reason() -> str:
    """The exception being handled, as stored in ``inbox.error``."""
    return traceback.format_exc(limit=5)[-4000:]


def process_pending(
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], datetime],
    limit: int | None = None,
    fetch: Callable[[FileNeeded], None] | None = None,
) -> int:
    """Handle pending inbox rows oldest first, one transaction each; returns how many.

    A command that needs a received file raises FileNeeded: its transaction is rolled back,
    ``fetch`` downloads and stores the file (or why not) outside any transaction, and the row
    is handled again. Without ``fetch``, or when the file is asked for again, the row fails.

    A row whose handling fails for any reason but a database outage (a bad payload, a value the
    database refuses, a bug outside the command) is answered with the apology and marked failed
    in a fresh transaction, so it can never block the rows behind it.
    """
    count = 0
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    fetched: set[int] = set()
    while limit is None or count < limit:
        row_id = None
        try:
            rehearse(sessions, settings, clock())
            with sessions() as session, session.begin():
                row = _claim_postgres(session) if postgres else _claim(session)
                if row is None:
                    return count
                row_id = row.id
                handle_row(session, row, settings, clock())
        except FileNeeded as request:
            if row_id is not None and fetch is not None and row_id not in fetched:
                fetched.add(row_id)
                fetch(request)
                continue  # the same row again, now with its file (or the reason there is none)
            log.error("inbox row %s asked for a file it cannot get; marking it failed", row_id)
            _fail_row(sessions, row_id or 0, "file needed: " + str(request), clock(), postgres)
        except Exception as exc:
            if row_id is None or is_transient(exc):
                raise  # the claim itself failed, or the database is away: the row stays pending
            log.exception("inbox row %s could not be handled; marking it failed", row_id)
            _fail_row(sessions, row_id, _reason(), clock(), postgres)
        count += 1
    return count


def _fail_row(
    sessions: sessionmaker[Session], row_id: int, reason: str, now: datetime, postgres: bool
) -> None:
    """Mark a row that cannot be handled as failed, with the apology when it can still be written.

    Runs after the handling transaction was rolled back (it may be unusable, e.g. PostgreSQL
    aborts a transaction on a refused value). Should the apology itself be refused, the row is
    still marked failed, without it: either way it leaves the queue.
    """
    for apologise in (True, False):
        try:
            with sessions() as session, session.begin():
                query = select(Inbox).where(Inbox.id == row_id, Inbox.status == PENDING)
                if postgres:  # another worker may be failing the same row: one of us does it
                    query = query.with_for_update(skip_locked=True)
                row = session.scalars(query).first()
                if row is None:
                    return
                if apologise:
                    payload = row.payload if isinstance(row.payload, dict) else {}
                    enqueue(
                        session,
                        row.platform,
                        row.chat_external_id,
                        [OutgoingMessage(APOLOGY)],
                        key_base=f"reply:{row.platform}:{row.message_id}",
                        now=now,
                        reply_to=row.message_id,
                        inbox_id=row.id,
                        reply_token=reply_token_of(payload),
                    )
                row.status = FAILED
                row.error = reason
                row.processed_at = now
                row.handled_by = process_name()
            return
        except Exception as exc:
            if not apologise or is_transient(exc):
                raise
            log.exception("the apology for inbox row %s could not be written", row_id)


def _claim(session: Session) -> Inbox | None:
    """The oldest pending row (SQLite: this process is the only dispatcher)."""
    return session.scalars(_OLDEST).first()


def _claim_postgres(session: Session) -> Inbox | None:
    """The oldest pending row of a chat no other worker is handling, locked for this transaction.

    Several workers share the inbox, but one chat's messages are handled one at a time and in
    order (an /撤销 must see the entry before it; two first messages must not both create the
    chat). A transaction-scoped advisory lock per chat says "a worker is on this chat". The
    oldest pending row is tried first (one statement, the usual case); when its chat is busy,
    the oldest rows of the other chats in the queue.
    """
    row = session.scalars(_LOCK_OLDEST).first()
    if row is not None:
        return row
    chats = session.execute(_PENDING_CHATS).all()
    for platform, chat_id in dict.fromkeys(chats):  # each chat once, oldest first
        row = session.scalars(_LOCK_OLDEST_OF_CHAT, {"p": platform, "c": chat_id}).first()
        if row is not None:
            return row
    return None


def _lock_oldest(oldest: Any) -> Any:
    """Lock the row ``oldest`` names if it is still pending and its chat is free (else nothing).

    ``status == PENDING`` is repeated on the outer row: should another worker finish that row
    between our snapshot and our lock, PostgreSQL re-checks it and returns nothing.
    """
    chat_key = chat_lock_key(Inbox.platform, Inbox.chat_external_id)
    return (
        select(Inbox)
        .where(
            Inbox.id == oldest.order_by(Inbox.id).limit(1).scalar_subquery(),
            Inbox.status == PENDING,
            func.pg_try_advisory_xact_lock(CHAT_LOCK_CLASS, chat_key),
        )
        .with_for_update()
    )


# Built once: constructing a statement costs more than running it from the compiled cache.
_OLDEST = select(Inbox).where(Inbox.status == PENDING).order_by(Inbox.id).limit(1)
_PENDING_CHATS = (
    select(Inbox.platform, Inbox.chat_external_id)
    .where(Inbox.status == PENDING)
    .order_by(Inbox.id)
    .limit(CLAIM_SCAN)
)
_LOCK_OLDEST = _lock_oldest(select(Inbox.id).where(Inbox.status == PENDING))
_LOCK_OLDEST_OF_CHAT = _lock_oldest(
    select(Inbox.id).where(
        Inbox.status == PENDING,
        Inbox.platform == bindparam("p"),
        Inbox.chat_external_id == bindparam("c"),
    )
)
