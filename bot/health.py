"""/healthz and /metrics: the pipeline's backlog and ages, when it counts as stuck, who may look.

The figures come from the database, so any process (a `genjin web` beside the workers too)
reports on the whole deployment: a dispatcher that stopped leaves inbox rows waiting, a sender
that stopped leaves due outbox rows and no recent send.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.config import PipelineSettings, ServerSettings
from models.pipeline import FAILED, PENDING, Inbox, Outbox

# (health key, metric help) for every figure /metrics exports as a gauge.
METRICS = (
    ("inbox_pending", "Received messages waiting to be handled."),
    ("inbox_failed", "Received messages whose handling failed (see inbox.error)."),
    ("inbox_oldest_pending_seconds", "Age of the oldest message waiting to be handled."),
    ("outbox_pending", "Messages waiting to be sent, due or not."),
    ("outbox_failed", "Messages given up on (see outbox.last_error)."),
    ("outbox_oldest_due_seconds", "How long the longest-waiting due message has been due."),
    ("outbox_last_sent_seconds", "Seconds since the last message was sent (absent: never)."),
)


def _age(now: datetime, then: datetime | None) -> float:
    """Seconds from ``then`` to ``now`` (0 when there is nothing)."""
    return 0.0 if then is None else round(max((now - then).total_seconds(), 0.0), 1)


def _count(session: Session, model: type[Inbox] | type[Outbox], status: str) -> int:
    """Rows of ``model`` in ``status`` (read from its status index)."""
    return (
        session.scalar(select(func.count()).select_from(model).where(model.status == status)) or 0
    )


def pipeline_figures(
    session: Session, now: datetime, limits: PipelineSettings
) -> dict[str, object]:
    """Backlog counts and ages, plus the reasons the pipeline counts as stuck (none: healthy).

    Stuck: the oldest waiting inbox row is older than ``inbox_stuck_seconds`` (no dispatcher
    gets to it), or some outbox row has been due for longer than ``outbox_stuck_seconds`` while
    nothing was sent for as long (no sender makes progress). A chat in retry back-off is not
    stuck: its head is not due, and the others' sends show progress.
    """
    oldest_inbox = session.scalar(
        select(Inbox.received_at).where(Inbox.status == PENDING).order_by(Inbox.id).limit(1)
    )
    oldest_due = session.scalar(
        select(func.min(Outbox.next_attempt_at)).where(
            Outbox.status == PENDING, Outbox.next_attempt_at <= now
        )
    )
    last_sent = session.scalar(select(func.max(Outbox.sent_at)))
    figures: dict[str, object] = {
        "inbox_pending": _count(session, Inbox, PENDING),
        "inbox_failed": _count(session, Inbox, FAILED),
        "inbox_oldest_pending_seconds": _age(now, oldest_inbox),
        "outbox_pending": _count(session, Outbox, PENDING),
        "outbox_failed": _count(session, Outbox, FAILED),
        "outbox_oldest_due_seconds": _age(now, oldest_due),
        "outbox_last_sent_seconds": None if last_sent is None else _age(now, last_sent),
    }
    reasons = []
    inbox_age = _age(now, oldest_inbox)
    if inbox_age > limits.inbox_stuck_seconds:
        reasons.append(
            f"inbox: a message has waited {inbox_age:.0f} s to be handled "
            f"(pipeline.inbox_stuck_seconds = {limits.inbox_stuck_seconds})"
        )
    due_age = _age(now, oldest_due)
    idle = last_sent is None or _age(now, last_sent) > limits.outbox_stuck_seconds
    if due_age > limits.outbox_stuck_seconds and idle:
        since = "ever" if last_sent is None else f"for {_age(now, last_sent):.0f} s"
        reasons.append(
            f"outbox: a message has been due for {due_age:.0f} s and nothing was sent {since} "
            f"(pipeline.outbox_stuck_seconds = {limits.outbox_stuck_seconds})"
        )
    figures["reasons"] = reasons
    return figures


def render_metrics(health: dict[str, object]) -> str:
    """The health figures in Prometheus text format."""
    up = 1 if health.get("database") == "ok" else 0
    lines = [
        "# HELP genjin_up 1 when the database answers.",
        "# TYPE genjin_up gauge",
        f"genjin_up {up}",
        "# HELP genjin_healthy 1 when /healthz answers 200.",
        "# TYPE genjin_healthy gauge",
        f"genjin_healthy {1 if health.get('status') == 'ok' else 0}",
    ]
    for key, help_text in METRICS:
        value = health.get(key)
        if value is None:
            continue
        lines += [
            f"# HELP genjin_{key} {help_text}",
            f"# TYPE genjin_{key} gauge",
            f"genjin_{key} {value}",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Refusal:
    """Why a health request is refused: the HTTP status, a message and response headers."""

    status: int
    error: str
    headers: dict[str, str] = field(default_factory=dict)


def _is_loopback(address: str | None) -> bool:
    """127.0.0.0/8, ::1, or an IPv4 loopback address mapped into IPv6."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def refusal(
    server: ServerSettings, remote_addr: str | None, authorization: str | None
) -> Refusal | None:
    """Whether ``server.health_access`` lets this request read /healthz and /metrics (None: yes).

    "loopback" admits 127.0.0.1 and ::1 only (behind a reverse proxy every request comes from
    the proxy: use "token" there); "token" wants ``Authorization: Bearer <server.health_token>``.
    """
    if server.health_access == "loopback" and not _is_loopback(remote_addr):
        return Refusal(403, "health endpoints answer on the loopback address only")
    if server.health_access == "token":
        scheme, _, given = (authorization or "").partition(" ")
        expected = server.health_token.encode()
        if (
            scheme.lower() != "bearer"
            or not expected
            or not hmac.compare_digest(given.strip().encode(), expected)
        ):
            return Refusal(
                401,
                "health endpoints need Authorization: Bearer <server.health_token>",
                {"WWW-Authenticate": 'Bearer realm="genjin health"'},
            )
    return None
