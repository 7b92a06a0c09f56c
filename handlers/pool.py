"""/公海 and /领取: the customers nobody owns, and a rep taking one of them.

What is in the pool, the claiming cap and the block on taking a reclaimed customer back are
``models.pool`` rules; the reclaim itself is the ``pool_reclaim`` job (handlers/jobs/reclaim.py).
"""

from __future__ import annotations

from bot.messages import OutgoingMessage, Reply
from handlers.claiming import check_claim
from handlers.context import Context
from handlers.format import customer_label, customer_name, fmt_date, fmt_money, member_label
from handlers.registry import CommandError, Group, command
from handlers.reports import report_context
from models import pool, reports
from models.activity import Kind
from models.customers import Changes, move_stage
from models.member import Member
from models.parsing import sanitize_user_text, split_first
from models.stages import Stage, Status

LIMIT = 15


def _cap_note(ctx: Context, owned: int) -> str:
    """'你现在有 3 个进行中的客户（上限 20 个）', the cap left out when there is none."""
    cap = ctx.settings.pool.max_open_per_rep
    return f"你现在有 {owned} 个进行中的客户" + (f"（上限 {cap} 个）" if cap else "")


def _entry_line(index: int, entry: pool.PoolEntry, members: dict[int, Member], ctx: Context) -> str:
    """'1. 华为｜跟进中｜50万｜12月1日(周二) 从 张三 收回' or '2. 小米｜线索｜11月20日(周五) 建档'."""
    parts = [f"{index}. {customer_name(entry.name)}", entry.stage]
    if entry.amount is not None:
        parts.append(fmt_money(entry.amount))
    when = fmt_date(reports.local_date(entry.waiting_since, ctx.now.tzinfo))
    if entry.released_at is not None:
        previous = members.get(entry.released_by_id) if entry.released_by_id else None
        parts.append(f"{when} 从 {member_label(previous)} 收回" if previous else f"{when} 收回")
    else:
        parts.append(f"{when} 建档")
    return "｜".join(parts)


@command(
    "公海",
    aliases=("gh", "pool"),
    usage="/公海",
    summary="没有负责人的客户（公海），阶段靠前、金额大的在前；用 /领取 领走",
    example="/公海",
    group=Group.VIEW,
)
def show_pool(ctx: Context, args: str) -> OutgoingMessage:
    """List the pool: open customers without an owner."""
    if args.strip():
        raise ctx.usage("/公海 后面不用写内容")
    scope = report_context(ctx)
    entries = pool.pool(scope)
    if not entries:
        return Reply().line("🌊 公海里没有客户：每个进行中的客户都有负责人").build()
    members = reports.members_by_id(scope)
    reply = Reply().line(f"🌊 公海客户（{len(entries)} 个），用 /领取 客户 领走：")
    for i, entry in enumerate(entries[:LIMIT], 1):
        reply.line(_entry_line(i, entry, members, ctx))
    if len(entries) > LIMIT:
        reply.line(f"还有 {len(entries) - LIMIT} 个…")
    return reply.build()


@command(
    "领取",
    aliases=("lq", "claim"),
    usage="/领取 客户",
    summary="从公海领取一个客户，由你负责（可设每人进行中客户上限）",
    example="/领取 华为",
    who="所有人（领给自己；交给别人用 /分配）",
)
def claim(ctx: Context, args: str) -> OutgoingMessage:
    """Make the sender the owner of a customer from the pool."""
    name, rest = split_first(args)
    if not name or name[0] in "@＠":
        raise ctx.usage("请写上要领取的客户名称")
    customer, rest = ctx.customer(name, rest)
    label = customer_label(customer)
    if rest.strip():
        if rest.strip()[0] in "@＠":
            raise ctx.usage("只能领取给自己；要交给别人请经理用 /分配 客户 @某人")
        raise ctx.usage(f"只写客户名称即可，看不懂“{sanitize_user_text(rest, 20)}”")
    if customer.owner_id == ctx.sender.id:
        raise CommandError(f"ℹ️ {label} 已经是你负责的客户")
    if customer.owner_id is not None:
        owner = member_label(customer.owner)
        raise ctx.usage(f"{label} 的负责人是 {owner}，不在公海；需要的话请经理用 /分配 转给你")
    if customer.status != Status.OPEN:
        raise ctx.usage(f"{label} 已是{customer.stage}，不在公海（公海只有进行中的客户）")
    owned = check_claim(ctx, customer)
    changes = Changes()
    changes.set(customer, owner_id=ctx.sender.id, last_activity_at=ctx.now)
    if customer.stage == Stage.LEAD:
        move_stage(customer, Stage.ASSIGNED, ctx.now, changes)
    ctx.log(customer, Kind.CLAIM, changes, text="从公海领取")
    moved = changes.moved()
    stage = f"{moved[0]} → {moved[1]}" if moved else customer.stage
    reply = Reply().line(f"✅ 你领取了 {label}｜{stage}｜{_cap_note(ctx, owned + 1)}")
    days = ctx.settings.pool.reclaim_days.get(customer.stage)
    if days:
        reply.line(f"请尽快用 /跟进 记录；{days} 个工作日没有跟进会退回公海")
    else:
        reply.line("请尽快用 /跟进 记录")
    return reply.build()
