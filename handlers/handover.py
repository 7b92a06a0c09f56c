"""/交接 @离职的人 @接手的人 [客户…]: a manager moves someone's open customers to another rep.

Each moved customer is handed over like /分配: its response clock starts for the receiver
(``assigned_at``/``assigned_by_id``), so the response-SLA job reminds them, then the manager.
One message is one entry: /撤销 gives every customer back to its previous owner.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import OutgoingMessage, Reply
from handlers.absence import away_note
from handlers.common import next_follow_up
from handlers.context import Context
from handlers.format import customer_label, cut, member_label
from handlers.jobs.base import ChatSettings
from handlers.registry import CommandError, Group, command
from models.activity import Kind
from models.customer import Customer, live
from models.customers import Changes, move_stage
from models.member import Member
from models.parsing import split_first
from models.stages import Stage, Status


@command(
    "交接",
    aliases=("jj", "handover", "移交"),
    usage="/交接 @离职的人 @接手的人 [客户…]",
    summary="把一个人进行中的全部客户（或写出的几个）交给另一个人，接手人需在响应时限内跟进",
    example="/交接 @李四 @王五",
    who="经理",
    group=Group.MANAGE,
)
def handover(ctx: Context, args: str) -> OutgoingMessage:
    """Give the leaver's open (or the named) customers to the receiver in one entry."""
    ctx.require_manager("交接客户")
    people, rest = ctx.people(args, "找不到群成员 ＠，请先 @ 交出客户的人，再 @ 接手的人")
    if len(people) != 2:
        raise ctx.usage("请 @ 两个不同的人：先 @ 交出客户的人，再 @ 接手的人")
    leaver, receiver = people
    customers = _named(ctx, leaver, rest) if rest else _open_of(ctx, leaver)
    if not customers:
        raise CommandError(
            f"ℹ️ {member_label(leaver)} 名下没有进行中的客户，不用交接\n"
            f"例如：/交接 @{member_label(leaver)} @{member_label(receiver)} 客户名"
        )
    lines = []
    for customer in customers:
        changes = Changes()
        changes.set(
            customer, owner_id=receiver.id, assigned_at=ctx.now, assigned_by_id=ctx.sender.id
        )
        if customer.stage == Stage.LEAD:
            move_stage(customer, Stage.ASSIGNED, ctx.now, changes)
        ctx.log(
            customer,
            Kind.HANDOVER,
            changes,
            text=f"交接：{leaver.display} → {receiver.display}",
        )
        moved = changes.moved()
        stage = f"{moved[0]} → {moved[1]}" if moved else customer.stage
        due = next_follow_up(customer, ctx.now.tzinfo)
        lines.append(f"{customer_label(customer)}｜{stage}" + (f"｜下次跟进 {due}" if due else ""))
    hours = ChatSettings.resolve(ctx.settings, ctx.chat).sla_hours
    reply = Reply()
    reply.line(
        f"🤝 已把 {member_label(leaver)} 的 {len(customers)} 个客户交接给 "
        f"{ctx.mention(reply, receiver)}："
    )
    for line in cut([f"{i}. {line}" for i, line in enumerate(lines, 1)]):
        reply.line(line)
    reply.line(f"请在 {hours:g} 个工作小时内逐个跟进并用 /跟进 记录；交接错了请用 /撤销")
    note = away_note(receiver, ctx.now)
    if note:
        reply.line(note)
    return reply.build()


def _open_of(ctx: Context, member: Member) -> list[Customer]:
    """The member's open customers, oldest first."""
    return list(
        ctx.session.scalars(
            select(Customer)
            .where(
                Customer.chat_id == ctx.chat.id,
                live(),
                Customer.owner_id == member.id,
                Customer.status == Status.OPEN,
            )
            .order_by(Customer.id)
        )
    )


def _named(ctx: Context, leaver: Member, text: str) -> list[Customer]:
    """The customers written after the mentions; each must be the leaver's."""
    found: list[Customer] = []
    rest = text
    while rest:
        name, rest = split_first(rest)
        if not name:
            break
        customer, _ = ctx.customer(name)
        if customer.owner_id != leaver.id:
            raise CommandError(
                f"❌ {customer_label(customer)} 的负责人是 {member_label(customer.owner)}，"
                f"不是 {member_label(leaver)}，单个客户请用分配\n"
                f"例如：/分配 {customer_label(customer)} @某人"
            )
        if customer not in found:
            found.append(customer)
    return found
