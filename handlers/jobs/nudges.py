"""Morning nudges: each rep @-mentioned once with their overdue and due-today customers."""

from __future__ import annotations

from datetime import tzinfo

from bot.messages import Card, CardSection, OutgoingMessage, Reply
from handlers.format import customer_name, cut, fmt_date, fmt_late, member_label
from handlers.jobs.base import JobContext
from models import reports

MAX_ITEMS = 10


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
    reply = Reply()
    sections = []
    for owner_id in sorted(per_rep):
        owner, items = members[owner_id], per_rep[owner_id]
        late = sum(1 for item in items if item.overdue)
        head = f"{reply.mention(owner.user_id, member_label(owner))} 今天要跟进 {len(items)} 个客户"
        if late:
            head += f"，其中 {late} 个已逾期"
        lines = cut([nudge_line(item, ctx.now.tzinfo) for item in items], MAX_ITEMS)
        sections.append(CardSection(lines=[head, *lines]))
    if not sections:
        return []
    card = Card(
        title="☀️ 早上好，今天要跟进的客户", sections=sections, subtitle=fmt_date(ctx.now.date())
    )
    message = reply.build()
    message.card = card
    return [message]
