"""The Friday round: before the weekly review, each rep with stalled or overdue customers is asked
for 进展 / 下一步 / 日期 on each of them.

On the review day (the last working day of the week) at ``round_time`` (default 15:00, two hours
before ``weekly_time``), each such rep gets one message in the group with an @, listing the
customers numbered. The open round is kept in the rep's ``member.pending`` (key ``ROUND_KEY``)
until the end of the review day; ``handlers.round_answers`` reads the rep's lines and logs each as
a follow-up. Once per rep and week (``ctx.claim``), across restarts and workers. The weekly review
lists who answered (their follow-ups since the round) and who did not (``round_section``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from bot.messages import CardSection, OutgoingMessage, Reply
from handlers.format import customer_name, cut, fmt_date, member_label
from handlers.jobs.base import JobContext
from models import reports
from models.activity import Activity, Kind
from models.member import Member
from models.parsing import sanitize_user_text
from models.pipeline import JobRun

JOB = "friday_round"
ROUND_KEY = "friday_round"  # the open round inside member.pending
MAX_ITEMS = 10  # customers asked about per rep; the rest are only counted
ANSWER_LINES = 5  # answers shown per rep in the weekly review
EXAMPLE = "1 已发合同 下周二签约"


def week_key(day: date) -> str:
    """'2026-W48': the ISO week the round and the review belong to."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _item(week: str, member_id: int) -> str:
    """The claim of one rep's round in one week."""
    return f"{week}:m{member_id}"


def _reasons(ctx: JobContext) -> dict[int, dict[int, tuple[str, str]]]:
    """owner id → customer id → (name, why it is asked about), overdue first, then stalled."""
    everyone = reports.deals(ctx)
    found: dict[int, dict[int, tuple[str, str]]] = {}
    for late in reports.overdue(ctx, everyone):
        deal = late.deal
        if deal.owner_id is not None:
            why = f"逾期：应于 {fmt_date(late.due.astimezone(ctx.now.tzinfo).date())} 跟进"
            found.setdefault(deal.owner_id, {})[deal.id] = (deal.name, why)
    for stuck in reports.stalled(ctx, everyone):
        deal = stuck.deal
        if deal.owner_id is None or not reports.is_open(deal):
            continue
        why = f"停滞：{deal.stage} {stuck.days} 个工作日没有进展"
        mine = found.setdefault(deal.owner_id, {})
        if deal.id in mine:
            mine[deal.id] = (deal.name, f"{mine[deal.id][1]}；{why}")
        else:
            mine[deal.id] = (deal.name, why)
    return found


def build_friday_round(ctx: JobContext) -> list[OutgoingMessage]:
    """One message per rep with stalled or overdue customers, each sent once per week."""
    today = ctx.now.date()
    week = week_key(today)
    expires = reports.day_end(ctx, today)
    members = reports.members_by_id(ctx)
    messages = []
    for owner_id, customers in _reasons(ctx).items():
        rep = members.get(owner_id)
        if rep is None or reports.is_away(rep, ctx.now) or not ctx.claim(_item(week, owner_id)):
            continue
        asked = list(customers.items())[:MAX_ITEMS]
        messages.append(_deliver(ctx, rep, _message(rep, asked, len(customers))))
        open_round(rep, week, [(cid, name) for cid, (name, _) in asked], expires)
    return messages


def _message(rep: Member, asked: list[tuple[int, tuple[str, str]]], total: int) -> OutgoingMessage:
    """The round's question to one rep: the customers numbered and how to answer."""
    reply = Reply()
    who = reply.mention(rep.user_id, member_label(rep))
    reply.line(f"📋 周五盘点 {who} 这些客户需要你更新一下进展：")
    for number, (_, (name, why)) in enumerate(asked, 1):
        reply.line(f"{number}. {customer_name(name)}｜{why}")
    if total > len(asked):
        reply.line(f"（另有 {total - len(asked)} 个，请用 /跟进 更新）")
    reply.line(
        "请每个客户回一行：序号（或客户名） 进展 下一步 日期，一条消息可写多行，"
        f"例如：{EXAMPLE}；今天内有效，周报会列出回复情况"
    )
    return reply.build()


def _deliver(ctx: JobContext, rep: Member, message: OutgoingMessage) -> OutgoingMessage:
    """In the group with an @ of ``rep``, or to the rep privately under /设置 提醒方式 私聊.

    Answered privately, the lines reach the same open round: the desk acts as the rep's member
    of this team chat (``handlers.desk``).
    """
    if ctx.config.private_nudges:
        return replace(message, to_user=rep.user_id)
    return message


def open_round(rep: Member, week: str, asked: list[tuple[int, str]], expires: datetime) -> None:
    """Keep the round open on the rep (beside any other open question or list cursor)."""
    state: dict[str, Any] = {
        "week": week,
        "customers": [[cid, name] for cid, name in asked],
        "expires_at": expires.isoformat(),
    }
    rep.pending = {**(rep.pending or {}), ROUND_KEY: state}


def round_section(ctx: JobContext, day: date, end: datetime) -> CardSection | None:
    """The weekly review's part: who got the round, their follow-ups since, and who is silent."""
    prefix = f"{week_key(day)}:m"
    rows = ctx.session.execute(
        select(JobRun.period, JobRun.created_at).where(
            JobRun.job == f"{JOB}#item",
            JobRun.chat_id == ctx.chat.id,
            JobRun.period.startswith(prefix),
        )
    ).all()
    if not rows:
        return None
    members = reports.members_by_id(ctx)
    answered, silent = [], []
    for period, sent in sorted(rows, key=lambda r: int(r[0][len(prefix) :])):
        rep = members.get(int(period[len(prefix) :]))
        if rep is None:
            continue
        found = ctx.session.execute(
            select(Activity.customer_name, Activity.text)
            .where(
                Activity.chat_id == ctx.chat.id,
                Activity.member_id == rep.id,
                Activity.kind == Kind.FOLLOW_UP,
                Activity.undone_at.is_(None),
                Activity.created_at >= sent,
                Activity.created_at <= end,
            )
            .order_by(Activity.id)
        ).all()
        if not found:
            silent.append(member_label(rep))
            continue
        answered.append(f"✅ {member_label(rep)}：")
        said = [f"· {customer_name(name)} {sanitize_user_text(text, 60)}" for name, text in found]
        answered += cut(said, ANSWER_LINES)
    lines = answered
    if silent:
        lines.append(f"⏳ 未回复：{'、'.join(silent)}")
    return CardSection(heading="📋 周五盘点", lines=lines)
