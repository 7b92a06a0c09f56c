"""Writing replies and scheduled messages to the outbox, in the caller's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from bot.messages import OutgoingMessage
from models.pipeline import Outbox


def outbox_key(*parts: object) -> str:
    """A stable idempotency key (≤ 50 chars, as Feishu's ``uuid`` requires)."""
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:40]


def enqueue(
    session: Session,
    platform: str,
    chat_external_id: str,
    messages: Iterable[OutgoingMessage],
    key_base: str,
    now: datetime,
    reply_to: str = "",
    inbox_id: int | None = None,
    job: str = "",
    reply_token: str = "",
    not_before: datetime | None = None,
) -> list[Outbox]:
    """Add one outbox row per message; keys derive from ``key_base`` so a rerun cannot double.

    ``not_before``: the sender leaves the rows alone until then (the answer to a tap, held for
    the webhook that waits to answer it inline).
    """
    due = max(now, not_before) if not_before is not None else now
    rows = []
    for index, message in enumerate(messages):
        row = Outbox(
            key=outbox_key(key_base, index),
            platform=platform,
            chat_external_id=chat_external_id,
            inbox_id=inbox_id,
            job=job,
            reply_to=reply_to,
            reply_token=reply_token,
            payload=message.to_payload(),
            next_attempt_at=due,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows
