"""Morning nudges: each rep @-mentioned once with their overdue and due-today customers."""

from __future__ import annotations

from sqlalchemy import select

from bot.jobs.base import JobContext
from bot.messages import Card, CardSection, OutgoingMessage, Reply
from handlers.format import customer_label, fmt_date, member_label
from models.customer import Customer
from models.customers import follow_up_deadline
from models.member import Member

MAX_ITEMS = 10


def build_nudges(ctx: JobContext) -> list[OutgoingMessage]:
    """One message for the chat with a section per rep who has something due; none if nobody."""
    today = ctx.now.date()
    tz = ctx.now.tzinfo
    rows = ctx.session.execute(
        select(Customer, Member)
        .join(Member, Member.id == Customer.owner_id)
        .where(
            Customer.chat_id == ctx.chat.id,
            Customer.status == "open",
            Customer.next_follow_up_at.is_not(None),
        )
        .order_by(Customer.next_follow_up_at)
    ).all()
    per_rep: dict[int, tuple[Member, list[str], list[str]]] = {}
    for customer, owner in rows:
        deadline = follow_up_deadline(customer, tz)
        due_day = customer.next_follow_up_at.astimezone(tz).date()
        _, overdue, due_today = per_rep.setdefault(owner.id, (owner, [], []))
        when = fmt_date(customer.next_follow_up_at.astimezone(tz), customer.next_follow_up_has_time)
        if deadline <= ctx.now:
            late = ctx.calendar.workdays_between(due_day, today)
            lateness = f"逾期 {late} 个工作日" if late else "已过约定时间"
            overdue.append(f"⚠️ {customer_label(customer)}｜{customer.stage}｜{lateness}（{when}）")
        elif due_day == today:
            due_today.append(f"📌 {customer_label(customer)}｜{customer.stage}｜今天（{when}）")
    reply = Reply()
    sections = []
    for owner, overdue, due_today in sorted(per_rep.values(), key=lambda v: v[0].id):
        items = overdue + due_today
        if not items:
            continue
        head = f"{reply.mention(owner.user_id, member_label(owner))} 今天要跟进 {len(items)} 个客户"
        if overdue:
            head += f"，其中 {len(overdue)} 个已逾期"
        lines = [head, *items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            lines.append(f"还有 {len(items) - MAX_ITEMS} 个…")
        sections.append(CardSection(lines=lines))
    if not sections:
        return []
    card = Card(title="☀️ 早上好，今天要跟进的客户", sections=sections, subtitle=fmt_date(today))
    message = reply.build()
    message.card = card
    return [message]
