"""/我是 张三: tell the bot your display name (WeCom's robot cannot look names up); unique per chat."""

from __future__ import annotations

from bot.messages import OutgoingMessage
from handlers.context import Context
from handlers.people import name_holder
from handlers.registry import Group, command
from models.parsing import sanitize_user_text

MAX_NAME = 20


@command(
    "我是",
    aliases=("iam", "我叫"),
    usage="/我是 名字",
    summary="告诉机器人你的名字，日报和提醒里就显示这个名字",
    example="/我是 张三",
    group=Group.MANAGE,
)
def whoami(ctx: Context, args: str) -> OutgoingMessage:
    """Set the sender's display name in this chat."""
    raw = " ".join(args.split())
    name = sanitize_user_text(raw, 0).replace("\n", " ").strip()
    if not name:
        raise ctx.usage("请写上你的名字")
    if len(name) > MAX_NAME:
        raise ctx.usage(f"名字太长了（最多 {MAX_NAME} 个字）")
    if any(ch in name for ch in "@＠"):
        raise ctx.usage("名字里不能有 @")
    holder = name_holder(ctx.session, ctx.chat, ctx.sender, name, ctx.settings)
    if holder is not None:  # one name, one person: digests and @-mentions must not mix them up
        raise ctx.usage(
            f"“{name}”已经是本群 {sanitize_user_text(holder, 30)} 的名字，请换一个（例如加上姓或部门）"
        )
    ctx.sender.name = name
    return OutgoingMessage(f"✅ 好的，以后叫你 {name}")
