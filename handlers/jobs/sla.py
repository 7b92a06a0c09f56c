"""Response SLA: a customer handed over with /分配 must be touched by its new owner in time.

After ``sla_hours`` working hours without any entry by the owner, the owner is nudged; after
twice as long, the manager who assigned it (in the group). Under ``/设置 提醒方式 私聊`` the
owner's reminder goes to the owner privately. Each level once per assignment. An owner on leave
(/请假) is not reminded while away; the manager still is. Which deals are
waiting is ``models.reports.untouched_assignments`` (open deals only). Each owner's line is a
section of its own with the customer's buttons (handlers.card_actions).
"""

from __future__ import annotations

from bot.messages import Card, CardSection, OutgoingMessage, Reply
from handlers.format import customer_buttons, customer_key, customer_name, member_label
from handlers.jobs.base import JobContext
from models import reports

TITLE = "⏰ 新分配的客户还没有跟进"


def _row(line: str, customer_id: int, stage: str) -> CardSection:
    """One owner's reminder about one customer, with the customer's buttons."""
    return CardSection(
        lines=[line], key=customer_key(customer_id), buttons=customer_buttons(customer_id, stage)
    )


def _fmt_hours(hours: float) -> str:
    """2 / 2.5 — working hours for people."""
    return f"{hours:g}"


def build_sla(ctx: JobContext) -> list[OutgoingMessage]:
    """Nudge owners (then assigning managers) about assignments left untouched."""
    sla = ctx.config.sla_hours
    waiting = reports.untouched_assignments(ctx)
    members = reports.members_by_id(ctx) if waiting else {}
    reply = Reply()
    owner_lines: list[CardSection] = []
    private: list[OutgoingMessage] = []
    manager_lines: list[str] = []
    for deal in waiting:
        owner = members.get(deal.owner_id) if deal.owner_id is not None else None
        if owner is None or deal.assigned_at is None:
            continue
        hours = ctx.calendar.working_hours_between(
            deal.assigned_at.astimezone(ctx.now.tzinfo), ctx.now
        )
        stamp = deal.assigned_at.strftime("%Y%m%d%H%M%S")
        levels = [level for level, factor in ((1, 1), (2, 2)) if hours >= factor * sla]
        if reports.is_away(owner, ctx.now):  # on leave: reminded once back, if still untouched
            levels = [level for level in levels if level != 1]
        fresh = [level for level in levels if ctx.claim(f"c{deal.id}:{stamp}:L{level}")]
        name = customer_name(deal.name)
        if 1 in fresh and ctx.config.private_nudges:
            text = (
                f"⏰ {ctx.chat.name or '团队群'}分配给你的 {name} 已超过 {_fmt_hours(sla)} "
                "个工作小时没有跟进，请尽快联系并用 /跟进 记录"
            )
            card = Card(title=TITLE, sections=[_row(text, deal.id, deal.stage)])
            private.append(OutgoingMessage(text, card=card, to_user=owner.user_id))
        elif 1 in fresh:
            line = (
                f"{reply.mention(owner.user_id, member_label(owner))} {name} 分配给你已超过 "
                f"{_fmt_hours(sla)} 个工作小时，请尽快联系并用 /跟进 记录"
            )
            owner_lines.append(_row(line, deal.id, deal.stage))
        manager = members.get(deal.assigned_by_id) if deal.assigned_by_id is not None else None
        if 2 in fresh and manager is not None:
            manager_lines.append(
                f"{reply.mention(manager.user_id, member_label(manager))} 你分配给 "
                f"{member_label(owner)} 的 {name} 已 {_fmt_hours(2 * sla)} 个工作小时没有跟进"
            )
    sections = []
    if owner_lines:
        sections += [CardSection(heading="请尽快跟进"), *owner_lines]
    if manager_lines:
        sections.append(CardSection(heading="升级给经理", lines=manager_lines))
    if not sections:
        return private
    message = reply.build()
    message.card = Card(title=TITLE, sections=sections)
    return [*private, message]
