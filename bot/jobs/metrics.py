"""Read-only queries behind the reports: per-rep figures, money events, targets, funnel, lists.

Every function issues at most one SQL statement for the whole chat (never one per customer or
per member), so a digest costs the same handful of queries whatever the chat's size. The lists
(overdue, quiet, stalled) and the funnel are computed in Python from one customer snapshot.

Attribution: activity counts go to the member who logged them; won and payment amounts go to the
customer's owner (falling back to whoever logged them), so a manager booking a payment for a rep
does not take the rep's credit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import NamedTuple

from sqlalchemy import and_, case, func, or_, select

from bot.jobs.base import JobContext
from models.activity import Activity
from models.customer import Customer
from models.member import Member
from models.stages import LADDER, LOST, WON_STAGES
from models.target import Target

ZERO = Decimal("0")
CLOSED_STAGES = (LOST, "售后")


# -- time ------------------------------------------------------------------------------------


def day_start(ctx: JobContext, day: date) -> datetime:
    """Local midnight at the start of ``day`` in the chat's time zone."""
    return datetime.combine(day, time(), tzinfo=ctx.now.tzinfo)


def day_end(ctx: JobContext, day: date) -> datetime:
    """Local midnight at the end of ``day``."""
    return day_start(ctx, day + timedelta(days=1))


def month_key(day: date) -> str:
    """The Target month of a day: '2026-11'."""
    return f"{day.year:04d}-{day.month:02d}"


def month_first(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def local_date(ctx: JobContext, moment: datetime) -> date:
    """The chat-local calendar date of a stored (UTC) timestamp."""
    return moment.astimezone(ctx.now.tzinfo).date()


# -- members ---------------------------------------------------------------------------------


def members_by_id(ctx: JobContext) -> dict[int, Member]:
    """The chat's members keyed by id (one query)."""
    return {m.id: m for m in ctx.members()}


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


def _live(start: datetime, end: datetime, chat_id: int) -> list[object]:
    """Filters: this chat, not undone, not an undo row, created in [start, end)."""
    return [
        Activity.chat_id == chat_id,
        Activity.undone_at.is_(None),
        Activity.kind != "undo",
        Activity.created_at >= start,
        Activity.created_at < end,
    ]


def _is_move() -> object:
    """SQL: the activity moved the stage."""
    return and_(
        Activity.stage_from.is_not(None),
        Activity.stage_to.is_not(None),
        Activity.stage_from != Activity.stage_to,
    )


def activity_counts(
    ctx: JobContext, start: datetime, end: datetime
) -> dict[int | None, RepFigures]:
    """Per member: entries, follow-ups, new customers and stage moves logged in [start, end)."""
    moves = func.sum(case((_is_move(), 1), else_=0))
    rows = ctx.session.execute(
        select(Activity.member_id, Activity.kind, func.count(), moves)
        .where(*_live(start, end, ctx.chat.id))
        .group_by(Activity.member_id, Activity.kind)
    )
    figures: dict[int | None, RepFigures] = {}
    for member_id, kind, count, moved in rows:
        rep = figures.setdefault(member_id, RepFigures(member_id))
        rep.entries += count
        rep.stage_moves += int(moved or 0)
        if kind == "follow_up":
            rep.follow_ups += count
        elif kind == "create":
            rep.new_customers += count
    return figures


class DealEvent(NamedTuple):
    """A win, loss or payment; ``member_id`` is who gets the credit (the customer's owner)."""

    kind: str  # "won" | "lost" | "payment"
    customer_id: int | None
    customer_name: str
    member_id: int | None
    amount: Decimal | None
    at: datetime
    text: str


def deal_events(ctx: JobContext, start: datetime, end: datetime) -> list[DealEvent]:
    """Wins (first entry into a won stage), losses and payments in [start, end), oldest first.

    A customer won twice in the period (moved back and forth) counts once, at its last win.
    The won amount is the amount given with /签约, else the customer's contract amount.
    """
    rows = ctx.session.execute(
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
            Customer.owner_id,
            Customer.amount,
        )
        .outerjoin(Customer, Customer.id == Activity.customer_id)
        .where(
            *_live(start, end, ctx.chat.id),
            or_(Activity.kind == "payment", Activity.stage_to.in_((*WON_STAGES, LOST))),
        )
        .order_by(Activity.created_at, Activity.id)
    )
    events: list[DealEvent] = []
    won_at: dict[object, int] = {}
    for kind, cid, name, logger, amount, s_from, s_to, at, text, owner, contract in rows:
        credit = owner if owner is not None else logger
        if s_to in WON_STAGES and s_from not in WON_STAGES:
            value = amount if kind == "won" and amount is not None else contract
            key = cid if cid is not None else name
            if key in won_at:
                events[won_at[key]] = events[won_at[key]]._replace(kind="")
            won_at[key] = len(events)
            events.append(DealEvent("won", cid, name, credit, value, at, ""))
        elif s_to == LOST and s_from != LOST:
            events.append(DealEvent("lost", cid, name, credit, None, at, text or ""))
        if kind == "payment" and amount is not None:
            events.append(DealEvent("payment", cid, name, credit, amount, at, ""))
    return [e for e in events if e.kind]


