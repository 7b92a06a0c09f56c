"""The manager's board, read-only: the pipeline, the funnel and trends, late and stalled, a customer.

Every function takes a ``reports.Scope`` (the chat, its clock, calendar and thresholds) and an
``owner_id``: None for the whole book (a manager or an admin), a member id for a rep, who sees
only the customers they own. What is due, overdue, stalled, won or paid is asked of
``models.reports`` (one truth with the chat's reports and jobs); this module only arranges it.

A page costs a handful of SQL statements for the whole chat, never one per customer or member.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import select

from models import reports
from models.activity import Activity, Kind
from models.book_headers import LABELS
from models.calendar import WorkCalendar
from models.customer import Customer, live
from models.member import Member
from models.pipeline import JobRun
from models.stages import ALL_STAGES, LADDER, LOST, Status

ZERO = Decimal("0")
CARDS_PER_COLUMN = 30  # a column shows this many cards; its totals and the .xlsx count them all
LATE_ROWS = 200  # the late page shows this many rows; its count and the .xlsx have them all
WEEKS = 8
# The job_run items the escalating jobs claim (handlers/jobs/stalled.py, handlers/jobs/sla.py):
# "<job>#item" with periods "c<id>:<stage>:<clock %Y%m%d%H%M%S>:L<level>" (stalled deals, the
# clock in the chat's time zone) and "c<id>:<assigned_at %Y%m%d%H%M%S>:L<level>" (response SLA).
STALLED_ITEMS = "stalled_deals#item"
SLA_ITEMS = "response_sla#item"
# Labels of the customer fields an activity's ``changes`` may name (the book's where it has one).
FIELD_LABELS: dict[str, str] = {
    **LABELS,
    "name": "名称",
    "stage": "阶段",
    "status": "状态",
    "owner_id": "负责人",
    "assigned_by_id": "分配人",
    "released_by_id": "退回人",
    "stage_entered_at": "进入阶段时间",
    "next_follow_up_has_time": "下次跟进含时间",
    "assigned_at": "分配时间",
    "deleted_at": "删除时间",
    "released_at": "退回公海时间",
    "key": "",
}
_MEMBER_FIELDS = {"owner_id", "assigned_by_id", "released_by_id"}
_TIME_FIELDS = {
    "stage_entered_at",
    "last_activity_at",
    "next_follow_up_at",
    "assigned_at",
    "deleted_at",
    "released_at",
    "created_at",
}
_MONEY_FIELDS = {"amount", "paid_amount"}
_STATUS_LABELS = {s.value: s.label for s in Status}


@dataclass(frozen=True)
class Filters:
    """What the viewer narrowed the board to (query parameters of the page)."""

    rep: int | None = None  # owner member id (ignored for a rep: they see their own)
    grade: str = ""
    tag: str = ""
    stage: str = ""
    overdue: bool = False
    stalled: bool = False

    @property
    def active(self) -> bool:
        """Any filter set."""
        return bool(
            self.rep is not None
            or self.grade
            or self.tag
            or self.stage
            or self.overdue
            or self.stalled
        )


@dataclass
class CustomerCard:
    """One customer as the board shows it."""

    id: int
    name: str
    stage: str
    status: str
    grade: str
    tags: list[str]
    owner_id: int | None
    owner: str  # the owner's display name, "" when nobody owns it
    amount: Decimal | None
    paid_amount: Decimal | None
    days_in_stage: int  # working days since entering the stage
    next_at: datetime | None  # the next follow-up, chat-local
    next_has_time: bool
    late_days: int | None  # overdue: working days late (0: since today); None: not overdue
    due_today: bool
    stalled_days: int | None  # stalled: working days on the stage clock; None: not stalled
    stage_limit: int | None  # the stalled limit of its stage (and grade)

    @property
    def overdue(self) -> bool:
        """The follow-up is overdue (reports.overdue)."""
        return self.late_days is not None

    @property
    def stalled(self) -> bool:
        """Stalled in its stage (reports.stalled)."""
        return self.stalled_days is not None


@dataclass
class Column:
    """A pipeline column: one stage, its totals and the first cards."""

    stage: str
    cards: list[CustomerCard]
    count: int = 0
    amount: Decimal = ZERO
    overdue: int = 0
    stalled: int = 0

    @property
    def hidden(self) -> int:
        """Cards counted but not shown (the .xlsx has them all)."""
        return self.count - len(self.cards)


@dataclass
class Option:
    """A choice of a filter."""

    value: str
    label: str


@dataclass
class FilterOptions:
    """The choices of the filters, from the book in scope."""

    reps: list[Option]
    grades: list[str]
    tags: list[str]
    stages: list[str]


@dataclass
class Pipeline:
    """The pipeline page: columns in stage order, totals, every matching card (for the .xlsx)."""

    columns: list[Column]
    cards: list[CustomerCard]
    options: FilterOptions
    count: int = 0
    amount: Decimal = ZERO
    overdue: int = 0
    stalled: int = 0


# -- helpers ---------------------------------------------------------------------------------


def _names(members: dict[int, Member]) -> dict[int, str]:
    return {mid: m.display for mid, m in members.items()}


def _workdays_since(calendar: WorkCalendar, today: date, days: Iterable[date]) -> dict[date, int]:
    """``calendar.workdays_between(day, today)`` for many days in one walk back from today."""
    wanted = sorted(set(days), reverse=True)
    found: dict[date, int] = {}
    count, current = 0, today
    for day in wanted:
        while current > day:  # count the working days d with day < d <= today
            count += calendar.is_workday(current)
            current -= timedelta(days=1)
        found[day] = count if day < today else 0
    return found


class Marks(NamedTuple):
    """The reports' verdicts on a set of deals: overdue or due today, and stalled."""

    follow: dict[int, reports.FollowUp]
    stuck: dict[int, reports.Stalled]

    def overdue(self, deal: reports.Deal) -> bool:
        """The follow-up is overdue (reports.overdue)."""
        due = self.follow.get(deal.id)
        return due is not None and due.overdue

    def urgency(self, deal: reports.Deal) -> tuple[Any, ...]:
        """Order: most late first, then longest stalled, due today, by next date, by id."""
        due = self.follow.get(deal.id)
        stall = self.stuck.get(deal.id)
        nxt = deal.next_follow_up_at
        return (
            -(due.days + 1) if due is not None and due.overdue else 0,
            -(stall.days if stall is not None else 0),
            due is None,
            nxt is None,
            nxt.timestamp() if nxt is not None else 0.0,
            deal.id,
        )


