"""The adapter seam: each platform turns requests into IncomingMessage and sends outbox items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.messages import OutgoingMessage


@dataclass
class OutboundItem:
    """One outbox row as an adapter sees it; ``key`` is the idempotency key of the send."""

    key: str
    chat_id: str
    message: OutgoingMessage
    reply_to: str = ""
    job: str = ""
    attempts: int = 0
    reply_token: str = ""  # e.g. WeCom's response_url of the message being answered


@dataclass
class SendResult:
    """The outcome of one send.

    ok → the row is sent; permanent → failed for good (no retry); otherwise retried with
    back-off, or after ``retry_after`` seconds when the platform said so. ``deferred`` means the
    message was not attempted (a rate limit): it waits ``retry_after`` without using up an attempt.
    """

    ok: bool
    message_id: str = ""
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None
    deferred: bool = False


class Adapter(Protocol):
    """What the sender needs from a platform."""

    platform: str

    def send(self, item: OutboundItem) -> SendResult:
        """Deliver one message; must not raise for platform errors (return a SendResult)."""
        ...
