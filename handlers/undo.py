"""/撤销: undo the sender's last entry (every activity and field it changed) within a day."""

from __future__ import annotations

from bot.messages import OutgoingMessage
from handlers.context import Context
from handlers.registry import CommandError, command
from models.activity import Kind
from models.customers import UndoConflict, last_entry, undo_entry, undo_window
from models.parsing import sanitize_user_text


@command(
    "撤销",
    aliases=("cx", "undo", "撤回"),
    usage="/撤销",
    summary="撤销我最近一条记录（24 小时内），客户恢复原样",
    example="/撤销",
)
def undo(ctx: Context, args: str) -> OutgoingMessage:
    """Revert the sender's latest entry."""
    hours = ctx.settings.bot.undo_hours
    entry = last_entry(ctx.session, ctx.chat.id, ctx.sender.id, undo_window(ctx.now, hours))
    if not entry:
        raise CommandError(f"ℹ️ 你在 {hours} 小时内没有可以撤销的记录")
    try:
        names = undo_entry(ctx.session, entry, ctx.now)
    except UndoConflict as exc:
        by = f" {sanitize_user_text(exc.by, 30)} " if exc.by else ""
        raise CommandError(
            f"❌ 无法撤销：{sanitize_user_text(exc.name, 40)} 在你之后又被{by}修改过，"
            "请直接用命令改正"
        ) from None
    # A create row has no text; the follow-up logged with it does.
    text = next((a.text for a in entry if a.text), "")
    what = sanitize_user_text(text, 40)
    created = any(a.kind == Kind.CREATE for a in entry)
    label = "、".join(sanitize_user_text(n, 40) for n in names)
    detail = "（已删除新建的客户）" if created else "，客户已恢复原样"
    return OutgoingMessage(f"↩️ 已撤销对 {label} 的记录{('：' + what) if what else ''}{detail}")
