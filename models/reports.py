"""Report queries and the one definition of what needs attention: due, overdue, quiet, stalled.

Every view (morning nudges, /待办, /我的, the digest, the weekly review, stalled alerts, the
response SLA) asks this module, so no two views can disagree about a customer:

- **open**: status ``open`` (线索 … 已报价). Won (已签约, 已回款, 售后) and lost (输单) deals are
  closed: nothing is pending on them; entering a closed stage clears the next follow-up.
- **deadline**: a timed follow-up falls due at its time, a date-only one at the end of its day
  (in the chat's time zone). A closed deal has no deadline, whatever date is stored.
- **overdue**: an open deal whose deadline has passed (``deadline <= now``); late by the working
  days from the follow-up's date to today (0: late since today).
- **due today**: an open deal whose follow-up is on today's date and not yet overdue.
- **due**: overdue or due today, what /待办 and the morning nudge list.
- **quiet**: an open deal with nothing planned for today or later and no entry for ``quiet_days``
  working days (since its last activity, or its creation).
- **stalled**: a deal that is not lost, in a stage with a limit, whose stage clock (entering the
  stage, reset by any activity) reached the limit in working days. A graded deal uses its
  grade's own limit for the stage when the chat set one (``stage_limit``).

Queries issue at most one SQL statement for the whole chat (never one per customer or member),
so a digest costs the same handful of queries whatever the chat's size; the lists and the
funnel are computed in Python from one customer snapshot.

Attribution: activity counts go to the member who logged them; won and payment amounts go to the
customer's owner (falling back to whoever logged them), so a manager booking a payment for a rep
does not take the rep's credit.

Deleted customers (/删除, ``models.customer.live``) are left out of every query here, their
logged activities included, as if they had never been entered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Literal, NamedTuple, Protocol

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from models.activity import Activity, Kind
from models.calendar import WorkCalendar
from models.chat import Chat
from models.customer import Customer, live
from models.member import Member
from models.stages import LADDER, LOST, WON_STAGES, Status
from models.target import Target

ZERO = Decimal("0")
FollowUpState = Literal["overdue", "today", "later"]
# What each kind of entry counts as in the per-member figures (every kind counts as an entry).
FOLLOW_UP_KINDS: frozenset[str] = frozenset({Kind.FOLLOW_UP})
NEW_CUSTOMER_KINDS: frozenset[str] = frozenset({Kind.CREATE})
# Logged by the bot itself (a reclaim to the lead pool) or by `genjin import`: not an entry of
# anyone's day.
UNCOUNTED_KINDS: frozenset[str] = frozenset({Kind.RELEASE, Kind.IMPORT})


class Limits(Protocol):
    """The chat's thresholds the definitions depend on."""

    @property
    def quiet_days(self) -> int:
        """Working days without an entry before an open deal counts as quiet."""
        ...

    @property
    def stage_limits(self) -> Mapping[str, int]:
        """Working days a deal may stay in a stage before it counts as stalled."""
        ...

    @property
    def grade_limits(self) -> Mapping[str, Mapping[str, int]]:
        """Per grade, per stage: the limit that replaces ``stage_limits`` for that grade."""
        ...


class Scope(Protocol):
    """One chat at one moment: what every report query needs (a job's context is one)."""

    @property
    def session(self) -> Session:
        """The open database session."""
        ...

    @property
    def chat(self) -> Chat:
        """The chat whose data is read."""
        ...

    @property
    def now(self) -> datetime:
        """The moment, aware, in the chat's time zone."""
        ...

    @property
    def calendar(self) -> WorkCalendar:
        """Working days and office hours."""
        ...

    @property
    def config(self) -> Limits:
        """The chat's effective thresholds."""
        ...


# -- time ------------------------------------------------------------------------------------


def day_start(scope: Scope, day: date) -> datetime:
    """Local midnight at the start of ``day`` in the chat's time zone."""
    return datetime.combine(day, time(), tzinfo=scope.now.tzinfo)


def day_end(scope: Scope, day: date) -> datetime:
    """Local midnight at the end of ``day``."""
    return day_start(scope, day + timedelta(days=1))


def week_first(day: date) -> date:
    """The Monday of ``day``'s week (本周 starts on Monday)."""
    return day - timedelta(days=day.weekday())


