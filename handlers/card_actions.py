"""A tap on a card (IncomingMessage kind ACTION): the typed command it stands for, in one answer.

``✅ 已跟进`` is /跟进 (its form: note, next date, stage: /阶段 when another stage is picked),
``⏰ 推到明天`` / ``⏰ 下周一`` is /提醒 to the next working day / next Monday, ``🙋 我来跟`` is
/领取 and ``❌ 输单`` is /输单 with the form's reason. The command functions run as typed, with
the customer the button names by id (``Context.target``: no lookup, no question), so
permissions, validation, replies and /撤销 are the typed ones; the activities say
``source = SOURCE_CARD``. The answer is ONE message: the tapped card updated in place (the
customer's section shows who did what, without its buttons) and a toast with the typed reply;
a refusal is an error toast and changes nothing. ``ACT_OPEN`` shows a button's form and changes
nothing in the book.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messages import (
    ACT_CLAIM,
    ACT_DONE,
    ACT_LOSE,
    ACT_OPEN,
    ACT_SNOOZE,
    ACTION_ARG,
    ACTION_CARD,
    ACTION_TARGET,
    ACTION_VERB,
    FORM_PREFIX,
    Card,
    IncomingMessage,
    OutgoingMessage,
    Reply,
    render_mentions,
)
from handlers import desk, follow_up, registry, remind, stage
from handlers.common import next_follow_up
from handlers.context import Context
from handlers.format import (
    FORM_NEXT,
    FORM_NOTE,
    FORM_REASON,
    FORM_STAGE,
    SNOOZE_MONDAY,
    SNOOZE_TOMORROW,
    customer_key,
    customer_label,
    fmt_date,
    member_label,
)
from handlers.registry import CommandError
from models.activity import SOURCE_CARD
from models.calendar import calendar_from_settings
from models.chat import Chat
from models.customer import Customer
from models.dates import DateHit, read_exact
from models.member import Member
from models.parsing import sanitize_user_text
from models.pipeline import Outbox
from models.stages import Stage, Status

UNKNOWN = "❌ 看不懂这个按钮，请改用命令，例如：/跟进 华为 报价已发 下周三回访"
GONE = "❌ 找不到这个客户（可能已删除或合并），请用 /客户 客户名 查看"
TOAST_LIMIT = 120  # characters of a toast; the chat reply has the whole text
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_LEAD = re.compile(r"^[✅⏰]\s*")
# The typed command each verb stands for (its usage errors and examples are the typed ones).
COMMANDS = {ACT_DONE: "跟进", ACT_SNOOZE: "提醒", ACT_CLAIM: "领取", ACT_LOSE: "输单"}
ICONS = {ACT_DONE: "✅", ACT_SNOOZE: "⏰", ACT_CLAIM: "🙋", ACT_LOSE: "❌"}  # the acted row


def act(
    session: Session,
    chat: Chat,
    sender: Member,
    message: IncomingMessage,
    settings: Settings,
    now: datetime,
) -> list[OutgoingMessage]:
    """The one answer to a tap by ``sender`` in ``chat`` (a savepoint: a refusal changes nothing)."""
    try:
        with session.begin_nested():
            return [_act(session, chat, sender, message, settings, now)]
    except CommandError as exc:
        return [refusal(str(exc), sender)]


def _named(session: Session, message: IncomingMessage) -> Customer | None:
    """The customer the tapped button names by id (any chat), if there is one."""
    raw = message.platform_data.get(ACTION_TARGET, "")
    if not (raw.isascii() and raw.isdigit() and len(raw) < 12):
        return None
    return session.get(Customer, int(raw))


def posted_privately(session: Session, message: IncomingMessage) -> bool:
    """Whether the tapped card is in someone's private chat with the bot.

    A callback does not say (Feishu's names only the chat): the chat is a desk already, or the
    card was a message the bot sent to one person (a private nudge, ``to_user``).
    """
    desk_chat = session.scalars(
        select(Chat).where(Chat.platform == message.platform, Chat.external_id == message.chat_id)
    ).first()
    if desk_chat is not None and desk.is_desk(desk_chat):
        return True
    card_id = message.platform_data.get(ACTION_CARD, "")
    if not card_id:
        return False
    payloads = session.scalars(
        select(Outbox.payload).where(
            Outbox.platform == message.platform, Outbox.platform_message_id == card_id
        )
    )
    return any(isinstance(p, dict) and p.get("to_user") for p in payloads)


def target_chat(session: Session, message: IncomingMessage) -> int | None:
    """The id of the chat whose book holds the customer a tap names (a private tap's team)."""
    customer = _named(session, message)
    return customer.chat_id if customer is not None else None


def target_of(session: Session, chat: Chat, message: IncomingMessage) -> Customer:
    """The live customer of ``chat`` the tapped button names by id; refused otherwise."""
    customer = _named(session, message)
    if customer is None or customer.chat_id != chat.id or customer.deleted_at is not None:
        raise CommandError(GONE)
    return customer


def refusal(reason: str, operator: Member | None = None) -> OutgoingMessage:
    """An error toast: nothing was changed, the card stays.

    Its text, sent to the chat only when the toast could not be shown in time, names the
    ``operator`` (the refusal is theirs, not the group's).
    """
    words = _flat(reason)
    if operator is None:
        return OutgoingMessage(words, toast=words, toast_kind="error")
    reply = Reply()
    who = reply.mention(operator.user_id, member_label(operator))
    message = reply.line(f"{who} {words}").build()
    message.toast, message.toast_kind = words, "error"
    return message


def _act(
    session: Session,
    chat: Chat,
    sender: Member,
    message: IncomingMessage,
    settings: Settings,
    now: datetime,
) -> OutgoingMessage:
    """Run the tap; raises CommandError for a refusal."""
    verb = message.platform_data.get(ACTION_VERB, "")
    if verb not in COMMANDS and verb != ACT_OPEN:
        raise CommandError(UNKNOWN)
    customer = target_of(session, chat, message)
    card_id = message.platform_data.get(ACTION_CARD, "")
    shown = _shown_card(session, chat, message, card_id)
    key = customer_key(customer.id)
    if verb == ACT_OPEN:
        return _opened(shown, key, message.platform_data.get(ACTION_ARG, ""), card_id)
    command = registry.get(COMMANDS[verb])
    assert command is not None, verb  # every verb's command is registered (handlers.load_all)
    ctx = Context(
        session=session,
        chat=chat,
        sender=sender,
        message=message,
        now=now,
        settings=settings,
        command=command,
        target=customer,
        source=SOURCE_CARD,
    )
    if customer.status != Status.OPEN and verb != ACT_LOSE:
        label = customer_label(customer)
        raise CommandError(
            f"ℹ️ {label} 已是「{customer.stage}」，卡片上的操作不再适用；请用命令修改，"
            f"例如：/阶段 {label} 跟进中"
        )
    form = {
        k.removeprefix(FORM_PREFIX): v.strip()
        for k, v in message.platform_data.items()
        if k.startswith(FORM_PREFIX)
    }
    run: Callable[
        [Context, Customer, dict[str, str], OutgoingMessage | None], tuple[OutgoingMessage, str]
    ] = _VERBS[verb]
    reply, what = run(ctx, customer, form, shown)
    line = f"{ICONS[verb]} {_who(sender)} {now:%H:%M} {what}"
    return _answer(shown, key, line, card_id, "已记录：" + _flat(reply.text, reply))


def _done(
    ctx: Context, customer: Customer, form: dict[str, str], shown: OutgoingMessage | None
) -> tuple[OutgoingMessage, str]:
    """✅ 已跟进: /跟进 with the form's note and picked date, then /阶段 if a stage was picked."""
    picked = _picked_day(ctx, form.get(FORM_NEXT, ""))
    wanted = _picked_stage(form.get(FORM_STAGE, ""))
    untouched = _form_default(shown, customer, ACT_DONE, FORM_STAGE) or customer.stage
    before = customer.stage
    note = form.get(FORM_NOTE, "")
    reply = follow_up.log_follow_up(ctx, customer, note, picked)
    if wanted is not None and wanted != untouched and wanted != customer.stage:
        moved = stage.move_to(ctx, customer, wanted, note)
        reply.text = "\n".join([reply.text, moved.text])
    what = "已跟进"
    if customer.next_follow_up_at is not None:
        what += f"，下次 {next_follow_up(customer, ctx.now.tzinfo)}"
    if customer.stage != before:
        what += f"，{before} → {customer.stage}"
    return reply, what


def _snooze(
    ctx: Context, customer: Customer, form: dict[str, str], shown: OutgoingMessage | None
) -> tuple[OutgoingMessage, str]:
    """⏰ 推到明天 (the next working day) / ⏰ 下周一: /提醒 to that day, as if typed."""
    arg = ctx.message.platform_data.get(ACTION_ARG, "")
    today = ctx.now.date()
    if arg == SNOOZE_TOMORROW:
        day = calendar_from_settings(ctx.settings.calendar).next_workday(today)
    elif arg == SNOOZE_MONDAY:
        day = today + timedelta(days=7 - today.weekday())
    else:
        raise CommandError(UNKNOWN)
    hit = _day_hit(ctx, day)
    reply = remind.set_reminder(ctx, customer, hit)
    return reply, f"推到 {fmt_date(day)}"


def _claim(
    ctx: Context, customer: Customer, form: dict[str, str], shown: OutgoingMessage | None
) -> tuple[OutgoingMessage, str]:
    """🙋 我来跟: /领取."""
    from handlers import pool  # here: its commands register in their /帮助 place (load_all)

    return pool.claim(ctx, f"#{customer.id}"), "认领"


def _lose(
    ctx: Context, customer: Customer, form: dict[str, str], shown: OutgoingMessage | None
) -> tuple[OutgoingMessage, str]:
    """❌ 输单: /输单 with the form's reason."""
    reason = form.get(FORM_REASON, "")
    reply = stage.lost(ctx, f"#{customer.id} {reason}".strip())
    return reply, f"输单：{sanitize_user_text(reason, 20)}"


_VERBS = {ACT_DONE: _done, ACT_SNOOZE: _snooze, ACT_CLAIM: _claim, ACT_LOSE: _lose}


def _picked_day(ctx: Context, value: str) -> DateHit | None:
    """The next date picked on the form (YYYY-MM-DD), read as the typed date would be."""
    if not value:
        return None
    shown = sanitize_user_text(value, 20)
    if not _ISO_DAY.fullmatch(value):
        raise ctx.usage(f"看不懂日期“{shown}”，请用日期选择器选一天，例如 2026-12-05")
    reading = read_exact(value, ctx.now, calendar_from_settings(ctx.settings.calendar))
    if reading.problem is not None:
        raise ctx.usage(f"日期“{shown}”不对：{reading.problem.reason}")
    if reading.hit is None:
        raise ctx.usage(f"{shown} 已经过去了，请选今天或以后的日期")
    return reading.hit


def _day_hit(ctx: Context, day: date) -> DateHit:
    """``day`` as typed (YYYY-MM-DD): the date without a time, in the chat's calendar."""
    reading = read_exact(day.isoformat(), ctx.now, calendar_from_settings(ctx.settings.calendar))
    if reading.hit is None:  # a later working day is always ahead of today
        raise CommandError(UNKNOWN)
    return reading.hit


def _picked_stage(value: str) -> Stage | None:
    """The stage picked on the form; an unknown value is refused, not guessed."""
    if not value:
        return None
    try:
        return Stage(value)
    except ValueError:
        raise CommandError(
            f"❌ 没有阶段“{sanitize_user_text(value, 10)}”，请在列表里选，例如：跟进中"
        ) from None


def _form_default(shown: OutgoingMessage | None, customer: Customer, action: str, name: str) -> str:
    """The default of field ``name`` on the customer's ``action`` button in the card tapped.

    A picked value equal to it was left as shown: nothing to change (the stage may have moved
    since the card was posted).
    """
    if shown is None or shown.card is None:
        return ""
    for section in shown.card.sections:
        if section.key != customer_key(customer.id):
            continue
        for button in section.buttons:
            if button.action == action and button.form is not None:
                for field in button.form.fields:
                    if field.name == name:
                        return field.default
    return ""


def _shown_card(
    session: Session, chat: Chat, message: IncomingMessage, card_id: str
) -> OutgoingMessage | None:
    """The tapped card as last sent: the chat's message ``card_id``, after any updates of it.

    The original is this chat's (a private nudge's is its team chat's) or, for a card answered
    at the desk, the private chat's of the tap; its updates were answers in either.
    """
    if not card_id:
        return None
    original = session.scalars(
        select(Outbox)
        .where(
            Outbox.platform == message.platform,
            # a card posted in the team chat (a private nudge too), or a reply in the private
            # chat the tap came from (the desk's /客户 card)
            Outbox.chat_external_id.in_({chat.external_id, message.chat_id}),
            Outbox.platform_message_id == card_id,
        )
        .order_by(Outbox.id.desc())
        .limit(1)
    ).first()
    if original is None:
        return None
    latest = session.scalars(
        select(Outbox)
        .where(
            Outbox.platform == message.platform,
            Outbox.chat_external_id.in_({chat.external_id, message.chat_id}),
            Outbox.id > original.id,
            Outbox.payload["update_of"].as_string() == card_id,
        )
        .order_by(Outbox.id.desc())
        .limit(1)
    ).first()
    shown = OutgoingMessage.from_payload((latest or original).payload)
    return shown if shown.card is not None else None


def _answer(
    shown: OutgoingMessage | None, key: str, line: str, card_id: str, toast: str
) -> OutgoingMessage:
    """The toast, and the card with the customer's section acted (its buttons gone)."""
    toast = toast if len(toast) <= TOAST_LIMIT else toast[: TOAST_LIMIT - 1] + "…"
    card = _copy(shown)
    section = next((s for s in card.sections if s.key == key), None) if card else None
    if card is None or shown is None or section is None:
        return OutgoingMessage(toast, toast=toast)
    section.lines = [*section.lines, line]
    section.buttons = []
    for each in card.sections:
        each.open_form = ""
    return OutgoingMessage(toast, list(shown.mentions), card=card, update_of=card_id, toast=toast)


def _opened(shown: OutgoingMessage | None, key: str, action: str, card_id: str) -> OutgoingMessage:
    """ACT_OPEN: the same card with the form of the customer's ``action`` button shown."""
    card = _copy(shown)
    section = next((s for s in card.sections if s.key == key), None) if card else None
    if card is None or shown is None or section is None:
        raise CommandError("ℹ️ 这张卡片已过期，请用命令操作，例如：/跟进 华为 报价已发")
    if not any(b.action == action and b.form is not None for b in section.buttons):
        raise CommandError(UNKNOWN)
    for each in card.sections:
        each.open_form = action if each is section else ""
    return OutgoingMessage("", list(shown.mentions), card=card, update_of=card_id)


def _copy(shown: OutgoingMessage | None) -> Card | None:
    """A deep copy of the shown card (its payload round trip), safe to change."""
    if shown is None or shown.card is None:
        return None
    return Card.from_payload(shown.card.to_payload())


def _who(member: Member) -> str:
    """The operator's name as a card line shows it."""
    return member_label(member)


def _flat(text: str, message: OutgoingMessage | None = None) -> str:
    """A reply as one line for a toast: mentions as ``@名字``, lines joined with "；"."""
    if message is not None:
        text = render_mentions(text, message.mentions, lambda m: f"@{m.name or m.user_id}")
        text = _LEAD.sub("", text, count=1)  # "✅ 华为｜…": the toast says 已记录 already
    return "；".join(line.strip() for line in text.splitlines() if line.strip())
