"""Export a chat's (or every chat's) book for `genjin export`: JSON-able dicts here; the sheets and
their .xlsx/.csv writers live in models/book_export.py (shared with /导出).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.activity import Activity
from models.book_export import (
    ACTIVITY_HEADERS,
    CHAT_HEADER,
    CUSTOMER_COLUMNS,
    TARGET_HEADERS,
    When,
    book,
    chat_sheets,
    write_csv,
    write_xlsx,
    xlsx_bytes,
)
from models.chat import Chat
from models.customer import Customer
from models.member import Member


def _time(value: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 with the chat's offset."""
    return value.astimezone(tz).isoformat() if value else None


def _money(value: Decimal | None) -> float | None:
    """Yuan as a JSON number."""
    return float(value) if value is not None else None


def export(
    session: Session, chat_name: str | None = None
) -> dict[str, list[dict[str, Any]]] | None:
    """{"customers": [...], "activities": [...]}; None when the named chat does not exist."""
    query = select(Chat).order_by(Chat.id)
    if chat_name is not None:
        query = query.where(Chat.external_id == chat_name)
    chats = session.scalars(query).all()
    if chat_name is not None and not chats:
        return None
    customers: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    for chat in chats:
        tz = ZoneInfo(chat.timezone)
        names = {
            m.id: m.display
            for m in session.scalars(select(Member).where(Member.chat_id == chat.id))
        }
        for c in session.scalars(
            select(Customer).where(Customer.chat_id == chat.id).order_by(Customer.id)
        ):
            customers.append(
                {
                    "chat": chat.external_id,
                    "name": c.name,
                    "aliases": list(c.aliases or []),
                    "stage": c.stage,
                    "status": c.status,
                    "owner": names.get(c.owner_id) if c.owner_id else None,
                    "grade": c.grade,
                    "tags": list(c.tags or []),
                    "amount": _money(c.amount),
                    "paid_amount": _money(c.paid_amount),
                    "source": c.source,
                    "lost_reason": c.lost_reason,
                    "next_follow_up": _time(c.next_follow_up_at, tz),
                    "next_follow_up_has_time": c.next_follow_up_has_time,
                    "last_activity_at": _time(c.last_activity_at, tz),
                    "stage_entered_at": _time(c.stage_entered_at, tz),
                    "assigned_at": _time(c.assigned_at, tz),
                    "created_at": _time(c.created_at, tz),
                    "deleted_at": _time(c.deleted_at, tz),
                    "released_at": _time(c.released_at, tz),
                    "released_by": names.get(c.released_by_id) if c.released_by_id else None,
                }
            )
        for a in session.scalars(
            select(Activity).where(Activity.chat_id == chat.id).order_by(Activity.id)
        ):
            activities.append(
                {
                    "chat": chat.external_id,
                    "customer": a.customer_name,
                    "member": names.get(a.member_id) if a.member_id else None,
                    "kind": a.kind,
                    "text": a.text,
                    "stage_from": a.stage_from,
                    "stage_to": a.stage_to,
                    "amount": _money(a.amount),
                    "next_follow_up": _time(a.next_follow_up_at, tz),
                    "created_at": _time(a.created_at, tz),
                    "undone_at": _time(a.undone_at, tz),
                }
            )
    return {"customers": customers, "activities": activities}


__all__ = [
    "ACTIVITY_HEADERS",
    "CHAT_HEADER",
    "CUSTOMER_COLUMNS",
    "TARGET_HEADERS",
    "When",
    "book",
    "chat_sheets",
    "export",
    "write_csv",
    "write_xlsx",
    "xlsx_bytes",
]
