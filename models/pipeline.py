"""The durable pipeline tables: inbox, outbox, job_run and maintenance_run.

inbox: messages received; outbox: messages to send; job_run: exactly-once scheduled chat jobs;
maintenance_run: database-wide tasks such as the daily purge, once per period.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func, literal, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base

PENDING = "pending"
DONE = "done"
SENT = "sent"
FAILED = "failed"


def process_name() -> str:
    """This process as ``host:pid``: recorded on the rows it handles (who did what, at scale)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class Inbox(Base):
    """A received message, committed before the platform gets its 200."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("platform", "message_id"),
        Index("ix_inbox_status_id", "status", "id"),
        Index("ix_inbox_chat_status_id", "chat_external_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(200))
    chat_external_id: Mapped[str] = mapped_column(String(128))
    sender_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(8), default=PENDING)
    error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    handled_by: Mapped[str] = mapped_column(String(64), default="")


class Outbox(Base):
    """A message to deliver; ``key`` doubles as the platform idempotency key."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        # The sender's per-chat heads (the oldest pending row of each chat) and the rows behind.
        Index("ix_outbox_status_chat_id", "status", "platform", "chat_external_id", "id"),
        # The last send (/healthz: is the sender making progress) and the retention purge.
        Index("ix_outbox_sent_at", "sent_at"),
        # The card a tap names (handlers/card_actions.py): the platform's id of a sent message.
        Index("ix_outbox_platform_message", "platform", "platform_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    chat_external_id: Mapped[str] = mapped_column(String(128), index=True)
    inbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox.id", ondelete="SET NULL"), index=True
    )
    job: Mapped[str] = mapped_column(String(32), default="")
    reply_to: Mapped[str] = mapped_column(String(200), default="")
    reply_token: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(8), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    leased_until: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    platform_message_id: Mapped[str] = mapped_column(String(200), default="")
    sent_by: Mapped[str] = mapped_column(String(64), default="")


class JobRun(Base):
    """A claimed scheduled run; the unique (job, chat, period) makes every job exactly-once."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "chat_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(ForeignKey("chat.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    messages: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(8), default="done")


class MaintenanceRun(Base):
    """A claimed run of a database-wide task (the daily purge), once per (task, period).

    The unique key makes it once across processes, as job_run does for chat jobs (whose rows
    need a chat, so they cannot hold a task of the whole database).
    """

    __tablename__ = "maintenance_run"
    __table_args__ = (UniqueConstraint("task", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    detail: Mapped[str] = mapped_column(Text, default="")


CHAT_LOCK_CLASS = 0x67656E6B  # advisory lock class for "a worker is handling this chat"


def chat_lock_key(platform: Any, chat: Any) -> Any:
    """The second key of a chat's advisory lock: advisory locks are database-wide, so the schema
    is part of the key (two deployments, or two test runs, in one database never share a lock)."""
    return func.hashtext(func.concat(func.current_schema(), ":", platform, ":", chat))


def lock_chat(session: Session, platform: str, chat: str) -> None:
    """Hold a chat for this transaction, as a worker handling it does (waits if another has it).

    PostgreSQL only: on SQLite one dispatcher handles everything, one transaction at a time.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    key = chat_lock_key(literal(platform), literal(chat))
    session.execute(select(func.pg_advisory_xact_lock(CHAT_LOCK_CLASS, key)))
