"""Working days and office hours: China's statutory holidays and make-up days (调休).

Every scheduling rule of the bot counts *working* days and *working* hours. Working days come
from the ``chinesecalendar`` package (import name ``chinese_calendar``), which knows each year's
statutory holidays and make-up working days once the State Council has published them. For a
year it does not know, Monday–Friday is used and one warning per year is logged. The config's
``[calendar] holidays`` / ``workdays`` overrides win over both.

Office hours are one window per working day (``office_start``–``office_end``, both in the
caller's time zone); a lunch break is NOT modelled, so 12:00–13:00 counts as working time.
Office hours crossing midnight are not supported.

Instances are immutable; answers per date are cached (shared by ``with_office_hours`` copies
and, via ``calendar_from_settings``, by every chat using the same ``[calendar]`` section).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Protocol

import chinese_calendar

__all__ = ["CalendarConfig", "WorkCalendar", "calendar_from_settings"]

logger = logging.getLogger(__name__)

_ONE_DAY = timedelta(days=1)
_KNOWN_DATES: list[date] = [*chinese_calendar.holidays, *chinese_calendar.workdays]
_MIN_YEAR = min(d.year for d in _KNOWN_DATES)
_MAX_YEAR = max(d.year for d in _KNOWN_DATES)
# Years for which the Monday–Friday fallback was already announced in this process.
_warned_years: set[int] = set()


def _knows_year(year: int) -> bool:
    """True when chinesecalendar has holiday data for ``year``."""
    return _MIN_YEAR <= year <= _MAX_YEAR


def _warn_unknown_year(year: int) -> None:
    """Log, once per year per process, that ``year`` falls back to Monday–Friday."""
    if year in _warned_years:
        return
    _warned_years.add(year)
    logger.warning(
        "calendar: chinesecalendar has no holiday data for %d (it knows %d–%d); using "
        "Monday–Friday for %d. List that year's holidays and make-up working days (调休) in "
        "the config's [calendar] holidays / workdays, or upgrade the chinesecalendar package.",
        year,
        _MIN_YEAR,
        _MAX_YEAR,
        year,
    )


@lru_cache(maxsize=65536)
def _base_is_workday(day: date) -> bool:
    """chinesecalendar's answer for a known year, Monday–Friday (with a warning) otherwise."""
    if _knows_year(day.year):
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:  # pragma: no cover - data range checked above
            pass
    _warn_unknown_year(day.year)
    return day.weekday() < 5


def _as_date(day: date) -> date:
    """A datetime's date; a date unchanged."""
    return day.date() if isinstance(day, datetime) else day


