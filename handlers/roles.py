"""Who may do what: admins come from the config, managers from /设置, everyone else is a rep.

Reps change only the customers they own; managers and admins change any. Each refusal names who
may do it instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.config import Settings
from handlers.format import customer_label, member_label
from handlers.registry import CommandError
from models.customer import Customer
from models.member import ROLE_ADMIN, ROLE_MANAGER, ROLE_REP, Member
from models.parsing import sanitize_user_text

if TYPE_CHECKING:
    from handlers.context import Context


def role_of(settings: Settings, member: Member) -> str:
    """Effective role: admins come from config, managers from /设置."""
    # By platform id only: a display name is user-chosen (/我是 老板) and must not grant admin.
    if member.user_id in set(settings.bot.admins):
        return ROLE_ADMIN
    return member.role if member.role in (ROLE_MANAGER, ROLE_REP) else ROLE_REP


def is_manager(ctx: Context) -> bool:
    """The sender is a manager or admin."""
    return role_of(ctx.settings, ctx.sender) in (ROLE_MANAGER, ROLE_ADMIN)


def is_admin(ctx: Context) -> bool:
    """The sender is an admin (from the config)."""
    return role_of(ctx.settings, ctx.sender) == ROLE_ADMIN


def managers(ctx: Context) -> list[Member]:
    """Members with the manager role in this chat."""
    query = (
        select(Member)
        .where(Member.chat_id == ctx.chat.id, Member.role == ROLE_MANAGER)
        .order_by(Member.id)
    )
    return list(ctx.session.scalars(query))


def require_manager(ctx: Context, action: str) -> None:
    """Refuse unless the sender is a manager or admin, naming who may."""
    if is_manager(ctx):
        return
    names = "、".join(sanitize_user_text(m.display, 20) for m in managers(ctx))
    who = (
        f"（本群经理：{names}）"
        if names
        else "（本群还没有经理，管理员可用 /设置 经理 @某人 指定）"
    )
    raise CommandError(f"⛔ 只有经理或管理员可以{action}{who}")


def require_admin(ctx: Context, action: str) -> None:
    """Refuse unless the sender is an admin from the config."""
    if not is_admin(ctx):
        raise CommandError(f"⛔ 只有管理员可以{action}（管理员在配置文件 [bot] admins 中设置）")


def require_can_change(
    ctx: Context, customer: Customer, action: str = "修改", claim: bool = False
) -> None:
    """A rep changes only customers they own; managers change any.

    A customer nobody owns is claimed by a rep's follow-up (``claim``); anything else on it
    (stage, payment, loss) is a manager's call until someone owns it.
    """
    if is_manager(ctx) or customer.owner_id == ctx.sender.id:
        return
    label = customer_label(customer)
    if customer.owner_id is None:
        if claim:
            return
        raise CommandError(
            f"⛔ {label} 还没有负责人，只有经理可以{action}；"
            f"用 /跟进 {label} 内容 记录一次，它就归你负责"
        )
    owner = member_label(customer.owner)
    raise CommandError(f"⛔ {label} 的负责人是 {owner}，只有负责人或经理可以{action}")
