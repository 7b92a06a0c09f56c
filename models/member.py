"""A person in a chat and their role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

ROLE_REP = "rep"
ROLE_MANAGER = "manager"
ROLE_ADMIN = "admin"
ROLE_NAMES = {ROLE_REP: "销售", ROLE_MANAGER: "经理", ROLE_ADMIN: "管理员"}


class Member(Base):
    """A chat member; (chat, platform user id) is unique, the display name is learned."""

    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("chat_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chat.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(16), default=ROLE_REP)
    pending: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    created_at: Mapped[datetime]
    away_until: Mapped[datetime | None]  # /请假: away up to this moment (exclusive); None = here
    # The board links of this member carry this number; /看板 重置 raises it, revoking them all.
    board_epoch: Mapped[int] = mapped_column(default=0, server_default="0")

    @property
    def display(self) -> str:
        """The name to show; the platform id only when no name is known."""
        return self.name or self.user_id
