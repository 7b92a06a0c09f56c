"""The daily digest: per-rep figures, wins and payments, stage moves, what is late, who is silent.

One message: a headline (the text, with the owners' mentions) and a card, its per-rep table with
a bar chart of the 跟进 column (built from the same rows, so both agree). A day with no entries
and nothing late is one plain line instead of an empty card. The shared pieces (per-rep table,
lists with owner mentions, target progress) are used by the weekly review and the commands too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from bot.messages import (
    CHART_BAR,
    Card,
    CardSection,
    Chart,
    OutgoingMessage,
    Reply,
    Series,
    Table,
)
from handlers.absence import last_day_away
from handlers.format import (
    customer_name,
    cut,
    fmt_date,
    fmt_late,
    fmt_money,
    fmt_paid,
    member_label,
)
from handlers.grade_tags import marks
from handlers.jobs.base import JobContext
from models import reports
from models.activity import Kind
from models.member import Member
from models.parsing import sanitize_user_text
from models.reports import DealEvent, RepFigures, StageMove, TargetProgress

REP_COLUMNS = ["成员", "跟进", "新客户", "推进", "签约", "回款"]


# -- shared rendering ------------------------------------------------------------------------


def name_of(members: dict[int, Member], member_id: int | None) -> str:
    """A member's safe display name; 未分配 for nobody."""
    if member_id is None:
        return "未分配"
    member = members.get(member_id)
    return member_label(member) if member is not None else "已离开的成员"


def mention_of(reply: Reply, members: dict[int, Member], member_id: int | None) -> str:
    """A notifying mention of the member (未分配 for nobody)."""
    member = members.get(member_id) if member_id is not None else None
    if member is None:
        return name_of(members, member_id)
    return reply.mention(member.user_id, sanitize_user_text(member.display, 30))


def _count(value: int) -> str:
    return str(value) if value else "-"


def busiest_first(figures: dict[int | None, RepFigures]) -> list[RepFigures]:
    """Per-member figures, busiest first (the order of the table and its chart)."""
    return sorted(
        figures.values(),
        key=lambda r: (-r.entries, -r.won_amount, -r.paid_amount, r.member_id or 0),
    )


def rep_rows(ordered: Sequence[RepFigures], members: dict[int, Member]) -> list[list[str]]:
    """Table rows of per-member figures, in the given order."""
    return [
        [
            name_of(members, rep.member_id),
            _count(rep.follow_ups),
            _count(rep.new_customers),
            _count(rep.stage_moves),
            f"{rep.won_count} 单 {fmt_money(rep.won_amount)}" if rep.won_count else "-",
            fmt_money(rep.paid_amount) if rep.paid_amount else "-",
        ]
        for rep in ordered
    ]


def rep_section(
    heading: str,
    figures: dict[int | None, RepFigures],
    members: dict[int, Member],
    chart_title: str = "",
) -> CardSection:
    """The per-member table; with ``chart_title``, bars of its 跟进 column when anyone followed up."""
    ordered = busiest_first(figures)
    chart = None
    if chart_title and any(rep.follow_ups for rep in ordered):
        chart = Chart(
            CHART_BAR,
            chart_title,
            [name_of(members, rep.member_id) for rep in ordered],
            [Series("跟进", [float(rep.follow_ups) for rep in ordered])],
        )
    return CardSection(
        heading=heading, table=Table(REP_COLUMNS, rep_rows(ordered, members)), chart=chart
    )