def _marks(scope: reports.Scope, deals: list[reports.Deal]) -> Marks:
    """Which deals are overdue, due today and stalled (models/reports.py decides)."""
    return Marks(
        {f.deal.id: f for f in reports.due_follow_ups(scope, deals)},
        {s.deal.id: s for s in reports.stalled(scope, deals)},
    )


def _cards(
    scope: reports.Scope, deals: list[reports.Deal], names: dict[int, str], marks: Marks
) -> list[CustomerCard]:
    """Cards of ``deals`` (only those to be shown: a card costs more than a deal)."""
    tz = scope.now.tzinfo
    entered = {d.id: reports.local_date(d.stage_entered_at, tz) for d in deals}
    in_stage = _workdays_since(scope.calendar, scope.now.date(), entered.values())
    cards = []
    for deal in deals:
        due = marks.follow.get(deal.id)
        stall = marks.stuck.get(deal.id)
        cards.append(
            CustomerCard(
                id=deal.id,
                name=deal.name,
                stage=deal.stage,
                status=deal.status,
                grade=deal.grade or "",
                tags=list(deal.tags or []),
                owner_id=deal.owner_id,
                owner=names.get(deal.owner_id, "") if deal.owner_id is not None else "",
                amount=deal.amount,
                paid_amount=deal.paid_amount,
                days_in_stage=in_stage[entered[deal.id]],
                next_at=deal.next_follow_up_at.astimezone(tz) if deal.next_follow_up_at else None,
                next_has_time=deal.has_time,
                late_days=due.days if due is not None and due.overdue else None,
                due_today=due is not None and not due.overdue,
                stalled_days=stall.days if stall is not None else None,
                stage_limit=reports.stage_limit(scope.config, deal.stage, deal.grade),
            )
        )
    return cards


