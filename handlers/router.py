"""The entry point of what the bot says: one chat message in, its replies out.

``meet`` learns the people a message names (every mention teaches a display name) and returns its
sender; ``handle`` turns the message's text into a command (longest prefix, aliases, "did you
mean"), or reads it as the answer to the sender's open numbered question, runs the command in a
savepoint and returns the replies. A ``CommandError`` rolls the command's changes back and is
answered with its text; any other exception rolls them back and propagates to the caller.
A voice note is shown back and asks to be confirmed (``handlers.voice``); its ``1`` runs the
heard line here as if it had been typed. A tap on a card (kind ACTION) goes to
``handlers.card_actions``, which runs the typed command it stands for.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import cast

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messages import ACTION, PRIVATE, VOICE, IncomingMessage, Mention, OutgoingMessage
from handlers import desk, load_all, registry, round_answers, voice
from handlers.context import Context
from handlers.listing import asks_next_page, is_cursor
from handlers.lookup import Ambiguous, Question, Replay
from handlers.people import RESERVED_IDS, member_for
from handlers.registry import Command, CommandError
from models.chat import Chat
from models.member import Member
from models.parsing import normalize_text, sanitize_user_text
from models.pipeline import lock_chat

__all__ = ["CommandError", "handle", "handle_private", "is_private", "meet"]

HELLO = "👋 我是跟进助手。发送 /帮助 查看全部命令，例如：/跟进 华为 报价已发 下周三回访"
NOT_UNDERSTOOD = (
    "🤔 没看懂这句话。记录跟进请用：/跟进 客户 内容，例如：/跟进 华为 报价已发 下周三回访\n"
    "发送 /帮助 查看全部命令"
)
EXPIRED = "⌛ 这个选择已过期，请重新发送原来的命令"
_CHOICE = re.compile(r"^/?\s*(?:选|选择|第)?\s*(\d{1,2})\s*(?:个)?$")
_FROM_SOMEONE = ("message", VOICE, ACTION)  # kinds a person sent (the rest are platform events)


def is_private(session: Session, message: IncomingMessage) -> bool:
    """Whether ``message`` comes from someone's private chat with the bot (``handle_private``).

    The platform says so for messages; a tap on a card is private when the card is (its
    callback may not tell: ``card_actions.posted_privately``).
    """
    if message.chat_type == PRIVATE:
        return True
    if message.kind != ACTION:
        return False
    from handlers import card_actions  # after load_all: commands register in /帮助 order

    return card_actions.posted_privately(session, message)


def meet(session: Session, chat: Chat, message: IncomingMessage, now: datetime) -> Member | None:
    """Learn the names the message's mentions carry; its sender, when it is a chat message."""
    for mention in message.mentions:
        if mention.user_id.casefold() not in RESERVED_IDS:  # "@all" is nobody in particular
            member_for(session, chat, mention.user_id, mention.name, now)
    if message.kind not in _FROM_SOMEONE:
        return None
    return member_for(session, chat, message.sender_id, message.sender_name, now)


def handle_private(
    session: Session,
    private: Chat,
    message: IncomingMessage,
    settings: Settings,
    now: datetime,
) -> list[OutgoingMessage]:
    """The replies to a message in someone's private chat with the bot (``handlers.desk``).

    It acts on the book of the sender's team chat, as the sender's member there: nothing is
    learned or stored in the private chat itself, and nobody outside a team reaches its book.
    """
    desk.mark_desk(private)
    if message.kind not in _FROM_SOMEONE:
        return []
    teams = desk.teams_of(session, private, message.sender_id)
    if not teams:
        return [OutgoingMessage(desk.NO_TEAM)]
    if message.kind == ACTION:
        return _tap_private(session, teams, message, settings, now)
    text = normalize_text(message.text)
    chosen = registry.resolve(text[1:].lstrip() if text.startswith("/") else text)
    if chosen is not None and chosen[0].func is desk.team:
        return [desk.choose(private, teams, chosen[1])]
    team = desk.chosen(private, teams)
    if team is None:
        return [desk.ask(teams)]
    # The team's book is the team chat's: hold that chat as its own messages are held, so a
    # worker on the group and one on this private chat never change one customer at once.
    lock_chat(session, team.chat.platform, team.chat.external_id)
    replies = handle(session, team.chat, team.member, replace(message, to_me=True), settings, now)
    return desk.labelled(replies, team) if len(teams) > 1 else replies


def _tap_private(
    session: Session,
    teams: list[desk.Team],
    message: IncomingMessage,
    settings: Settings,
    now: datetime,
) -> list[OutgoingMessage]:
    """A tap on a card in a private chat (a private nudge): on the team book its customer is in."""
    from handlers import card_actions  # after load_all: commands register in /帮助 order

    book = card_actions.target_chat(session, message)
    team = next((t for t in teams if book is not None and t.chat.id == book), None)
    if team is None:
        return [card_actions.refusal(card_actions.GONE)]
    lock_chat(session, team.chat.platform, team.chat.external_id)
    return card_actions.act(session, team.chat, team.member, message, settings, now)


