"""The lead pool (公海): customers nobody owns, claiming them, and reclaiming neglected ones.

- **in the pool**: an open customer (线索 … 已报价), not deleted, without an owner.
- **cap**: a member may claim while they own fewer open customers than ``max_open_per_rep``
  (0: no cap).
- **block**: the owner a customer was reclaimed from may not claim it back for ``block_days``
  working days after the release.
- **reclaim clock**: the last entry on the customer (a /领取 is one), or its /分配 when later,
  or its creation. In a stage with a reclaim limit of N working days, the owner is warned at
  N − 2 days, and the customer goes back to the pool at N days, but never sooner than two
  working days after that warning (a limit switched on today never releases without notice).

Like ``models.reports``, each query is one SQL statement for the whole chat.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.calendar import WorkCalendar
from models.customer import Customer, live
from models.reports import Scope, local_date
from models.stages import Status, stage_index

WARN_AHEAD = 2  # working days between the warning and the release


class PoolEntry(NamedTuple):
    """A customer in the pool and why it is there (released from someone, or never owned)."""

    id: int
    name: str
    stage: str
    amount: Decimal | None
    created_at: datetime
    released_at: datetime | None
    released_by_id: int | None

    @property
    def waiting_since(self) -> datetime:
        """When it entered the pool: its release, else its creation."""
        return self.released_at or self.created_at


def pool(scope: Scope) -> list[PoolEntry]:
    """The chat's pool, furthest stage first, then the largest amount, then the longest waiting."""
    rows = scope.session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.stage,
            Customer.amount,
            Customer.created_at,
            Customer.released_at,
            Customer.released_by_id,
        ).where(
            Customer.chat_id == scope.chat.id,
            Customer.owner_id.is_(None),
            Customer.status == Status.OPEN,
            live(),
        )
    )
    entries = [PoolEntry._make(row) for row in rows]
    return sorted(
        entries,
        key=lambda e: (-stage_index(e.stage), -(e.amount or 0), e.waiting_since, e.id),
    )


def open_count(session: Session, chat_id: int, member_id: int) -> int:
    """Open customers the member owns (what the claiming cap counts)."""
    query = select(func.count()).where(
        Customer.chat_id == chat_id,
        Customer.owner_id == member_id,
        Customer.status == Status.OPEN,
        live(),
    )
    return session.scalar(query) or 0


def blocked_until(
    customer: Customer, member_id: int, calendar: WorkCalendar, block_days: int, tz: tzinfo | None
) -> date | None:
    """The first day ``member_id`` may claim ``customer`` back after it was reclaimed from them.

    None when it was not reclaimed from this member, or no block is configured.
    """
    if customer.released_at is None or customer.released_by_id != member_id or block_days <= 0:
        return None
    return calendar.add_workdays(local_date(customer.released_at, tz), block_days)


class Neglected(NamedTuple):
    """An owned customer in a stage with a reclaim limit: idle ``days`` working days since ``since``."""

    customer: Customer
    since: datetime
    days: int
    limit: int


def reclaim_clock(customer: Customer) -> datetime:
    """The reclaim clock: the last entry, the hand-over when later, else the creation."""
    last = customer.last_activity_at or customer.created_at
    return max(last, customer.assigned_at) if customer.assigned_at is not None else last


def neglected(scope: Scope, limits: dict[str, int]) -> list[Neglected]:
    """Owned open customers in a stage with a limit, idle for at least limit − 2 working days."""
    if not limits:
        return []
    rows = scope.session.scalars(
        select(Customer)
        .where(
            Customer.chat_id == scope.chat.id,
            Customer.owner_id.is_not(None),
            Customer.status == Status.OPEN,
            Customer.stage.in_(list(limits)),
            live(),
        )
        .order_by(Customer.id)
    )
    today = scope.now.date()
    found = []
    for customer in rows:
        limit = limits[customer.stage]
        since = reclaim_clock(customer)
        days = scope.calendar.workdays_between(local_date(since, scope.now.tzinfo), today)
        if days >= limit - WARN_AHEAD:
            found.append(Neglected(customer, since, days, limit))
    return found
