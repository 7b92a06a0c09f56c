"""Files the bot keeps for a while: a book someone sent for /导入, a book /导出 posts.

The bytes live in the database so every process of a cluster sees them: the sender that uploads
an export may not be the worker that built it. A row is keyed by where the file came from
(``<platform>:<message id>`` of the file message) or what it is for (``export:…``). A row whose
``error`` is set records a download that failed, for the message that asked (``for_message``).
An /导入 preview is state on the file's row: who previewed it, when, and whether it was applied.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

PREVIEWED = "preview"
APPLIED = "applied"
CANCELLED = "cancelled"


class StoredFile(Base):
    """One file's bytes (or why they could not be fetched) and its /导入 preview state."""

    __tablename__ = "stored_file"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_stored_file_preview", "platform", "chat_external_id", "preview_by"),
        Index("ix_stored_file_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(250))
    platform: Mapped[str] = mapped_column(String(16))
    chat_external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(default=0)
    data: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    error: Mapped[str] = mapped_column(Text, default="")
    for_message: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    preview_by: Mapped[str] = mapped_column(String(128), default="")
    previewed_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(12), default="")


def received_key(platform: str, message_id: str) -> str:
    """The key of a file received in message ``message_id``."""
    return f"{platform}:{message_id}"
