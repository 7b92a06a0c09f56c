"""Retention: the pipeline tables are purged of old rows, daily and with `genjin db purge`.

Purged after ``pipeline.retention_days``: inbox rows handled (done or failed) before then, outbox
rows sent before then or given up on (created before then), and the claims of scheduled runs
whose period can never come due again; stored files (books sent for /导入, books /导出 posted)
after ``FILE_DAYS`` days, or sooner if the retention is shorter. Nothing pending is ever touched. Rows go in small
batches, each its own short transaction, so the webhook and the workers never wait long.

The daily purge runs from the scheduler heartbeat: the first beat after 03:00 (bot time zone)
claims the day's run in maintenance_run (unique task + period), so one process does it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from models.pipeline import DONE, FAILED, SENT, Inbox, JobRun, MaintenanceRun, Outbox
from models.stored_file import StoredFile

log = logging.getLogger(__name__)

BATCH = 500  # rows per delete transaction: milliseconds of locking each
PURGE_TASK = "purge"
PURGE_AFTER = time(3, 0)  # local time after which the day's purge runs (a quiet hour)
# A scheduled run's period (a day, a week, a quarter hour) can come due only within its own week
# plus the grace period, so a claim older than this can never let a job run twice; claims of
# once-only items (escalation levels, "<job>#item") are kept: their item can recur any time.
CLAIM_MIN_DAYS = 14
FILE_DAYS = 7  # stored files: a preview waits minutes for its 确认, an export seconds to be sent


@dataclass
class Purged:
    """How many rows a purge deleted, per table."""

    inbox: int = 0
    outbox: int = 0
    job_run: int = 0
    maintenance_run: int = 0
    stored_file: int = 0

    def __str__(self) -> str:
        return (
            f"inbox {self.inbox}, outbox {self.outbox}, job_run {self.job_run}, "
            f"maintenance_run {self.maintenance_run}, stored_file {self.stored_file}"
        )


def _delete_in_batches(
    sessions: sessionmaker[Session],
    model: Any,
    conditions: list[ColumnElement[bool]],
    batch: int,
) -> int:
    """Delete the rows of ``model`` matching ``conditions``, oldest id first, ``batch`` at a time."""
    deleted, after = 0, 0
    while True:
        with sessions() as session, session.begin():
            ids = session.scalars(
                select(model.id)
                .where(*conditions, model.id > after)
                .order_by(model.id)
                .limit(batch)
            ).all()
            if ids:
                session.execute(
                    delete(model).where(model.id.in_(ids)),
                    execution_options={"synchronize_session": False},
                )
        deleted += len(ids)
        if len(ids) < batch:
            return deleted
        after = ids[-1]


def purge(
    sessions: sessionmaker[Session], now: datetime, retention_days: int, batch: int = BATCH
) -> Purged:
    """Delete pipeline rows older than ``retention_days`` (see the module doc); returns counts.

    The inbox's unique (platform, message_id) only has to catch a platform's redelivery of a
    message, which comes within minutes or hours; handled rows kept for days keep it intact.
    """
    from bot.scheduler import JOBS

    cutoff = now - timedelta(days=retention_days)
    claims_cutoff = now - timedelta(days=max(retention_days, CLAIM_MIN_DAYS))
    purged = Purged()
    # Outbox first: its rows point at inbox rows (set to NULL when those go).
    purged.outbox = _delete_in_batches(
        sessions, Outbox, [Outbox.status == SENT, Outbox.sent_at < cutoff], batch
    ) + _delete_in_batches(
        sessions, Outbox, [Outbox.status == FAILED, Outbox.created_at < cutoff], batch
    )
    purged.inbox = _delete_in_batches(
        sessions,
        Inbox,
        [Inbox.status.in_((DONE, FAILED)), Inbox.processed_at < cutoff],
        batch,
    )
    purged.job_run = _delete_in_batches(
        sessions,
        JobRun,
        [JobRun.job.in_([spec.name for spec in JOBS]), JobRun.created_at < claims_cutoff],
        batch,
    )
    purged.maintenance_run = _delete_in_batches(
        sessions, MaintenanceRun, [MaintenanceRun.created_at < claims_cutoff], batch
    )
    # Files (books sent for /导入, books /导出 posted) are big and only needed for a while: a
    # preview is confirmed within minutes, an export sent within seconds.
    files_cutoff = now - timedelta(days=min(retention_days, FILE_DAYS))
    purged.stored_file = _delete_in_batches(
        sessions, StoredFile, [StoredFile.created_at < files_cutoff], batch
    )
    return purged


def daily_purge(runtime: Any) -> Purged | None:
    """The day's purge, if this process is the first to claim it after 03:00; else None."""
    now = runtime.clock()
    local = now.astimezone(runtime.settings.tz)
    if local.time() < PURGE_AFTER:
        return None
    period = local.date().isoformat()
    claimed = select(MaintenanceRun.id).where(
        MaintenanceRun.task == PURGE_TASK, MaintenanceRun.period == period
    )
    try:
        with runtime.sessions() as session, session.begin():
            if session.scalars(claimed).first() is not None:
                return None  # the usual case every other minute of the day: one cheap read
            session.add(MaintenanceRun(task=PURGE_TASK, period=period, created_at=now))
    except IntegrityError:
        return None  # another process claimed it first
    days = runtime.settings.pipeline.retention_days
    purged = purge(runtime.sessions, now, days)
    with runtime.sessions() as session, session.begin():
        run = session.scalars(select(MaintenanceRun).where(MaintenanceRun.id.in_(claimed))).one()
        run.finished_at = runtime.clock()
        run.detail = str(purged)
    # A purge that found nothing is not news (and would land among the start-up lines).
    level = logging.INFO if any(vars(purged).values()) else logging.DEBUG
    log.log(level, "daily purge of rows older than %s days: %s", days, purged)
    return purged


def vacuum(engine: Any) -> str:
    """Give the space of purged rows back: SQLite rewrites its file; PostgreSQL marks it reusable.

    PostgreSQL's autovacuum does the same on its own; a manual VACUUM (ANALYZE) after a first big
    purge just does it now. It never shrinks the files (VACUUM FULL would, under an exclusive
    lock; run that yourself in a maintenance window if you must).
    """
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside any transaction (models.db begins them IMMEDIATE)
        try:
            raw.driver_connection.execute("VACUUM")
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        return "SQLite database file rewritten without the free pages"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in (Inbox, Outbox, JobRun, MaintenanceRun):
            conn.execute(text(f"VACUUM (ANALYZE) {table.__tablename__}"))
    return "PostgreSQL: VACUUM (ANALYZE) done on inbox, outbox, job_run and maintenance_run"
