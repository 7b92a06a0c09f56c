"""Domain rules about customers: recorded field changes, stage moves and undo.

Every change goes through ``Changes.set`` so the activity row knows {field: [old, new]} and
``undo_entry`` can put the customer back exactly, refusing when someone changed it since.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.activity import Activity, Kind
from models.customer import Customer
from models.member import Member
from models.stages import LOST, Stage, is_closed, payment_stage, stage_index, status_for

_DATETIME_FIELDS = {
    "stage_entered_at",
    "last_activity_at",
    "next_follow_up_at",
    "assigned_at",
    "deleted_at",
    "released_at",
}
_DECIMAL_FIELDS = {"amount", "paid_amount"}
CREATED = "_created"


def _encode(field: str, value: Any) -> Any:
    """JSON form of a customer field value."""
    if value is None:
        return None
    if field in _DATETIME_FIELDS:
        return value.astimezone(UTC).isoformat()
    if field in _DECIMAL_FIELDS:
        return str(Decimal(value).quantize(Decimal("0.01")))
    if isinstance(value, list):
        return list(value)
    return value


def _decode(field: str, value: Any) -> Any:
    """Python form of a stored JSON field value."""
    if value is None:
        return None
    if field in _DATETIME_FIELDS:
        return datetime.fromisoformat(value)
    if field in _DECIMAL_FIELDS:
        return Decimal(value)
    return value


class Changes(dict[str, list[Any]]):
    """{field: [old, new]} in JSON form, collected while a command changes a customer."""

    def set(self, customer: Customer, **values: Any) -> None:
        """Assign fields on ``customer`` and remember what they were."""
        for field, new in values.items():
            old = getattr(customer, field)
            if _encode(field, old) == _encode(field, new):
                continue
            if field in self:
                self[field][1] = _encode(field, new)
            else:
                self[field] = [_encode(field, old), _encode(field, new)]
            setattr(customer, field, new)

    def moved(self) -> tuple[str, str] | None:
        """(from, to) when the stage changed."""
        if "stage" in self:
            return self["stage"][0], self["stage"][1]
        return None


def move_stage(customer: Customer, stage: str, now: datetime, changes: Changes) -> bool:
    """Put the customer in ``stage`` (status follows); False when it is there already.

    A won or lost deal has nothing pending, so entering one clears the next follow-up.
    """
    if customer.stage == stage:
        return False
    changes.set(customer, stage=stage, status=status_for(stage), stage_entered_at=now)
    if is_closed(stage):
        changes.set(customer, next_follow_up_at=None, next_follow_up_has_time=False)
    return True


def advance_stage(customer: Customer, stage: str, now: datetime, changes: Changes) -> bool:
    """Move forward only: never backwards, never out of 输单, never to 已回款 before it is paid."""
    if customer.stage == LOST or stage == LOST:
        return False
    if stage == Stage.PAID:
        stage = payment_stage(customer.amount, customer.paid_amount)
    if stage_index(stage) <= stage_index(customer.stage):
        return False
    return move_stage(customer, stage, now, changes)


def log_activity(
    session: Session,
    customer: Customer,
    member: Member,
    kind: Kind,
    now: datetime,
    entry_key: str,
    changes: Changes | None = None,
    **fields: Any,
) -> Activity:
    """Append one activity row for ``customer``."""
    changes = changes if changes is not None else Changes()
    moved = changes.moved()
    if moved:
        fields.setdefault("stage_from", moved[0])
        fields.setdefault("stage_to", moved[1])
    activity = Activity(
        chat_id=customer.chat_id,
        customer_id=customer.id,
        customer_name=customer.name,
        member_id=member.id,
        kind=kind,
        changes=dict(changes),
        entry_key=entry_key,
        created_at=now,
        **fields,
    )
    session.add(activity)
    return activity


class UndoConflict(Exception):
    """The entry cannot be undone because the customer changed since (``by`` whom, if known)."""

    def __init__(self, name: str, by: str = "") -> None:
        super().__init__(name)
        self.name = name
        self.by = by


def _later_activity(session: Session, customer: Customer, activity: Activity) -> Activity | None:
    """A live activity on the customer from another entry after ``activity``, if any."""
    return session.scalars(
        select(Activity)
        .where(
            Activity.customer_id == customer.id,
            Activity.undone_at.is_(None),
            Activity.id > activity.id,
            Activity.entry_key != activity.entry_key,
        )
        .order_by(Activity.id)
        .limit(1)
    ).first()


def last_entry(session: Session, chat_id: int, member_id: int, since: datetime) -> list[Activity]:
    """The member's latest live entry (all activities of one message) since ``since``."""
    latest = session.scalars(
        select(Activity)
        .where(
            Activity.chat_id == chat_id,
            Activity.member_id == member_id,
            Activity.undone_at.is_(None),
            Activity.kind != Kind.UNDO,
            Activity.created_at >= since,
        )
        .order_by(Activity.id.desc())
        .limit(1)
    ).first()
    if latest is None:
        return []
    return list(
        session.scalars(
            select(Activity)
            .where(Activity.entry_key == latest.entry_key, Activity.undone_at.is_(None))
            .order_by(Activity.id)
        )
    )


def undo_entry(session: Session, activities: list[Activity], now: datetime) -> list[str]:
    """Revert the activities (newest first); returns the affected customer names.

    Raises UndoConflict when anyone logged something on the customer since, or a field no
    longer holds the value the entry set.
    """
    names: list[str] = []
    for activity in reversed(activities):
        customer = session.get(Customer, activity.customer_id) if activity.customer_id else None
        if customer is not None:
            later = _later_activity(session, customer, activity)
            if later is not None:
                raise UndoConflict(customer.name, later.member.display if later.member else "")
            if CREATED in activity.changes:
                session.delete(customer)
            else:
                for field, (old, new) in activity.changes.items():
                    if _encode(field, getattr(customer, field)) != new:
                        raise UndoConflict(customer.name)
                    setattr(customer, field, _decode(field, old))
        activity.undone_at = now
        if activity.customer_name not in names:
            names.append(activity.customer_name)
    session.flush()
    return names


def undo_window(now: datetime, hours: int) -> datetime:
    """Oldest time an entry may have to still be undoable."""
    return now - timedelta(hours=hours)
