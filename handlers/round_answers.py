"""The rep's answers to the Friday round (``handlers.jobs.friday_round``), read by the router.

While a round is open on the sender (``member.pending``, until the end of the review day), a
message whose lines start with a listed number or customer name (``1 已发合同 下周二签约``,
``华为 已发合同 下周二签约``) is read line by line: each line is logged as /跟进 logs it (same
parsers: a date sets the next follow-up, stage words move the stage), each in its own savepoint.
The reply shows per line what was understood; a line it cannot read is refused with a reason and
an example, the others are saved. Other messages and commands go on as usual and leave the round
open (``detach`` before, ``reattach`` after).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messages import IncomingMessage, OutgoingMessage, Reply
from handlers import registry
from handlers.context import Context
from handlers.jobs.friday_round import EXAMPLE, ROUND_KEY
from handlers.listing import is_cursor
from handlers.lookup import Replay
from handlers.registry import CommandError
from models.chat import Chat
from models.member import Member
from models.parsing import normalize_text, sanitize_user_text

_NUMBERED = re.compile(r"^(\d{1,2})(?:$|\s+|\s*[.、．:：)）]\s*)(.*)$")
_BARE = re.compile(r"^\s*\d{1,2}\s*$")


def detach(sender: Member, now: datetime) -> dict[str, Any] | None:
    """Take the open round off ``sender.pending`` (None when there is none or it expired)."""
    pending = sender.pending or {}
    if ROUND_KEY not in pending:
        return None
    rest = {k: v for k, v in pending.items() if k != ROUND_KEY}
    sender.pending = rest or None
    state: dict[str, Any] = pending[ROUND_KEY]
    return state if datetime.fromisoformat(state["expires_at"]) >= now else None


def reattach(sender: Member, state: dict[str, Any] | None) -> None:
    """Put the round back beside whatever the message left in ``sender.pending``."""
    if state is not None and not state.get("done"):
        sender.pending = {**(sender.pending or {}), ROUND_KEY: state}


def _which(line: str, customers: list[list[Any]]) -> tuple[int | None, str, str]:
    """(index into the round's customers or None, the rest of the line, why not understood)."""
    numbered = _NUMBERED.match(line)
    if numbered:
        number = int(numbered.group(1))
        if not 1 <= number <= len(customers):
            return None, "", f"没有第 {number} 个客户（共 {len(customers)} 个）"
        return number - 1, numbered.group(2).strip(), ""
    folded = line.casefold()
    by_length = sorted(enumerate(customers), key=lambda item: -len(item[1][1]))
    for index, (_, name) in by_length:
        if folded.startswith(str(name).casefold()):
            return index, line[len(name) :].strip(), ""
    return None, "", "没看懂是哪个客户，请以序号或客户名开头"


def answer(
    session: Session,
    chat: Chat,
    sender: Member,
    message: IncomingMessage,
    settings: Settings,
    now: datetime,
    state: dict[str, Any],
) -> list[OutgoingMessage] | None:
    """The reply to a message answering the round; None when the message is not an answer."""
    text = normalize_text(message.text)
    if message.kind != "message" or text.startswith("/"):
        return None
    if sender.pending is not None and not is_cursor(sender.pending) and _BARE.match(text):
        return None  # a number answering another open question
    customers: list[list[Any]] = state["customers"]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    read = [(line, *_which(line, customers)) for line in lines]
    if not any(index is not None or _NUMBERED.match(line) for line, index, _, _ in read):
        return None  # neither a listed number nor a listed name: not meant as an answer
    if not is_cursor(sender.pending):
        sender.pending = None  # like any message, a round answer drops an open question
    command = registry.get("跟进")
    assert command is not None
    answered: list[int] = state.setdefault("answered", [])
    reply = Reply()
    saved = refused = 0
    for number, (line, index, rest, why) in enumerate(read, 1):
        shown = sanitize_user_text(line, 30)
        if index is not None and not rest:
            why = "请写上进展、下一步和日期"
        if index is None or why:
            refused += 1
            reply.line(f"❌ 第 {number} 行“{shown}”：{why}，例如：{EXAMPLE}")
            continue
        customer_id, _ = customers[index]
        token = f"#{index + 1}"
        ctx = Context(
            session=session,
            chat=chat,
            sender=sender,
            message=message,
            now=now,
            settings=settings,
            command=command,
            args=f"{token} {rest}",
            replay=Replay(token, customer_id),
        )
        try:
            with session.begin_nested():
                done = command.func(ctx, ctx.args)
        except CommandError as exc:
            refused += 1
            reply.line(f"❌ 第 {number} 行“{shown}”：{exc}")
            continue
        saved += 1
        if customer_id not in answered:
            answered.append(customer_id)
        reply.line(f"{index + 1}. " + _merged(reply, done, ctx.notes))
    head = f"📋 周五盘点：已记录 {saved} 条"
    if refused:
        head += f"，{refused} 行没有记录"
    left = [f"{i}. {name}" for i, (cid, name) in enumerate(customers, 1) if cid not in answered]
    if left:
        reply.line("还没回复：" + "；".join(sanitize_user_text(x, 40) for x in left))
    else:
        state["done"] = True
    reply.parts.insert(0, head)
    return [reply.build()]


def _merged(reply: Reply, done: OutgoingMessage, notes: list[str]) -> str:
    """A /跟进 reply's text inside ``reply``, its mentions renumbered."""
    text = "\n".join(filter(None, [done.text, *notes]))
    parts = text.split("\ue000")  # mention_token(i) is "\ue000i\ue001"
    for n, part in enumerate(parts[1:], 1):
        index, _, tail = part.partition("\ue001")
        mention = done.mentions[int(index)]
        parts[n] = reply.mention(mention.user_id, mention.name) + tail
    return "".join(parts)
