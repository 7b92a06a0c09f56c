"""The lead pool's rules for taking an unowned customer (/领取, or a first /跟进 on it).

Kept apart from the /公海 /领取 command module so /跟进 can use it without importing a command
(commands register in import order, which is /帮助's order).
"""

from __future__ import annotations

from handlers.context import Context
from handlers.format import customer_label, fmt_date
from models import pool
from models.calendar import calendar_from_settings
from models.customer import Customer


def check_claim(ctx: Context, customer: Customer) -> int:
    """Refuse the sender taking an unowned customer (/领取, or a first /跟进) over the pool rules.

    The owner it was reclaimed from waits ``block_days`` working days; nobody takes one more
    at the ``max_open_per_rep`` cap. Returns the open customers the sender owns now.
    """
    label = customer_label(customer)
    block = ctx.settings.pool.block_days
    calendar = calendar_from_settings(ctx.settings.calendar)
    until = pool.blocked_until(customer, ctx.sender.id, calendar, block, ctx.now.tzinfo)
    if until is not None and ctx.now.date() < until:
        raise ctx.usage(
            f"{label} 是因为久未跟进从你这里收回的，{fmt_date(until)} 起才能再领取"
            f"（收回后 {block} 个工作日内原负责人不能领回）"
        )
    owned = pool.open_count(ctx.session, ctx.chat.id, ctx.sender.id)
    cap = ctx.settings.pool.max_open_per_rep
    if cap and owned >= cap:
        raise ctx.usage(
            f"你已有 {owned} 个进行中的客户，达到每人上限 {cap} 个；请先推进、签约或交还一些再领取"
        )
    return owned