def _scoped_deals(scope: reports.Scope, owner_id: int | None) -> list[reports.Deal]:
    return reports.deals(scope, owner_id)


def _matches(deal: reports.Deal, filters: Filters, owner_id: int | None, marks: Marks) -> bool:
    """The deal passes every filter set (a rep's filter by rep is moot: they see their own)."""
    if owner_id is None and filters.rep is not None and deal.owner_id != filters.rep:
        return False
    if filters.grade and deal.grade != filters.grade:
        return False
    if filters.tag and filters.tag not in (deal.tags or []):
        return False
    if filters.stage and deal.stage != filters.stage:
        return False
    if filters.overdue and not marks.overdue(deal):
        return False
    return not (filters.stalled and deal.id not in marks.stuck)


def _options(
    deals: list[reports.Deal], names: dict[int, str], owner_id: int | None
) -> FilterOptions:
    owning = sorted({d.owner_id for d in deals if d.owner_id is not None})
    reps = (
        [Option(str(mid), names.get(mid, str(mid))) for mid in owning] if owner_id is None else []
    )
    reps.sort(key=lambda o: (o.label, o.value))
    return FilterOptions(
        reps=reps,
        grades=sorted({d.grade for d in deals if d.grade}),
        tags=sorted({t for d in deals for t in (d.tags or [])}),
        stages=[s.value for s in ALL_STAGES],
    )


# -- pipeline --------------------------------------------------------------------------------


def pipeline(
    scope: reports.Scope,
    owner_id: int | None,
    filters: Filters = Filters(),
    every_card: bool = False,
) -> Pipeline:
    """Columns by stage (ladder order, then 输单) with totals; cards most urgent first.

    A column holds its first CARDS_PER_COLUMN cards; ``every_card`` also fills ``cards`` with
    the card of every matching customer (the .xlsx), otherwise ``cards`` is the shown ones.
    """
    deals = _scoped_deals(scope, owner_id)
    names = _names(reports.members_by_id(scope))
    marks = _marks(scope, deals)
    matching = [d for d in deals if _matches(d, filters, owner_id, marks)]
    matching.sort(key=marks.urgency)
    columns = {s.value: Column(s.value, []) for s in ALL_STAGES}
    shown: list[reports.Deal] = []
    for deal in matching:
        column = columns.setdefault(deal.stage, Column(deal.stage, []))
        column.count += 1
        column.amount += deal.amount or ZERO
        column.overdue += marks.overdue(deal)
        column.stalled += deal.id in marks.stuck
        if column.count <= CARDS_PER_COLUMN:
            shown.append(deal)
    cards = _cards(scope, matching if every_card else shown, names, marks)
    by_id = {c.id: c for c in cards}
    for deal in shown:
        columns[deal.stage].cards.append(by_id[deal.id])
    return Pipeline(
        columns=[c for c in columns.values() if not filters.stage or c.stage == filters.stage],
        cards=cards,
        options=_options(deals, names, owner_id),
        count=len(matching),
        amount=sum((d.amount or ZERO for d in matching), ZERO),
        overdue=sum(1 for d in matching if marks.overdue(d)),
        stalled=sum(1 for d in matching if d.id in marks.stuck),
    )


def filter_options(scope: reports.Scope, owner_id: int | None) -> FilterOptions:
    """The reps, grades, tags and stages the filters offer."""
    deals = _scoped_deals(scope, owner_id)
    return _options(deals, _names(reports.members_by_id(scope)), owner_id)


