"""/分配 客户 @某人: a manager hands a customer over."""

from __future__ import annotations

from bot.messages import OutgoingMessage, Reply
from handlers.absence import away_note
from handlers.context import Context
from handlers.format import customer_label, member_label
from handlers.jobs.base import ChatSettings
from handlers.registry import CommandError, command
from models.activity import Kind
from models.customers import Changes, move_stage
from models.parsing import split_first
from models.stages import Stage


@command(
    "分配",
    aliases=("fp", "assign", "转交"),
    usage="/分配 客户 @某人",
    summary="把客户交给某位销售，对方需在 2 个工作小时内跟进",
    example="/分配 华为 @李四",
    who="经理",
)
def assign(ctx: Context, args: str) -> OutgoingMessage:
    """Set the owner, move 线索 to 已分配 and start the response clock."""
    ctx.require_manager("分配客户")
    name, rest = split_first(args)
    if not name or name[0] in "@＠":
        raise ctx.usage("请先写客户名称，再 @ 负责人")
    owners, _ = ctx.people(rest, "找不到群成员 ＠，请用 @ 选择负责人")
    if len(owners) != 1:
        raise ctx.usage("请 @ 一位负责人")
    (owner,) = owners
    customer, _ = ctx.customer(name)
    if customer.owner_id == owner.id:
        raise CommandError(f"ℹ️ {customer_label(customer)} 的负责人已经是 {member_label(owner)}")
    changes = Changes()
    previous = customer.owner
    changes.set(customer, owner_id=owner.id, assigned_at=ctx.now, assigned_by_id=ctx.sender.id)
    if customer.stage == Stage.LEAD:
        move_stage(customer, Stage.ASSIGNED, ctx.now, changes)
    ctx.log(customer, Kind.ASSIGN, changes, text=f"分配给 {owner.display}")
    reply = Reply()
    moved = changes.moved()
    stage = f"（{moved[0]} → {moved[1]}）" if moved else ""
    handover = f"，原负责人 {member_label(previous)}" if previous else ""
    reply.line(
        f"✅ {customer_label(customer)} 已分配给 {ctx.mention(reply, owner)}{stage}{handover}"
    )
    hours = ChatSettings.resolve(ctx.settings, ctx.chat).sla_hours
    reply.line(f"请在 {hours:g} 个工作小时内跟进并用 /跟进 记录")
    note = away_note(owner, ctx.now)
    if note:
        reply.line(note)
    return reply.build()
