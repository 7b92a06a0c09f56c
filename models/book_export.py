"""The team's book as sheets — 客户, 跟进记录, 目标, with the headers the import reads — and
their .xlsx and .csv writers.

Used by ``genjin export`` (bot/cli.py through bot/export.py) and by /导出 (handlers/book_export.py),
which posts the chat's book, or a rep's own customers, as an .xlsx file.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.activity import Activity, Kind
from models.book import last_notes
from models.book_headers import LABELS
from models.chat import Chat
from models.customer import Customer
from models.member import Member
from models.target import Target

CUSTOMER_COLUMNS = [
    "name",
    "aliases",
    "owner",
    "stage",
    "grade",
    "tags",
    "source",
    "amount",
    "paid_amount",
    "next_follow_up_at",
    "last_activity_at",
    "note",
    "lost_reason",
    "created_at",
]
ACTIVITY_HEADERS = [
    "时间",
    "客户名称",
    "成员",
    "类型",
    "内容",
    "阶段变化",
    "金额",
    "下次跟进",
    "已撤销",
]
TARGET_HEADERS = ["负责人", "月份", "目标金额"]
CHAT_HEADER = "群"


class When(NamedTuple):
    """A local time for a sheet cell, and whether its clock time matters."""

    at: datetime
    has_time: bool


def _when(value: datetime | None, tz: ZoneInfo, has_time: bool = True) -> When | None:
    """A stored time as naive local time (spreadsheets have no time zones)."""
    if value is None:
        return None
    return When(value.astimezone(tz).replace(tzinfo=None), has_time)


def book(session: Session, chat_name: str | None = None) -> dict[str, list[list[Any]]] | None:
    """{sheet: [header, *rows]} for 客户, 跟进记录 and 目标; None when the named chat does not exist.

    Cells are str, Decimal, When or None; ``write_xlsx``/``write_csv`` format them. With every
    chat, each sheet starts with a 群 column (the import lists it as unknown).
    """
    query = select(Chat).order_by(Chat.id)
    if chat_name is not None:
        query = query.where((Chat.external_id == chat_name) | (Chat.name == chat_name))
    chats = list(session.scalars(query))
    if chat_name is not None:
        if not chats:
            return None
        chats = chats[:1]
    return chat_sheets(session, chats, with_chat=chat_name is None)


def chat_sheets(
    session: Session, chats: list[Chat], *, with_chat: bool = False, owner: Member | None = None
) -> dict[str, list[list[Any]]]:
    """The sheets of ``chats``; ``owner``: only that member's customers, their history and targets.

    ``with_chat`` adds the 群 column first (an export of several chats).
    """
    lead = [CHAT_HEADER] if with_chat else []
    customers: list[list[Any]] = [lead + [LABELS[f] for f in CUSTOMER_COLUMNS]]
    activities: list[list[Any]] = [lead + ACTIVITY_HEADERS]
    targets: list[list[Any]] = [lead + TARGET_HEADERS]
    for chat in chats:
        tz = ZoneInfo(chat.timezone)
        here = [chat.external_id] if with_chat else []
        names = {
            m.id: m.display
            for m in session.scalars(select(Member).where(Member.chat_id == chat.id))
        }
        notes = last_notes(session, chat.id)
        query = select(Customer).where(Customer.chat_id == chat.id, Customer.deleted_at.is_(None))
        if owner is not None:
            query = query.where(Customer.owner_id == owner.id)
        kept: set[int] = set()
        for c in session.scalars(query.order_by(Customer.id)):
            kept.add(c.id)
            values = {
                "name": c.name,
                "aliases": "、".join(c.aliases or []),
                "owner": names.get(c.owner_id) if c.owner_id else None,
                "stage": c.stage,
                "grade": c.grade,
                "tags": "、".join(c.tags or []),
                "source": c.source,
                "amount": c.amount,
                "paid_amount": c.paid_amount,
                "next_follow_up_at": _when(c.next_follow_up_at, tz, c.next_follow_up_has_time),
                "last_activity_at": _when(c.last_activity_at, tz),
                "note": notes.get(c.id),
                "lost_reason": c.lost_reason,
                "created_at": _when(c.created_at, tz),
            }
            customers.append(here + [values[f] or None for f in CUSTOMER_COLUMNS])
        for a in session.scalars(
            select(Activity).where(Activity.chat_id == chat.id).order_by(Activity.id)
        ):
            if a.customer_id is not None and a.customer_id not in kept:
                continue  # a deleted customer's (or, for a rep, someone else's) history
            if owner is not None and a.customer_id is None:
                continue
            moved = f"{a.stage_from}→{a.stage_to}" if a.stage_from and a.stage_to else None
            kind = Kind(a.kind).label if a.kind in Kind._value2member_map_ else a.kind
            activities.append(
                here
                + [
                    _when(a.created_at, tz),
                    a.customer_name,
                    names.get(a.member_id) if a.member_id else None,
                    kind,
                    a.text or None,
                    moved,
                    a.amount,
                    _when(a.next_follow_up_at, tz),
                    "是" if a.undone_at else None,
                ]
            )
        query_targets = select(Target).where(Target.chat_id == chat.id)
        if owner is not None:
            query_targets = query_targets.where(Target.member_id == owner.id)
        for t in session.scalars(query_targets.order_by(Target.month, Target.id)):
            targets.append(here + [names.get(t.member_id), t.month, t.amount])
    return {"客户": customers, "跟进记录": activities, "目标": targets}


def _csv_cell(value: Any) -> str:
    """A cell as CSV text: 2026-12-01 or 2026-12-01 10:00, amounts as 50000.00."""
    if value is None:
        return ""
    if isinstance(value, When):
        if not value.has_time:
            return value.at.date().isoformat()
        spec = "seconds" if value.at.second else "minutes"
        return value.at.isoformat(sep=" ", timespec=spec)
    return str(value)


def write_csv(rows: list[list[Any]], out: IO[str]) -> None:
    """One sheet as CSV (write to a file opened with encoding utf-8-sig so Excel reads it)."""
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])


def write_xlsx(sheets: dict[str, list[list[Any]]], path: Path | IO[bytes]) -> None:
    """Every sheet into one .xlsx file: real date cells, numbers as numbers, bold headers."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for title, rows in sheets.items():
        ws = workbook.create_sheet(title)
        ws.freeze_panes = "A2"
        header, *body = rows
        cells = []
        for name in header:
            cell = WriteOnlyCell(ws, value=name)
            cell.font = bold
            cells.append(cell)
        ws.append(cells)
        for row in body:
            out: list[Any] = []
            for value in row:
                if isinstance(value, When):
                    cell = WriteOnlyCell(ws, value=value.at if value.has_time else value.at.date())
                    cell.number_format = "yyyy-mm-dd hh:mm" if value.has_time else "yyyy-mm-dd"
                    out.append(cell)
                elif isinstance(value, Decimal):
                    cell = WriteOnlyCell(ws, value=value)
                    cell.number_format = "#,##0.00"
                    out.append(cell)
                else:
                    out.append(value)
            ws.append(out)
    workbook.save(path)


def xlsx_bytes(sheets: dict[str, list[list[Any]]]) -> bytes:
    """The sheets as the bytes of an .xlsx file (for a file sent into a chat)."""
    out = io.BytesIO()
    write_xlsx(sheets, out)
    return out.getvalue()
