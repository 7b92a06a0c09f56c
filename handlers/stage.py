"""/阶段 and the shortcuts /报价 /签约 /回款 /输单: explicit stage moves."""

from __future__ import annotations

import re
from decimal import Decimal

from bot.messages import Reply
from handlers.common import summary_line
from handlers.context import Context
from handlers.format import customer_label, fmt_money
from handlers.registry import CommandError, UsageError, command
from models.customer import Customer
from models.customers import Changes, move_stage
from models.parsing import MAX_MONEY, parse_amount, sanitize_user_text, split_first
from models.stages import ALL_STAGES, LOST, parse_stage_name, stage_index

# A leading amount with thousands separators: ¥30,000 / 30,000元 / 1,200.50.
_GROUPED_AMOUNT = re.compile(r"[¥￥]?\s*\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:元|块)?")


def _target(ctx: Context, args: str, action: str) -> tuple[Customer, str]:
    """The customer named first in ``args`` (which the sender may change), and the rest."""
    name, rest = split_first(args)
    if not name:
        raise ctx.usage("请写上客户名称")
    customer, rest = ctx.find_customer(name, rest)
    ctx.require_can_change(customer, action)
    return customer, rest


def _leading_amount(rest: str) -> tuple[Decimal | None, str]:
    """An amount at the start of ``rest`` (``5万 首付``, ``¥30,000 尾款``), and the remaining note."""
    grouped = _GROUPED_AMOUNT.match(rest)
    if grouped:  # split_first would cut ¥30,000 at its comma
        word, tail = grouped.group(), rest[grouped.end() :].lstrip(" ,:;、")
    else:
        word, tail = split_first(rest)
    amount = parse_amount(word) if word else None
    return (amount, tail) if amount is not None else (None, rest)


@command(
    "阶段",
    aliases=("jd", "stage"),
    usage="/阶段 客户 阶段 [备注]",
    summary="改客户阶段（可前进也可回退）：" + " → ".join(ALL_STAGES[:-1]) + "，或 输单",
    example="/阶段 华为 已报价",
    who="负责人、经理",
)
def stage(ctx: Context, args: str) -> Reply:
    """Move a customer to any stage explicitly (corrections included)."""
    customer, rest = _target(ctx, args, "改阶段")
    word, note = split_first(rest)
    target = parse_stage_name(word) if word else None
    if target is None:
        raise ctx.usage("请写上阶段：" + "、".join(ALL_STAGES))
    if target == LOST and not note:
        raise UsageError("输单请写明原因", "/阶段 华为 输单 价格太高")
    return _move(ctx, customer, target, note)


def _move(
    ctx: Context, customer: Customer, target: str, note: str, amount: Decimal | None = None
) -> Reply:
    """Apply a stage move (plus amount and note) and build the reply."""
    changes = Changes()
    if not move_stage(customer, target, ctx.now, changes) and amount is None:
        raise CommandError(f"ℹ️ {customer_label(customer)} 已经在「{target}」阶段")
    if target == LOST:
        changes.set(customer, lost_reason=note[:200])
    if amount is not None:
        changes.set(customer, amount=amount)
    changes.set(customer, last_activity_at=ctx.now)
    kind = {"已签约": "won", LOST: "lost"}.get(target, "stage")
    ctx.log(customer, kind, changes, text=note, amount=amount)
    reply = Reply().line(summary_line(ctx, customer, changes))
    if target == LOST:
        reply.line(f"原因：{sanitize_user_text(note, 100)}")
    return reply


def _forward(ctx: Context, customer: Customer, target: str) -> None:
    """Shortcuts only move forward; going back needs /阶段."""
    if customer.stage == LOST:
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
def quote(ctx: Context, args: str) -> Reply:
    """Move to 已报价."""
    customer, rest = _target(ctx, args, "改阶段")
    _forward(ctx, customer, "已报价")
    amount, note = _leading_amount(rest)
    return _move(ctx, customer, "已报价", note, amount)


@command(
    "签约",
    aliases=("qy", "won", "赢单", "成交", "签单"),
    usage="/签约 客户 [合同金额] [备注]",
    summary="标记已签约（赢单），可带合同金额",
    example="/签约 华为 48万",
    who="负责人、经理",
)
def won(ctx: Context, args: str) -> Reply:
    """Move to 已签约."""
    customer, rest = _target(ctx, args, "改阶段")
    _forward(ctx, customer, "已签约")
    amount, note = _leading_amount(rest)
    return _move(ctx, customer, "已签约", note, amount)


@command(
    "回款",
    aliases=("hk", "payment", "收款"),
    usage="/回款 客户 金额 [备注]",
    summary="登记一笔回款（可多次，累计）",
    example="/回款 华为 20万 首付款",
    who="负责人、经理",
)
def payment(ctx: Context, args: str) -> Reply:
    """Record a payment; the first one moves the customer to 已回款."""
    customer, rest = _target(ctx, args, "登记回款")
    amount, note = _leading_amount(rest)
    if amount is None:
        raise ctx.usage("请写上回款金额")
    if customer.stage == LOST:
        raise CommandError(
            f"❌ {customer_label(customer)} 已输单；要恢复请用 /阶段 {customer_label(customer)} 已签约"
        )
    total_paid = (customer.paid_amount or Decimal(0)) + amount
    if total_paid >= MAX_MONEY:
        raise ctx.usage("累计回款金额太大了，请检查金额")
    changes = Changes()
    if stage_index(customer.stage) < stage_index("已回款"):
        move_stage(customer, "已回款", ctx.now, changes)
    changes.set(
        customer,
        paid_amount=total_paid,
        last_activity_at=ctx.now,
    )
    ctx.log(customer, "payment", changes, text=note, amount=amount)
    reply = Reply().line(summary_line(ctx, customer, changes) + f"｜回款 {fmt_money(amount)}")
    total = f"累计回款 {fmt_money(customer.paid_amount)}"
    if customer.amount:
        total += f" / 合同 {fmt_money(customer.amount)}"
    reply.line(total)
    return reply


@command(
    "输单",
    aliases=("sd", "lost", "丢单"),
    usage="/输单 客户 原因",
    summary="标记输单，需写原因",
    example="/输单 华为 价格太高",
    who="负责人、经理",
)
def lost(ctx: Context, args: str) -> Reply:
    """Move to 输单 with a reason."""
    customer, note = _target(ctx, args, "标记输单")
    if not note:
        raise ctx.usage("请写明输单原因")
    if customer.stage == LOST:
        raise CommandError(f"ℹ️ {customer_label(customer)} 已经是输单状态")
    return _move(ctx, customer, LOST, note)
