"""The dispatcher: one inbox row → one transaction with the domain changes, the replies and done.

A user error (CommandError) rolls back the command's changes and answers with its text; a
crash rolls back too, answers with an apology and marks the row failed; a database outage
rolls back everything and leaves the row pending, so nothing acknowledged is lost.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

import handlers
from bot.config import Settings
from bot.messages import IncomingMessage, OutgoingMessage
from bot.outbox import enqueue
from handlers import registry
from handlers.context import RESERVED_IDS, Ambiguous, Context, member_for, quoted
from handlers.registry import CommandError
from models.chat import Chat
from models.parsing import normalize_text, sanitize_user_text
from models.pipeline import DONE, FAILED, PENDING, Inbox, process_name

log = logging.getLogger(__name__)

APOLOGY = "😥 抱歉，处理这条消息时出错了，已记录下来，这条没有保存，请稍后再试。"
NOT_UNDERSTOOD = (
    "🤔 没看懂这句话。记录跟进请用：/跟进 客户 内容，例如：/跟进 华为 报价已发 下周三回访\n"
    "发送 /帮助 查看全部命令"
)
WELCOME = (
    "👋 大家好，我是跟进助手。聊完客户 @我 说一句就记下了：\n"
    "/跟进 客户 内容 [下次时间]，例如：/跟进 华为 报价已发 下周三回访\n"
    "发送 /帮助 查看全部命令"
)
CHAT_LOCK_CLASS = 0x67656E6B  # advisory lock class for "a worker is handling this chat"
CLAIM_SCAN = 64  # pending rows looked at to find a chat no other worker is busy with
_CHOICE = re.compile(r"^/?\s*(?:选|选择|第)?\s*(\d{1,2})\s*(?:个)?$")

handlers.load_all()


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


def _pending_choice(ctx: Context, text: str) -> tuple[registry.Command, str] | None:
    """A bare number answering an earlier numbered question → the original command, resolved."""
    pending = ctx.pending
    match = _CHOICE.match(text)
    if not pending or not match:
        return None
    if datetime.fromisoformat(pending["expires_at"]) < ctx.now:
        raise CommandError("⌛ 这个选择已过期，请重新发送原来的命令")
    choice = int(match.group(1))
    options = pending["options"]
    if not 1 <= choice <= len(options):
        raise Ambiguous(f"❌ 请回复 1 到 {len(options)} 之间的数字", pending)  # still open
    cmd = registry.get(pending["command"])
    if cmd is None:
        return None
    args = pending["args"].replace(pending["query"], quoted(options[choice - 1]), 1)
    return cmd, args


def run_command(ctx: Context) -> None:
    """Resolve the message text to a command and run it; raises CommandError for user errors."""
    text = normalize_text(ctx.message.text)
    chosen = _pending_choice(ctx, text)
    if chosen is None:
        has_slash = text.startswith("/")
        body = text[1:].lstrip() if has_slash else text
        if not has_slash and not ctx.message.to_me:
            return
        if not body:
            ctx.reply(
                "👋 我是跟进助手。发送 /帮助 查看全部命令，例如：/跟进 华为 报价已发 下周三回访"
            )
            return
        chosen = registry.resolve(body)
        if chosen is None:
            if not has_slash:
                ctx.reply(NOT_UNDERSTOOD)
                return
            word = sanitize_user_text(registry.first_word(body), 20)
            hint = registry.suggest(registry.first_word(body))
            tip = f"，你是不是想用 /{hint}？" if hint else "。"
            ctx.reply(f"❌ 未知命令 /{word}{tip}\n发送 /帮助 查看全部命令")
            return
    ctx.command, ctx.args = chosen
    result = ctx.command.func(ctx, ctx.args)
    if result is not None:
        ctx.reply(result)


def handle_row(session: Session, row: Inbox, settings: Settings, clock_now: datetime) -> None:
    """Process one claimed inbox row inside the caller's transaction.

    The command's own clock is when the message was sent, so "明天" means the same day however
    late a queued message is processed.
    """
    message = IncomingMessage.from_payload(row.payload)
    sent_at = message.sent_at_dt() or row.received_at
    chat = chat_for(session, message, settings, row.received_at)
    now = sent_at.astimezone(ZoneInfo(chat.timezone))
    for mention in message.mentions:  # every mention teaches us a display name
        if mention.user_id.casefold() not in RESERVED_IDS:  # "@all" is nobody in particular
            member_for(session, chat, mention.user_id, mention.name, now)
    if message.kind != "message":
        _chat_event(session, row, message, chat, clock_now)
        return
    sender = member_for(session, chat, message.sender_id, message.sender_name, now)
    ctx = Context(
        session=session,
        chat=chat,
        sender=sender,
        message=message,
        now=now,
        settings=settings,
        entry_key=f"{message.platform}:{message.message_id}",
    )
    # Any message answers or drops an open numbered question, whatever the command does next.
    ctx.pending = sender.pending
    if sender.pending is not None:
        sender.pending = None
    status = DONE
    try:
        with session.begin_nested():
            run_command(ctx)
    except Ambiguous as exc:
        ctx.replies = [OutgoingMessage(str(exc))]
        sender.pending = exc.pending
    except CommandError as exc:
        ctx.replies = [OutgoingMessage(str(exc))]
    except Exception as exc:
        if isinstance(exc, OperationalError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated
        ):
            raise  # the database is away: leave the row pending for the next try
        log.exception("command crashed on inbox row %s", row.id)
        ctx.replies, status = [OutgoingMessage(APOLOGY)], FAILED
        row.error = traceback.format_exc(limit=5)[-4000:]
    enqueue(
        session,
        message.platform,
        message.chat_id,
        ctx.replies,
        key_base=f"reply:{ctx.entry_key}",
        now=clock_now,
        reply_to=message.message_id,
        inbox_id=row.id,
        reply_token=message.reply_token,
    )
    row.status = status
    row.processed_at = clock_now
    row.handled_by = process_name()


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


def process_pending(
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], datetime],
    limit: int | None = None,
) -> int:
    """Handle pending inbox rows oldest first, one transaction each; returns how many."""
    count = 0
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    while limit is None or count < limit:
        with sessions() as session, session.begin():
            row = _claim_postgres(session) if postgres else _claim(session)
            if row is None:
                return count
            handle_row(session, row, settings, clock())
        count += 1
    return count


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
    chat_key = func.hashtext(Inbox.platform + ":" + Inbox.chat_external_id)
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
