"""A customer (deal) in a chat's pipeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.member import Member
from models.stages import Status

MONEY = Numeric(14, 2)


class Customer(Base):
    """One customer; its stage, owner and dates are derived from the activity log."""

    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("chat_id", "key"),
        Index("ix_customer_chat_status", "chat_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chat.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(100))
    aliases: Mapped[list[str]] = mapped_column(default=list)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), index=True
    )
    stage: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8), default=Status.OPEN)
    grade: Mapped[str] = mapped_column(String(16), default="")
    tags: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    source: Mapped[str] = mapped_column(String(100), default="")
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    paid_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    lost_reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    assigned_at: Mapped[datetime | None]
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    stage_entered_at: Mapped[datetime]
    last_activity_at: Mapped[datetime | None]
    next_follow_up_at: Mapped[datetime | None] = mapped_column(index=True)
    next_follow_up_has_time: Mapped[bool] = mapped_column(default=False)
    # Soft delete (/删除, undone by /恢复 or /撤销): hidden from every list, lookup and report.
    deleted_at: Mapped[datetime | None]
    # The lead pool: when the customer last went back to the pool and from whom (that owner
    # may not claim it again for a while).
    released_at: Mapped[datetime | None]
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))

    owner: Mapped[Member | None] = relationship(foreign_keys=[owner_id], lazy="joined")


def live() -> ColumnElement[bool]:
    """SQL: the customer is not deleted; every list, lookup, report and job filters with it."""
    return Customer.deleted_at.is_(None)
