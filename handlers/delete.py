"""/删除 客户 原因 and /恢复 客户: a manager hides a customer everywhere, or brings it back.

Deleting is soft (``customer.deleted_at``): the customer and its history stay, but no list,
lookup, report, digest or job shows it (``models.customer.live``). Its name stays taken, so
/新客户 or /跟进 with that name is refused with a pointer to /恢复.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import OutgoingMessage, Reply
from handlers.context import Context
from handlers.format import customer_label, customer_name, member_label
from handlers.lookup import candidates
from handlers.registry import CommandError, Group, command
from models.activity import Kind
from models.customer import Customer
from models.customers import MERGED_KEY, Changes
from models.names import Candidate, match_name
from models.parsing import normalize_name, sanitize_user_text, split_first

SHOWN = 5


@command(
    "删除",
    aliases=("sc", "delete", "删除客户", "删客户"),
    usage="/删除 客户 原因",
    summary="删除录错或重复的客户（写明原因）；它从所有列表、报表和提醒中消失，可用 /恢复 找回",
    example="/删除 测试客户 录入错误",
    who="经理",
    group=Group.MANAGE,
)
def delete(ctx: Context, args: str) -> OutgoingMessage:
    """Soft-delete a customer (undone by /撤销 or /恢复)."""
    ctx.require_manager("删除客户")
    name, rest = split_first(args)
    if not name:
        raise ctx.usage("请写上客户名称和删除原因")
    customer, reason = ctx.customer(name, rest)
    if not reason:
        raise ctx.usage(f"请写上删除 {customer_label(customer)} 的原因")
    changes = Changes()
    changes.set(customer, deleted_at=ctx.now)
    ctx.log(customer, Kind.DELETE, changes, text=reason[:200])
    label = customer_label(customer)
    return (
        Reply()
        .line(
            f"🗑️ 已删除客户 {label}｜负责人 {member_label(customer.owner)}｜阶段 {customer.stage}"
            f"｜原因：{sanitize_user_text(reason, 60)}"
        )
        .line(f"它不再出现在列表、报表和提醒中；找回请用 /恢复 {label}")
        .build()
    )


@command(
    "恢复",
    aliases=("hf", "restore", "恢复客户"),
    usage="/恢复 客户",
    summary="找回被删除的客户，连同它的全部记录",
    example="/恢复 测试客户",
    who="经理",
    group=Group.MANAGE,
)
def restore(ctx: Context, args: str) -> OutgoingMessage:
    """Bring a deleted customer back, as it was."""
    ctx.require_manager("恢复客户")
    name, _ = split_first(args)
    deleted = _deleted(ctx)
    if not name:
        raise ctx.usage(f"请写上要恢复的客户名称{_listing(deleted)}")
    customer = _find_deleted(ctx, name, deleted)
    changes = Changes()
    dropped = _drop_taken_aliases(ctx, customer, changes)
    changes.set(customer, deleted_at=None)
    ctx.log(customer, Kind.RESTORE, changes)
    reply = Reply().line(
        f"♻️ 已恢复客户 {customer_label(customer)}｜负责人 {member_label(customer.owner)}"
        f"｜阶段 {customer.stage}"
    )
    if dropped:
        shown = "、".join(sanitize_user_text(a, 40) for a in dropped)
        reply.line(f"（别名 {shown} 已被其他客户使用，已去掉）")
    return reply.build()


def _deleted(ctx: Context) -> list[Customer]:
    """The chat's deleted customers (merged ones are undone by /撤销, not here), latest first."""
    return list(
        ctx.session.scalars(
            select(Customer)
            .where(
                Customer.chat_id == ctx.chat.id,
                Customer.deleted_at.is_not(None),
                Customer.key.not_like(f"{MERGED_KEY}%"),
            )
            .order_by(Customer.deleted_at.desc(), Customer.id.desc())
        )
    )


def _listing(deleted: list[Customer]) -> str:
    """'（已删除的客户：甲、乙）' or '（现在没有已删除的客户）'."""
    if not deleted:
        return "（现在没有已删除的客户）"
    names = "、".join(customer_label(c) for c in deleted[:SHOWN])
    more = f" 等 {len(deleted)} 个" if len(deleted) > SHOWN else ""
    return f"（已删除的客户：{names}{more}）"


def _find_deleted(ctx: Context, name: str, deleted: list[Customer]) -> Customer:
    """The deleted customer a typed name means; refuses with the likely names otherwise."""
    shown = sanitize_user_text(name, 30)
    live = match_name(name, candidates(ctx))
    if live.kind in ("exact", "alias", "core") and live.name is not None:
        raise CommandError(
            f"ℹ️ “{shown}”是客户 {customer_name(live.name)}，没有被删除\n"
            f"例如：/客户 {customer_name(live.name)}"
        )
    by_id = {c.id: c for c in deleted}
    cands = [Candidate(c.id, c.name, tuple(c.aliases or ())) for c in deleted]
    match = match_name(name, cands)
    if match.kind in ("exact", "alias", "core") and match.key is not None:
        return by_id[match.key]
    names = [c.name for c in match.options]
    if not names and match.key is not None:
        names = [by_id[match.key].name]
    if names:
        first = customer_name(names[0])
        listed = "、".join(customer_name(n) for n in names[:SHOWN])
        raise CommandError(
            f"🤔 没有已删除的客户叫“{shown}”，是指 {listed} 吗？请写全名\n例如：/恢复 {first}"
        )
    example = customer_label(deleted[0]) if deleted else "测试客户"
    raise CommandError(
        f"❌ 没有找到已删除的客户“{shown}”{_listing(deleted)}\n例如：/恢复 {example}"
    )


def _drop_taken_aliases(ctx: Context, customer: Customer, changes: Changes) -> list[str]:
    """Aliases another customer took while this one was deleted: dropped, and returned."""
    taken = {
        normalize_name(n) for cand in candidates(ctx) if cand.key != customer.id for n in cand.names
    }
    aliases = list(customer.aliases or [])
    dropped = [a for a in aliases if normalize_name(a) in taken]
    if dropped:
        changes.set(customer, aliases=[a for a in aliases if a not in dropped])
    return dropped
