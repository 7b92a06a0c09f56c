"""Stalled deals: at a stage's limit (working days) → owner, then managers, then the group.

Which deals are stalled is ``models.reports.stalled`` (the digest and the weekly review list the
same deals). Level 1 at the limit (the owner), level 2 two working days later (the managers),
level 3 five working days later (the whole group). Each level is sent once per customer, stage
and clock. When the owner is on leave (/请假), level 1 passes over to the managers (level 2).
Each customer is a section of its own with its buttons (🙋 我来跟 for one nobody owns).
"""

from __future__ import annotations

from bot.messages import Card, CardSection, OutgoingMessage, Reply
from handlers.absence import last_day_away
from handlers.format import customer_name, customer_sections, member_label
from handlers.jobs.base import JobContext
from models import reports

LEVELS = ((1, 0), (2, 2), (3, 5))  # (level, working days past the limit)
HEADINGS = {1: "提醒负责人", 2: "升级给经理", 3: "全员关注"}
MAX_ITEMS = 15


def build_stalled(ctx: JobContext) -> list[OutgoingMessage]:
    """Escalate every stalled customer to its next level, once per level."""
    members = reports.members_by_id(ctx)
    reply = Reply()
    managers = ctx.managers()
    lines: dict[int, list[tuple[str, int, str, bool]]] = {1: [], 2: [], 3: []}
    for item in reports.stalled(ctx, reports.deals(ctx)):
        deal = item.deal
        since = item.since.astimezone(ctx.now.tzinfo)
        owner = members.get(deal.owner_id) if deal.owner_id is not None else None
        away = owner is not None and reports.is_away(owner, ctx.now)
        reached = [level for level, extra in LEVELS if item.days >= item.limit + extra]
        if away and reached == [1]:
            reached.append(2)  # the owner is on leave: level 1 passes over to the managers
        fresh = [
            level
            for level in reached
            if ctx.claim(f"c{deal.id}:{deal.stage}:{since:%Y%m%d%H%M%S}:L{level}")
        ]
        if not fresh:
            continue
        level = max(fresh)
        if owner is not None and owner.away_until is not None and away:
            until = last_day_away(owner.away_until, ctx.now.tzinfo)
            who = f"{member_label(owner)}（请假到 {until}）"
        else:
            who = reply.mention(owner.user_id, member_label(owner)) if owner else "（未分配）"
        line = (
            f"{who} {customer_name(deal.name)}｜{deal.stage} {item.days} 个工作日没有进展"
            f"（时限 {item.limit} 天）"
        )
        if level >= 2 and managers:
            line += " " + " ".join(reply.mention(m.user_id, member_label(m)) for m in managers)
        lines[level].append((line, deal.id, deal.stage, deal.owner_id is None))
    sections = []
    for level in (3, 2, 1):
        items = lines[level]
        if not items:
            continue
        heading = CardSection(heading=HEADINGS[level])
        if level == 3:
            heading.lines = [reply.mention("all", "所有人") + " 这些客户停滞太久，请大家一起看看"]
        sections += [heading, *customer_sections(items, MAX_ITEMS)]
    if not sections:
        return []
    message = reply.build()
    message.card = Card(title="🐢 停滞客户预警", sections=sections)
    return [message]
