"""/撤销: undo the sender's last entry (every activity and field it changed) within a day."""

from __future__ import annotations

from handlers.context import Context
from handlers.registry import CommandError, command
from models.customers import UndoConflict, last_entry, undo_entry, undo_window
from models.parsing import sanitize_user_text


@command(
    "撤销",
    aliases=("cx", "undo", "撤回"),
    usage="/撤销",
    summary="撤销我最近一条记录（24 小时内），客户恢复原样",
    example="/撤销",
)
def undo(ctx: Context, args: str) -> str:
    """Revert the sender's latest entry."""
    hours = ctx.settings.bot.undo_hours
    entry = last_entry(ctx.session, ctx.chat.id, ctx.sender.id, undo_window(ctx.now, hours))
    if not entry:
        raise CommandError(f"ℹ️ 你在 {hours} 小时内没有可以撤销的记录")
    first = entry[0]
    try:
        names = undo_entry(ctx.session, entry, ctx.now)
    except UndoConflict as exc:
        raise CommandError(
            f"❌ 无法撤销：{sanitize_user_text(str(exc), 40)} 在你之后又被修改过，请直接用命令改正"
        ) from None
    what = sanitize_user_text(first.text, 40) if first.text else ""
    created = any(a.kind == "create" for a in entry)
    label = "、".join(sanitize_user_text(n, 40) for n in names)
    detail = "（已删除新建的客户）" if created else "，客户已恢复原样"
    return f"↩️ 已撤销对 {label} 的记录{('：' + what) if what else ''}{detail}"
