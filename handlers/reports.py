"""/日报 /周报 /漏斗 /排行: the reports on demand, built by the same code as the scheduled jobs."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta

from bot.jobs import metrics
from bot.jobs.base import JobContext, job_context
from bot.jobs.digest import build_digest, month_events, name_of, progress_for
from bot.jobs.weekly import build_weekly
from bot.messages import Card, CardSection, OutgoingMessage, Table
from handlers.context import Context
from handlers.format import fmt_money
from handlers.registry import command
from models.parsing import parse_when, sanitize_user_text
from models.stages import LADDER, LOST

_RELATIVE = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "大前天": 3}
_FULL = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_MONTH_DAY = re.compile(r"(\d{1,2})\s*[月/-]\s*(\d{1,2})\s*[日号]?")
MEDALS = ("🥇", "🥈", "🥉")


def report_context(ctx: Context) -> JobContext:
    """The job context for this chat at the command's moment."""
    return job_context(ctx.session, ctx.chat, ctx.now, ctx.settings)


def parse_past_day(text: str, now: datetime) -> date | None:
    """A report date: 今天/昨天/前天, 2026-11-26, 11月26日 (latest such day not after today).

    None when the text is not a date; a future date is returned as is for the caller to refuse.
    """
    today = now.date()
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return today
    if text in _RELATIVE:
        return today - timedelta(days=_RELATIVE[text])
    try:
        if match := _FULL.fullmatch(text):
            return date(*(int(g) for g in match.groups()))
        if match := _MONTH_DAY.fullmatch(text):
            month, day = int(match.group(1)), int(match.group(2))
            found = date(today.year, month, day)
            return found if found <= today else date(today.year - 1, month, day)
    except ValueError:
        return None
    hit = parse_when(text, now)
    return hit.when.date() if hit is not None else None


@command(
    "日报",
    aliases=("rb", "daily"),
    usage="/日报 [日期]",
    summary="今天（或指定日期）的日报：各人跟进、签约回款、逾期和停滞的客户",
    example="/日报 昨天",
    group="查看",
)
def daily(ctx: Context, args: str) -> OutgoingMessage:
    """The digest for today or a past day."""
    today = ctx.now.date()
    day = parse_past_day(args, ctx.now)
    if day is None:
        raise ctx.usage(f"看不懂日期“{sanitize_user_text(args, 20)}”")
    if day > today:
        raise ctx.usage("不能查看未来的日报")
    return build_digest(report_context(ctx), day)[0]


@command(
    "周报",
    aliases=("zb", "weekly"),
    usage="/周报",
    summary="最近 7 天的周报：漏斗变化、签约输单、各人动态、目标、停滞最久的商机",
    example="/周报",
    group="查看",
)
def weekly(ctx: Context, args: str) -> OutgoingMessage:
    """The weekly review of the seven days ending today."""
    return build_weekly(report_context(ctx), ctx.now.date())[0]


def _rate(part: int, whole: int) -> str:
    """'45%' or '-' when there is nothing to divide."""
    return f"{part * 100 // whole}%" if whole else "-"


@command(
    "漏斗",
    aliases=("ld", "funnel"),
    usage="/漏斗",
    summary="各阶段客户数和金额，以及阶段之间的转化率",
    example="/漏斗",
    group="查看",
)
def funnel(ctx: Context, args: str) -> OutgoingMessage:
    """Counts and amounts per stage now, and how many got from each stage to the next."""
    jctx = report_context(ctx)
    everyone = metrics.deals(jctx, active_only=False)
    if not everyone:
        return OutgoingMessage("🔻 还没有客户。用 /新客户 或 /跟进 记录第一个客户吧")
    now = metrics.funnel_now(everyone)
    reached = metrics.reached_counts(metrics.furthest_stages(jctx, everyone))
    rows = []
    for i, stage in enumerate(LADDER):
        figures = now.stages[stage]
        rows.append(
            [
                stage,
                str(figures.count),
                fmt_money(figures.amount) if figures.amount else "-",
                str(reached[i]),
                _rate(reached[i], reached[i - 1]) if i else "-",
            ]
        )
    lost = now.stages[LOST]
    rows.append([LOST, str(lost.count), fmt_money(lost.amount) if lost.amount else "-", "-", "-"])
    won = reached[LADDER.index("已签约")]
    summary = (
        f"共 {now.total} 个客户｜签约 {won} 个（{_rate(won, now.total)}）｜输单 {lost.count} 个"
    )
    card = Card(
        title="🔻 销售漏斗",
        sections=[
            CardSection(
                lines=[
                    summary,
                    "到达：到过该阶段或更后阶段的客户数；转化率：到达数 ÷ 上一阶段到达数",
                ],
                table=Table(["阶段", "客户", "金额", "到达", "转化率"], rows),
            )
        ],
        subtitle=sanitize_user_text(ctx.chat.name, 40),
    )
    return OutgoingMessage(f"🔻 销售漏斗｜{summary}", card=card)


@command(
    "排行",
    aliases=("ph", "rank"),
    usage="/排行",
    summary="本月各人排行：签约金额、回款、跟进次数、目标完成",
    example="/排行",
    group="查看",
)
def ranking(ctx: Context, args: str) -> OutgoingMessage:
    """This month per member, by won amount, then payments, then follow-ups."""
    jctx = report_context(ctx)
    today = ctx.now.date()
    members = metrics.members_by_id(jctx)
    start = metrics.day_start(jctx, metrics.month_first(today))
    figures = metrics.activity_counts(jctx, start, metrics.day_end(jctx, today))
    events, month_start = month_events(jctx, today)
    metrics.add_money(figures, events)
    progress = {p.member_id: p for p in progress_for(jctx, today, events, month_start)}
    for member_id in progress:
        figures.setdefault(member_id, metrics.RepFigures(member_id))
    figures.pop(None, None)
    if not figures:
        return OutgoingMessage(f"🏆 {today.month}月还没有任何记录，排行榜是空的")
    ordered = sorted(
        figures.values(),
        key=lambda r: (-r.won_amount, -r.paid_amount, -r.follow_ups, -r.entries, r.member_id),
    )
    rows = []
    for i, rep in enumerate(ordered):
        goal = progress.get(rep.member_id)  # type: ignore[arg-type]
        rows.append(
            [
                MEDALS[i] if i < len(MEDALS) else str(i + 1),
                name_of(members, rep.member_id),
                f"{fmt_money(rep.won_amount)}（{rep.won_count} 单）" if rep.won_count else "-",
                fmt_money(rep.paid_amount) if rep.paid_amount else "-",
                str(rep.follow_ups),
                f"{goal.percent}%（目标 {fmt_money(goal.target)}）" if goal else "-",
            ]
        )
    title = f"🏆 {today.month}月排行（截至 {today.month}月{today.day}日）"
    card = Card(
        title=title,
        sections=[CardSection(table=Table(["名次", "成员", "签约", "回款", "跟进", "目标"], rows))],
        subtitle=sanitize_user_text(ctx.chat.name, 40),
    )
    leader = ordered[0]
    return OutgoingMessage(f"{title}｜第一名 {name_of(members, leader.member_id)}", card=card)