def percent(part: Decimal | int, whole: Decimal | int) -> int | None:
    """The number ``fmt_percent`` shows: part / whole in percent, rounded half up; None for 0."""
    if not whole:
        return None
    ratio = Decimal(part) * 100 / Decimal(whole)
    return int(ratio.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def show_percent(value: int | None) -> str:
    """'62%', or '-' when there is nothing to divide (as ``fmt_percent``)."""
    return "-" if value is None else f"{value}%"


def totals(figures: Iterable[RepFigures]) -> RepFigures:
    """All members' figures added up."""
    total = RepFigures(None)
    for rep in figures:
        total.entries += rep.entries
        total.follow_ups += rep.follow_ups
        total.new_customers += rep.new_customers
        total.stage_moves += rep.stage_moves
        total.won_count += rep.won_count
        total.won_amount += rep.won_amount
        total.lost_count += rep.lost_count
        total.paid_amount += rep.paid_amount
    return total


def headline_figures(total: RepFigures) -> str:
    """'跟进 12 次｜新客户 3 个｜推进 4 次｜签约 1 单 5万｜回款 2万' (zero money parts left out)."""
    parts = [
        f"跟进 {total.follow_ups} 次",
        f"新客户 {total.new_customers} 个",
        f"推进 {total.stage_moves} 次",
    ]
    if total.won_count:
        parts.append(f"签约 {total.won_count} 单 {fmt_money(total.won_amount)}")
    if total.lost_count:
        parts.append(f"输单 {total.lost_count} 单")
    if total.paid_amount:
        parts.append(f"回款 {fmt_money(total.paid_amount)}")
    return "｜".join(parts)


def event_lines(events: Sequence[DealEvent], members: dict[int, Member]) -> list[str]:
    """'🎉 华为 签约 50万（张三）', '💰 华为 回款 20万，累计回款 20万 / 50万（张三）', '❌ … 输单：原因（…）'."""
    lines = []
    for event in events:
        who = name_of(members, event.member_id)
        name = customer_name(event.customer_name)
        if event.kind == Kind.WON:
            lines.append(f"🎉 {name} 签约 {fmt_money(event.amount)}（{who}）")
        elif event.kind == Kind.PAYMENT:
            total = (
                f"，累计{fmt_paid(event.paid_total, event.contract)}"
                if event.paid_total is not None
                else ""
            )
            lines.append(f"💰 {name} 回款 {fmt_money(event.amount)}{total}（{who}）")
        else:
            reason = f"：{sanitize_user_text(event.text, 40)}" if event.text else ""
            lines.append(f"❌ {name} 输单{reason}（{who}）")
    return lines


def move_lines(moves: Sequence[StageMove], members: dict[int, Member]) -> list[str]:
    """'华为：跟进中 → 已报价（张三）'."""
    return [
        f"{customer_name(m.customer_name)}：{m.stage_from} → {m.stage_to}"
        f"（{name_of(members, m.member_id)}）"
        for m in moves
    ]


def deal_name(deal: reports.Deal) -> str:
    """'华为［A］ #老客户': the customer's safe name with its grade and tags."""
    return customer_name(deal.name) + marks(deal.grade, deal.tags)


def overdue_lines(
    items: Sequence[reports.FollowUp], reply: Reply, members: dict[int, Member], tz: tzinfo | None
) -> list[str]:
    """'1. 华为｜已报价｜逾期 1 个工作日（应跟进 9月30日(周三)）｜@张三'."""
    lines = []
    for i, item in enumerate(items, 1):
        due = item.due.astimezone(tz)
        lines.append(
            f"{i}. {deal_name(item.deal)}｜{item.deal.stage}｜{fmt_late(item.days)}"
            f"（应跟进 {fmt_date(due, item.deal.has_time)}）"
            f"｜{mention_of(reply, members, item.deal.owner_id)}"
        )
    return lines


def quiet_lines(
    items: Sequence[reports.Quiet], reply: Reply, members: dict[int, Member]
) -> list[str]:
    """'1. 华为｜跟进中｜5 个工作日没有跟进｜@张三'."""
    return [
        f"{i}. {deal_name(item.deal)}｜{item.deal.stage}｜{item.days} 个工作日没有跟进"
        f"｜{mention_of(reply, members, item.deal.owner_id)}"
        for i, item in enumerate(items, 1)
    ]


def stalled_lines(
    items: Sequence[reports.Stalled], reply: Reply, members: dict[int, Member]
) -> list[str]:
    """'1. 华为｜已报价 12 个工作日没有进展（上限 10）｜@张三'."""
    return [
        f"{i}. {deal_name(item.deal)}｜{item.deal.stage} {item.days} 个工作日没有进展"
        f"（上限 {item.limit}）｜{mention_of(reply, members, item.deal.owner_id)}"
        for i, item in enumerate(items, 1)
    ]


def target_section(
    day: date, progress: Sequence[TargetProgress], members: dict[int, Member], chart: bool = False
) -> CardSection | None:
    """The month's targets with won amounts so far; None when no target is set.

    ``chart``: with bars of each member's 完成 (percent of the target), the table's own numbers.
    """
    if not progress:
        return None
    done = [percent(p.won, p.target) for p in progress]
    rows = [
        [
            name_of(members, p.member_id),
            fmt_money(p.target),
            fmt_money(p.won),
            show_percent(value),
            fmt_money(p.paid),
        ]
        for p, value in zip(progress, done, strict=True)
    ]
    bars = [(row[0], value) for row, value in zip(rows, done, strict=True) if value is not None]
    return CardSection(
        heading=f"{day.month}月目标（截至 {day.month}月{day.day}日）",
        table=Table(["成员", "目标", "已签约", "完成", "已回款"], rows),
        chart=target_chart(f"{day.month}月目标完成", bars) if chart else None,
    )


def target_chart(title: str, bars: Sequence[tuple[str, int]]) -> Chart | None:
    """Bars of percent of target per member (a full bar: the target reached); None for none."""
    if not bars:
        return None
    return Chart(
        CHART_BAR,
        title,
        [label for label, _ in bars],
        [Series("完成", [float(value) for _, value in bars])],
        unit="%",
    )


def month_events(
    ctx: JobContext, day: date, start: datetime | None = None
) -> tuple[list[DealEvent], datetime]:
    """Money events from the start of ``day``'s month (or ``start`` if earlier) to its end."""
    first = reports.day_start(ctx, reports.month_first(day))
    begin = min(first, start) if start is not None else first
    return reports.deal_events(ctx, begin, reports.day_end(ctx, day)), first


def progress_for(
    ctx: JobContext, day: date, events: Sequence[DealEvent], month_start: datetime
) -> list[TargetProgress]:
    """Targets of ``day``'s month against its events (one query for the targets)."""
    goals = reports.targets(ctx, reports.month_key(day))
    if not goals:
        return []
    return reports.target_progress(goals, [e for e in events if e.at >= month_start])


def state_sections(
    ctx: JobContext,
    customers: list[reports.Deal],
    reply: Reply,
    members: dict[int, Member],
    suffix: str = "",
) -> list[CardSection]:
    """Overdue, quiet and stalled lists (each customer in the first that fits) at ctx.now."""
    late = reports.overdue(ctx, customers)
    listed = {o.deal.id for o in late}
    stuck = [s for s in reports.stalled(ctx, customers) if s.deal.id not in listed]
    listed |= {s.deal.id for s in stuck}
    idle = [q for q in reports.quiet(ctx, customers) if q.deal.id not in listed]
    sections = []
    if late:
        sections.append(
            CardSection(
                heading=f"⏰ 逾期未跟进（{len(late)} 个）{suffix}",
                lines=cut(overdue_lines(late, reply, members, ctx.now.tzinfo)),
            )
        )
    if stuck:
        sections.append(
            CardSection(
                heading=f"🐢 停滞的商机（{len(stuck)} 个）{suffix}",
                lines=cut(stalled_lines(stuck, reply, members)),
            )
        )
    if idle:
        sections.append(
            CardSection(
                heading=f"💤 超过 {ctx.config.quiet_days} 个工作日没有跟进（{len(idle)} 个）{suffix}",
                lines=cut(quiet_lines(idle, reply, members)),
            )
        )
    return sections


def silent_owners(
    customers: Iterable[reports.Deal], figures: dict[int | None, RepFigures]
) -> list[int]:
    """Owners of open customers who logged nothing (member ids, in order of first customer)."""
    silent: list[int] = []
    for deal in customers:
        owner = deal.owner_id
        if owner is None or owner in silent or not reports.is_open(deal):
            continue
        rep = figures.get(owner)
        if rep is None or not rep.entries:
            silent.append(owner)
    return silent


# -- the digest ------------------------------------------------------------------------------


def build_digest(ctx: JobContext, day: date | None = None) -> list[OutgoingMessage]:
    """The daily digest for ``day``, by default today (lists of late customers are as of ctx.now).

    Six queries per chat whatever its size: members, the day's counts, the month's money
    events, the day's stage moves, the month's targets and the active customers.
    """
    day = day or ctx.now.date()
    members = reports.members_by_id(ctx)
    start, end = reports.day_start(ctx, day), reports.day_end(ctx, day)
    figures = reports.activity_counts(ctx, start, end)
    events, month_start = month_events(ctx, day)
    today_events = [e for e in events if e.at >= start]
    reports.add_money(figures, today_events)
    moves = reports.stage_moves(ctx, start, end)
    progress = progress_for(ctx, day, events, month_start)
    customers = reports.deals(ctx)

    reply = Reply()
    is_today = day == ctx.now.date()
    states = state_sections(ctx, customers, reply, members, "" if is_today else "（当前）")
    title = f"{fmt_date(day)} 日报"
    total = totals(figures.values())
    if not total.entries and not today_events and not states:
        return [OutgoingMessage(f"📊 {title}：没有新的记录，也没有逾期、停滞或久未跟进的客户")]

    sections: list[CardSection] = []
    if figures:
        sections.append(rep_section("各人今日", figures, members, "各人跟进次数"))
    if today_events:
        sections.append(
            CardSection(heading="签约与回款", lines=cut(event_lines(today_events, members)))
        )
    if moves:
        sections.append(CardSection(heading="阶段推进", lines=cut(move_lines(moves, members))))
    sections.extend(states)
    if ctx.calendar.is_workday(day):
        silent = [
            m
            for m in silent_owners(customers, figures)
            if m not in members or not reports.is_away(members[m], ctx.now)
        ]
        if silent:
            names = "、".join(name_of(members, m) for m in silent)
            sections.append(CardSection(heading=f"😶 没有记录（{len(silent)} 人）", lines=[names]))
    away = [
        f"{member_label(m)} 到 {last_day_away(m.away_until, ctx.now.tzinfo)}"
        for m in members.values()
        if m.away_until is not None and reports.is_away(m, ctx.now)
    ]
    if away:
        suffix = "" if is_today else "（当前）"
        sections.append(CardSection(heading=f"🏖 请假（{len(away)} 人）{suffix}", lines=away))
    targets = target_section(day, progress, members)
    if targets is not None:
        sections.append(targets)

    card = Card(
        title=f"📊 销售日报 {fmt_date(day)}",
        sections=sections,
        subtitle=sanitize_user_text(ctx.chat.name, 40),
    )
    text = f"📊 {title}｜{headline_figures(total)}"
    return [OutgoingMessage(text, list(reply.mentions), card)]