def _require_aware(moment: datetime, name: str) -> tzinfo:
    """The tzinfo of an aware datetime; ValueError for a naive one."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment!r}")
    return moment.tzinfo


class WorkCalendar:
    """China's working days (with config overrides) and one office-hours window per day."""

    __slots__ = ("_holidays", "_workdays", "_cache", "office_start", "office_end")

    def __init__(
        self,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        office_start: time = time(9, 0),
        office_end: time = time(18, 0),
    ) -> None:
        """Overrides ``holidays`` (days off) and ``workdays`` (days on) win over everything."""
        self._holidays = frozenset(_as_date(d) for d in holidays)
        self._workdays = frozenset(_as_date(d) for d in workdays)
        both = self._holidays & self._workdays
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"calendar: {listed} listed in both [calendar] holidays and workdays")
        _check_office_hours(office_start, office_end)
        self.office_start = office_start
        self.office_end = office_end
        self._cache: dict[date, bool] = {}

    def __repr__(self) -> str:
        """Overrides and office hours, for logs."""
        return (
            f"WorkCalendar(holidays={len(self._holidays)}, workdays={len(self._workdays)}, "
            f"office={self.office_start:%H:%M}–{self.office_end:%H:%M})"
        )

    # -- days ---------------------------------------------------------------------------------

    def knows(self, year: int) -> bool:
        """True when chinesecalendar has holiday data for ``year``."""
        return _knows_year(year)

    def covers(self, year: int) -> bool:
        """True when ``year``'s days off are known: chinesecalendar has it or the config lists some."""
        return _knows_year(year) or any(d.year == year for d in self._holidays | self._workdays)

    def days_off_around(self, day: date, limit: int = 20) -> tuple[date, date] | None:
        """First and last day of the run of days off containing ``day`` (None on a working day).

        Around a holiday this is the whole block with its weekend (国庆: 10-01..10-07);
        ``limit`` bounds the search each way.
        """
        day = _as_date(day)
        if self.is_workday(day):
            return None
        first = last = day
        for _ in range(limit):
            if self.is_workday(first - _ONE_DAY):
                break
            first -= _ONE_DAY
        for _ in range(limit):
            if self.is_workday(last + _ONE_DAY):
                break
            last += _ONE_DAY
        return first, last

    def is_workday(self, day: date) -> bool:
        """True on a working day: overrides, then chinesecalendar, then Monday–Friday."""
        answer = self._cache.get(day)
        if answer is None:
            return self._lookup(day)
        return answer

    def _lookup(self, day: date) -> bool:
        """Compute (and cache) the answer for ``day``."""
        day = _as_date(day)
        answer = self._cache.get(day)
        if answer is None:
            if day in self._holidays:
                answer = False
            elif day in self._workdays:
                answer = True
            else:
                answer = _base_is_workday(day)
            self._cache[day] = answer
        return answer

    def next_workday(self, day: date, include_today: bool = False) -> date:
        """The first working day after ``day`` (or ``day`` itself when include_today and it is)."""
        current = _as_date(day) if include_today else _as_date(day) + _ONE_DAY
        while not self.is_workday(current):
            current += _ONE_DAY
        return current

    def previous_workday(self, day: date, include_today: bool = False) -> date:
        """The last working day before ``day`` (or ``day`` itself when include_today and it is)."""
        current = _as_date(day) if include_today else _as_date(day) - _ONE_DAY
        while not self.is_workday(current):
            current -= _ONE_DAY
        return current

    def add_workdays(self, day: date, n: int) -> date:
        """The date ``n`` working days after (n > 0) or before (n < 0) ``day``; n == 0 → day."""
        current = _as_date(day)
        for _ in range(abs(n)):
            current = self.next_workday(current) if n > 0 else self.previous_workday(current)
        return current

    def workdays_between(self, start: date, end: date) -> int:
        """Working days d with start < d <= end (0 when end <= start): days late / since."""
        current, end = _as_date(start) + _ONE_DAY, _as_date(end)
        count = 0
        while current <= end:
            if self.is_workday(current):
                count += 1
            current += _ONE_DAY
        return count

    def last_workday_of_week(self, day: date) -> date | None:
        """The last working day of ``day``'s ISO week (Monday–Sunday); None if it has none."""
        day = _as_date(day)
        monday = day - timedelta(days=day.weekday())
        for offset in range(6, -1, -1):
            candidate = monday + timedelta(days=offset)
            if self.is_workday(candidate):
                return candidate
        return None

    # -- hours --------------------------------------------------------------------------------

    def _office_window(self, day: date, tz: tzinfo) -> tuple[datetime, datetime]:
        """Opening and closing of ``day`` in ``tz``, as UTC datetimes."""
        opening = datetime.combine(day, self.office_start, tz).astimezone(UTC)
        closing = datetime.combine(day, self.office_end, tz).astimezone(UTC)
        return opening, closing

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Office hours on working days between two aware moments (0 if end <= start)."""
        tz = _require_aware(start, "start")
        _require_aware(end, "end")
        start_utc, end_utc = start.astimezone(UTC), end.astimezone(UTC)
        if end_utc <= start_utc:
            return 0.0
        total = timedelta()
        current, last = start.date(), end.astimezone(tz).date()
        while current <= last:
            if self.is_workday(current):
                opening, closing = self._office_window(current, tz)
                low, high = max(opening, start_utc), min(closing, end_utc)
                if high > low:
                    total += high - low
            current += _ONE_DAY
        return total.total_seconds() / 3600

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The aware moment (in start's tz) when ``hours`` office hours have passed since start.

        Starting outside office hours counts from the next opening; a span that ends exactly
        at closing time returns that closing time. ``hours == 0`` returns ``start``.
        """
        tz = _require_aware(start, "start")
        if hours < 0:
            raise ValueError(f"hours must be >= 0, got {hours}")
        if hours == 0:
            return start
        remaining = timedelta(hours=hours)
        start_utc = start.astimezone(UTC)
        current = start.date()
        while True:
            if self.is_workday(current):
                opening, closing = self._office_window(current, tz)
                low = max(opening, start_utc)
                if low < closing:
                    available = closing - low
                    if remaining <= available:
                        return (low + remaining).astimezone(tz)
                    remaining -= available
            current += _ONE_DAY

    def with_office_hours(self, start: time, end: time) -> WorkCalendar:
        """A copy with other office hours (per-chat override), sharing overrides and caches."""
        _check_office_hours(start, end)
        clone = copy.copy(self)
        clone.office_start = start
        clone.office_end = end
        return clone


def _check_office_hours(start: time, end: time) -> None:
    """ValueError unless start < end on the same day (naive times)."""
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError("office hours must be naive times (local to each chat)")
    if not start < end:
        raise ValueError(f"office_start {start:%H:%M} must be before office_end {end:%H:%M}")


def _parse_day(key: str, value: str) -> date:
    """'2026-10-10' → date, ValueError naming the [calendar] key."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"[calendar] {key}: {value!r} is not a date like 2027-01-01") from None


def _parse_time(key: str, value: str) -> time:
    """'09:00' → time, ValueError naming the [calendar] key."""
    try:
        return datetime.strptime(value.strip(), "%H:%M").time()
    except ValueError:
        raise ValueError(f"[calendar] {key}: {value!r} is not a time like 09:00") from None


@lru_cache(maxsize=64)
def _cached_calendar(
    holidays: tuple[str, ...], workdays: tuple[str, ...], office_start: str, office_end: str
) -> WorkCalendar:
    """One shared WorkCalendar per distinct [calendar] section."""
    return WorkCalendar(
        holidays=[_parse_day("holidays", v) for v in holidays],
        workdays=[_parse_day("workdays", v) for v in workdays],
        office_start=_parse_time("office_start", office_start),
        office_end=_parse_time("office_end", office_end),
    )


class CalendarConfig(Protocol):
    """A ``[calendar]`` config section (``bot.config.CalendarSettings`` is one)."""

    @property
    def holidays(self) -> Sequence[str]:
        """Extra days off, ISO dates."""
        ...

    @property
    def workdays(self) -> Sequence[str]:
        """Extra working days, ISO dates."""
        ...

    @property
    def office_start(self) -> str:
        """Start of office hours, HH:MM."""
        ...

    @property
    def office_end(self) -> str:
        """End of office hours, HH:MM."""
        ...


def calendar_from_settings(settings: CalendarConfig) -> WorkCalendar:
    """The WorkCalendar for a [calendar] config section (memoised, so its cache is shared)."""
    return _cached_calendar(
        tuple(settings.holidays),
        tuple(settings.workdays),
        settings.office_start,
        settings.office_end,
    )
