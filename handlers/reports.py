"""/日报 /周报 /漏斗 /排行: the reports on demand, built by the same code as the scheduled jobs."""

from __future__ import annotations

from datetime import date, datetime

from bot.messages import (
    CHART_BAR,
    CHART_FUNNEL,
    Card,
    CardSection,
    Chart,
    OutgoingMessage,
    Series,
    Table,
)
from handlers.common import date_error
from handlers.context import Context
from handlers.format import fmt_money, fmt_percent
from handlers.jobs.base import JobContext, job_context
from handlers.jobs.digest import (
    build_digest,
    month_events,
    name_of,
    percent,
    progress_for,
    show_percent,
    target_chart,
)
from handlers.jobs.weekly import build_weekly
from handlers.registry import Group, command
from models import reports
from models.dates import DateReading, read_exact
from models.member import ROLE_REP, Member
from models.parsing import sanitize_user_text
from models.stages import LADDER, LOST, Stage

MEDALS = ("🥇", "🥈", "🥉")


def report_context(ctx: Context) -> JobContext:
    """The job context for this chat at the command's moment."""
    return job_context(ctx.session, ctx.chat, ctx.now, ctx.settings)


def report_day(text: str, now: datetime) -> DateReading:
    """A report date: 今天, 昨天, 上周三, 周三, 11月26日, 2026-11-26 (bare forms: latest up to today).

    The whole text must be the date; a future date is returned as is for the caller to refuse.
    """
    if not text.strip():
        return read_exact("今天", now, past=True)
    return read_exact(text, now, past=True)


def parse_past_day(text: str, now: datetime) -> date | None:
    """The day ``report_day`` reads, or None when the text is not (exactly) a date."""
    reading = report_day(text, now)
    hit = reading.hit or reading.past
    return hit.when.date() if hit is not None else None


@command(
    "日报",
    aliases=("rb", "daily"),
    usage="/日报 [日期]",
    summary="今天（或指定日期）的日报：各人跟进、签约回款、逾期和停滞的客户",
    example="/日报 昨天",
    group=Group.VIEW,
)
def daily(ctx: Context, args: str) -> OutgoingMessage:
    """The digest for today or a past day."""
    today = ctx.now.date()
    reading = report_day(args, ctx.now)
    if reading.problem is not None:
        raise date_error(ctx, reading.problem)
    hit = reading.hit or reading.past
    if hit is None:
        raise ctx.usage(f"看不懂日期“{sanitize_user_text(args, 20)}”")
    day = hit.when.date()
    if day > today:
        raise ctx.usage("不能查看未来的日报")
    return build_digest(report_context(ctx), day)[0]


@command(
    "周报",
    aliases=("zb", "weekly"),
    usage="/周报",
    summary="本周（周一到现在）的周报：漏斗变化、签约输单、各人动态、目标、停滞最久的商机、周五盘点谁回复了",
    example="/周报",
    group=Group.VIEW,
)
def weekly(ctx: Context, args: str) -> OutgoingMessage:
    """The weekly review of this week, Monday to now (the same message as the Friday job)."""
    return build_weekly(report_context(ctx), ctx.now.date())[0]


@command(
    "漏斗",
    aliases=("ld", "funnel"),
    usage="/漏斗",
    summary="各阶段客户数和金额，以及阶段之间的转化率",
    example="/漏斗",
    group=Group.VIEW,
)
def funnel(ctx: Context, args: str) -> OutgoingMessage:
    """Counts and amounts per stage now, and how many got from each stage to the next."""
    jctx = report_context(ctx)
    everyone = reports.deals(jctx)
    if not everyone:
        return OutgoingMessage("🔻 还没有客户。用 /新客户 或 /跟进 记录第一个客户吧")
    now = reports.funnel_now(everyone)
    reached = reports.reached_counts(reports.furthest_stages(jctx, everyone))
    rows = []
    for i, stage in enumerate(LADDER):
        figures = now.stages[stage]
        rows.append(
            [
                stage,
                str(figures.count),
                fmt_money(figures.amount) if figures.amount else "-",
                str(reached[i]),
                show_percent(percent(reached[i], reached[i - 1])) if i else "-",
            ]
        )
    chart = Chart(
        CHART_FUNNEL,
        "到达各阶段的客户",
        [str(stage) for stage in LADDER],
        [Series("到达", [float(count) for count in reached])],
    )
    lost = now.stages[LOST]
    rows.append([LOST, str(lost.count), fmt_money(lost.amount) if lost.amount else "-", "-", "-"])
    won = reached[LADDER.index(Stage.SIGNED)]
    summary = f"共 {now.total} 个客户｜签约 {won} 个（{fmt_percent(won, now.total)}）｜输单 {lost.count} 个"
    card = Card(
        title="🔻 销售漏斗",
        sections=[
            CardSection(
                lines=[
                    summary,
                    "到达：到过该阶段或更后阶段的客户数；转化率：到达数 ÷ 上一阶段到达数",
                ],
                table=Table(["阶段", "客户", "金额", "到达", "转化率"], rows),
                chart=chart,
            )
        ],
        subtitle=sanitize_user_text(ctx.chat.name, 40),
    )
    return OutgoingMessage(f"🔻 销售漏斗｜{summary}", card=card)