# -- funnel and trends -----------------------------------------------------------------------


@dataclass
class FunnelRow:
    """One stage of the funnel: now, at the end of last month, and how far customers got."""

    stage: str
    count: int
    amount: Decimal
    last_month: int  # customers in the stage at the end of last month (reports.funnel_at)
    reached: int | None  # customers that got at least this far (None for 输单)
    conversion: Decimal | None  # reached ÷ the previous stage's reached (None: first or 0)

    @property
    def change(self) -> int:
        """Now minus the end of last month."""
        return self.count - self.last_month


@dataclass
class Period:
    """New customers and money in a period (this month, last month)."""

    new_customers: int = 0
    won_count: int = 0
    won_amount: Decimal = ZERO
    lost_count: int = 0
    paid_amount: Decimal = ZERO


@dataclass
class Week(Period):
    """One week of the trend: its Monday, then the period's figures."""

    first: date = date.min


@dataclass
class RepRow:
    """One member this month: activity, money and progress against their target."""

    member_id: int | None
    name: str
    figures: reports.RepFigures
    target: Decimal | None
    target_won: Decimal = ZERO

    @property
    def progress(self) -> Decimal | None:
        """Won this month ÷ target (reports.target_progress counts wins)."""
        if not self.target:
            return None
        return self.target_won / self.target


@dataclass
class FunnelPage:
    """The funnel and trends page."""

    rows: list[FunnelRow]
    total: int
    last_month_total: int
    this_month: Period
    last_month: Period
    weeks: list[Week]
    reps: list[RepRow]
    month: str  # '2026-11'
    previous_month: str


def _mine(owner_id: int | None, member_id: int | None) -> bool:
    return owner_id is None or member_id == owner_id


def _period(
    new_customers: int, events: Iterable[reports.DealEvent], owner_id: int | None
) -> Period:
    """A period's new customers and its deal events summed (a rep: their own only)."""
    period = Period(new_customers)
    for event in events:
        if not _mine(owner_id, event.member_id):
            continue
        if event.kind is Kind.WON:
            period.won_count += 1
            period.won_amount += event.amount or ZERO
        elif event.kind is Kind.LOST:
            period.lost_count += 1
        elif event.kind is Kind.PAYMENT:
            period.paid_amount += event.amount or ZERO
    return period


def _new_customers(
    scope: reports.Scope, start: datetime, end: datetime, owner_id: int | None
) -> list[datetime]:
    """When each new customer in [start, end) was logged (a rep: by them), in one query.

    What ``reports.activity_counts`` counts as ``new_customers`` (live entries of
    ``NEW_CUSTOMER_KINDS`` on live customers, by who logged them), as times to count by week
    and by month; tests/test_board_data.py checks the two agree week by week.
    """
    rows = scope.session.execute(
        select(Activity.member_id, Activity.created_at)
        .outerjoin(Customer, Customer.id == Activity.customer_id)
        .where(
            Activity.chat_id == scope.chat.id,
            Activity.undone_at.is_(None),
            Activity.kind.in_(reports.NEW_CUSTOMER_KINDS),
            Activity.created_at >= start,
            Activity.created_at < end,
            live(),
        )
    )
    return sorted(at for member_id, at in rows if _mine(owner_id, member_id))


