"""The scheduler: runs the job table (handlers/jobs/table.py) through one ``run_job`` entry point.

Every run is claimed with a unique (job, chat, period) row in the same transaction as its outbox
rows, so a restart, a second process or a repeated ``genjin tick`` never posts twice. A run missed
while the bot was down is caught up within the grace period, later it is skipped and logged once.
APScheduler only provides the heartbeat: ``tick`` once a minute.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.messages import OutgoingMessage
from bot.outbox import enqueue
from handlers.jobs import table
from handlers.jobs.base import job_context
from handlers.jobs.table import JOBS, JOBS_BY_NAME, Job  # noqa: F401 (JOBS*: for cli, retention)
from models.chat import Chat
from models.pipeline import JobRun, Outbox

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class Posted:
    """A message a run enqueued (for `genjin tick` to print)."""

    chat: str
    platform: str
    job: str
    outbox_id: int


def run_job(runtime: Runtime, chat_id: int, spec: Job, now: datetime) -> list[Posted]:
    """Claim and run one job for one chat if it is due at ``now``; returns what it enqueued."""
    grace = timedelta(hours=runtime.settings.jobs.grace_hours)
    with runtime.sessions() as session:
        try:
            with session.begin():
                chat = session.get_one(Chat, chat_id)
                ctx = job_context(session, chat, now, runtime.settings, job=spec.name)
                if spec.name in ctx.config.disabled:
                    return []
                due = spec.due(ctx, grace)
                if due is None or _claimed(session, spec.name, chat_id, due.period):
                    return []
                run = JobRun(job=spec.name, chat_id=chat_id, period=due.period, created_at=now)
                session.add(run)
                session.flush()  # the claim: a second process stops here (unique key)
                if due.late:
                    run.status = "skipped"
                    log.info(
                        "%s for chat %s (%s) was due at %s and is past the %s grace period: skipped",
                        spec.name,
                        chat.external_id,
                        chat.platform,
                        due.scheduled,
                        grace,
                    )
                    return []
                messages = spec.build(ctx)
                rows = enqueue(
                    session,
                    chat.platform,
                    chat.external_id,
                    messages,
                    key_base=f"job:{spec.name}:{chat.platform}:{chat.external_id}:{due.period}",
                    now=now,
                    job=spec.name,
                )
                run.messages = len(rows)
                session.flush()
                return [Posted(chat.external_id, chat.platform, spec.name, row.id) for row in rows]
        except IntegrityError:
            return []  # another process claimed this run first


def _claimed(session: Session, job: str, chat_id: int, period: str) -> bool:
    """Whether the run exists already (cheap check before the claiming insert)."""
    return (
        session.scalars(
            select(JobRun.id).where(
                JobRun.job == job, JobRun.chat_id == chat_id, JobRun.period == period
            )
        ).first()
        is not None
    )


def tick(runtime: Runtime, now: datetime | None = None) -> list[Posted]:
    """Run every job due at ``now`` for every chat (the scheduler's heartbeat, and `genjin tick`)."""
    now = now or runtime.clock()
    with runtime.sessions() as session:
        chat_ids = list(session.scalars(select(Chat.id).order_by(Chat.id)))
    posted: list[Posted] = []
    for chat_id in chat_ids:
        for spec in table.JOBS:  # read at each tick: the table is the one list
            try:
                posted += run_job(runtime, chat_id, spec, now)
            except Exception:
                log.exception("job %s failed for chat %s", spec.name, chat_id)
    if posted:
        runtime.wake()
    return posted


def posted_messages(
    runtime: Runtime, posted: list[Posted]
) -> list[tuple[Posted, OutgoingMessage, str]]:
    """The messages behind ``posted`` with their delivery status."""
    ids = {p.outbox_id: p for p in posted}
    with runtime.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.id.in_(ids)).order_by(Outbox.id)).all()
        return [(ids[r.id], OutgoingMessage.from_payload(r.payload), r.status) for r in rows]


def _daily_purge(runtime: Runtime) -> None:
    """The once-a-day retention purge (bot.retention), its failures logged, never raised."""
    from bot.retention import daily_purge

    try:
        daily_purge(runtime)
    except Exception:
        log.exception("daily purge failed; the next day's purge catches up")


def start_heartbeat(runtime: Runtime) -> object:
    """APScheduler: tick once a minute (and at start), one run at a time, never piled up."""
    from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
        BackgroundScheduler,
    )

    scheduler = BackgroundScheduler(daemon=True)
    # Maintenance beside the ticks, in its own job: a long first purge never delays a digest.
    for job_id, step in (("genjin-tick", tick), ("genjin-purge", _daily_purge)):
        scheduler.add_job(
            lambda step=step: step(runtime),
            "interval",
            minutes=1,
            next_run_time=datetime.now(runtime.clock().tzinfo),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=30,
            id=job_id,
        )
    scheduler.start()
    return scheduler


def chat_by_name(session: Session, name: str) -> Chat | None:
    """A chat by its platform id, or by its name."""
    chat = session.scalars(select(Chat).where(Chat.external_id == name)).first()
    return chat or session.scalars(select(Chat).where(Chat.name == name)).first()
