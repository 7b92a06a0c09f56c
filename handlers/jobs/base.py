"""What a job (or a report command) sees: the session, chat, clock, calendar and effective settings.

Jobs never send: they return OutgoingMessages, which the scheduler writes to the outbox in the
same transaction as the run's claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.calendar import WorkCalendar
from models.chat import Chat
from models.member import ROLE_MANAGER, Member
from models.pipeline import JobRun

if TYPE_CHECKING:
    from bot.config import Settings


DESK = "desk"  # chat.settings key marking someone's private chat (handlers.desk): no jobs there
NUDGE_MODE = "nudge_mode"  # chat.settings key of /设置 提醒方式
PRIVATE_MODE = "private"


def _hhmm(value: str) -> time:
    """'18:00' → time(18, 0)."""
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


@dataclass
class ChatSettings:
    """A chat's effective job settings: config defaults overridden by its /设置 values."""

    times: dict[str, time]  # job name → its time of day, for the jobs in the table with one
    office_start: time
    office_end: time
    sla_hours: float
    quiet_days: int
    stage_limits: dict[str, int]
    disabled: set[str] = field(default_factory=set)
    # /设置 阶段时限 已报价 A 5: grade → stage → working days, ahead of stage_limits for that grade
    grade_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    reclaim_days: dict[str, int] = field(default_factory=dict)  # [pool]: stage → working days
    block_days: int = 0  # [pool]: working days the previous owner may not claim it back
    lead_minutes: int = 15  # a timed follow-up is reminded this long before (/设置 提前提醒)
    grace_hours: float = 2.0  # [jobs]: how late a missed run (or reminder) is still sent
    # /设置 提醒方式 私聊: nudges and SLA reminders to each rep privately (when the platform can)
    private_nudges: bool = False

    def time_of(self, job: str) -> time:
        """The time of day ``job`` runs at in this chat (its row in the job table has a time key)."""
        return self.times[job]

    @classmethod
    def resolve(cls, settings: Settings, chat: Chat) -> ChatSettings:
        """Config defaults, then the chat's own overrides (stored in chat.settings)."""
        from handlers.jobs.table import JOBS

        own: dict[str, Any] = chat.settings or {}
        jobs = settings.jobs
        switches = own.get("jobs", {})
        return cls(
            times={
                job.name: _hhmm(own.get(job.time_key, jobs.time(job.time_key)))
                for job in JOBS
                if job.time_key
            },
            office_start=_hhmm(own.get("office_start", settings.calendar.office_start)),
            office_end=_hhmm(own.get("office_end", settings.calendar.office_end)),
            sla_hours=float(own.get("sla_hours", jobs.sla_hours)),
            quiet_days=int(own.get("quiet_days", jobs.quiet_days)),
            stage_limits={**settings.stages, **own.get("stage_limits", {})},
            grade_limits={g: dict(v) for g, v in own.get("grade_limits", {}).items()},
            disabled={
                job.name
                for job in JOBS
                if DESK in own or not switches.get(job.name, job.name not in jobs.disabled)
            },
            reclaim_days=dict(settings.pool.reclaim_days),
            block_days=settings.pool.block_days,
            lead_minutes=int(own.get("lead_minutes", jobs.lead_minutes)),
            grace_hours=jobs.grace_hours,
            private_nudges=own.get(NUDGE_MODE) == PRIVATE_MODE
            and settings.can_send_private(chat.platform),
        )


@dataclass
class JobContext:
    """One job run (or report command) for one chat; ``now`` is aware, in the chat's time zone."""

    session: Session
    chat: Chat
    now: datetime
    calendar: WorkCalendar
    config: ChatSettings
    job: str = ""

    def members(self) -> list[Member]:
        """The chat's members, oldest first."""
        return list(
            self.session.scalars(
                select(Member).where(Member.chat_id == self.chat.id).order_by(Member.id)
            )
        )

    def managers(self) -> list[Member]:
        """Members with the manager role (admins from the config are not members by role)."""
        return [m for m in self.members() if m.role == ROLE_MANAGER]

    def claimed(self, item: str) -> bool:
        """Whether ``item`` was claimed before (by this job, in this chat), without claiming it."""
        return (
            self.session.scalars(
                select(JobRun.id).where(
                    JobRun.job == f"{self.job}#item",
                    JobRun.chat_id == self.chat.id,
                    JobRun.period == item,
                )
            ).first()
            is not None
        )

    def claim(self, item: str) -> bool:
        """Claim a once-only item (an escalation level, a nudge) in this transaction.

        True the first time for (job, chat, item); False when it was claimed before, here or by
        another process. Rolled back with the run if the run does not commit.
        """
        key = f"{self.job}#item"
        exists = self.session.scalars(
            select(JobRun.id).where(
                JobRun.job == key, JobRun.chat_id == self.chat.id, JobRun.period == item
            )
        ).first()
        if exists is not None:
            return False
        try:
            with self.session.begin_nested():
                self.session.add(
                    JobRun(job=key, chat_id=self.chat.id, period=item, created_at=self.now)
                )
        except IntegrityError:
            return False
        return True


def job_context(
    session: Session, chat: Chat, now: datetime, settings: Settings, job: str = ""
) -> JobContext:
    """A JobContext for ``chat`` at ``now`` (converted to the chat's time zone)."""
    from zoneinfo import ZoneInfo

    from models.calendar import calendar_from_settings

    config = ChatSettings.resolve(settings, chat)
    calendar = calendar_from_settings(settings.calendar).with_office_hours(
        config.office_start, config.office_end
    )
    local = now.astimezone(ZoneInfo(chat.timezone))
    return JobContext(session, chat, local, calendar, config, job)