def add_money(figures: dict[int | None, RepFigures], events: Iterable[DealEvent]) -> None:
    """Add wins, losses and payments to per-member figures (creating rows as needed)."""
    for event in events:
        rep = figures.setdefault(event.member_id, RepFigures(event.member_id))
        if event.kind == "won":
            rep.won_count += 1
            rep.won_amount += event.amount or ZERO
        elif event.kind == "lost":
            rep.lost_count += 1
        elif event.kind == "payment":
            rep.paid_amount += event.amount or ZERO


class StageMove(NamedTuple):
    """One stage change from the log."""

    customer_name: str
    member_id: int | None
    stage_from: str
    stage_to: str
    at: datetime


def stage_moves(ctx: JobContext, start: datetime, end: datetime) -> list[StageMove]:
    """Live stage changes in [start, end), oldest first."""
    rows = ctx.session.execute(
        select(
            Activity.customer_name,
            Activity.member_id,
            Activity.stage_from,
            Activity.stage_to,
            Activity.created_at,
        )
        .where(*_live(start, end, ctx.chat.id), _is_move())
        .order_by(Activity.created_at, Activity.id)
    )
    return [StageMove(*row) for row in rows]


def targets(ctx: JobContext, month: str) -> dict[int, Decimal]:
    """Target amount per member id for a month like '2026-11'."""
    rows = ctx.session.execute(
        select(Target.member_id, Target.amount).where(
            Target.chat_id == ctx.chat.id, Target.month == month
        )
    )
    return {member_id: amount for member_id, amount in rows}


@dataclass
class TargetProgress:
    """One member's target for a month and what they achieved so far."""

    member_id: int
    target: Decimal
    won: Decimal = ZERO
    paid: Decimal = ZERO

    @property
    def percent(self) -> int:
        """Won amount as a whole percentage of the target."""
        if not self.target:
            return 0
        return int((self.won * 100 / self.target).to_integral_value(rounding=ROUND_FLOOR))


def target_progress(goals: dict[int, Decimal], events: Iterable[DealEvent]) -> list[TargetProgress]:
    """Progress against targets (won amounts count; payments shown beside), best first."""
    progress = {mid: TargetProgress(mid, amount) for mid, amount in goals.items()}
    for event in events:
        row = progress.get(event.member_id)  # type: ignore[arg-type]
        if row is None:
            continue
        if event.kind == "won":
            row.won += event.amount or ZERO
        elif event.kind == "payment":
            row.paid += event.amount or ZERO
    return sorted(progress.values(), key=lambda p: (-p.won / (p.target or 1), p.member_id))


# -- customers snapshot and lists ------------------------------------------------------------


class Deal(NamedTuple):
    """The columns of a customer the reports need (no ORM objects for speed)."""

    id: int
    name: str
    owner_id: int | None
    stage: str
    status: str
    amount: Decimal | None
    created_at: datetime
    stage_entered_at: datetime
    last_activity_at: datetime | None
    next_follow_up_at: datetime | None
    has_time: bool


def deals(ctx: JobContext, active_only: bool = True) -> list[Deal]:
    """The chat's customers, oldest first; ``active_only`` drops 输单 and 售后."""
    query = select(
        Customer.id,
        Customer.name,
        Customer.owner_id,
        Customer.stage,
        Customer.status,
        Customer.amount,
        Customer.created_at,
        Customer.stage_entered_at,
        Customer.last_activity_at,
        Customer.next_follow_up_at,
        Customer.next_follow_up_has_time,
    ).where(Customer.chat_id == ctx.chat.id)
    if active_only:
        query = query.where(Customer.stage.not_in(CLOSED_STAGES))
    return [Deal(*row) for row in ctx.session.execute(query.order_by(Customer.id))]


class Overdue(NamedTuple):
    """A customer whose next follow-up has passed; ``days`` late in working days."""

    deal: Deal
    due: datetime
    days: int


class Quiet(NamedTuple):
    """An open customer nobody logged anything on for ``days`` working days."""

    deal: Deal
    since: datetime
    days: int


class Stalled(NamedTuple):
    """A customer longer in its stage than the stage's limit (working days)."""

    deal: Deal
    days: int
    limit: int


def days_since(ctx: JobContext, today: date) -> Callable[[date], int]:
    """A memoised ``workdays_between(day, today)``: many customers share the same dates."""
    memo: dict[date, int] = {}

    def count(day: date) -> int:
        if day not in memo:
            memo[day] = ctx.calendar.workdays_between(day, today)
        return memo[day]

    return count


