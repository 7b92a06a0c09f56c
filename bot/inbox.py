"""Storing received messages: committed before the platform is acknowledged, deduplicated."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import IncomingMessage
from models.pipeline import Inbox


def store(sessions: sessionmaker[Session], message: IncomingMessage, now: datetime) -> int | None:
    """Commit ``message`` to the inbox; returns its id, or None for a redelivery (dropped)."""
    row = Inbox(
        platform=message.platform,
        message_id=message.message_id,
        chat_external_id=message.chat_id,
        sender_id=message.sender_id,
        payload=message.to_payload(),
        received_at=now,
    )
    with sessions() as session:
        try:
            with session.begin():
                session.add(row)
        except IntegrityError:
            return None
    return row.id
