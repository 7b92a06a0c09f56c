"""/看板: a personal link to the team's board in the browser; /看板 重置 revokes the old ones.

The link is signed with the server's board secret and carries the chat, the member, their
``board_epoch`` and an expiry (models/board_link.py); the web side (bot/board/) checks all four
on every request, and the member's role again, so a manager sees the whole book and a rep their
own customers. In a private chat with the bot it is the link to the desk's team board. Asked
in a group on a platform that can message one person (Feishu), the link is sent privately, since
everyone in the group could open it, and the group is told so; elsewhere (the sandbox, WeCom's group robot) it is replied
in the group with a warning, and 重置 is the remedy.
"""

from __future__ import annotations

from bot.messages import PRIVATE, OutgoingMessage, Reply
from handlers.context import Context
from handlers.registry import Group, command
from models.board_link import LINK, Claims, expiry, lifetime_words, sign
from models.member import ROLE_ADMIN, ROLE_MANAGER

RESET_WORDS = ("重置", "作废", "reset")
OFF = (
    "📊 看板还没有开启。管理员在配置文件 [board] 里设置 secret（至少 32 个字符，"
    "或环境变量 GENJIN_BOARD_SECRET），重启后就能用；用 SQLite 时 genjin serve 会自动生成"
)


def board_link(ctx: Context) -> str:
    """The sender's link to this team's board, valid for ``[board] link_ttl_hours``."""
    board = ctx.settings.board
    claims = Claims(
        ctx.chat.id, ctx.sender.id, ctx.sender.board_epoch, expiry(ctx.now, board.link_ttl_hours)
    )
    token = sign(board.secret, claims, LINK)
    return f"{ctx.settings.server.base_url()}/board/open?t={token}"


@command(
    "看板",
    aliases=("kb", "board", "dashboard"),
    usage="/看板 [重置]",
    summary="发给你一个浏览器看板的个人链接（经理看全团队，销售看自己的客户）；"
    "/看板 重置 让你之前的链接全部作废",
    example="/看板",
    group=Group.VIEW,
)
def board(ctx: Context, args: str) -> OutgoingMessage:
    """Reply with the sender's board link, or revoke their links with 重置."""
    if not ctx.settings.board.secret:
        return OutgoingMessage(OFF)
    word = args.strip().casefold()
    if word in RESET_WORDS:
        ctx.sender.board_epoch += 1
        return OutgoingMessage(
            "✅ 已重置：你之前的看板链接（和用它们打开的页面）全部作废；需要时再发送 /看板 获取新链接"
        )
    if word:
        raise ctx.usage("/看板 后面只能跟“重置”")
    hours = ctx.settings.board.link_ttl_hours
    scope = (
        "可以查看全团队的客户"
        if ctx.role_of(ctx.sender) in (ROLE_MANAGER, ROLE_ADMIN)
        else "只显示你负责的客户"
    )
    text = (
        f"📊 {ctx.sender.display} 的看板（{scope}），{lifetime_words(hours)}内有效：\n"
        f"{board_link(ctx)}\n"
        "这是你个人的链接，请不要转发；担心泄露就发送 /看板 重置"
    )
    in_group = ctx.message.chat_type != PRIVATE
    if in_group and ctx.settings.can_send_private(ctx.chat.platform):
        # Whoever reads the group could open a manager's link: it goes to the sender alone,
        # and the group hears where it went.
        ctx.also.append(OutgoingMessage(text, to_user=ctx.sender.user_id))
        reply = Reply()
        who = reply.mention(ctx.sender.user_id, ctx.sender.display)
        return reply.line(f"📊 {who} 你的看板链接已私信发给你（{scope}）").build()
    return OutgoingMessage(text)
