"""/请假 and /销假: a member away until a day (member.away_until), ending by itself.

While away (``models.reports.is_away``): the morning nudge leaves them out, the response SLA
does not remind them (an assignment to them says so), a stalled deal of theirs goes straight
to the managers, the pool reclaim leaves their customers alone, and the digest lists them.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from bot.messages import OutgoingMessage, Reply
from handlers.absence import last_day_away
from handlers.common import date_error
from handlers.context import Context
from handlers.format import fmt_date, member_label
from handlers.registry import CommandError, Group, command
from models import reports
from models.calendar import calendar_from_settings
from models.dates import read_exact
from models.member import Member
from models.parsing import sanitize_user_text

MAX_DAYS = 366
# 3天, 两周, 5个工作日, 一个月: a length of leave from today (read by models.dates as "…内").
_LENGTH = re.compile(r"[0-9一二两三四五六七八九十]+\s*个?\s*(天|日|工作日|周|星期|礼拜|月)")
_LEAD = re.compile(r"^(请假|直到|一直到|到|至)\s*")
RULE = (
    "请假期间：早间提醒不列出、到点提醒不发、新分配的客户不催、停滞客户直接提醒经理、不回收到公海"
)


def _who(ctx: Context, text: str, action: str) -> tuple[Member, str]:
    """The member the command is about (the sender, or one @-mention by a manager), and the rest."""
    people, rest = ctx.people(text, "请 @ 一位成员，或不写 @ 表示自己")
    if not people:
        return ctx.sender, rest
    if len(people) != 1:
        raise ctx.usage("一次只能给一位成员登记")
    (member,) = people
    if member.id != ctx.sender.id:
        ctx.require_manager(action)
    return member, rest


def _until(ctx: Context, text: str) -> datetime:
    """The moment the leave ends: after the day written (到 12月5日), or after N days (3天)."""
    written = _LEAD.sub("", text.strip()).strip()
    if not written:
        raise ctx.usage("请写上请假到哪天，或请几天")
    length = _LENGTH.fullmatch(written)
    reading = read_exact(
        f"{written}内" if length else written,
        ctx.now,
        calendar_from_settings(ctx.settings.calendar),
    )
    if reading.problem is not None:
        raise date_error(ctx, reading.problem)
    hit = reading.hit
    if hit is None and reading.past is not None:
        raise ctx.usage(f"“{sanitize_user_text(written, 20)}”已经过去了，请写今天或以后的日期")
    if hit is None:
        raise ctx.usage(
            f"没看懂“{sanitize_user_text(written, 20)}”，可以写 到 12月5日、12月5日、3天 或 下周五"
        )
    local = hit.when.astimezone(ctx.now.tzinfo)
    if length:  # the day read is the day back
        until = datetime.combine(local.date(), time(), ctx.now.tzinfo)
    elif hit.has_time:
        until = local
    else:
        until = datetime.combine(local.date() + timedelta(days=1), time(), ctx.now.tzinfo)
    if until <= ctx.now:
        raise ctx.usage(f"“{sanitize_user_text(written, 20)}”已经过去了，请写今天或以后的日期")
    if until - ctx.now > timedelta(days=MAX_DAYS):
        raise ctx.usage("请假最长一年，请写一年以内的日期")
    return until


@command(
    "请假",
    aliases=("qj", "away", "休假"),
    usage="/请假 [@某人] 到 日期",
    summary=(
        "请假到某天（含）或请 N 天，到期自动结束；期间早间提醒不列出你、响应提醒不催你、"
        "停滞客户直接提醒经理、客户不收回公海，日报显示谁在请假"
    ),
    example="/请假 到 12月5日",
    who="本人；替别人登记需经理",
    group=Group.MANAGE,
)
def away(ctx: Context, args: str) -> OutgoingMessage:
    """Set member.away_until for the sender (or, by a manager, for someone)."""
    if not args.strip():
        raise ctx.usage("请写上请假到哪天，或请几天")
    member, rest = _who(ctx, args, "替别人登记请假")
    until = _until(ctx, rest)
    member.away_until = until
    back = fmt_date(until.astimezone(ctx.now.tzinfo))
    name = "你" if member.id == ctx.sender.id else member_label(member)
    reply = Reply().line(
        f"🏖 {name}请假到 {last_day_away(until, ctx.now.tzinfo)}，{back} 起自动销假"
    )
    reply.line(f"{RULE}；提前回来用 /销假")
    return reply.build()


@command(
    "销假",
    aliases=("xj", "back"),
    usage="/销假 [@某人]",
    summary="提前结束请假，各项提醒恢复",
    example="/销假",
    who="本人；替别人销假需经理",
    group=Group.MANAGE,
)
def back(ctx: Context, args: str) -> OutgoingMessage:
    """Clear member.away_until."""
    member, rest = _who(ctx, args, "替别人销假")
    if rest.strip():
        raise ctx.usage(f"销假不用写其他内容，看不懂“{sanitize_user_text(rest, 20)}”")
    name = "你" if member.id == ctx.sender.id else member_label(member)
    if not reports.is_away(member, ctx.now):
        raise CommandError(f"ℹ️ {name}现在没有请假")
    member.away_until = None
    return Reply().line(f"✅ {name}已销假，早间提醒和各项提醒恢复").build()