def _month_before(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


def funnel(scope: reports.Scope, owner_id: int | None) -> FunnelPage:
    """The funnel now vs the end of last month, 8 weeks of trend and each member this month.

    Funnel counts and conversions are the ones /漏斗 shows; the figures per period and member
    are the digest's and /排行's (activity counts by who logged them, money by the owner).
    """
    today = scope.now.date()
    deals = _scoped_deals(scope, owner_id)
    month_first = reports.month_first(today)
    last_first = _month_before(month_first)
    month_start = reports.day_start(scope, month_first)
    last_start = reports.day_start(scope, last_first)
    end = reports.day_end(scope, today)

    now = reports.funnel_now(deals)
    before = reports.funnel_at(scope, deals, month_start)
    reached = reports.reached_counts(reports.furthest_stages(scope, deals))
    rows = []
    for i, stage in enumerate(LADDER):
        conversion = None
        if i and reached[i - 1]:
            conversion = Decimal(reached[i]) / Decimal(reached[i - 1])
        figures = now.stages[stage]
        rows.append(
            FunnelRow(
                stage,
                figures.count,
                figures.amount,
                before.stages[stage].count,
                reached[i],
                conversion,
            )
        )
    lost = now.stages[LOST]
    rows.append(FunnelRow(LOST, lost.count, lost.amount, before.stages[LOST].count, None, None))

    week_first = reports.week_first(today) - timedelta(weeks=WEEKS - 1)
    window = reports.day_start(scope, min(week_first, last_first))
    events = reports.deal_events(scope, window, end)  # oldest first
    times = [e.at for e in events]

    def within(start: datetime, stop: datetime) -> list[reports.DealEvent]:
        return events[bisect_left(times, start) : bisect_left(times, stop)]

    created = _new_customers(scope, window, end, owner_id)

    def new_within(start: datetime, stop: datetime) -> int:
        return bisect_left(created, stop) - bisect_left(created, start)

    weeks = []
    for w in range(WEEKS):
        first = week_first + timedelta(weeks=w)
        start = reports.day_start(scope, first)
        stop = min(reports.day_start(scope, first + timedelta(weeks=1)), end)
        money = _period(new_within(start, stop), within(start, stop), owner_id)
        weeks.append(Week(**vars(money), first=first))

    month_counts = reports.activity_counts(scope, month_start, end)
    month_events = within(month_start, end)
    this_month = _period(new_within(month_start, end), month_events, owner_id)
    last_events = within(last_start, month_start)
    last_month = _period(new_within(last_start, month_start), last_events, owner_id)

    members = reports.members_by_id(scope)
    goals = reports.targets(scope, reports.month_key(today))
    progress = {p.member_id: p for p in reports.target_progress(goals, month_events)}
    per_member = dict(month_counts)
    reports.add_money(per_member, month_events)
    for goal_id in goals:
        per_member.setdefault(goal_id, reports.RepFigures(goal_id))
    reps = []
    for member_id, rep in per_member.items():
        if not _mine(owner_id, member_id):
            continue
        member = members.get(member_id) if member_id is not None else None
        goal = progress.get(member_id) if member_id is not None else None
        reps.append(
            RepRow(
                member_id,
                member.display if member is not None else "（无）",
                rep,
                goal.target if goal is not None else None,
                goal.won if goal is not None else ZERO,
            )
        )
    reps.sort(
        key=lambda r: (
            -r.figures.won_amount,
            -r.figures.paid_amount,
            -r.figures.follow_ups,
            -r.figures.entries,
            r.member_id or 0,
        )
    )
    return FunnelPage(
        rows=rows,
        total=now.total,
        last_month_total=before.total,
        this_month=this_month,
        last_month=last_month,
        weeks=weeks,
        reps=reps,
        month=reports.month_key(today),
        previous_month=reports.month_key(last_first),
    )


# -- late and stalled ------------------------------------------------------------------------


@dataclass
class LateRow:
    """A customer that is overdue, stalled or both, with the escalation reached."""

    card: CustomerCard
    level: int  # the stalled alert's highest level sent for the current stage clock (0: none)
    sla_level: int  # the response SLA reminder's level sent for the current assignment (0: none)

    @property
    def lateness(self) -> int:
        """How late: working days overdue or past the stage limit, whichever is more."""
        late = self.card.late_days if self.card.late_days is not None else -1
        past = -1
        if self.card.stalled_days is not None and self.card.stage_limit:
            past = self.card.stalled_days - self.card.stage_limit
        return max(late, past)


def _levels(scope: reports.Scope, job: str) -> dict[str, int]:
    """period prefix (without ':L<level>') → the highest level claimed, for one job's items."""
    rows = scope.session.scalars(
        select(JobRun.period).where(JobRun.chat_id == scope.chat.id, JobRun.job == job)
    )
    found: dict[str, int] = {}
    for period in rows:
        prefix, _, level = period.rpartition(":L")
        if prefix and level.isdigit():
            found[prefix] = max(found.get(prefix, 0), int(level))
    return found


@dataclass
class LateList:
    """The late page: the latest ``rows`` (at most the limit asked) of ``total``; the filters."""

    rows: list[LateRow]
    total: int
    options: FilterOptions


def _lateness(deal: reports.Deal, marks: Marks) -> int:
    """Working days overdue or past the stage limit, whichever is more (LateRow.lateness)."""
    due = marks.follow.get(deal.id)
    stall = marks.stuck.get(deal.id)
    late = due.days if due is not None and due.overdue else -1
    return max(late, stall.days - stall.limit if stall is not None else -1)


def late(
    scope: reports.Scope,
    owner_id: int | None,
    filters: Filters = Filters(),
    limit: int | None = None,
) -> LateList:
    """Overdue and stalled customers in one list, the latest first, with escalation levels."""
    deals = _scoped_deals(scope, owner_id)
    names = _names(reports.members_by_id(scope))
    options = _options(deals, names, owner_id)
    marks = _marks(scope, deals)
    found = [
        d
        for d in deals
        if (marks.overdue(d) or d.id in marks.stuck) and _matches(d, filters, owner_id, marks)
    ]
    found.sort(key=lambda d: (-_lateness(d, marks), *marks.urgency(d)))
    shown = found if limit is None else found[:limit]
    if not shown:
        return LateList([], len(found), options)
    cards = _cards(scope, shown, names, marks)
    stalled_levels = _levels(scope, STALLED_ITEMS)
    sla_levels = _levels(scope, SLA_ITEMS)
    tz = scope.now.tzinfo
    rows = []
    for deal, card in zip(shown, cards, strict=True):
        level = 0
        if card.stalled:
            clock = reports.stage_clock(deal).astimezone(tz)
            level = stalled_levels.get(f"c{deal.id}:{deal.stage}:{clock:%Y%m%d%H%M%S}", 0)
        sla = 0
        if deal.assigned_at is not None:
            sla = sla_levels.get(f"c{deal.id}:{deal.assigned_at:%Y%m%d%H%M%S}", 0)
        rows.append(LateRow(card, level, sla))
    return LateList(rows, len(found), options)


# -- customer --------------------------------------------------------------------------------


@dataclass
class Change:
    """One field an entry changed."""

    label: str
    old: str
    new: str


@dataclass
class TimelineEntry:
    """One activity of a customer: when, who, what, and every field it changed."""

    id: int
    at: datetime  # chat-local
    who: str
    kind: str  # Chinese label
    text: str
    stage_from: str | None
    stage_to: str | None
    amount: Decimal | None
    next_at: datetime | None
    changes: list[Change]
    undone: bool


@dataclass
class CustomerDetail:
    """The customer page: card, names, facts and the full timeline (newest first)."""

    card: CustomerCard
    aliases: list[str]
    source: str
    lost_reason: str
    created_at: datetime
    last_activity_at: datetime | None
    timeline: list[TimelineEntry] = field(default_factory=list)


def _show(name: str, value: Any, names: dict[int, str], scope: reports.Scope) -> str:
    """A changed value as text: member names, local times, lists joined."""
    if value is None or value == "":
        return "—"
    if name in _MEMBER_FIELDS and isinstance(value, int):
        return names.get(value, f"#{value}")
    if name in _TIME_FIELDS and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return f"{moment.astimezone(scope.now.tzinfo):%Y-%m-%d %H:%M}"
    if name in _MONEY_FIELDS and isinstance(value, str | int | float):
        try:
            return f"{Decimal(str(value)).quantize(Decimal('0.01')).normalize():,f}"
        except ArithmeticError:
            return str(value)
    if name == "status":
        return _STATUS_LABELS.get(str(value), str(value))
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(str(v) for v in value) or "—"
    return str(value)


def _changes(raw: dict[str, Any], names: dict[int, str], scope: reports.Scope) -> list[Change]:
    out = []
    for name, pair in (raw or {}).items():
        label = FIELD_LABELS.get(name, None if name.startswith("_") else name)
        if not label or not isinstance(pair, list) or len(pair) != 2:
            continue
        out.append(
            Change(label, _show(name, pair[0], names, scope), _show(name, pair[1], names, scope))
        )
    return out


def customer(scope: reports.Scope, owner_id: int | None, customer_id: int) -> CustomerDetail | None:
    """The customer's page; None when it is not this chat's, deleted, or not the rep's own."""
    query = select(Customer).where(
        Customer.id == customer_id, Customer.chat_id == scope.chat.id, live()
    )
    if owner_id is not None:
        query = query.where(Customer.owner_id == owner_id)
    row = scope.session.scalars(query).first()
    if row is None:
        return None
    deal = reports.Deal(
        row.id,
        row.name,
        row.owner_id,
        row.stage,
        row.status,
        row.amount,
        row.paid_amount,
        row.created_at,
        row.stage_entered_at,
        row.last_activity_at,
        row.next_follow_up_at,
        row.next_follow_up_has_time,
        row.assigned_at,
        row.assigned_by_id,
        row.grade,
        list(row.tags or []),
    )
    names = _names(reports.members_by_id(scope))
    tz = scope.now.tzinfo
    activities = scope.session.execute(
        select(
            Activity.chat_id,
            Activity.id,
            Activity.created_at,
            Activity.member_id,
            Activity.kind,
            Activity.text,
            Activity.stage_from,
            Activity.stage_to,
            Activity.amount,
            Activity.next_follow_up_at,
            Activity.changes,
            Activity.undone_at,
        )
        .where(Activity.customer_id == row.id)  # by its own index; the chat is checked below
        .order_by(Activity.created_at.desc(), Activity.id.desc())
    )
    timeline = []
    for (
        chat_id,
        aid,
        at,
        member_id,
        kind,
        text,
        s_from,
        s_to,
        amount,
        next_at,
        changes,
        undone,
    ) in activities:
        if chat_id != scope.chat.id:
            continue
        label = Kind(kind).label if kind in Kind._value2member_map_ else kind
        timeline.append(
            TimelineEntry(
                id=aid,
                at=at.astimezone(tz),
                who=names.get(member_id, "") if member_id is not None else "",
                kind=label,
                text=text or "",
                stage_from=s_from,
                stage_to=s_to,
                amount=amount,
                next_at=next_at.astimezone(tz) if next_at else None,
                changes=_changes(changes, names, scope),
                undone=undone is not None,
            )
        )
    return CustomerDetail(
        card=_cards(scope, [deal], names, _marks(scope, [deal]))[0],
        aliases=list(row.aliases or []),
        source=row.source or "",
        lost_reason=row.lost_reason or "",
        created_at=row.created_at.astimezone(tz),
        last_activity_at=row.last_activity_at.astimezone(tz) if row.last_activity_at else None,
        timeline=timeline,
    )


__all__ = [
    "CARDS_PER_COLUMN",
    "Column",
    "CustomerCard",
    "CustomerDetail",
    "FilterOptions",
    "Filters",
    "FunnelPage",
    "FunnelRow",
    "LateRow",
    "Period",
    "Pipeline",
    "RepRow",
    "TimelineEntry",
    "Week",
    "customer",
    "filter_options",
    "funnel",
    "late",
    "pipeline",
]
