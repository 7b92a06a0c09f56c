"""Domain rules about customers: recorded field changes, stage moves, merges and undo.

Every change goes through ``Changes.set`` so the activity row knows {field: [old, new]} and
``undo_entry`` can put the customer back exactly, refusing when someone changed it since.

Merging 甲 into 乙 (``merge_into``) is the one change that is more than fields: 甲's activities
move to 乙 (the ids are kept under ``MOVED`` in 乙's changes, so undo moves exactly those back)
and 甲 is soft-deleted with its key released (``merged_key``), so its name can become an alias
of 乙. The rule, also in /帮助 and the README:
- amounts add up (contract amounts, None when neither has one; paid amounts);
- the stage of the one further along the ladder wins (输单 only when both are lost; 乙 on a
  tie), with its stage clock and loss reason; a won stage is re-read from the summed payments;
- 乙's owner stays; 甲's owner (and assignment) only when 乙 has none;
- 甲's name and aliases become aliases of 乙; tags add up; 乙's grade and source, else 甲's;
- the earlier creation, the later last activity, the sooner pending follow-up (none if closed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.activity import Activity, Kind
from models.customer import Customer
from models.member import Member
from models.names import normalize_name
from models.stages import (
    LOST,
    WON_STAGES,
    Stage,
    is_closed,
    payment_stage,
    stage_index,
    status_for,
)

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
IMPORT_ENTRY = "import:"  # the entry_key prefix of everything `genjin import` writes
# {"_moved": [from customer id, [activity ids]]}: activities a merge moved onto this customer.
MOVED = "_moved"
# A merged customer's key: never the key of a typed name (keys are letters and digits only).
MERGED_KEY = "merged#"


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


def merged_key(customer: Customer) -> str:
    """The key a merged (soft-deleted) customer keeps, freeing its own for the survivor."""
    return f"{MERGED_KEY}{customer.id}"


def is_merged(customer: Customer) -> bool:
    """The customer was merged into another (not deleted on its own; /撤销 undoes it)."""
    return customer.key.startswith(MERGED_KEY)


def rename(customer: Customer, name: str, changes: Changes) -> None:
    """Give the customer a new name; the old name becomes an alias (the new one no longer is)."""
    key = normalize_name(name)
    aliases = [a for a in customer.aliases or [] if normalize_name(a) != key]
    if customer.key != key and all(normalize_name(a) != customer.key for a in aliases):
        aliases.append(customer.name)
    changes.set(customer, name=name, key=key, aliases=aliases)


def _stage_winner(source: Customer, target: Customer) -> Customer:
    """Whose stage the merged customer takes: further along the ladder; lost only if both are."""
    if (source.stage == LOST) != (target.stage == LOST):
        return target if source.stage == LOST else source
    return source if stage_index(source.stage) > stage_index(target.stage) else target


def _earliest(*values: datetime | None) -> datetime | None:
    """The earliest of the given moments (None when none is given)."""
    given = [v for v in values if v is not None]
    return min(given) if given else None


def merge_into(
    session: Session, source: Customer, target: Customer, now: datetime
) -> tuple[Changes, Changes]:
    """Merge ``source`` into ``target`` by the module's rule; (source changes, target changes).

    The caller logs both; undoing the entry restores both customers and moves the activities back.
    """
    into, gone = Changes(), Changes()
    amounts = [a for a in (source.amount, target.amount) if a is not None]
    amount = sum(amounts, Decimal(0)) if amounts else None
    paid = (source.paid_amount or Decimal(0)) + (target.paid_amount or Decimal(0))
    into.set(target, amount=amount, paid_amount=paid)
    winner = _stage_winner(source, target)
    stage = winner.stage
    if winner is source:
        into.set(
            target,
            stage=stage,
            status=status_for(stage),
            stage_entered_at=source.stage_entered_at,
            lost_reason=source.lost_reason,
        )
    if stage in WON_STAGES and stage != Stage.AFTER_SALES:
        move_stage(target, payment_stage(amount, paid), now, into)
    if target.owner_id is None and source.owner_id is not None:
        into.set(
            target,
            owner_id=source.owner_id,
            assigned_at=source.assigned_at,
            assigned_by_id=source.assigned_by_id,
        )
    aliases = list(target.aliases or [])
    keys = {target.key, *(normalize_name(a) for a in aliases)}
    for name in (source.name, *(source.aliases or [])):
        if normalize_name(name) not in keys:
            aliases.append(name)
            keys.add(normalize_name(name))
    tags = list(dict.fromkeys([*(target.tags or []), *(source.tags or [])]))
    into.set(
        target,
        aliases=aliases,
        tags=tags,
        grade=target.grade or source.grade,
        source=target.source or source.source,
        created_at=min(source.created_at, target.created_at),
    )
    last = [v for v in (source.last_activity_at, target.last_activity_at) if v is not None]
    into.set(target, last_activity_at=max(last) if last else None)
    due = _earliest(source.next_follow_up_at, target.next_follow_up_at)
    if is_closed(target.stage):
        into.set(target, next_follow_up_at=None, next_follow_up_has_time=False)
    elif due is not None:
        sooner = source if due == source.next_follow_up_at else target
        into.set(
            target, next_follow_up_at=due, next_follow_up_has_time=sooner.next_follow_up_has_time
        )
    moved = list(session.scalars(select(Activity.id).where(Activity.customer_id == source.id)))
    if moved:
        session.execute(
            update(Activity).where(Activity.id.in_(moved)).values(customer_id=target.id)
        )
        into[MOVED] = [source.id, moved]
    gone.set(source, deleted_at=now, key=merged_key(source))
    return gone, into


def _move_back(session: Session, customer: Customer, source_id: int, ids: list[int]) -> None:
    """Undo a merge's move: the listed activities go back to ``source_id``, if all still here."""
    here = session.scalars(
        select(Activity.id).where(Activity.id.in_(ids), Activity.customer_id == customer.id)
    ).all()
    if len(here) != len(ids):
        raise UndoConflict(customer.name)
    session.execute(update(Activity).where(Activity.id.in_(ids)).values(customer_id=source_id))


def _key_taken(session: Session, customer: Customer, key: str) -> bool:
    """Another customer of the chat has ``key`` now (undoing a rename or merge would clash)."""
    return (
        session.scalars(
            select(Customer.id).where(
                Customer.chat_id == customer.chat_id,
                Customer.key == key,
                Customer.id != customer.id,
            )
        ).first()
        is not None
    )


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
    """The member's latest live entry (all activities of one message) since ``since``.

    What `genjin import` wrote (the rows it created or updated, and the history it copied, which
    keeps its members and times) is not an entry of anyone's: /撤销 never picks it.
    """
    latest = session.scalars(
        select(Activity)
        .where(
            Activity.chat_id == chat_id,
            Activity.member_id == member_id,
            Activity.undone_at.is_(None),
            Activity.kind != Kind.UNDO,
            Activity.created_at >= since,
            ~Activity.entry_key.startswith(IMPORT_ENTRY),
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
                    if field == MOVED:
                        _move_back(session, customer, old, new)
                        continue
                    if _encode(field, getattr(customer, field)) != new:
                        raise UndoConflict(customer.name)
                    if field == "key" and _key_taken(session, customer, old):
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
