"""/我的 and /待办: a rep's own customers, most urgent first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.messages import Reply
from handlers.common import end_of_day, next_follow_up, start_of_day
from handlers.context import Context
from handlers.format import customer_label, fmt_ago
from handlers.registry import command
from models.customer import Customer
from models.customers import follow_up_deadline

LIMIT = 20


def _urgency(customer: Customer, now: datetime) -> tuple[int, float]:
    """Sort key: overdue, due today, later, then no date (longest silent first)."""
    due = customer.next_follow_up_at
    if due is not None:
        if follow_up_deadline(customer, now.tzinfo) <= now:
            return 0, due.timestamp()
        if due < end_of_day(now):
            return 1, due.timestamp()
        return 2, due.timestamp()
    last = customer.last_activity_at or customer.created_at
    return 3, last.timestamp()


def _line(index: int, customer: Customer, now: datetime) -> str:
    """One customer with what is urgent about it."""
    rank, _ = _urgency(customer, now)
    due = next_follow_up(customer, now.tzinfo)
    if rank == 0:
        days = (
            start_of_day(now).date() - customer.next_follow_up_at.astimezone(now.tzinfo).date()
        ).days
        state = f"⚠️ 逾期{f' {days} 天' if days > 0 else ''}（{due}）"
    elif rank == 1:
        state = f"📌 今天到期（{due}）"
    elif rank == 2:
        state = f"下次 {due}"
    else:
        last = customer.last_activity_at or customer.created_at
        days = (now.date() - last.astimezone(now.tzinfo).date()).days
        state = f"未设下次跟进，最近动态 {fmt_ago(days)}"
    return f"{index}. {customer_label(customer)}｜{customer.stage}｜{state}"


def _mine(ctx: Context) -> list[Customer]:
    """The sender's open customers, most urgent first."""
    rows = ctx.session.scalars(
        select(Customer).where(
            Customer.chat_id == ctx.chat.id,
            Customer.owner_id == ctx.sender.id,
            Customer.status != "lost",
            Customer.stage != "售后",
        )
    ).all()
    return sorted(rows, key=lambda c: _urgency(c, ctx.now))


def _listing(ctx: Context, title: str, customers: list[Customer], empty: str) -> Reply:
    """A numbered list cut to LIMIT with a '还有 N 个' line."""
    reply = Reply()
    if not customers:
        return reply.line(empty)
    reply.line(f"{title}（{len(customers)} 个）：")
    for i, customer in enumerate(customers[:LIMIT], 1):
        reply.line(_line(i, customer, ctx.now))
    if len(customers) > LIMIT:
        reply.line(f"还有 {len(customers) - LIMIT} 个…")
    return reply


@command(
    "我的",
    aliases=("wd", "mine", "my", "我的客户"),
    usage="/我的",
    summary="我负责的客户，逾期和今天到期的排在前面",
    example="/我的",
    group="查看",
)
def mine(ctx: Context, args: str) -> Reply:
    """List the sender's customers by urgency."""
    return _listing(
        ctx, "你负责的客户", _mine(ctx), "你还没有负责的客户。用 /跟进 客户 内容 记录第一条跟进吧"
    )


@command(
    "待办",
    aliases=("db", "todo"),
    usage="/待办",
    summary="今天要跟进和已经逾期的客户",
    example="/待办",
    group="查看",
)
def todo(ctx: Context, args: str) -> Reply:
    """What is due today or overdue for the sender."""
    due = [c for c in _mine(ctx) if _urgency(c, ctx.now)[0] <= 1]
    return _listing(ctx, "今天的待办", due, "🎉 今天没有到期或逾期的客户")
