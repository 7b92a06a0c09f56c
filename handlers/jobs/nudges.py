"""Morning nudges: each rep @-mentioned once with their overdue and due-today customers.

Under ``/设置 提醒方式 私聊`` each rep gets theirs privately instead, and the group none. In the
card each customer is a section of its own (``customer:<id>``) with its buttons (✅ 已跟进,
⏰ 推到明天 …, handlers.card_actions); the lines read as before where cards are text.
"""

from __future__ import annotations

from datetime import tzinfo

from bot.messages import Card, CardSection, OutgoingMessage, Reply
from handlers.format import (
    customer_name,
    customer_sections,
    fmt_date,
    fmt_late,
    member_label,
)
from handlers.jobs.base import JobContext
from models import reports
from models.member import Member

MAX_ITEMS = 10
TITLE = "☀️ 早上好，今天要跟进的客户"


def nudge_line(item: reports.FollowUp, tz: tzinfo | None) -> str:
    """'⚠️ 华为｜已报价｜逾期 1 个工作日（9月30日(周三)）' or '📌 小米｜跟进中｜今天（…）'."""
    when = fmt_date(item.due.astimezone(tz), item.deal.has_time)
    name = customer_name(item.deal.name)
    if item.overdue:
        return f"⚠️ {name}｜{item.deal.stage}｜{fmt_late(item.days)}（{when}）"
    return f"📌 {name}｜{item.deal.stage}｜今天（{when}）"


def build_nudges(ctx: JobContext) -> list[OutgoingMessage]:
    """One message for the chat with a section per rep who has something due; none if nobody."""
    members = reports.members_by_id(ctx)
    per_rep: dict[int, list[reports.FollowUp]] = {}
    for item in reports.due_follow_ups(ctx, reports.deals(ctx)):
        owner_id = item.deal.owner_id
        if owner_id is None or owner_id not in members:
            continue
        if not reports.is_away(members[owner_id], ctx.now):  # on leave: left out
            per_rep.setdefault(owner_id, []).append(item)
    if ctx.config.private_nudges:
        return [
            _private_nudge(ctx, members[owner_id], per_rep[owner_id])
            for owner_id in sorted(per_rep)
        ]
    reply = Reply()
    sections = []
    for owner_id in sorted(per_rep):
        owner, items = members[owner_id], per_rep[owner_id]
        late = sum(1 for item in items if item.overdue)
        head = f"{reply.mention(owner.user_id, member_label(owner))} 今天要跟进 {len(items)} 个客户"
        if late:
            head += f"，其中 {late} 个已逾期"
        sections.append(CardSection(lines=[head]))
        sections.extend(_sections(ctx, items))
    if not sections:
        return []
    card = Card(title=TITLE, sections=sections, subtitle=fmt_date(ctx.now.date()))
    message = reply.build()
    message.card = card
    return [message]


def _private_nudge(
    ctx: JobContext, owner: Member, items: list[reports.FollowUp]
) -> OutgoingMessage:
    """The morning nudge of one rep, sent to them privately (/设置 提醒方式 私聊)."""
    late = sum(1 for item in items if item.overdue)
    head = f"你今天要跟进 {len(items)} 个客户" + (f"，其中 {late} 个已逾期" if late else "")
    sections = _sections(ctx, items)
    lines = [line for section in sections for line in section.lines]
    title = f"☀️ 早上好，{ctx.chat.name}今天要跟进的客户" if ctx.chat.name else TITLE
    card = Card(title=title, sections=[CardSection(lines=[head]), *sections])
    card.subtitle = fmt_date(ctx.now.date())
    return OutgoingMessage("\n".join([head, *lines]), card=card, to_user=owner.user_id)


def _sections(ctx: JobContext, items: list[reports.FollowUp]) -> list[CardSection]:
    """One section per customer: its line and buttons (the first MAX_ITEMS, then how many more)."""
    rows = [(nudge_line(i, ctx.now.tzinfo), i.deal.id, i.deal.stage, False) for i in items]
    return customer_sections(rows, MAX_ITEMS)
