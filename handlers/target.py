"""/目标: set a member's monthly target (managers), or list a month's targets with progress."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from sqlalchemy import select

from bot.messages import OutgoingMessage, Reply
from handlers.common import amount_problem
from handlers.context import Context
from handlers.format import fmt_money, fmt_percent
from handlers.jobs.base import JobContext, job_context
from handlers.jobs.digest import name_of
from handlers.registry import Group, command
from models import reports
from models.money import Exact, split_words, word_reading
from models.parsing import sanitize_user_text
from models.target import Target

_RELATIVE_MONTHS = {
    "本月": 0,
    "这个月": 0,
    "这月": 0,
    "当月": 0,
    "下月": 1,
    "下个月": 1,
    "上月": -1,
    "上个月": -1,
}
_CN_MONTHS = {name: i for i, name in enumerate("一二三四五六七八九十", 1)} | {
    "十一": 11,
    "十二": 12,
}
_YEAR_MONTH = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?份?")
_MONTH = re.compile(r"(\d{1,2}|十[一二]?|[一二三四五六七八九])\s*月份?")


def _shift(day: date, months: int) -> str:
    """The month ``months`` after ``day``'s month, as '2026-12'."""
    index = day.year * 12 + day.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def parse_month(text: str, today: date) -> str | None:
    """'12月' / '2026-12' / '下个月' / '本月' → '2026-12'; None when it is not a month.

    A bare month earlier than the current one means next year's (targets are set ahead).
    """
    text = unicodedata.normalize("NFKC", text).strip()
    if text in _RELATIVE_MONTHS:
        return _shift(today, _RELATIVE_MONTHS[text])
    if match := _YEAR_MONTH.fullmatch(text):
        year, month = int(match.group(1)), int(match.group(2))
    elif match := _MONTH.fullmatch(text):
        word = match.group(1)
        month = int(word) if word.isdigit() else _CN_MONTHS[word]
        year = today.year if month >= today.month else today.year + 1
    else:
        return None
    if not 1 <= month <= 12:
        return None
    return f"{year:04d}-{month:02d}"


def month_label(month: str, today: date) -> str:
    """'12月', or '2027年1月' for another year."""
    year, number = (int(part) for part in month.split("-"))
    return f"{number}月" if year == today.year else f"{year}年{number}月"


def month_progress(ctx: JobContext, month: str) -> list[reports.TargetProgress] | None:
    """The month's targets with won and paid amounts up to now; None for a future month."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    today = ctx.now.date()
    if first > today:
        return None
    goals = reports.targets(ctx, month)
    if not goals:
        return []
    following = date.fromisoformat(f"{_shift(first, 1)}-01")
    end = min(reports.day_start(ctx, following), ctx.now)
    events = reports.deal_events(ctx, reports.day_start(ctx, first), end)
    return reports.target_progress(goals, events)


def _listing(ctx: Context, month: str) -> str:
    """A month's targets, one line each, with progress."""
    today = ctx.now.date()
    jctx = job_context(ctx.session, ctx.chat, ctx.now, ctx.settings)
    label = month_label(month, today)
    goals = reports.targets(jctx, month)
    if not goals:
        return f"🎯 {label}还没有设目标。经理可用 /目标 @某人 金额 设置"
    members = reports.members_by_id(jctx)
    progress = month_progress(jctx, month)
    lines = [f"🎯 {label}目标："]
    if progress is None:
        for i, (member_id, amount) in enumerate(sorted(goals.items()), 1):
            lines.append(f"{i}. {name_of(members, member_id)}｜目标 {fmt_money(amount)}")
        return "\n".join(lines)
    for i, p in enumerate(progress, 1):
        lines.append(
            f"{i}. {name_of(members, p.member_id)}｜目标 {fmt_money(p.target)}"
            f"｜已签约 {fmt_money(p.won)}（{fmt_percent(p.won, p.target)}）"
            f"｜已回款 {fmt_money(p.paid)}"
        )
    return "\n".join(lines)


@command(
    "目标",
    aliases=("mb", "target"),
    usage="/目标 @某人 金额 [月份]",
    summary="设每月签约目标（月份如 12月、2026-12、下个月，默认本月）；只写 /目标 查看本月目标",
    example="/目标 @李四 50万 12月",
    who="经理（查看：所有人）",
    group=Group.MANAGE,
)
def target(ctx: Context, args: str) -> OutgoingMessage:
    """Set (or replace) a member's monthly target, or list the month's targets."""
    today = ctx.now.date()
    text = args.strip()
    if not text:
        return OutgoingMessage(_listing(ctx, _shift(today, 0)))
    only_month = parse_month(text, today)
    if only_month is not None:
        return OutgoingMessage(_listing(ctx, only_month))
    ctx.require_manager("设目标")
    people, text = ctx.people(text, "找不到群成员 ＠，请用 @ 选择")
    if len(people) > 1:
        raise ctx.usage("一次只能给一个人设目标")
    person = people[0] if people else None
    amount = month = None
    for start, end in split_words(text):
        token = text[start:end]
        if (found_month := parse_month(token, today)) is not None:
            if month is not None:
                raise ctx.usage("只能写一个月份")
            month = found_month
        elif (reading := word_reading(token)) is not None:
            if not isinstance(reading, Exact):
                raise amount_problem(ctx, reading)
            if amount is not None:
                raise ctx.usage("只能写一个金额")
            amount = reading.value
        else:
            raise ctx.usage(f"看不懂“{sanitize_user_text(token, 20)}”")
    if person is None:
        raise ctx.usage("请 @ 要设目标的人")
    if amount is None:
        raise ctx.usage("请写上目标金额")
    month = month or _shift(today, 0)
    row = ctx.session.scalars(
        select(Target).where(Target.member_id == person.id, Target.month == month)
    ).first()
    previous = row.amount if row is not None else None
    if row is None:
        ctx.session.add(
            Target(
                chat_id=ctx.chat.id,
                member_id=person.id,
                month=month,
                amount=amount,
                created_at=ctx.now,
            )
        )
    else:
        row.amount = amount
    ctx.session.flush()

    reply = Reply()
    label = month_label(month, today)
    line = f"🎯 {ctx.mention(reply, person)} {label}目标 {fmt_money(amount)}"
    if previous is not None and previous != amount:
        line += f"（原 {fmt_money(previous)}）"
    reply.line(line)
    jctx = job_context(ctx.session, ctx.chat, ctx.now, ctx.settings)
    progress = month_progress(jctx, month)
    if progress is not None:
        mine = next(p for p in progress if p.member_id == person.id)
        reply.line(
            f"{label}已签约 {fmt_money(mine.won)}（{fmt_percent(mine.won, mine.target)}）"
            f"｜已回款 {fmt_money(mine.paid)}"
        )
    return reply.build()
