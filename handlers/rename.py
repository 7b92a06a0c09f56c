"""/改名 旧名 新名: correct a customer's name; the old name stays an alias."""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import OutgoingMessage
from handlers.common import check_new_name
from handlers.context import Context
from handlers.format import customer_label, customer_name
from handlers.lookup import candidates, deleted_refusal
from handlers.registry import CommandError, Group, command
from models.activity import Kind
from models.customer import Customer
from models.customers import Changes, rename
from models.parsing import normalize_name, sanitize_user_text, split_first


@command(
    "改名",
    aliases=("gm", "rename", "更名"),
    usage="/改名 旧名 新名",
    summary="改正客户名称，旧名自动留作别名，以后用旧名也能找到",
    example="/改名 华为 华为技术有限公司",
    who="负责人、经理",
    group=Group.MANAGE,
)
def rename_customer(ctx: Context, args: str) -> OutgoingMessage:
    """Rename a customer, keeping the old name as an alias (undone by /撤销)."""
    old, rest = split_first(args)
    new, extra = split_first(rest)
    if not old or not new:
        raise ctx.usage("请写上客户现在的名称和新名称")
    if extra:
        raise ctx.usage("新名称里有空格，请用引号括起来，例如 “华为 深圳”")
    customer, _ = ctx.customer(old)
    ctx.require_can_change(customer, "改名")
    new = check_new_name(ctx, new)
    if new == customer.name:
        raise CommandError(f"ℹ️ 客户已经叫 {customer_label(customer)} 了")
    _require_free(ctx, customer, new)
    before = customer.name
    changes = Changes()
    rename(customer, new, changes)
    ctx.log(customer, Kind.RENAME, changes, text=f"{before} → {new}")
    aliases = "、".join(sanitize_user_text(a, 40) for a in customer.aliases)
    return OutgoingMessage(
        f"✏️ 已改名：{customer_name(before)} → {customer_label(customer)}"
        + (f"｜别名：{aliases}" if aliases else "")
    )


def _require_free(ctx: Context, customer: Customer, new: str) -> None:
    """Refuse a new name that is another customer's name or alias (a deleted one's too)."""
    key = normalize_name(new)
    if key == customer.key:
        return  # the same name written differently (spaces, case, full width)
    other = ctx.session.scalars(
        select(Customer).where(Customer.chat_id == ctx.chat.id, Customer.key == key)
    ).first()
    if other is not None:
        if other.deleted_at is not None:
            raise deleted_refusal(other)
        raise CommandError(
            f"❌ 已经有客户叫 {customer_label(other)}，两个是同一家请用合并\n"
            f"例如：/合并 {customer_label(customer)} 到 {customer_label(other)}"
        )
    for cand in candidates(ctx):
        if cand.key != customer.id and key in {normalize_name(a) for a in cand.aliases}:
            raise CommandError(
                f"❌ “{sanitize_user_text(new, 30)}”已是客户 {customer_name(cand.name)} 的别名，"
                f"两个是同一家请用合并\n"
                f"例如：/合并 {customer_label(customer)} 到 {customer_name(cand.name)}"
            )