def handle(
    session: Session,
    chat: Chat,
    sender: Member,
    message: IncomingMessage,
    settings: Settings,
    now: datetime,
) -> list[OutgoingMessage]:
    """The replies to one chat message from ``sender``; ``now`` is when it was sent, local.

    Any message answers or drops the sender's open numbered question, whatever happens next.
    A list cursor (``handlers.listing``) stays for ``下一页`` until a new list or question.
    An open Friday round (``handlers.round_answers``) stays beside them until it expires.
    """
    if message.kind == ACTION:  # a tap leaves open questions and rounds as they are
        from handlers import card_actions  # after load_all: commands register in /帮助 order

        return card_actions.act(session, chat, sender, message, settings, now)
    open_round = round_answers.detach(sender, now)
    try:
        if open_round is not None:
            answered = round_answers.answer(
                session, chat, sender, message, settings, now, open_round
            )
            if answered is not None:
                return answered
        return _answer(session, chat, sender, message, settings, now)
    finally:
        round_answers.reattach(sender, open_round)


def _answer(
    session: Session,
    chat: Chat,
    sender: Member,
    message: IncomingMessage,
    settings: Settings,
    now: datetime,
) -> list[OutgoingMessage]:
    """The replies to a message that is not an answer to the Friday round."""
    pending = None if is_cursor(sender.pending) else cast(Question | None, sender.pending)
    if pending is not None:  # stored as JSON by lookup._question
        sender.pending = None
    if message.kind == VOICE:
        if not message.to_me:
            return []  # a group's voice notes are not meant for the bot
        reply, question = voice.offer(session, chat, message, now)
        sender.pending = question
        return [reply]
    spoken = voice.question_of(pending)
    if spoken is None:
        return _handle(session, chat, sender, message, settings, now, pending)
    answer = voice.answer(spoken, normalize_text(message.text), now)
    if answer.reply is not None:  # 2, an expired question, or a number that is not 1 or 2
        sender.pending = dict(spoken) if answer.keep else None
        return [answer.reply]
    if answer.line:  # 1: the heard line, as if typed now
        message = replace(message, text=answer.line, to_me=True)
    replies = _handle(session, chat, sender, message, settings, now, None)
    if answer.keep and sender.pending is None:
        sender.pending = dict(spoken)  # not an answer: the question stays until it expires
    return replies


def _handle(
    session: Session,
    chat: Chat,
    sender: Member,
    message: IncomingMessage,
    settings: Settings,
    now: datetime,
    pending: Question | None,
) -> list[OutgoingMessage]:
    """Run the message in a savepoint; questions and user errors become replies."""
    try:
        with session.begin_nested():
            return _run(session, chat, sender, message, settings, now, pending)
    except Ambiguous as exc:
        sender.pending = dict(exc.pending)
        return [OutgoingMessage(str(exc))]
    except CommandError as exc:
        return [OutgoingMessage(str(exc))]


def _run(
    session: Session,
    chat: Chat,
    sender: Member,
    message: IncomingMessage,
    settings: Settings,
    now: datetime,
    pending: Question | None,
) -> list[OutgoingMessage]:
    """Resolve the text to a command and run it; raises CommandError for user errors."""
    text = normalize_text(message.text)
    replay: Replay | None = None
    answered = answer_pending(pending, text, now)  # a number answering an open question
    if answered is not None:
        cmd, args, replay = answered
    else:
        has_slash = text.startswith("/")
        body = text[1:].lstrip() if has_slash else text
        if not has_slash and not message.to_me and not asks_next_page(sender.pending, body):
            return []
        if not body:
            return [OutgoingMessage(HELLO)]
        chosen = registry.resolve(body)
        if chosen is None:
            return [OutgoingMessage(NOT_UNDERSTOOD if not has_slash else _unknown(body))]
        cmd, args = chosen
    ctx = Context(
        session=session,
        chat=chat,
        sender=sender,
        message=message,
        now=now,
        settings=settings,
        command=cmd,
        args=args,
        replay=replay,
    )
    answer = cmd.func(ctx, args)
    if ctx.notes:  # e.g. which customer a near name was taken for
        answer.text = "\n".join(filter(None, [answer.text, *ctx.notes]))
    return [answer, *ctx.also]


def _unknown(body: str) -> str:
    """The reply to ``/跟近``: 未知命令, and the closest command when there is one."""
    word = sanitize_user_text(registry.first_word(body), 20)
    hint = registry.suggest(registry.first_word(body))
    tip = f"，你是不是想用 /{hint}？" if hint else "。"
    return f"❌ 未知命令 /{word}{tip}\n发送 /帮助 查看全部命令"


def answer_pending(
    pending: Question | None, text: str, now: datetime
) -> tuple[Command, str, Replay] | None:
    """A bare number answering an open question → the original command to re-run, and the choice."""
    match = _CHOICE.match(text)
    if not pending or not match:
        return None
    if "choices" not in pending or datetime.fromisoformat(pending["expires_at"]) < now:
        raise CommandError(EXPIRED)
    choices = pending["choices"]
    choice = int(match.group(1))
    if not 1 <= choice <= len(choices):
        raise Ambiguous(f"❌ 请回复 1 到 {len(choices)} 之间的数字", pending)  # still open
    cmd = registry.get(pending["command"])
    if cmd is None:
        return None
    mentions = [Mention(**m) for m in pending.get("mentions", [])]
    return cmd, pending["args"], Replay(pending["query"], choices[choice - 1], mentions)


load_all()
