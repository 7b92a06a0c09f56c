"""Response SLA: a customer handed over with /分配 must be touched by its new owner in time.

After ``sla_hours`` working hours without any entry by the owner, the owner is nudged; after
twice as long, the manager who assigned it. Each level once per assignment.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.jobs.base import JobContext
from bot.messages import Card, CardSection, OutgoingMessage, Reply
from handlers.format import customer_label, member_label
from models.activity import Activity
from models.customer import Customer
from models.member import Member


def _fmt_hours(hours: float) -> str:
    """2 / 2.5 — working hours for people."""
    return f"{hours:g}"


def build_sla(ctx: JobContext) -> list[OutgoingMessage]:
    """Nudge owners (then assigning managers) about assignments left untouched."""
    sla = ctx.config.sla_hours
    customers = ctx.session.scalars(
        select(Customer).where(
            Customer.chat_id == ctx.chat.id,
            Customer.status == "open",
            Customer.assigned_at.is_not(None),
            Customer.owner_id.is_not(None),
        )
    ).all()
    reply = Reply()
    owner_lines: list[str] = []
    manager_lines: list[str] = []
    for customer in customers:
        touched = ctx.session.scalars(
            select(Activity.id).where(
                Activity.customer_id == customer.id,
                Activity.member_id == customer.owner_id,
                Activity.created_at > customer.assigned_at,
                Activity.undone_at.is_(None),
                Activity.kind != "assign",
            )
        ).first()
        if touched is not None:
            continue
        hours = ctx.calendar.working_hours_between(
            customer.assigned_at.astimezone(ctx.now.tzinfo), ctx.now
        )
        stamp = customer.assigned_at.strftime("%Y%m%d%H%M%S")
        owner = customer.owner
        levels = [level for level, factor in ((1, 1), (2, 2)) if hours >= factor * sla]
        fresh = [level for level in levels if ctx.claim(f"c{customer.id}:{stamp}:L{level}")]
        if 1 in fresh:
            owner_lines.append(
                f"{reply.mention(owner.user_id, member_label(owner))} {customer_label(customer)} 分配给你已超过 "
                f"{_fmt_hours(sla)} 个工作小时，请尽快联系并用 /跟进 记录"
            )
        if 2 in fresh and customer.assigned_by_id:
            manager = ctx.session.get(Member, customer.assigned_by_id)
            manager_lines.append(
                f"{reply.mention(manager.user_id, member_label(manager))} 你分配给 {member_label(owner)} 的 "
                f"{customer_label(customer)} 已 {_fmt_hours(2 * sla)} 个工作小时没有跟进"
            )
    sections = []
    if owner_lines:
        sections.append(CardSection(heading="请尽快跟进", lines=owner_lines))
    if manager_lines:
        sections.append(CardSection(heading="升级给经理", lines=manager_lines))
    if not sections:
        return []
    message = reply.build()
    message.card = Card(title="⏰ 新分配的客户还没有跟进", sections=sections)
    return [message]
