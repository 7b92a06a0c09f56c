"""Timed reminders: a follow-up set for a time of day pings its owner a lead time before.

``/提醒 华为 下周三下午3点 送样品`` (or a /跟进 with a time) stores 15:00; at 14:45 (the chat's
``/设置 提前提醒``, default ``[jobs] lead_minutes``) the owner is @-mentioned in the group with the
customer and the matter (the text of the entry that set the time). The rules:

- **when**: the due time minus the lead. A moment outside office hours or on a day off is moved to
  the start of the next working period (20:00 → the next working day's office start).
- **once**: claimed per customer and due time (``ctx.claim``), so a restart or a second worker
  sends nothing twice, and moving the time re-arms it.
- **late**: missed while the bot was down, it is still sent within ``[jobs] grace_hours``, later
  it is dropped.
- **not at all**: the customer was followed up (/跟进) since the time was set, the deal is closed
  or the customer deleted (no longer listed), there is no owner, or the owner is away (/请假).

The job is looked at every minute: one indexed query on ``customer.next_follow_up_at`` (and a
claim lookup per candidate). Only a minute with a reminder to send claims a run and reads the
entries that set those times, so quiet minutes leave no job_run row behind.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select

from bot.messages import OutgoingMessage, Reply
from handlers.format import customer_name, fmt_date, member_label
from handlers.jobs.base import JobContext
from models import reports
from models.activity import Activity, Kind
from models.customer import Customer, live
from models.parsing import sanitize_user_text
from models.stages import Status

MIN_WINDOW = timedelta(minutes=1)  # the heartbeat: with no grace at all, this minute still counts


def in_office(ctx: JobContext, moment: datetime) -> bool:
    """True inside office hours on a working day (``moment`` in the chat's time zone)."""
    config = ctx.config
    return (
        ctx.calendar.is_workday(moment.date())
        and config.office_start <= moment.time() < config.office_end
    )


def remind_at(ctx: JobContext, due: datetime) -> datetime:
    """When a follow-up due at ``due`` is reminded: the lead before, or the next office start."""
    at = due.astimezone(ctx.now.tzinfo) - timedelta(minutes=ctx.config.lead_minutes)
    if in_office(ctx, at):
        return at
    day = at.date()
    if not (ctx.calendar.is_workday(day) and at.time() < ctx.config.office_start):
        day = ctx.calendar.next_workday(day)
    return datetime.combine(day, ctx.config.office_start, ctx.now.tzinfo)


def _last_office_moment(ctx: JobContext, moment: datetime) -> datetime:
    """``moment`` itself in office hours, else the end of the last working period before it.

    A follow-up whose ``due - lead`` is before this is reminded no later than ``moment``.
    """
    if in_office(ctx, moment):
        return moment
    day = moment.date()
    if not (ctx.calendar.is_workday(day) and moment.time() >= ctx.config.office_end):
        day = ctx.calendar.previous_workday(day)
    return datetime.combine(day, ctx.config.office_end, ctx.now.tzinfo)


def _due_customers(ctx: JobContext) -> list[Customer]:
    """Open, owned customers whose reminder falls due now (or was missed within grace)."""
    lead = timedelta(minutes=ctx.config.lead_minutes)
    since = ctx.now - max(timedelta(hours=ctx.config.grace_hours), MIN_WINDOW)
    return [
        customer
        for customer in ctx.session.scalars(
            select(Customer)
            .where(
                Customer.chat_id == ctx.chat.id,
                Customer.next_follow_up_has_time.is_(True),
                Customer.next_follow_up_at >= _last_office_moment(ctx, since) + lead,
                Customer.next_follow_up_at <= ctx.now + lead,
                Customer.status == Status.OPEN,
                Customer.owner_id.is_not(None),
                live(),
            )
            .order_by(Customer.next_follow_up_at, Customer.id)
        )
        if customer.next_follow_up_at is not None
        and since < remind_at(ctx, customer.next_follow_up_at) <= ctx.now
    ]


def _item(customer: Customer) -> str:
    """The once-only claim of one reminder: the customer and the time it is for."""
    assert customer.next_follow_up_at is not None
    return f"c{customer.id}:{customer.next_follow_up_at:%Y%m%d%H%M}"


def anything_due(ctx: JobContext) -> bool:
    """Whether a reminder not sent yet falls due now: minutes with none leave no run behind."""
    return any(not ctx.claimed(_item(customer)) for customer in _due_customers(ctx))


def build_timed_reminders(ctx: JobContext) -> list[OutgoingMessage]:
    """One message per follow-up whose reminder falls due now (or was missed within grace)."""
    due = _due_customers(ctx)
    if not due:
        return []
    members = reports.members_by_id(ctx)
    matters = _matters(ctx, due)
    messages = []
    for customer in due:
        owner = members.get(customer.owner_id) if customer.owner_id is not None else None
        matter = matters.get(customer.id, "")
        if owner is None or matter is None or reports.is_away(owner, ctx.now):
            continue
        if not ctx.claim(_item(customer)):
            continue
        messages.append(_message(ctx, customer, owner.user_id, member_label(owner), matter))
    return messages


def _matters(ctx: JobContext, customers: list[Customer]) -> dict[int, str | None]:
    """Per customer, the text of the entry that set its current follow-up time.

    None when the customer was followed up (/跟进) after that entry: the reminder is answered. A
    customer whose time came from no entry (an import) is left out: reminded without a matter.
    """
    wanted = {c.id: c.next_follow_up_at for c in customers}
    entries = ctx.session.scalars(
        select(Activity)
        .where(
            Activity.customer_id.in_(list(wanted)),
            Activity.undone_at.is_(None),
            or_(Activity.next_follow_up_at.is_not(None), Activity.kind == Kind.FOLLOW_UP),
        )
        .order_by(Activity.id.desc())
    )
    found: dict[int, str | None] = {}
    for entry in entries:
        customer_id = entry.customer_id
        if customer_id is None or customer_id in found:
            continue
        if entry.next_follow_up_at is not None and entry.next_follow_up_at == wanted[customer_id]:
            found[customer_id] = entry.text  # the entry that set the time: newest first
        elif entry.kind == Kind.FOLLOW_UP:
            found[customer_id] = None  # followed up after the time was set
    return found


def _message(
    ctx: JobContext, customer: Customer, user_id: str, label: str, matter: str
) -> OutgoingMessage:
    """'⏰ @张三 今天 15:00 跟进 华为：送样品'."""
    assert customer.next_follow_up_at is not None
    due = customer.next_follow_up_at.astimezone(ctx.now.tzinfo)
    when = f"今天 {due:%H:%M}" if due.date() == ctx.now.date() else fmt_date(due, has_time=True)
    reply = Reply()
    line = f"⏰ {reply.mention(user_id, label)} {when} 跟进 {customer_name(customer.name)}"
    if matter.strip():
        line += f"：{sanitize_user_text(matter.strip(), 100)}"
    return reply.line(line).build()