def month_key(day: date) -> str:
    """The Target month of a day: '2026-11'."""
    return f"{day.year:04d}-{day.month:02d}"


def month_first(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def local_date(moment: datetime, tz: tzinfo | None) -> date:
    """The chat-local calendar date of a stored (UTC) timestamp."""
    return moment.astimezone(tz).date()


# -- members ---------------------------------------------------------------------------------


def members_by_id(scope: Scope) -> dict[int, Member]:
    """The chat's members keyed by id, oldest first (one query)."""
    rows = scope.session.scalars(
        select(Member).where(Member.chat_id == scope.chat.id).order_by(Member.id)
    )
    return {m.id: m for m in rows}


def is_away(member: Member, now: datetime) -> bool:
    """On leave (/请假) at ``now``: away_until is exclusive, so the leave ends by itself.

    While away: no morning nudge, no response-SLA reminder and no reclaim of their customers;
    a stalled deal of theirs goes straight to the managers; the digest lists them as away.
    """
    return member.away_until is not None and now < member.away_until


def owners(scope: Scope) -> set[int]:
    """Ids of the members who own at least one of the chat's customers (one query)."""
    rows = scope.session.scalars(
        select(Customer.owner_id)
        .where(Customer.chat_id == scope.chat.id, Customer.owner_id.is_not(None), live())
        .distinct()
    )
    return {owner for owner in rows if owner is not None}


# -- activity figures ------------------------------------------------------------------------


@dataclass
class RepFigures:
    """What one member did in a period."""

    member_id: int | None
    entries: int = 0
    follow_ups: int = 0
    new_customers: int = 0
    stage_moves: int = 0
    won_count: int = 0
    won_amount: Decimal = ZERO
    lost_count: int = 0
    paid_amount: Decimal = ZERO

    @property
    def has_money(self) -> bool:
        """Any win, loss or payment."""
        return bool(self.won_count or self.lost_count or self.paid_amount)


def _live(start: datetime, end: datetime, chat_id: int) -> list[ColumnElement[bool]]:
    """Filters: this chat, not undone, not an undo row, created in [start, end)."""
    return [
        Activity.chat_id == chat_id,
        Activity.undone_at.is_(None),
        Activity.kind != Kind.UNDO,
        Activity.created_at >= start,
        Activity.created_at < end,
    ]


def _is_move() -> ColumnElement[bool]:
    """SQL: the activity moved the stage."""
    return and_(
        Activity.stage_from.is_not(None),
        Activity.stage_to.is_not(None),
        Activity.stage_from != Activity.stage_to,
    )


def activity_counts(scope: Scope, start: datetime, end: datetime) -> dict[int | None, RepFigures]:
    """Per member: entries, follow-ups, new customers and stage moves logged in [start, end)."""
    moves = func.sum(case((_is_move(), 1), else_=0))
    rows = scope.session.execute(
        select(Activity.member_id, Activity.kind, func.count(), moves)
        .outerjoin(Customer, Customer.id == Activity.customer_id)
        .where(*_live(start, end, scope.chat.id), live())
        .group_by(Activity.member_id, Activity.kind)
    )
    figures: dict[int | None, RepFigures] = {}
    for member_id, kind, count, moved in rows:
        if kind in UNCOUNTED_KINDS:
            continue
        rep = figures.setdefault(member_id, RepFigures(member_id))
        rep.entries += count
        rep.stage_moves += int(moved or 0)
        if kind in FOLLOW_UP_KINDS:
            rep.follow_ups += count
        elif kind in NEW_CUSTOMER_KINDS:
            rep.new_customers += count
    return figures


def activity_by_period(scope: Scope, bounds: Sequence[datetime]) -> list[RepFigures]:
    """Everyone's figures per period [bounds[i], bounds[i + 1]) (one query), as activity_counts.

    The same entries count as in ``activity_counts``, so the last period of a trend equals
    the period's own per-member figures added up. ``member_id`` is None in every row.
    """
    if len(bounds) < 2 or any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValueError("bounds must be at least two increasing moments")
    edges = [(Activity.created_at < edge, i) for i, edge in enumerate(bounds[1:-1])]
    last = len(bounds) - 2
    period = case(*edges, else_=last) if edges else literal(last)
    rows = (
        select(
            period.label("period"),
            Activity.kind.label("kind"),
            case((_is_move(), 1), else_=0).label("moved"),
        )
        .outerjoin(Customer, Customer.id == Activity.customer_id)
        .where(*_live(bounds[0], bounds[-1], scope.chat.id), live())
        .subquery()
    )
    # grouped on the subquery's columns: PostgreSQL cannot match a GROUP BY expression whose
    # bound moments are separate parameters
    counted = scope.session.execute(
        select(rows.c.period, rows.c.kind, func.count(), func.sum(rows.c.moved)).group_by(
            rows.c.period, rows.c.kind
        )
    )
    periods = [RepFigures(None) for _ in bounds[1:]]
    for index, kind, count, moved in counted:
        if kind in UNCOUNTED_KINDS:
            continue
        figures = periods[int(index)]
        figures.entries += count
        figures.stage_moves += int(moved or 0)
        if kind in FOLLOW_UP_KINDS:
            figures.follow_ups += count
        elif kind in NEW_CUSTOMER_KINDS:
            figures.new_customers += count
    return periods


class DealEvent(NamedTuple):
    """A win, loss or payment; ``member_id`` is who gets the credit (the customer's owner).

    A payment carries the customer's paid total right after it and today's contract amount.
    """

    kind: Kind  # won, lost or payment
    customer_id: int | None
    customer_name: str
    member_id: int | None
    amount: Decimal | None
    at: datetime
    text: str
    paid_total: Decimal | None = None
    contract: Decimal | None = None


def _paid_after(changes: Mapping[str, object]) -> Decimal | None:
    """The paid total a payment entry recorded ({"paid_amount": [old, new]})."""
    pair = changes.get("paid_amount")
    if isinstance(pair, list) and len(pair) == 2 and pair[1] is not None:
        return Decimal(str(pair[1]))
    return None


def deal_events(scope: Scope, start: datetime, end: datetime) -> list[DealEvent]:
    """Wins (first entry into a won stage), losses and payments in [start, end), oldest first.

    A customer won twice in the period (moved back and forth) counts once, at its last win.
    The won amount is the amount given with /签约, else the customer's contract amount.
    """
    rows = scope.session.execute(
        select(
            Activity.kind,
            Activity.customer_id,
            Activity.customer_name,
            Activity.member_id,
            Activity.amount,
            Activity.stage_from,
            Activity.stage_to,
            Activity.created_at,
            Activity.text,
            Activity.changes,
            Customer.owner_id,
            Customer.amount,
        )
        .outerjoin(Customer, Customer.id == Activity.customer_id)
        .where(
            *_live(start, end, scope.chat.id),
            live(),
            or_(Activity.kind == Kind.PAYMENT, Activity.stage_to.in_((*WON_STAGES, LOST))),
        )
        .order_by(Activity.created_at, Activity.id)
    )
    events: list[DealEvent] = []
    won_at: dict[object, int] = {}
    superseded: set[int] = set()
    for row in rows:
        kind, cid, name, logger, amount, s_from, s_to, at, text, changes, owner, contract = row
        credit = owner if owner is not None else logger
        if s_to in WON_STAGES and s_from not in WON_STAGES:
            value = amount if kind == Kind.WON and amount is not None else contract
            key = cid if cid is not None else name
            if key in won_at:
                superseded.add(won_at[key])
            won_at[key] = len(events)
            events.append(DealEvent(Kind.WON, cid, name, credit, value, at, ""))
        elif s_to == LOST and s_from != LOST:
            events.append(DealEvent(Kind.LOST, cid, name, credit, None, at, text or ""))
        if kind == Kind.PAYMENT and amount is not None:
            paid = _paid_after(changes or {})
            events.append(
                DealEvent(Kind.PAYMENT, cid, name, credit, amount, at, "", paid, contract)
            )
    return [e for i, e in enumerate(events) if i not in superseded]


def add_money(figures: dict[int | None, RepFigures], events: Iterable[DealEvent]) -> None:
    """Add wins, losses and payments to per-member figures (creating rows as needed)."""
    for event in events:
        rep = figures.setdefault(event.member_id, RepFigures(event.member_id))
        if event.kind is Kind.WON:
            rep.won_count += 1
            rep.won_amount += event.amount or ZERO
        elif event.kind is Kind.LOST:
            rep.lost_count += 1
        elif event.kind is Kind.PAYMENT:
            rep.paid_amount += event.amount or ZERO


class StageMove(NamedTuple):
    """One stage change from the log."""

    customer_name: str
    member_id: int | None
    stage_from: str
    stage_to: str
    at: datetime


def stage_moves(scope: Scope, start: datetime, end: datetime) -> list[StageMove]:
    """Live stage changes in [start, end), oldest first."""
    rows = scope.session.execute(
        select(
            Activity.customer_name,
            Activity.member_id,
            Activity.stage_from,
            Activity.stage_to,
            Activity.created_at,
        )
        .outerjoin(Customer, Customer.id == Activity.customer_id)
        .where(*_live(start, end, scope.chat.id), _is_move(), live())
        .order_by(Activity.created_at, Activity.id)
    )
    return [
        StageMove(name, member, s_from or "", s_to or "", at)
        for name, member, s_from, s_to, at in rows
    ]


def targets(scope: Scope, month: str) -> dict[int, Decimal]:
    """Target amount per member id for a month like '2026-11'."""
    rows = scope.session.execute(
        select(Target.member_id, Target.amount).where(
            Target.chat_id == scope.chat.id, Target.month == month
        )
    )
    return {member_id: amount for member_id, amount in rows}


@dataclass
class TargetProgress:
    """One member's target for a month and what they achieved so far (won counts)."""

    member_id: int
    target: Decimal
    won: Decimal = ZERO
    paid: Decimal = ZERO


def target_progress(goals: dict[int, Decimal], events: Iterable[DealEvent]) -> list[TargetProgress]:
    """Progress against targets (won amounts count; payments shown beside), best first."""
    progress = {mid: TargetProgress(mid, amount) for mid, amount in goals.items()}
    for event in events:
        row = progress.get(event.member_id) if event.member_id is not None else None
        if row is None:
            continue
        if event.kind is Kind.WON:
            row.won += event.amount or ZERO
        elif event.kind is Kind.PAYMENT:
            row.paid += event.amount or ZERO
    return sorted(progress.values(), key=lambda p: (-p.won / (p.target or 1), p.member_id))


# -- customers snapshot ----------------------------------------------------------------------


class Deal(NamedTuple):
    """The columns of a customer the reports need (no ORM objects, for speed)."""

    id: int
    name: str
    owner_id: int | None
    stage: str
    status: str
    amount: Decimal | None
    paid_amount: Decimal | None
    created_at: datetime
    stage_entered_at: datetime
    last_activity_at: datetime | None
    next_follow_up_at: datetime | None
    has_time: bool
    assigned_at: datetime | None
    assigned_by_id: int | None
    grade: str
    tags: list[str]


_DEAL_COLUMNS = (
    Customer.id,
    Customer.name,
    Customer.owner_id,
    Customer.stage,
    Customer.status,
    Customer.amount,
    Customer.paid_amount,
    Customer.created_at,
    Customer.stage_entered_at,
    Customer.last_activity_at,
    Customer.next_follow_up_at,
    Customer.next_follow_up_has_time,
    Customer.assigned_at,
    Customer.assigned_by_id,
    Customer.grade,
    Customer.tags,
)


def deals(scope: Scope, owner_id: int | None = None) -> list[Deal]:
    """The chat's customers (all stages), oldest first; only ``owner_id``'s when given."""
    query = select(*_DEAL_COLUMNS).where(Customer.chat_id == scope.chat.id, live())
    if owner_id is not None:
        query = query.where(Customer.owner_id == owner_id)
    return [Deal._make(row) for row in scope.session.execute(query.order_by(Customer.id))]


# -- the definitions -------------------------------------------------------------------------


def is_open(deal: Deal) -> bool:
    """Still to be won: follow-ups, quiet and the SLA concern open deals only."""
    return deal.status == Status.OPEN


def deadline(deal: Deal, tz: tzinfo | None) -> datetime | None:
    """When the pending follow-up becomes overdue; None when nothing is pending.

    A timed follow-up at its time, a date-only one at the end of its local day. A closed deal
    has nothing pending, whatever date it still carries.
    """
    due = deal.next_follow_up_at
    if due is None or not is_open(deal):
        return None
    if deal.has_time:
        return due
    return datetime.combine(local_date(due, tz) + timedelta(days=1), time(), tzinfo=tz)


def follow_up_state(deal: Deal, now: datetime) -> FollowUpState | None:
    """'overdue', 'today' (due later today), 'later', or None when nothing is pending."""
    end = deadline(deal, now.tzinfo)
    if end is None or deal.next_follow_up_at is None:
        return None
    if end <= now:
        return "overdue"
    if local_date(deal.next_follow_up_at, now.tzinfo) <= now.date():
        return "today"
    return "later"


def days_since(calendar: WorkCalendar, today: date) -> Callable[[date], int]:
    """A memoised ``workdays_between(day, today)``: many customers share the same dates."""
    memo: dict[date, int] = {}

    def count(day: date) -> int:
        if day not in memo:
            memo[day] = calendar.workdays_between(day, today)
        return memo[day]

    return count


class FollowUp(NamedTuple):
    """A follow-up that needs doing now: overdue (``days`` working days late) or due today."""

    deal: Deal
    due: datetime
    overdue: bool
    days: int


def due_follow_ups(scope: Scope, customers: Iterable[Deal]) -> list[FollowUp]:
    """Overdue and due-today follow-ups: overdue first (longest late first), then by time."""
    now = scope.now
    late = days_since(scope.calendar, now.date())
    found = []
    for deal in customers:
        state = follow_up_state(deal, now)
        if state is None or state == "later" or deal.next_follow_up_at is None:
            continue
        due = deal.next_follow_up_at
        overdue = state == "overdue"
        days = late(local_date(due, now.tzinfo)) if overdue else 0
        found.append(FollowUp(deal, due, overdue, days))
    return sorted(found, key=lambda f: (not f.overdue, f.due, f.deal.id))


def overdue(scope: Scope, customers: Iterable[Deal]) -> list[FollowUp]:
    """The overdue follow-ups only, longest late first."""
    return [f for f in due_follow_ups(scope, customers) if f.overdue]


class Quiet(NamedTuple):
    """An open customer nobody logged anything on for ``days`` working days."""

    deal: Deal
    since: datetime
    days: int


def quiet(scope: Scope, customers: Iterable[Deal], days: int | None = None) -> list[Quiet]:
    """Open customers with nothing planned and no entry for ``days`` (default quiet_days)."""
    limit = scope.config.quiet_days if days is None else days
    now = scope.now
    count = days_since(scope.calendar, now.date())
    found = []
    for deal in customers:
        if not is_open(deal) or follow_up_state(deal, now) in ("today", "later"):
            continue
        last = deal.last_activity_at or deal.created_at
        idle = count(local_date(last, now.tzinfo))
        if idle >= limit:
            found.append(Quiet(deal, last, idle))
    return sorted(found, key=lambda q: (-q.days, q.since, q.deal.id))


class Stalled(NamedTuple):
    """A customer in its stage for ``days`` working days, at or past the stage's ``limit``."""

    deal: Deal
    since: datetime
    days: int
    limit: int


def stage_clock(deal: Deal) -> datetime:
    """The stalled clock: entering the stage, restarted by any later activity."""
    last = deal.last_activity_at
    return max(deal.stage_entered_at, last) if last is not None else deal.stage_entered_at


def stage_limit(config: Limits, stage: str, grade: str = "") -> int | None:
    """The stalled limit of ``stage`` for a deal of ``grade``: the grade's own, else the stage's."""
    own = config.grade_limits.get(grade, {}).get(stage) if grade else None
    return own or config.stage_limits.get(stage)


def stalled(scope: Scope, customers: Iterable[Deal]) -> list[Stalled]:
    """Deals (not lost) whose stage clock reached their stage limit; furthest past it first."""
    now = scope.now
    count = days_since(scope.calendar, now.date())
    found = []
    for deal in customers:
        limit = stage_limit(scope.config, deal.stage, deal.grade)
        if not limit or deal.stage == LOST:
            continue
        since = stage_clock(deal)
        days = count(local_date(since, now.tzinfo))
        if days >= limit:
            found.append(Stalled(deal, since, days, limit))
    return sorted(found, key=lambda s: (-(s.days - s.limit), -s.days, s.deal.id))


def untouched_assignments(scope: Scope) -> list[Deal]:
    """Open deals handed over (/分配, /交接) on which the new owner logged nothing since (one query)."""
    touched = exists().where(
        Activity.customer_id == Customer.id,
        Activity.member_id == Customer.owner_id,
        Activity.created_at > Customer.assigned_at,
        Activity.undone_at.is_(None),
        Activity.kind.not_in((Kind.ASSIGN, Kind.HANDOVER)),
    )
    query = (
        select(*_DEAL_COLUMNS)
        .where(
            Customer.chat_id == scope.chat.id,
            live(),
            Customer.status == Status.OPEN,
            Customer.assigned_at.is_not(None),
            Customer.owner_id.is_not(None),
            ~touched,
        )
        .order_by(Customer.id)
    )
    return [Deal._make(row) for row in scope.session.execute(query)]


# -- funnel ----------------------------------------------------------------------------------


@dataclass
class StageFigures:
    """Customers in one stage and their summed amount."""

    count: int = 0
    amount: Decimal = ZERO


def _empty_stages() -> dict[str, StageFigures]:
    return {s: StageFigures() for s in (*LADDER, LOST)}


@dataclass
class Funnel:
    """Customers per stage (ladder plus 输单) at one moment."""

    stages: dict[str, StageFigures] = field(default_factory=_empty_stages)

    def add(self, stage: str, amount: Decimal | None) -> None:
        """Count one customer in ``stage``."""
        row = self.stages.setdefault(stage, StageFigures())
        row.count += 1
        row.amount += amount or ZERO

    @property
    def total(self) -> int:
        """All customers counted."""
        return sum(s.count for s in self.stages.values())


def funnel_now(customers: Iterable[Deal]) -> Funnel:
    """The funnel from the customers' current stages."""
    funnel = Funnel()
    for deal in customers:
        funnel.add(deal.stage, deal.amount)
    return funnel


def funnel_at(scope: Scope, customers: list[Deal], moment: datetime) -> Funnel:
    """The funnel just before ``moment``, rebuilt from the activity log (one query).

    Periods are [start, end): the funnel at a period's start holds nothing the period counts.
    A customer's stage then is the ``stage_from`` of its first live stage change at or after
    ``moment``, or its current stage when it has not moved since; customers created at or
    after ``moment`` are left out. Amounts are today's contract amounts.
    """
    first = (
        select(Activity.customer_id, func.min(Activity.id).label("first_id"))
        .where(
            Activity.chat_id == scope.chat.id,
            Activity.undone_at.is_(None),
            Activity.created_at >= moment,
            Activity.customer_id.is_not(None),
            _is_move(),
        )
        .group_by(Activity.customer_id)
        .subquery()
    )
    rows = scope.session.execute(
        select(Activity.customer_id, Activity.stage_from).join(
            first, first.c.first_id == Activity.id
        )
    )
    before: dict[int | None, str | None] = {cid: stage for cid, stage in rows}
    funnel = Funnel()
    for deal in customers:
        if deal.created_at >= moment:
            continue
        funnel.add(before.get(deal.id) or deal.stage, deal.amount)
    return funnel


def furthest_stages(scope: Scope, customers: list[Deal]) -> dict[int, int]:
    """Per customer, the furthest ladder index it ever reached (current stage or the log)."""
    rows = scope.session.execute(
        select(Activity.customer_id, Activity.stage_from, Activity.stage_to)
        .where(
            Activity.chat_id == scope.chat.id,
            Activity.undone_at.is_(None),
            Activity.customer_id.is_not(None),
            Activity.stage_to.is_not(None),
        )
        .group_by(Activity.customer_id, Activity.stage_from, Activity.stage_to)
    )
    index: dict[str, int] = {stage: i for i, stage in enumerate(LADDER)}
    furthest = {deal.id: index.get(deal.stage, 0) for deal in customers}
    for customer_id, s_from, s_to in rows:
        if customer_id is None or customer_id not in furthest:
            continue
        reached = max(index.get(s_from or "", 0), index.get(s_to or "", 0))
        furthest[customer_id] = max(furthest[customer_id], reached)
    return furthest


def reached_counts(furthest: dict[int, int]) -> list[int]:
    """For each ladder stage, how many customers got at least that far."""
    return [sum(1 for f in furthest.values() if f >= i) for i in range(len(LADDER))]
