"""The sender: delivers due outbox rows through their adapter, in order per chat.

Rows are leased in a short transaction, sent outside it (so a slow platform never holds a
database lock), then marked sent or rescheduled with exponential back-off. The outbox key is
the send's idempotency key, so a row re-sent after a crash cannot be posted twice.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.base import Adapter, OutboundItem, SendResult
from bot.config import SenderSettings
from bot.messages import OutgoingMessage
from models.pipeline import FAILED, PENDING, SENT, Outbox, process_name

log = logging.getLogger(__name__)


def backoff(attempts: int, settings: SenderSettings) -> float:
    """Seconds before attempt ``attempts + 1``: exponential with jitter, capped."""
    base = settings.backoff_seconds * (2 ** max(attempts - 1, 0))
    return min(base, settings.backoff_max_seconds) * random.uniform(0.8, 1.2)


def _lease(session: Session, now: datetime, limit: int, lease: timedelta) -> list[Outbox]:
    """Claim due rows, keeping per-chat order: a chat waits behind its oldest unsent row."""
    rows = session.scalars(
        select(Outbox)
        .where(Outbox.status == PENDING)
        .order_by(Outbox.id)
        .limit(limit * 4)
        .with_for_update(skip_locked=True)
    ).all()
    blocked: set[tuple[str, str]] = set()
    leased: list[Outbox] = []
    for row in rows:
        chat = (row.platform, row.chat_external_id)
        if chat in blocked:
            continue
        busy = row.leased_until is not None and row.leased_until > now
        if row.next_attempt_at > now or busy:
            blocked.add(chat)
            continue
        row.leased_until = now + lease
        leased.append(row)
        if len(leased) >= limit:
            break
    return leased


def deliver_due(
    sessions: sessionmaker[Session],
    adapters: Mapping[str, Adapter],
    settings: SenderSettings,
    clock: Callable[[], datetime],
    limit: int = 50,
    pool: Executor | None = None,
) -> int:
    """Send what is due now; returns how many rows were sent.

    Each chat's rows go out one after the other, in order; with a ``pool``, different chats are
    sent in parallel (a platform call is mostly waiting on the network).
    """
    with sessions() as session, session.begin():
        rows = _lease(session, clock(), limit, timedelta(seconds=settings.lease_seconds))
        chats: dict[tuple[str, str], list[tuple[int, OutboundItem]]] = {}
        for row in rows:
            item = OutboundItem(
                key=row.key,
                chat_id=row.chat_external_id,
                message=OutgoingMessage.from_payload(row.payload),
                reply_to=row.reply_to,
                job=row.job,
                attempts=row.attempts,
                reply_token=row.reply_token,
            )
            chats.setdefault((row.platform, row.chat_external_id), []).append((row.id, item))

    def send_chat(platform: str, items: list[tuple[int, OutboundItem]]) -> int:
        """One chat's rows in order; after a failure the rest wait for the next round."""
        sent = 0
        for n, (row_id, item) in enumerate(items):
            result = _send_one(adapters.get(platform), platform, row_id, item)
            _record(sessions, row_id, result, settings, clock())
            if not result.ok:
                for later_id, _ in items[n + 1 :]:
                    _release(sessions, later_id)
                break
            sent += 1
        return sent

    if pool is None or len(chats) < 2:
        return sum(send_chat(platform, items) for (platform, _), items in chats.items())
    futures = [pool.submit(send_chat, platform, items) for (platform, _), items in chats.items()]
    return sum(future.result() for future in futures)


def _send_one(
    adapter: Adapter | None, platform: str, row_id: int, item: OutboundItem
) -> SendResult:
    """One platform call, never raising: an adapter bug or network error is a retryable failure."""
    if adapter is None:
        return SendResult(ok=False, error=f"no adapter for platform {platform!r}", permanent=True)
    try:
        return adapter.send(item)
    except Exception as exc:
        log.exception("adapter %s raised while sending outbox row %s", platform, row_id)
        return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}")


def _release(sessions: sessionmaker[Session], row_id: int) -> None:
    """Give a leased row back untouched (its chat stopped on an earlier failure)."""
    with sessions() as session, session.begin():
        row = session.get(Outbox, row_id)
        if row is not None and row.status == PENDING:
            row.leased_until = None


_OUTBOX = Outbox.__table__
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.status == PENDING)
    .values(
        status=SENT,
        sent_at=bindparam("sent_at"),
        platform_message_id=bindparam("message_id"),
        attempts=_OUTBOX.c.attempts + 1,
        leased_until=None,
        last_error="",
        sent_by=bindparam("sent_by"),
    )
)


def _record(
    sessions: sessionmaker[Session],
    row_id: int,
    result: SendResult,
    settings: SenderSettings,
    now: datetime,
) -> None:
    """Store the outcome of one send."""
    if result.ok and not result.deferred:  # the common case: one Core statement, no ORM load
        with sessions.kw["bind"].begin() as conn:
            conn.execute(
                _MARK_SENT,
                {
                    "row_id": row_id,
                    "sent_at": now,
                    "message_id": result.message_id,
                    "sent_by": process_name(),
                },
            )
        return
    with sessions() as session, session.begin():
        row = session.get(Outbox, row_id)
        if row is None or row.status != PENDING:
            return
        row.leased_until = None
        if result.deferred:
            row.next_attempt_at = now + timedelta(seconds=result.retry_after or 1.0)
            row.last_error = result.error[:2000]
            return
        row.attempts += 1
        if result.ok:
            row.status, row.sent_at, row.platform_message_id = SENT, now, result.message_id
            row.last_error = ""
            return
        row.last_error = result.error[:2000]
        expired = now - row.created_at >= timedelta(hours=settings.give_up_after_hours)
        if result.permanent or expired:
            row.status = FAILED
            log.error(
                "outbox row %s to %s:%s failed for good after %s attempts: %s",
                row.id,
                row.platform,
                row.chat_external_id,
                row.attempts,
                result.error,
            )
            return
        delay = (
            result.retry_after
            if result.retry_after is not None
            else backoff(row.attempts, settings)
        )
        row.next_attempt_at = now + timedelta(seconds=delay)
        log.warning(
            "outbox row %s send failed (attempt %s), retry in %.1fs: %s",
            row.id,
            row.attempts,
            delay,
            result.error,
        )
