"""The activity log: every change to a customer is one row, which makes undo and reports cheap."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base
from models.customer import MONEY
from models.member import Member


class Kind(StrEnum):
    """What an activity row records; stored as these words, shown by ``label``."""

    CREATE = "create"
    FOLLOW_UP = "follow_up"
    STAGE = "stage"
    ASSIGN = "assign"
    PAYMENT = "payment"
    WON = "won"
    LOST = "lost"
    REMINDER = "reminder"
    ALIAS = "alias"
    GRADE = "grade"
    TAGS = "tags"
    UNDO = "undo"
    CLAIM = "claim"  # /领取: a rep takes a customer from the lead pool
    RELEASE = "release"  # the reclaim job: back to the lead pool (logged by nobody)
    RENAME = "rename"  # /改名: the old name stays an alias
    MERGE = "merge"  # /合并: logged on both customers (the merged one is soft-deleted)
    DELETE = "delete"  # /删除: soft delete (deleted_at)
    RESTORE = "restore"  # /恢复
    HANDOVER = "handover"  # /交接: a leaver's customers to a receiver
    IMPORT = "import"  # genjin import: created or updated from a spreadsheet

    @property
    def label(self) -> str:
        """The Chinese name shown in a customer's history."""
        return _KIND_LABELS[self]


_KIND_LABELS = {
    Kind.CREATE: "建档",
    Kind.FOLLOW_UP: "跟进",
    Kind.STAGE: "改阶段",
    Kind.ASSIGN: "分配",
    Kind.PAYMENT: "回款",
    Kind.WON: "签约",
    Kind.LOST: "输单",
    Kind.REMINDER: "提醒",
    Kind.ALIAS: "加别名",
    Kind.GRADE: "改等级",
    Kind.TAGS: "改标签",
    Kind.UNDO: "撤销",
    Kind.CLAIM: "领取",
    Kind.RELEASE: "退回公海",
    Kind.RENAME: "改名",
    Kind.MERGE: "合并",
    Kind.DELETE: "删除",
    Kind.RESTORE: "恢复",
    Kind.HANDOVER: "交接",
    Kind.IMPORT: "导入",
}


SOURCE_CHAT = "chat"  # Activity.source: typed in the chat (or said by `genjin say`)
SOURCE_CARD = "card"  # Activity.source: a tap on a card's button or form


class Activity(Base):
    """One logged event; ``changes`` holds {field: [old, new]} so an entry can be undone."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_chat_created", "chat_id", "created_at"),
        # One kind in a window (new customers per week: models/board.py, reports).
        Index("ix_activity_chat_kind_created", "chat_id", "kind", "created_at"),
        # The stage changes alone, covering what the funnel reads (reports.furthest_stages).
        Index(
            "ix_activity_stage_changes",
            "chat_id",
            "customer_id",
            "stage_from",
            "stage_to",
            "undone_at",
            "created_at",
            sqlite_where=text("stage_to IS NOT NULL"),
            postgresql_where=text("stage_to IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chat.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer.id", ondelete="SET NULL"), index=True
    )
    customer_name: Mapped[str] = mapped_column(String(100))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    stage_from: Mapped[str | None] = mapped_column(String(16))
    stage_to: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    next_follow_up_at: Mapped[datetime | None]
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    entry_key: Mapped[str] = mapped_column(String(200), index=True)
    # Where the entry came from: SOURCE_CHAT (a typed line), SOURCE_CARD (a tap on a card)…
    source: Mapped[str] = mapped_column(String(16), default=SOURCE_CHAT, server_default=SOURCE_CHAT)
    created_at: Mapped[datetime] = mapped_column(index=True)
    undone_at: Mapped[datetime | None]

    member: Mapped[Member | None] = relationship(lazy="joined")
