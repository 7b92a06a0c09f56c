"""/设置: roles (``/设置 经理 @某人``) and a view of the chat's settings."""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import Reply
from handlers.context import Context
from handlers.format import member_label
from handlers.registry import command
from models.member import ROLE_MANAGER, ROLE_NAMES, ROLE_REP, Member
from models.parsing import sanitize_user_text, split_first

ROLE_WORDS = {
    "经理": ROLE_MANAGER,
    "主管": ROLE_MANAGER,
    "manager": ROLE_MANAGER,
    "销售": ROLE_REP,
    "rep": ROLE_REP,
    "取消经理": ROLE_REP,
}


@command(
    "设置",
    aliases=("sz", "set", "settings"),
    usage="/设置 [经理|销售 @某人]",
    summary="不带参数查看设置；管理员可用 /设置 经理 @某人 任命经理，/设置 销售 @某人 取消",
    example="/设置 经理 @王经理",
    who="管理员（查看：所有人）",
    group="管理",
)
def settings(ctx: Context, args: str) -> Reply:
    """Show settings, or change a member's role."""
    if not args:
        return _show(ctx)
    key, rest = split_first(args)
    role = ROLE_WORDS.get(key.casefold())
    if role is None:
        raise ctx.usage(f"不认识的设置项“{sanitize_user_text(key, 10)}”，目前可设置：经理、销售")
    ctx.require_admin("设置角色")
    mentions = [w for w in rest.split() if w[0] in "@＠"]
    if not mentions:
        raise ctx.usage("请 @ 要设置的人")
    reply = Reply()
    done = []
    for word in mentions:
        member = ctx.member_from_mention(word)
        if member is None:
            raise ctx.usage(f"找不到群成员 {sanitize_user_text(word, 20)}")
        member.role = role
        done.append(ctx.mention(reply, member))
    reply.line(f"✅ 已将 {'、'.join(done)} 设为{ROLE_NAMES[role]}")
    if role == ROLE_MANAGER:
        reply.line("经理可以 /分配 客户、修改任何客户，并收到升级提醒")
    return reply


def _show(ctx: Context) -> Reply:
    """The chat's roles and settings."""
    managers = ctx.session.scalars(
        select(Member).where(Member.chat_id == ctx.chat.id, Member.role == ROLE_MANAGER)
    ).all()
    admins = ctx.settings.bot.admins
    reply = Reply()
    reply.line("⚙️ 本群设置")
    reply.line(f"经理：{'、'.join(member_label(m) for m in managers) or '暂无'}")
    reply.line(
        f"管理员：{'、'.join(admins) if admins else '暂无（在配置文件 [bot] admins 中设置）'}"
    )
    reply.line(f"时区：{ctx.chat.timezone}")
    reply.line(f"你的角色：{ROLE_NAMES[ctx.role_of(ctx.sender)]}")
    return reply
