"""/新客户 客户 [@负责人] [金额] [来源]: register a lead."""

from __future__ import annotations

from bot.messages import OutgoingMessage, Reply
from handlers.common import amount_problem, check_new_name, summary_line
from handlers.context import Context
from handlers.format import customer_label, fmt_money, member_label
from handlers.registry import CommandError, command
from models.activity import Kind
from models.customer import Customer
from models.customers import CREATED, Changes
from models.money import Exact, find_amounts, split_words, word_reading
from models.parsing import normalize_name, sanitize_user_text, split_first
from models.stages import Stage, Status


@command(
    "新客户",
    aliases=("xkh", "new", "新建", "加客户"),
    usage="/新客户 客户 [@负责人] [金额] [来源]",
    summary="登记新客户；写了负责人就直接分配（只有经理能指定别人）",
    example="/新客户 华为 @张三 50万 展会",
)
def new_customer(ctx: Context, args: str) -> OutgoingMessage:
    """Create a customer at 线索, or at 已分配 when an owner is named."""
    name, rest = split_first(args)
    if not name:
        raise ctx.usage("请写上客户名称")
    name = check_new_name(ctx, name)
    owners, rest = ctx.people(rest, "找不到群成员 ＠，请用 @ 选择负责人")
    if len(owners) > 1:
        raise ctx.usage("只能指定一位负责人")
    other, _ = ctx.customer_or_new(name, new=True)  # a typo of a known name is asked about
    if other is not None:
        raise CommandError(
            f"❌ 客户 {customer_label(other)} 已存在（负责人 {member_label(other.owner)}，"
            f"阶段 {other.stage}），记录进展请用 /跟进 {customer_label(other)} 内容"
        )
    owner = owners[0] if owners else None
    amount = None
    source: list[str] = []
    for start, end in split_words(rest):
        word = rest[start:end]
        if (reading := word_reading(word)) is not None:
            if not isinstance(reading, Exact):
                raise amount_problem(ctx, reading)
            if amount is not None:
                raise ctx.usage("只能写一个金额")
            amount = reading.value
        else:
            source.append(word)
    # A figure glued to other words (展会预算50万) is not a 来源: say so rather than store it there.
    stray = find_amounts(" ".join(source))
    if stray:
        shown = sanitize_user_text(stray[0].reading.text, 20)
        raise ctx.usage(f"金额“{shown}”请单独写，用空格和来源隔开")
    if owner is not None and owner.id != ctx.sender.id:
        ctx.require_manager("把客户分配给别人")
    customer = Customer(
        chat_id=ctx.chat.id,
        name=name,
        key=normalize_name(name),
        aliases=[],
        owner_id=owner.id if owner else None,
        stage=Stage.ASSIGNED if owner else Stage.LEAD,
        status=Status.OPEN,
        source=" ".join(source)[:100],
        amount=amount,
        created_at=ctx.now,
        stage_entered_at=ctx.now,
        assigned_at=ctx.now if owner else None,
        assigned_by_id=ctx.sender.id if owner else None,
        last_activity_at=ctx.now,
    )
    ctx.session.add(customer)
    ctx.session.flush()
    ctx.log(
        customer,
        Kind.CREATE,
        Changes({CREATED: [None, True]}),
        stage_to=customer.stage,
        amount=amount,
    )
    reply = Reply()
    line = summary_line(ctx, customer, Changes(), prefix="🆕 新客户")
    details = []
    if owner is not None:
        details.append(f"负责人 {ctx.mention(reply, owner)}")
    if amount is not None:
        details.append(f"金额 {fmt_money(amount)}")
    if customer.source:
        details.append(f"来源 {sanitize_user_text(customer.source, 40)}")
    reply.line("｜".join([line, *details]))
    if owner is None:
        reply.line(f"经理可用 /分配 {customer_label(customer)} @某人 指定负责人")
    return reply.build()