def overdue(ctx: JobContext, customers: Iterable[Deal], now: datetime) -> list[Overdue]:
    """Customers whose follow-up passed (a date-only one once its day ended), latest first."""
    today = now.date()
    since = days_since(ctx, today)
    found = []
    for deal in customers:
        due = deal.next_follow_up_at
        if due is None or deal.stage in CLOSED_STAGES:
            continue
        due_day = local_date(ctx, due)
        if (deal.has_time and due <= now) or (not deal.has_time and due_day < today):
            found.append(Overdue(deal, due, since(due_day)))
    return sorted(found, key=lambda o: (-o.days, o.due, o.deal.id))


def _clock(deal: Deal) -> datetime:
    """When the customer last moved or was touched."""
    last = deal.last_activity_at
    return max(deal.stage_entered_at, last) if last is not None else deal.stage_entered_at


def quiet(
    ctx: JobContext, customers: Iterable[Deal], now: datetime, days: int | None = None
) -> list[Quiet]:
    """Open customers without any entry for ``days`` (default quiet_days) working days.

    A customer with a follow-up planned in the future is not quiet: someone has a date for it.
    """
    limit = ctx.config.quiet_days if days is None else days
    today = now.date()
    count = days_since(ctx, today)
    found = []
    for deal in customers:
        if deal.status != "open":
            continue
        if deal.next_follow_up_at is not None and local_date(ctx, deal.next_follow_up_at) >= today:
            continue
        last = deal.last_activity_at or deal.created_at
        idle = count(local_date(ctx, last))
        if idle >= limit:
            found.append(Quiet(deal, last, idle))
    return sorted(found, key=lambda q: (-q.days, q.since, q.deal.id))


def stalled(ctx: JobContext, customers: Iterable[Deal], now: datetime) -> list[Stalled]:
    """Customers past their stage limit; clock = max(stage entered, last activity).

    Sorted by how far past the limit, longest first.
    """
    count = days_since(ctx, now.date())
    found = []
    for deal in customers:
        limit = ctx.config.stage_limits.get(deal.stage)
        if not limit:
            continue
        days = count(local_date(ctx, _clock(deal)))
        if days > limit:
            found.append(Stalled(deal, days, limit))
    return sorted(found, key=lambda s: (-(s.days - s.limit), -s.days, s.deal.id))


# -- funnel ----------------------------------------------------------------------------------


@dataclass
class StageFigures:
    """Customers in one stage and their summed amount."""

    count: int = 0
    amount: Decimal = ZERO


@dataclass
class Funnel:
    """Customers per stage (ladder plus 输单) at one moment."""

    stages: dict[str, StageFigures] = field(
        default_factory=lambda: {s: StageFigures() for s in (*LADDER, LOST)}
    )

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


def funnel_at(ctx: JobContext, customers: list[Deal], moment: datetime) -> Funnel:
    """The funnel as it was at ``moment``, rebuilt from the activity log (one query).

    A customer's stage then is the ``stage_from`` of its first live stage change after
    ``moment``, or its current stage when it has not moved since; customers created later
    are left out. Amounts are today's contract amounts.
    """
    first = (
        select(Activity.customer_id, func.min(Activity.id).label("first_id"))
        .where(
            Activity.chat_id == ctx.chat.id,
            Activity.undone_at.is_(None),
            Activity.created_at > moment,
            Activity.customer_id.is_not(None),
            _is_move(),
        )
        .group_by(Activity.customer_id)
        .subquery()
    )
    rows = ctx.session.execute(
        select(Activity.customer_id, Activity.stage_from).join(
            first, first.c.first_id == Activity.id
        )
    )
    before = dict(rows.all())
    funnel = Funnel()
    for deal in customers:
        if deal.created_at > moment:
            continue
        funnel.add(before.get(deal.id, deal.stage), deal.amount)
    return funnel


def furthest_stages(ctx: JobContext, customers: list[Deal]) -> dict[int, int]:
    """Per customer, the furthest ladder index it ever reached (current stage or the log)."""
    rows = ctx.session.execute(
        select(Activity.customer_id, Activity.stage_from, Activity.stage_to)
        .where(
            Activity.chat_id == ctx.chat.id,
            Activity.undone_at.is_(None),
            Activity.customer_id.is_not(None),
            Activity.stage_to.is_not(None),
        )
        .group_by(Activity.customer_id, Activity.stage_from, Activity.stage_to)
    )
    index = {stage: i for i, stage in enumerate(LADDER)}
    furthest = {deal.id: index.get(deal.stage, 0) for deal in customers}
    for customer_id, s_from, s_to in rows:
        if customer_id not in furthest:
            continue
        reached = max(index.get(s_from or "", 0), index.get(s_to, 0))
        furthest[customer_id] = max(furthest[customer_id], reached)
    return furthest


def reached_counts(furthest: dict[int, int]) -> list[int]:
    """For each ladder stage, how many customers got at least that far."""
    return [sum(1 for f in furthest.values() if f >= i) for i in range(len(LADDER))]
