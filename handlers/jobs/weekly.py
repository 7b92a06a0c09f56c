"""The weekly review of 本周 (Monday to now): funnel movement, wins and losses, per-rep activity,
targets and the longest-stalled deals. The Friday job and /周报 build the same message.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.messages import CHART_LINE, Card, CardSection, Chart, OutgoingMessage, Reply, Series, Table
from handlers.format import cut, fmt_date, fmt_money
from handlers.jobs.base import JobContext
from handlers.jobs.digest import (
    event_lines,
    headline_figures,
    month_events,
    progress_for,
    rep_section,
    stalled_lines,
    target_section,
    totals,
)
from handlers.jobs.friday_round import round_section
from models import reports
from models.activity import Kind
from models.parsing import sanitize_user_text
from models.stages import LADDER, LOST

STALLED_TOP = 5
TREND_WEEKS = 4


def _change(now: int, before: int) -> str:
    """'+3', '-1' or '0'."""
    diff = now - before
    return f"{diff:+d}" if diff else "0"


def funnel_table(before: reports.Funnel, now: reports.Funnel) -> Table:
    """Per stage: count when the week began, count now, the change and today's amount."""
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
    return Table(["阶段", "周一", "现在", "变化", "金额"], rows)


def week_label(first: date, last: date) -> str:
    """'本周 11月23日(周一)—11月27日(周五)': exactly the days the review covers."""
    return f"本周 {fmt_date(first)}—{fmt_date(last)}"


def trend_section(ctx: JobContext, first: date, day: date) -> CardSection:
    """The last TREND_WEEKS weeks up to ``day`` (this week so far): a table and its line chart."""
    mondays = [first - timedelta(weeks=n) for n in range(TREND_WEEKS - 1, -1, -1)]
    bounds = [reports.day_start(ctx, monday) for monday in mondays]
    weeks = reports.activity_by_period(ctx, [*bounds, reports.day_end(ctx, day)])
    labels = [f"{m.month}月{m.day}日" for m in mondays[:-1]] + ["本周"]
    rows = [
        [label, str(week.follow_ups), str(week.new_customers), str(week.stage_moves)]
        for label, week in zip(labels, weeks, strict=True)
    ]
    chart = Chart(
        CHART_LINE,
        f"近 {TREND_WEEKS} 周跟进与新客户",
        labels,
        [
            Series("跟进", [float(week.follow_ups) for week in weeks]),
            Series("新客户", [float(week.new_customers) for week in weeks]),
        ],
    )
    return CardSection(
        heading=f"近 {TREND_WEEKS} 周（按周一起算）",
        table=Table(["周", "跟进", "新客户", "推进"], rows),
        chart=chart if any(week.follow_ups or week.new_customers for week in weeks) else None,
    )


def build_weekly(ctx: JobContext, day: date | None = None) -> list[OutgoingMessage]:
    """The review of ``day``'s week from Monday 00:00 to the end of ``day`` (eight queries).

    The job and /周报 use today (the default), so the review covers this week up to now.
    """
    day = day or ctx.now.date()
    members = reports.members_by_id(ctx)
    first = reports.week_first(day)
    start, end = reports.day_start(ctx, first), reports.day_end(ctx, day)
    figures = reports.activity_counts(ctx, start, end)
    events, month_start = month_events(ctx, day, start)
    week_events = [e for e in events if e.at >= start]
    reports.add_money(figures, week_events)
    progress = progress_for(ctx, day, events, month_start)
    everyone = reports.deals(ctx)
    week_began = reports.funnel_at(ctx, everyone, start)
    if end >= ctx.now:
        current = reports.funnel_now(everyone)
    else:
        current = reports.funnel_at(ctx, everyone, end)

    reply = Reply()
    label = week_label(first, day)
    total = totals(figures.values())
    sections = [CardSection(heading="漏斗：周一 → 现在", table=funnel_table(week_began, current))]
    won = [e for e in week_events if e.kind in (Kind.WON, Kind.LOST)]
    summary = f"签约 {total.won_count} 单 {fmt_money(total.won_amount)}｜输单 {total.lost_count} 单"
    if total.paid_amount:
        summary += f"｜回款 {fmt_money(total.paid_amount)}"
    sections.append(
        CardSection(heading="签约与输单", lines=[summary, *cut(event_lines(won, members))])
    )
    for deal in everyone:
        if deal.owner_id is not None and reports.is_open(deal):
            figures.setdefault(deal.owner_id, reports.RepFigures(deal.owner_id))
    if figures:
        sections.append(rep_section("各人本周", figures, members))
    targets = target_section(day, progress, members, chart=True)
    if targets is not None:
        sections.append(targets)
    sections.append(trend_section(ctx, first, day))
    stuck = reports.stalled(ctx, everyone)
    if stuck:
        sections.append(
            CardSection(
                heading=f"🐢 停滞最久的商机（共 {len(stuck)} 个）",
                lines=cut(stalled_lines(stuck, reply, members), STALLED_TOP),
            )
        )
    answers = round_section(ctx, day, end)
    if answers is not None:
        sections.append(answers)
    card = Card(
        title=f"📈 销售周报 {label}",
        sections=sections,
        subtitle=sanitize_user_text(ctx.chat.name, 40),
    )
    text = f"📈 周报 {label}｜{headline_figures(total)}"
    return [OutgoingMessage(text, list(reply.mentions), card)]
