"""/合并 甲 到 乙: two records of one customer become one (乙); the rule is in models.customers."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from bot.messages import OutgoingMessage, Reply
from handlers.common import next_follow_up
from handlers.context import Context
from handlers.format import customer_label, customer_name, fmt_money, member_label
from handlers.registry import CommandError, Group, command
from models.activity import Activity, Kind
from models.customer import Customer
from models.customers import MOVED, Changes, merge_into
from models.member import Member
from models.parsing import sanitize_user_text, split_first

_INTO = ("到", "进", "入", "并入", "合并到", "→", "->", "=>")


@command(
    "合并",
    aliases=("hb", "merge", "合并客户"),
    usage="/合并 甲 到 乙",
    summary=(
        "同一客户录了两次时，把甲的记录、别名、金额和回款并到乙，甲删除；"
        "金额回款相加，阶段取进展更远的，负责人用乙的（乙没有时用甲的）"
    ),
    example="/合并 华为技术 到 华为",
    who="经理；负责人可合并自己的两个客户",
    group=Group.MANAGE,
)
def merge(ctx: Context, args: str) -> OutgoingMessage:
    """Merge one customer into another (undone by /撤销)."""
    first, rest = split_first(args)
    word, tail = split_first(rest)
    second, extra = split_first(tail) if word in _INTO else (word, tail)
    if not first or not second:
        raise ctx.usage("请写上两个客户：前一个合并到后一个")
    if extra:
        raise ctx.usage(f"多写了“{sanitize_user_text(extra, 20)}”，一次只能合并两个客户")
    source, _ = ctx.customer(first)
    target, _ = ctx.customer(second)
    if source.id == target.id:
        raise CommandError(
            f"ℹ️ “{sanitize_user_text(first, 30)}”和“{sanitize_user_text(second, 30)}”"
            f"已经是同一个客户 {customer_label(target)}"
        )
    ctx.require_can_change(source, "合并")
    ctx.require_can_change(target, "合并")
    before = _Snapshot(source, target)
    gone, into = merge_into(ctx.session, source, target, ctx.now)
    text = f"合并 {source.name} 到 {target.name}"
    # Not a stage move of its own: the moves that got 甲 there are in the activities it brings.
    ctx.log(target, Kind.MERGE, into, text=text, stage_from=None, stage_to=None)
    ctx.log(source, Kind.MERGE, gone, text=text)
    return _reply(ctx, before, source, target, into)


class _Snapshot:
    """What the reply compares with: both customers' values before the merge."""

    def __init__(self, source: Customer, target: Customer) -> None:
        self.source_name = source.name
        self.source_owner: Member | None = source.owner
        self.target_owner: Member | None = target.owner
        self.amounts = (source.amount, target.amount)
        self.paid = (source.paid_amount or Decimal(0), target.paid_amount or Decimal(0))
        self.stages = (source.stage, target.stage)


def _reply(
    ctx: Context, before: _Snapshot, source: Customer, target: Customer, into: Changes
) -> OutgoingMessage:
    """Every value the merge moved or decided, as understood."""
    src, dst = customer_name(before.source_name), customer_label(target)
    reply = Reply().line(f"🔗 已把 {src} 合并到 {dst}")
    moved = into.get(MOVED, [None, []])[1]
    kinds: list[str] = []
    if moved:  # the live records: an undone one (an earlier merge's) moves but is not counted
        kinds = list(
            ctx.session.scalars(
                select(Activity.kind).where(Activity.id.in_(moved), Activity.undone_at.is_(None))
            )
        )
    payments = sum(1 for k in kinds if k == Kind.PAYMENT)
    records = f"{len(kinds)} 条记录" + (f"（含 {payments} 次回款）" if payments else "")
    added = [a for a in target.aliases if a not in (into.get("aliases", [[]])[0] or [])]
    names = "、".join(sanitize_user_text(a, 40) for a in added)
    reply.line(f"转入：{records}" + (f"｜别名 {names}" if names else ""))
    if before.amounts[0] is not None or before.paid[0]:
        reply.line(
            f"金额 {fmt_money(before.amounts[0])} + {fmt_money(before.amounts[1])} = "
            f"{fmt_money(target.amount)}｜已回款 {fmt_money(before.paid[0])} + "
            f"{fmt_money(before.paid[1])} = {fmt_money(target.paid_amount)}"
        )
    stage = f"阶段 {target.stage}"
    if "stage" in into:
        stage = f"阶段 {before.stages[1]} → {target.stage}（{src} 是 {before.stages[0]}）"
    # owner_id may have just changed: the loaded relationship would still show the old one.
    current = ctx.session.get(Member, target.owner_id) if target.owner_id is not None else None
    owner = f"负责人 {member_label(current)}"
    if "owner_id" in into:
        owner += f"（{dst} 原来没有负责人，用 {src} 的）"
    elif before.source_owner is not None and before.source_owner.id != target.owner_id:
        owner += f"（{src} 原负责人 {member_label(before.source_owner)} 不再负责）"
    reply.line(f"{stage}｜{owner}")
    if "next_follow_up_at" in into:
        due = next_follow_up(target, ctx.now.tzinfo)
        reply.line(f"下次跟进 {due}" if due else "已清除下次跟进（已成交或输单）")
    reply.line(f"{src} 已并入，不再单独出现；合并错了请用 /撤销")
    return reply.build()
