"""The weekly review: funnel now vs a week ago, wins and losses, activity per rep, targets, stalls."""

from __future__ import annotations

from datetime import date, timedelta

from bot.jobs import metrics
from bot.jobs.base import JobContext
from bot.jobs.digest import (
    REP_COLUMNS,
    cut,
    event_lines,
    headline_figures,
    month_events,
    progress_for,
    rep_rows,
    stalled_lines,
    target_section,
    totals,
)
from bot.messages import Card, CardSection, OutgoingMessage, Reply, Table
from handlers.format import fmt_money
from models.parsing import sanitize_user_text
from models.stages import LADDER, LOST

STALLED_TOP = 5


def _change(now: int, before: int) -> str:
    """'+3', '-1' or '0'."""
    diff = now - before
    return f"{diff:+d}" if diff else "0"


def funnel_table(before: metrics.Funnel, now: metrics.Funnel) -> Table:
    """Per stage: count a week ago, count now, the change and today's amount."""
    rows = []
    for stage in (*LADDER, LOST):
        was, is_ = before.stages[stage], now.stages[stage]
        rows.append(
            [
                stage,
                str(was.count),
                str(is_.count),
                _change(is_.count, was.count),
                fmt_money(is_.amount) if is_.amount else "-",
            ]
        )
    return Table(["阶段", "一周前", "现在", "变化", "金额"], rows)


def week_label(first: date, last: date) -> str:
    """'11月21日—11月27日'."""
    return f"{first.month}月{first.day}日—{last.month}月{last.day}日"


def build_weekly(ctx: JobContext, day: date) -> list[OutgoingMessage]:
    """The review of the seven days ending on ``day`` (seven queries per chat)."""
    members = metrics.members_by_id(ctx)
    first = day - timedelta(days=6)
    start, end = metrics.day_start(ctx, first), metrics.day_end(ctx, day)
    figures = metrics.activity_counts(ctx, start, end)
    events, month_start = month_events(ctx, day, start)
    week_events = [e for e in events if e.at >= start]
    metrics.add_money(figures, week_events)
    progress = progress_for(ctx, day, events, month_start)
    everyone = metrics.deals(ctx, active_only=False)
    week_ago = metrics.funnel_at(ctx, everyone, metrics.day_end(ctx, day - timedelta(days=7)))
    if end >= ctx.now:
        current = metrics.funnel_now(everyone)
    else:
        current = metrics.funnel_at(ctx, everyone, end)

    reply = Reply()
    label = week_label(first, day)
    total = totals(figures.values())
    sections = [CardSection(heading="漏斗：一周前 → 现在", table=funnel_table(week_ago, current))]
    won = [e for e in week_events if e.kind in ("won", "lost")]
    summary = f"签约 {total.won_count} 单 {fmt_money(total.won_amount)}｜输单 {total.lost_count} 单"
    if total.paid_amount:
        summary += f"｜回款 {fmt_money(total.paid_amount)}"
    sections.append(
        CardSection(heading="签约与输单", lines=[summary, *cut(event_lines(won, members))])
    )
    active = [d for d in everyone if d.stage not in metrics.CLOSED_STAGES]
    for owner in {d.owner_id for d in active if d.owner_id is not None}:
        figures.setdefault(owner, metrics.RepFigures(owner))
    if figures:
        sections.append(
            CardSection(heading="各人本周", table=Table(REP_COLUMNS, rep_rows(figures, members)))
        )
    targets = target_section(day, progress, members)
    if targets is not None:
        sections.append(targets)
    stuck = metrics.stalled(ctx, active, ctx.now)
    if stuck:
        sections.append(
            CardSection(
                heading=f"🐢 停滞最久的商机（共 {len(stuck)} 个）",
                lines=cut(stalled_lines(stuck, reply, members), STALLED_TOP),
            )
        )
    card = Card(
        title=f"📈 销售周报 {label}",
        sections=sections,
        subtitle=sanitize_user_text(ctx.chat.name, 40),
    )
    text = f"📈 周报 {label}｜{headline_figures(total)}"
    return [OutgoingMessage(text, list(reply.mentions), card)]
