"""/阶段 and the shortcuts /报价 /签约 /回款 /输单: explicit stage moves."""

from __future__ import annotations

from decimal import Decimal

from bot.messages import OutgoingMessage, Reply
from handlers.common import amount_problem, summary_line
from handlers.context import Context
from handlers.format import customer_label, fmt_money, fmt_paid
from handlers.registry import CommandError, UsageError, command
from models.activity import Kind
from models.customer import Customer
from models.customers import Changes, move_stage
from models.money import MAX_MONEY, Exact, find_amounts, leading_amount
from models.parsing import sanitize_user_text, split_first
from models.stages import (
    ALL_STAGES,
    Stage,
    fully_paid,
    parse_stage_name,
    payment_stage,
    stage_index,
)


def _target(ctx: Context, args: str, action: str) -> tuple[Customer, str]:
    """The customer named first in ``args`` (which the sender may change), and the rest."""
    name, rest = split_first(args)
    if not name:
        raise ctx.usage("请写上客户名称")
    customer, rest = ctx.customer(name, rest)
    ctx.require_can_change(customer, action)
    return customer, rest


def _leading_amount(ctx: Context, rest: str) -> tuple[Decimal | None, str]:
    """The exact amount that starts ``rest`` (``5万 首付``, ``¥30,000 尾款``) and the note.

    A first word that looks like money but is not exact (十多万, 5万美元, 很多钱) is asked about
    or refused; so is a note that holds an amount when none leads (签了 48万), which would
    otherwise be dropped.
    """
    reading, note = leading_amount(rest)
    if reading is None:
        stray = find_amounts(rest)
        if stray:
            shown = sanitize_user_text(stray[0].reading.text, 20)
            raise ctx.usage(f"金额“{shown}”请紧跟在客户名后面写")
        return None, rest
    if not isinstance(reading, Exact):
        raise amount_problem(ctx, reading)
    return reading.value, note


@command(
    "阶段",
    aliases=("jd", "stage"),
    usage="/阶段 客户 阶段 [备注]",
    summary="改客户阶段（可前进也可回退）：" + " → ".join(ALL_STAGES[:-1]) + "，或 输单",
    example="/阶段 华为 已报价",
    who="负责人、经理",
)
def stage(ctx: Context, args: str) -> OutgoingMessage:
    """Move a customer to any stage explicitly (corrections included)."""
    customer, rest = _target(ctx, args, "改阶段")
    word, note = split_first(rest)
    target = parse_stage_name(word) if word else None
    if target is None:
        raise ctx.usage("请写上阶段：" + "、".join(ALL_STAGES))
    if target == Stage.LOST and not note:
        raise UsageError("输单请写明原因", "/阶段 华为 输单 价格太高")
    return _move(ctx, customer, target, note)


def _settled(customer: Customer, target: Stage, amount: Decimal | None) -> Stage:
    """The payment rule: a won deal is 已回款 when its payments cover the contract, else 已签约."""
    if target not in (Stage.SIGNED, Stage.PAID):
        return target
    label = customer_label(customer)
    contract = amount if amount is not None else customer.amount
    paid = customer.paid_amount or Decimal(0)
    if contract is not None and paid > contract:
        raise CommandError(
            f"❌ 合同金额 {fmt_money(contract)} 少于已回款 {fmt_money(paid)}，请核对金额"
        )
    settled = payment_stage(contract, paid)
    if target == Stage.PAID and settled != Stage.PAID:
        raise CommandError(
            f"❌ {label} 还没有回款完毕（{fmt_paid(paid, contract)}）；"
            f"回款请用 /回款 {label} 金额 登记，回款够合同金额就是已回款"
        )
    if target == Stage.SIGNED and settled == Stage.PAID and amount is None:
        raise CommandError(
            f"ℹ️ {label} 已全部回款（{fmt_paid(paid, contract)}），所以在「已回款」阶段；"
            f"合同金额有变请用 /签约 {label} 金额 更新"
        )
    return settled


def _move(
    ctx: Context, customer: Customer, target: Stage, note: str, amount: Decimal | None = None
) -> OutgoingMessage:
    """Apply a stage move (plus amount and note) and build the reply."""
    kind = {Stage.SIGNED: Kind.WON, Stage.LOST: Kind.LOST}.get(target, Kind.STAGE)
    target = _settled(customer, target, amount)
    changes = Changes()
    if not move_stage(customer, target, ctx.now, changes) and amount is None:
        raise CommandError(f"ℹ️ {customer_label(customer)} 已经在「{target}」阶段")
    if target == Stage.LOST:
        changes.set(customer, lost_reason=note[:200])
    if amount is not None:
        changes.set(customer, amount=amount)
    changes.set(customer, last_activity_at=ctx.now)
    ctx.log(customer, kind, changes, text=note, amount=amount)
    reply = Reply().line(summary_line(ctx, customer, changes))
    if target == Stage.LOST:
        reply.line(f"原因：{sanitize_user_text(note, 100)}")
    return reply.build()