def ranking_chart(
    today: date,
    ordered: list[reports.RepFigures],
    bars: list[tuple[str, int]],
    members: dict[int, Member],
) -> Chart | None:
    """Bars of each ranked member's target completion; without targets, of their follow-ups."""
    if bars:
        return target_chart(f"{today.month}月目标完成", bars)
    if not any(rep.follow_ups for rep in ordered):
        return None
    return Chart(
        CHART_BAR,
        f"{today.month}月各人跟进次数",
        [name_of(members, rep.member_id) for rep in ordered],
        [Series("跟进", [float(rep.follow_ups) for rep in ordered])],
    )


@command(
    "排行",
    aliases=("ph", "rank"),
    usage="/排行",
    summary="本月各人排行：签约金额、回款、跟进次数、目标完成（经理和管理员有自己的客户才上榜）",
    example="/排行",
    group=Group.VIEW,
)
def ranking(ctx: Context, args: str) -> OutgoingMessage:
    """This month per rep, by won amount, then payments, then follow-ups.

    Reps are ranked; managers and admins only when they own customers themselves.
    """
    jctx = report_context(ctx)
    today = ctx.now.date()
    members = reports.members_by_id(jctx)
    start = reports.day_start(jctx, reports.month_first(today))
    figures = reports.activity_counts(jctx, start, reports.day_end(jctx, today))
    events, month_start = month_events(jctx, today)
    reports.add_money(figures, events)
    progress = {p.member_id: p for p in progress_for(jctx, today, events, month_start)}
    for goal_id in progress:
        figures.setdefault(goal_id, reports.RepFigures(goal_id))
    owning = reports.owners(jctx)
    for member_id in list(figures):
        member = members.get(member_id) if member_id is not None else None
        if member is None or (ctx.role_of(member) != ROLE_REP and member.id not in owning):
            del figures[member_id]
    if not figures:
        return OutgoingMessage(f"🏆 {today.month}月还没有任何记录，排行榜是空的")
    ordered = sorted(
        figures.values(),
        key=lambda r: (-r.won_amount, -r.paid_amount, -r.follow_ups, -r.entries, r.member_id),
    )
    rows = []
    bars: list[tuple[str, int]] = []
    for i, rep in enumerate(ordered):
        goal = progress.get(rep.member_id) if rep.member_id is not None else None
        name = name_of(members, rep.member_id)
        done = percent(goal.won, goal.target) if goal else None
        if done is not None:
            bars.append((name, done))
        rows.append(
            [
                MEDALS[i] if i < len(MEDALS) else str(i + 1),
                name,
                f"{fmt_money(rep.won_amount)}（{rep.won_count} 单）" if rep.won_count else "-",
                fmt_money(rep.paid_amount) if rep.paid_amount else "-",
                str(rep.follow_ups),
                f"{show_percent(done)}（目标 {fmt_money(goal.target)}）" if goal else "-",
            ]
        )
    title = f"🏆 {today.month}月排行（截至 {today.month}月{today.day}日）"
    card = Card(
        title=title,
        sections=[
            CardSection(
                table=Table(["名次", "成员", "签约", "回款", "跟进", "目标"], rows),
                chart=ranking_chart(today, ordered, bars, members),
            )
        ],
        subtitle=sanitize_user_text(ctx.chat.name, 40),
    )
    leader = ordered[0]
    return OutgoingMessage(f"{title}｜第一名 {name_of(members, leader.member_id)}", card=card)
