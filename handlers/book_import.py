"""/导入: a manager sends an .xlsx/.csv book to the chat, previews it, then confirms.

The file is the one the sender replied to (/导入 as a reply to the file message), else the last
file they sent in this chat within FIND_MINUTES. Its bytes are downloaded by the dispatcher
outside the transaction (bot.messages.FileNeeded) and kept as a StoredFile; /导入 runs
``import_book`` in a savepoint that is rolled back (the preview), /导入 确认 runs it for real on
the stored bytes of the sender's latest preview, /导入 取消 drops it. Nothing is written before
确认, and a second 确认 writes nothing.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.messages import FILE, FILE_KEY, FILE_NAME, PARENT_ID, FileNeeded, OutgoingMessage, Reply
from handlers.context import Context
from handlers.registry import CommandError, Group, command
from handlers.roles import is_manager
from models.book import ImportReport, import_book
from models.book_read import BookError, Sheet, read_book
from models.parsing import sanitize_user_text
from models.pipeline import Inbox
from models.stored_file import APPLIED, CANCELLED, PREVIEWED, StoredFile, received_key

MAX_BYTES = 5 * 1024 * 1024  # a book of 20,000 customers is about 2 MB
FIND_MINUTES = 30  # how far back /导入 looks for the sender's last file
PREVIEW_LINES = 25  # problems shown in the chat (the CLI shows 200)
PREVIEW_CHARS = 3000
SUFFIXES = (".xlsx", ".xlsm", ".csv", ".txt", ".tsv")
CLI_HINT = "genjin import 文件 --chat 群名 --dry-run"
# Platforms whose bot never receives a file posted in a group, and why (docs/import.md).
NO_FILES = {
    "wecom": "企业微信的智能机器人在群里收不到文件（文件只在单聊里推给机器人），"
    f"请让管理员在服务器上用命令行导入：{CLI_HINT}",
}
NO_FILE_FOUND = (
    f"没找到要导入的文件：先把 .xlsx 或 .csv 客户表发到群里，{FIND_MINUTES} 分钟内再发 /导入，"
    "或者回复那条文件消息 /导入"
)


@command(
    "导入",
    aliases=("import",),
    usage="/导入 [确认|取消]",
    summary="经理把 Excel/CSV 客户表发到群里后发 /导入（或回复文件消息 /导入）先看预览，"
    "/导入 确认 才写入，/导入 取消 放弃；规则同 genjin import",
    example="/导入 确认",
    who="经理 manager",
    group=Group.MANAGE,
)
def import_command(ctx: Context, args: str) -> OutgoingMessage:
    """Preview the sender's file, or apply / drop their latest preview."""
    if ctx.message.platform in NO_FILES:
        raise CommandError("ℹ️ " + NO_FILES[ctx.message.platform])
    if not is_manager(ctx):
        raise ctx.usage("只有经理或管理员可以导入客户表；销售请把表格发给经理")
    word = args.strip()
    if word in ("确认", "确定", "confirm"):
        return _confirm(ctx)
    if word in ("取消", "放弃", "cancel"):
        return _cancel(ctx)
    if word:
        raise ctx.usage(f"/导入 后面只能写 确认 或 取消，不认识“{sanitize_user_text(word, 20)}”")
    return _preview(ctx)


def _preview(ctx: Context) -> OutgoingMessage:
    """Find the file, have it downloaded, dry-run the import and remember the preview."""
    message_id, file_key, name = _find_file(ctx)
    if name and not name.lower().endswith(SUFFIXES):
        raise ctx.usage(f"“{sanitize_user_text(name, 60)}”不是 .xlsx 或 .csv 文件")
    stored = _stored(ctx, message_id, file_key, name)
    sheets = _sheets(stored)
    with ctx.session.begin_nested() as dry_run:
        report = _run(ctx, stored, sheets)
        dry_run.rollback()
    stored.state, stored.preview_by, stored.previewed_at = PREVIEWED, ctx.sender.user_id, ctx.now
    reply = Reply().line("📋 导入预览（还没有写入）")
    for line in _capped(report):
        reply.line(line)
    reply.line("确认导入请发 /导入 确认，放弃请发 /导入 取消")
    return reply.build()


def _confirm(ctx: Context) -> OutgoingMessage:
    """Apply the sender's latest preview, once."""
    stored = _latest_preview(ctx)
    if stored is None or stored.state == CANCELLED:
        raise CommandError("❌ 没有待确认的导入。先发文件，再发 /导入 看预览")
    if stored.state == APPLIED:
        name = sanitize_user_text(stored.name, 60)
        return OutgoingMessage(f"✅ {name} 已经导入过了，这次没有再写入任何数据")
    report = _run(ctx, stored, _sheets(stored))
    stored.state = APPLIED
    return (
        Reply()
        .line(f"✅ 已导入 {sanitize_user_text(stored.name, 60)}")
        .line(report.lines()[1])
        .line("每个新建或更新的客户都记了一条“导入”历史，可用 /客户 查看")
        .build()
    )


