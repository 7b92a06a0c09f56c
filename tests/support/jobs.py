"""Scheduled messages built directly, as the scheduler would, for report and chart tests."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from bot.messages import CardSection, OutgoingMessage
from handlers.jobs.base import job_context
from handlers.jobs.digest import build_digest
from handlers.jobs.weekly import build_weekly
from models import Chat
from tests.support.harness import ChatHarness


def digest(chat: ChatHarness, now: datetime, day: date | None = None) -> OutgoingMessage:
    """The chat's one digest message for ``day`` (default: today) at ``now``."""
    with chat.runtime.sessions() as session:
        row = session.scalars(select(Chat)).one()
        ctx = job_context(session, row, now, chat.runtime.settings)
        messages = build_digest(ctx, day or now.date())
    assert len(messages) == 1
    return messages[0]


def weekly(chat: ChatHarness, now: datetime) -> OutgoingMessage:
    """The chat's one weekly review at ``now``."""
    with chat.runtime.sessions() as session:
        row = session.scalars(select(Chat)).one()
        messages = build_weekly(job_context(session, row, now, chat.runtime.settings), now.date())
    assert len(messages) == 1
    return messages[0]


def section(message: OutgoingMessage, heading: str) -> CardSection:
    """The one card section whose heading starts with ``heading``."""
    assert message.card is not None
    found = [s for s in message.card.sections if s.heading.startswith(heading)]
    assert len(found) == 1, [s.heading for s in message.card.sections]
    return found[0]
