"""/导出: the chat's book as an .xlsx file posted into the chat (a rep gets their own customers)."""

from __future__ import annotations

from bot.messages import Attachment, OutgoingMessage
from handlers.context import Context
from handlers.registry import Group, command
from handlers.roles import is_manager
from models.book_export import chat_sheets, xlsx_bytes
from models.stored_file import StoredFile


def export_key(ctx: Context) -> str:
    """The stored file of this /导出: one per message, so a re-run cannot make a second."""
    return f"export:{ctx.message.platform}:{ctx.message.message_id}"


@command(
    "导出",
    aliases=("export",),
    usage="/导出",
    summary="把客户表导出成 Excel 文件发到群里：经理导出全群的客户、跟进记录和目标，"
    "销售导出自己负责的客户",
    example="/导出",
    group=Group.VIEW,
)
def export_book(ctx: Context, args: str) -> OutgoingMessage:
    """Build the .xlsx, keep its bytes in stored_file and answer with the file attached."""
    whole = is_manager(ctx)
    sheets = chat_sheets(ctx.session, [ctx.chat], owner=None if whole else ctx.sender)
    customers = len(sheets["客户"]) - 1
    data = xlsx_bytes(sheets)
    day = ctx.now.strftime("%Y%m%d")
    who = (ctx.chat.name or "本群") if whole else ctx.sender.display
    name = f"{who}-客户表-{day}.xlsx" if whole else f"{who}的客户-{day}.xlsx"
    name = "".join("_" if c in '\\/:*?"<>|' else c for c in name)[:120]
    key = export_key(ctx)
    ctx.session.add(
        StoredFile(
            key=key,
            platform=ctx.message.platform,
            chat_external_id=ctx.message.chat_id,
            name=name,
            size=len(data),
            data=data,
            created_at=ctx.now,
        )
    )
    scope = "全群" if whole else "你负责的"
    text = f"📎 {name}：{scope} {customers} 个客户（客户、跟进记录、目标三张表）"
    return OutgoingMessage(text, file=Attachment(name, key, len(data)))