def _cancel(ctx: Context) -> OutgoingMessage:
    """Drop the sender's latest preview."""
    stored = _latest_preview(ctx)
    if stored is None or stored.state != PREVIEWED:
        raise CommandError("❌ 没有待确认的导入")
    stored.state = CANCELLED
    return OutgoingMessage(f"已取消导入 {sanitize_user_text(stored.name, 60)}，没有写入任何数据")


def _find_file(ctx: Context) -> tuple[str, str, str]:
    """(message id, file key, name) of the file meant: the replied-to one, else the last one."""
    message = ctx.message
    parent = message.platform_data.get(PARENT_ID, "")
    if parent:
        row = ctx.session.scalars(
            select(Inbox).where(Inbox.platform == message.platform, Inbox.message_id == parent)
        ).first()
        if row is None:  # a file the bot was not sent: the adapter reads the message itself
            return parent, "", ""
        data = row.payload.get("platform_data") or {}
        if row.payload.get("kind") != FILE or not data.get(FILE_KEY):
            raise ctx.usage("回复的那条消息不是文件：请回复 .xlsx 或 .csv 文件消息 /导入")
        return parent, str(data[FILE_KEY]), str(data.get(FILE_NAME, ""))
    since = ctx.now - timedelta(minutes=FIND_MINUTES)
    rows = ctx.session.scalars(
        select(Inbox)
        .where(
            Inbox.platform == message.platform,
            Inbox.chat_external_id == message.chat_id,
            Inbox.sender_id == message.sender_id,
            Inbox.received_at >= since,
        )
        .order_by(Inbox.id.desc())
        .limit(50)
    )
    for row in rows:
        data = row.payload.get("platform_data") or {}
        if row.payload.get("kind") == FILE and data.get(FILE_KEY):
            return row.message_id, str(data[FILE_KEY]), str(data.get(FILE_NAME, ""))
    raise ctx.usage(NO_FILE_FOUND)


def _stored(ctx: Context, message_id: str, file_key: str, name: str) -> StoredFile:
    """The downloaded file; raises FileNeeded (download it, then run again) or its refusal."""
    message = ctx.message
    stored = ctx.session.scalars(
        select(StoredFile).where(StoredFile.key == received_key(message.platform, message_id))
    ).first()
    if stored is not None and stored.error and stored.for_message == message.message_id:
        raise CommandError(f"❌ {stored.error}")
    if stored is None or stored.error:
        raise FileNeeded(
            message.platform, message.chat_id, message_id, file_key, name,
            message.message_id, MAX_BYTES,
        )  # fmt: skip
    if stored.size > MAX_BYTES:
        raise CommandError(f"❌ 文件太大（{stored.size / 1048576:.1f} MB），最多 5 MB")
    return stored


def _sheets(stored: StoredFile) -> list[Sheet]:
    """The stored bytes read as a book (through a private temporary file: readers take paths)."""
    name = Path(stored.name).name or "book.xlsx"
    if not name.lower().endswith(SUFFIXES):
        raise CommandError(f"❌ “{sanitize_user_text(name, 60)}”不是 .xlsx 或 .csv 文件")
    with tempfile.TemporaryDirectory(prefix="genjin-import-") as folder:
        path = Path(folder) / name
        path.write_bytes(stored.data)
        try:
            return read_book(path)
        except BookError as exc:
            raise CommandError(f"❌ {exc}") from None


def _run(ctx: Context, stored: StoredFile, sheets: list[Sheet]) -> ImportReport:
    """import_book on the chat, as the sender, in the current transaction."""
    try:
        return import_book(
            ctx.session,
            ctx.chat,
            sheets,
            ctx.now,
            file=stored.name,
            actor=ctx.sender,
            grades=tuple(ctx.settings.book.grades),
        )
    except BookError as exc:
        raise CommandError(f"❌ {exc}") from None


def _latest_preview(ctx: Context) -> StoredFile | None:
    """The file the sender last previewed in this chat."""
    return ctx.session.scalars(
        select(StoredFile)
        .where(
            StoredFile.platform == ctx.message.platform,
            StoredFile.chat_external_id == ctx.message.chat_id,
            StoredFile.preview_by == ctx.sender.user_id,
            StoredFile.previewed_at.is_not(None),
        )
        .order_by(StoredFile.previewed_at.desc(), StoredFile.id.desc())
        .limit(1)
    ).first()


def _capped(report: ImportReport) -> list[str]:
    """The CLI's preview lines, cut to fit a chat message."""
    lines = report.lines(limit=PREVIEW_LINES)
    out: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) > PREVIEW_CHARS:
            out.append(f"……预览太长，其余 {len(lines) - len(out)} 行省略；完整预览请用 {CLI_HINT}")
            break
        out.append(line)
        used += len(line) + 1
    return out
