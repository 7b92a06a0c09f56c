"""The job table: every scheduled message declared once, with its time setting, words and due rule.

A row is all there is to a job: ``bot.scheduler`` runs the rows, ``bot.config`` takes the [jobs]
time keys and their defaults from them, ``ChatSettings`` resolves each chat's times from them and
/设置 derives its words, replies and help text from them. ``tests/test_job_table.py`` checks that
config.example.toml and README.md list every row. Adding a job: its module, its row, its test and
the two docs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.messages import OutgoingMessage
from handlers.jobs.base import JobContext
from handlers.jobs.digest import build_digest
from handlers.jobs.friday_round import build_friday_round
from handlers.jobs.nudges import build_nudges
from handlers.jobs.reclaim import build_reclaim
from handlers.jobs.sla import build_sla
from handlers.jobs.stalled import build_stalled
from handlers.jobs.timed_reminders import anything_due, build_timed_reminders
from handlers.jobs.weekly import build_weekly

SLA_SLOT_MINUTES = 15


@dataclass(frozen=True)
class Due:
    """A run that is due: its period key, and whether it is too late to run (skip it)."""

    period: str
    scheduled: datetime
    late: bool = False


Builder = Callable[[JobContext], list[OutgoingMessage]]
DueRule = Callable[[JobContext, timedelta], Due | None]


# -- due rules: plain functions of the job context (ctx.job is the row's name) ---------------


def daily(ctx: JobContext, grace: timedelta) -> Due | None:
    """Once a working day at the chat's time for the job."""
    today = ctx.now.date()
    if not ctx.calendar.is_workday(today):
        return None
    at = datetime.combine(today, ctx.config.time_of(ctx.job), ctx.now.tzinfo)
    if ctx.now < at:
        return None
    return Due(today.isoformat(), at, late=ctx.now >= at + grace)


def weekly(ctx: JobContext, grace: timedelta) -> Due | None:
    """On the last working day of the week, at the chat's time for the job."""
    today = ctx.now.date()
    if ctx.calendar.last_workday_of_week(today) != today:
        return None
    at = datetime.combine(today, ctx.config.time_of(ctx.job), ctx.now.tzinfo)
    if ctx.now < at:
        return None
    year, week, _ = today.isocalendar()
    return Due(f"{year}-W{week:02d}", at, late=ctx.now >= at + grace)


def quarter_hourly(ctx: JobContext, grace: timedelta) -> Due | None:
    """Every quarter hour inside office hours on working days (no catching up: it looks at now)."""
    now = ctx.now
    if not ctx.calendar.is_workday(now.date()):
        return None
    if not ctx.config.office_start <= now.time() < ctx.config.office_end:
        return None
    slot = now.replace(minute=now.minute - now.minute % SLA_SLOT_MINUTES, second=0, microsecond=0)
    return Due(slot.strftime("%Y-%m-%dT%H:%M"), slot)


def every_minute(ctx: JobContext, grace: timedelta) -> Due | None:
    """Every heartbeat minute, day and night (never late: the job itself looks back within grace)."""
    minute = ctx.now.replace(second=0, microsecond=0)
    return Due(minute.strftime("%Y-%m-%dT%H:%M"), minute)


def when(rule: DueRule, anything: Callable[[JobContext], bool]) -> DueRule:
    """``rule``, but only when ``anything(ctx)`` finds work: an idle period claims no run."""

    def due(ctx: JobContext, grace: timedelta) -> Due | None:
        found = rule(ctx, grace)
        return found if found is not None and anything(ctx) else None

    return due


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One scheduled message.

    ``name`` is stored with every run and outbox row and is what jobs.disabled lists. ``title``
    and ``words`` turn it on and off with /设置 开启|关闭. A job run at a time of day has a
    ``time_key`` (the [jobs] setting and the chat's /设置 override), its ``default`` and the
    ``time_words`` /设置 accepts for it (the first is the one help shows).
    """

    name: str
    title: str
    due: DueRule
    build: Builder
    words: tuple[str, ...] = ()
    time_key: str = ""
    default: str = ""
    time_words: tuple[str, ...] = ()
    time_note: str = ""  # shown after the time by /设置

    @property
    def switch_words(self) -> tuple[str, ...]:
        """What /设置 开启|关闭 accepts for this job: its title, then its other words."""
        return (self.title, *self.words)


# Rows in the order their runs post when several are due at once (the weekly review before the
# daily digest on a Friday). Texts for people list the jobs by name (``by_name``).
JOBS: tuple[Job, ...] = (
    Job(
        "pool_reclaim",
        "公海回收",
        daily,
        build_reclaim,
        words=("回收",),
        time_key="reclaim_time",
        default="09:00",
        time_words=("回收时间",),
    ),
    Job(
        "morning_nudges",
        "早间提醒",
        daily,
        build_nudges,
        words=("提醒",),
        time_key="nudge_time",
        default="09:30",
        time_words=("提醒时间", "早间提醒时间"),
    ),
    Job(
        "stalled_deals",
        "停滞预警",
        daily,
        build_stalled,
        words=("预警",),
        time_key="stalled_time",
        default="10:00",
        time_words=("预警时间",),
    ),
    Job("response_sla", "响应提醒", quarter_hourly, build_sla),
    Job(
        "timed_reminders",
        "定时提醒",
        when(every_minute, anything_due),
        build_timed_reminders,
        words=("到点提醒",),
    ),
    Job(
        "friday_round",
        "周五盘点",
        weekly,
        build_friday_round,
        words=("盘点",),
        time_key="round_time",
        default="15:00",
        time_words=("盘点时间",),
        time_note="（周报当天）",
    ),
    Job(
        "weekly_review",
        "周报",
        weekly,
        build_weekly,
        time_key="weekly_time",
        default="17:00",
        time_words=("周报时间",),
        time_note="（最后一个工作日）",
    ),
    Job(
        "daily_digest",
        "日报",
        daily,
        build_digest,
        time_key="digest_time",
        default="18:00",
        time_words=("日报时间",),
    ),
)
JOBS_BY_NAME = {job.name: job for job in JOBS}


def by_name() -> list[Job]:
    """The jobs in name order, as texts for people list them."""
    return sorted(JOBS, key=lambda job: job.name)


def job_names() -> list[str]:
    """Every job's name, sorted (what jobs.disabled may list)."""
    return [job.name for job in by_name()]


def timed() -> list[Job]:
    """The jobs run at a time of day (with a time key), in name order."""
    return [job for job in by_name() if job.time_key]


def time_defaults() -> dict[str, str]:
    """Every job's time key with its default: the [jobs] time settings."""
    return {job.time_key: job.default for job in timed()}
