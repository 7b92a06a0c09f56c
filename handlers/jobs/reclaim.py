"""Pool reclaim: an owner's customer left without follow-up goes back to the lead pool (公海).

Off until ``[pool] reclaim_days`` gives a stage a limit. Which customers are neglected is
``models.pool.neglected``: the owner is @-mentioned once two working days before the limit,
and at the limit (never sooner than two working days after that warning) the customer loses its
owner, with one group notice listing what returned. The release is an activity by nobody with
its changes recorded; the previous owner may not claim it back for ``block_days`` working days.
Customers of an owner on leave (/请假) are neither warned about nor reclaimed.
"""

from __future__ import annotations

from datetime import UTC, date

from sqlalchemy import select

from bot.messages import Card, CardSection, OutgoingMessage, Reply
from handlers.format import customer_label, cut, fmt_date, member_label
from handlers.jobs.base import JobContext
from models import pool, reports
from models.activity import Activity, Kind
from models.customer import Customer
from models.customers import Changes
from models.member import Member
from models.pipeline import JobRun

MAX_ITEMS = 15


def _warned_on(ctx: JobContext, item: str) -> date | None:
    """The local day the once-only ``item`` was claimed by an earlier run, if it was."""
    at = ctx.session.scalars(
        select(JobRun.created_at).where(
            JobRun.job == f"{ctx.job}#item", JobRun.chat_id == ctx.chat.id, JobRun.period == item
        )
    ).first()
    return reports.local_date(at, ctx.now.tzinfo) if at is not None else None


def _release(ctx: JobContext, customer: Customer, owner: Member, text: str) -> None:
    """Take the customer from its owner into the pool, logged (by nobody) with its changes."""
    changes = Changes()
    changes.set(customer, owner_id=None, released_at=ctx.now, released_by_id=owner.id)
    ctx.session.add(
        Activity(
            chat_id=customer.chat_id,
            customer_id=customer.id,
            customer_name=customer.name,
            member_id=None,
            kind=Kind.RELEASE,
            text=text,
            changes=dict(changes),
            entry_key=f"job:{ctx.job}:{customer.id}:{ctx.now.astimezone(UTC).isoformat()}",
            created_at=ctx.now,
        )
    )


def build_reclaim(ctx: JobContext) -> list[OutgoingMessage]:
    """Warn owners of neglected customers once, then return those past the limit to the pool."""
    limits = ctx.config.reclaim_days
    neglected = pool.neglected(ctx, limits)
    if not neglected:
        return []
    members = reports.members_by_id(ctx)
    today = ctx.now.date()
    reply = Reply()
    warned: list[str] = []
    released: list[str] = []
    for item in neglected:
        customer = item.customer
        owner = members.get(customer.owner_id) if customer.owner_id is not None else None
        if owner is None or reports.is_away(owner, ctx.now):
            continue
        since = reports.local_date(item.since, ctx.now.tzinfo)
        due = ctx.calendar.add_workdays(since, item.limit)
        key = f"c{customer.id}:{item.since.astimezone(UTC):%Y%m%d%H%M%S}:warn"
        warned_on = _warned_on(ctx, key)
        name = customer_label(customer)
        if warned_on is None:
            ctx.claim(key)
            due = max(due, ctx.calendar.add_workdays(today, pool.WARN_AHEAD))
            warned.append(
                f"{reply.mention(owner.user_id, member_label(owner))} {name}｜{customer.stage}｜"
                f"{item.days} 个工作日没有跟进，{fmt_date(due)} 将退回公海，请尽快用 /跟进 记录"
            )
            continue
        if today < max(due, ctx.calendar.add_workdays(warned_on, pool.WARN_AHEAD)):
            continue
        text = f"{item.days} 个工作日没有跟进（{customer.stage} 时限 {item.limit} 天）"
        _release(ctx, customer, owner, text)
        released.append(f"{name}｜{customer.stage}｜{text}，原负责人 {member_label(owner)}")
    sections = []
    if warned:
        sections.append(CardSection(heading="即将退回公海", lines=cut(warned, MAX_ITEMS)))
    if released:
        lines = [*cut(released, MAX_ITEMS), "用 /公海 查看，/领取 客户 领走"]
        sections.append(CardSection(heading=f"已退回公海（{len(released)} 个）", lines=lines))
    if not sections:
        return []
    message = reply.build()
    message.card = Card(title="🌊 公海回收", sections=sections)
    return [message]
