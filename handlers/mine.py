"""/我的 and /待办: a rep's own customers, most urgent first.

Due and overdue are ``models.reports`` definitions, so /待办 lists exactly what the morning nudge
and the digest call due or overdue for the same rep. Won deals are closed: /我的 shows their
payments (回款 x / y) after the open ones, and /待办 never lists them.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from bot.messages import OutgoingMessage, Reply
from handlers.context import Context
from handlers.format import fmt_ago, fmt_date, fmt_late, fmt_paid
from handlers.grade_tags import marks
from handlers.registry import Group, command
from handlers.reports import report_context
from models import reports
from models.parsing import sanitize_user_text
from models.stages import Stage

LIMIT = 20
RANKS = {"overdue": 0, "today": 1, "later": 2}


class _Row(NamedTuple):
    """One of the sender's customers: its follow-up state and working days late."""

    deal: reports.Deal
    state: reports.FollowUpState | None
    late: int


def _urgency(row: _Row) -> tuple[int, float, int]:
    """Overdue, due today, later, no date (longest silent first), then closed deals."""
    return urgency(row.deal, row.state)


def urgency(deal: reports.Deal, state: reports.FollowUpState | None) -> tuple[int, float, int]:
    """The sort key of a deal in a list (also /列表): overdue, due soonest, silent, closed."""
    if state is not None and deal.next_follow_up_at is not None:
        return RANKS[state], deal.next_follow_up_at.timestamp(), deal.id
    if reports.is_open(deal):
        return 3, (deal.last_activity_at or deal.created_at).timestamp(), deal.id
    return 4, deal.stage_entered_at.timestamp(), deal.id


def _line(index: int, row: _Row, now: datetime) -> str:
    """'1. 京东｜跟进中｜⚠️ 逾期 1 个工作日（11月27日(周五) 15:00）'."""
    deal = row.deal
    state = follow_up_text(deal, row.state, row.late, now)
    name = sanitize_user_text(deal.name, 40) + marks(deal.grade, deal.tags)
    return f"{index}. {name}｜{deal.stage}｜{state}"


def follow_up_text(
    deal: reports.Deal, state: reports.FollowUpState | None, late: int, now: datetime
) -> str:
    """'⚠️ 逾期 1 个工作日（11月27日(周五) 15:00）', '下次 …', the silence, or the payments."""
    if state is not None and deal.next_follow_up_at is not None:
        due = fmt_date(deal.next_follow_up_at.astimezone(now.tzinfo), deal.has_time)
        return {
            "overdue": f"⚠️ {fmt_late(late)}（{due}）",
            "today": f"📌 今天到期（{due}）",
            "later": f"下次 {due}",
        }[state]
    if reports.is_open(deal):
        last = deal.last_activity_at or deal.created_at
        days = (now.date() - reports.local_date(last, now.tzinfo)).days
        return f"未设下次跟进，最近动态 {fmt_ago(days)}"
    return fmt_paid(deal.paid_amount, deal.amount)


def _mine(ctx: Context) -> list[_Row]:
    """The sender's customers except lost and after-sales ones, most urgent first."""
    scope = report_context(ctx)
    deals = [
        d
        for d in reports.deals(scope, owner_id=ctx.sender.id)
        if d.stage not in (Stage.LOST, Stage.AFTER_SALES)
    ]
    late = {f.deal.id: f.days for f in reports.due_follow_ups(scope, deals)}
    rows = [_Row(d, reports.follow_up_state(d, scope.now), late.get(d.id, 0)) for d in deals]
    return sorted(rows, key=_urgency)


def _listing(ctx: Context, title: str, rows: list[_Row], empty: str) -> Reply:
    """A numbered list cut to LIMIT with a '还有 N 个' line."""
    reply = Reply()
    if not rows:
        return reply.line(empty)
    reply.line(f"{title}（{len(rows)} 个）：")
    for i, row in enumerate(rows[:LIMIT], 1):
        reply.line(_line(i, row, ctx.now))
    if len(rows) > LIMIT:
        reply.line(f"还有 {len(rows) - LIMIT} 个…")
    return reply


@command(
    "我的",
    aliases=("wd", "mine", "my", "我的客户"),
    usage="/我的",
    summary="我负责的客户，逾期和今天到期的排在前面，已签约的显示回款进度",
    example="/我的",
    group=Group.VIEW,
)
def mine(ctx: Context, args: str) -> OutgoingMessage:
    """List the sender's customers by urgency."""
    return _listing(
        ctx, "你负责的客户", _mine(ctx), "你还没有负责的客户。用 /跟进 客户 内容 记录第一条跟进吧"
    ).build()


@command(
    "待办",
    aliases=("db", "todo"),
    usage="/待办",
    summary="今天要跟进和已经逾期的客户",
    example="/待办",
    group=Group.VIEW,
)
def todo(ctx: Context, args: str) -> OutgoingMessage:
    """What is due today or overdue for the sender."""
    due = [row for row in _mine(ctx) if row.state in ("overdue", "today")]
    return _listing(ctx, "今天的待办", due, "🎉 今天没有到期或逾期的客户").build()