def move_to(ctx: Context, customer: Customer, target: Stage, note: str) -> OutgoingMessage:
    """/阶段 on a customer already found (the stage picked on a card's ✅ form)."""
    ctx.require_can_change(customer, "改阶段")
    if target == Stage.LOST and not note:
        raise UsageError("输单请写明原因", "/阶段 华为 输单 价格太高")
    return _move(ctx, customer, target, note)


def _forward(ctx: Context, customer: Customer, target: Stage) -> None:
    """Shortcuts only move forward; going back needs /阶段."""
    if customer.stage == Stage.LOST:
        raise CommandError(
            f"❌ {customer_label(customer)} 已输单；要恢复请用 /阶段 {customer_label(customer)} 跟进中"
        )
    if stage_index(customer.stage) > stage_index(target):
        raise CommandError(
            f"❌ {customer_label(customer)} 已在「{customer.stage}」阶段；"
            f"要回退请用 /阶段 {customer_label(customer)} {target}"
        )


@command(
    "报价",
    aliases=("bj", "quote"),
    usage="/报价 客户 [金额] [备注]",
    summary="标记已报价，可带报价金额",
    example="/报价 华为 50万",
    who="负责人、经理",
)
def quote(ctx: Context, args: str) -> OutgoingMessage:
    """Move to 已报价."""
    customer, rest = _target(ctx, args, "改阶段")
    _forward(ctx, customer, Stage.QUOTED)
    amount, note = _leading_amount(ctx, rest)
    return _move(ctx, customer, Stage.QUOTED, note, amount)


@command(
    "签约",
    aliases=("qy", "won", "赢单", "成交", "签单"),
    usage="/签约 客户 [合同金额] [备注]",
    summary="标记已签约（赢单），可带合同金额；已签约、已回款的客户再 /签约 可改合同金额",
    example="/签约 华为 48万",
    who="负责人、经理",
)
def won(ctx: Context, args: str) -> OutgoingMessage:
    """Move to 已签约, or change a won deal's contract amount (the stage follows the payments)."""
    customer, rest = _target(ctx, args, "改阶段")
    if customer.stage != Stage.PAID:
        _forward(ctx, customer, Stage.SIGNED)
    amount, note = _leading_amount(ctx, rest)
    return _move(ctx, customer, Stage.SIGNED, note, amount)


@command(
    "回款",
    aliases=("hk", "payment", "收款"),
    usage="/回款 客户 金额 [备注]",
    summary="登记一笔回款（可多次，累计）；累计够合同金额才算已回款，之前仍是已签约",
    example="/回款 华为 20万 首付款",
    who="负责人、经理",
)
def payment(ctx: Context, args: str) -> OutgoingMessage:
    """Record a payment: the deal is 已签约 until the payments cover the contract, then 已回款."""
    customer, rest = _target(ctx, args, "登记回款")
    amount, note = _leading_amount(ctx, rest)
    if amount is None:
        raise ctx.usage("请写上回款金额")
    if customer.stage == Stage.LOST:
        raise CommandError(
            f"❌ {customer_label(customer)} 已输单；要恢复请用 /阶段 {customer_label(customer)} 已签约"
        )
    total_paid = (customer.paid_amount or Decimal(0)) + amount
    if total_paid >= MAX_MONEY:
        raise ctx.usage("累计回款金额太大了，请检查金额")
    label, contract = customer_label(customer), customer.amount
    if contract is not None and total_paid > contract:
        raise CommandError(
            f"❌ 累计回款 {fmt_money(total_paid)} 会超过合同金额 {fmt_money(contract)}，请核对金额；"
            f"合同金额有变请先用 /签约 {label} 金额 更新"
        )
    changes = Changes()
    changes.set(customer, paid_amount=total_paid, last_activity_at=ctx.now)
    if customer.stage != Stage.AFTER_SALES:
        move_stage(customer, payment_stage(contract, total_paid), ctx.now, changes)
    ctx.log(customer, Kind.PAYMENT, changes, text=note, amount=amount)
    reply = Reply().line(summary_line(ctx, customer, changes) + f"｜回款 {fmt_money(amount)}")
    if contract is None:
        reply.line(
            f"累计回款 {fmt_money(total_paid)}；合同金额未填，"
            f"填上才能判断是否回款完毕：/签约 {label} 金额"
        )
    elif fully_paid(contract, total_paid):
        reply.line(f"累计{fmt_paid(total_paid, contract)}，已全部回款")
    else:
        reply.line(f"累计{fmt_paid(total_paid, contract)}，还差 {fmt_money(contract - total_paid)}")
    return reply.build()


@command(
    "输单",
    aliases=("sd", "lost", "丢单"),
    usage="/输单 客户 原因",
    summary="标记输单，需写原因",
    example="/输单 华为 价格太高",
    who="负责人、经理",
)
def lost(ctx: Context, args: str) -> OutgoingMessage:
    """Move to 输单 with a reason."""
    customer, note = _target(ctx, args, "标记输单")
    if not note:
        raise ctx.usage("请写明输单原因")
    if customer.stage == Stage.LOST:
        raise CommandError(f"ℹ️ {customer_label(customer)} 已经是输单状态")
    return _move(ctx, customer, Stage.LOST, note)
