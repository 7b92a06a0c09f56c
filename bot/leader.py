"""One sending process per database on PostgreSQL.

A platform's rate limits are per app (Feishu: 50 messages/s) and per chat (5/s), and each
process only knows its own sends. So when several `genjin worker`s share a PostgreSQL database,
all of them dispatch, but only the one holding a session-level advisory lock sends; the others
stand by. If the sender dies, its connection closes, PostgreSQL releases the lock and another
worker takes over at its next poll. The lock is keyed by schema, so separate deployments (or test
schemas) in one database do not wait on each other.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

LOCK_CLASS = 0x67656E6A  # "genj": the first key of the two-key advisory lock


class SenderLease:
    """``held()`` is True while this process may send; always True on SQLite (one process)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Any = None

    def held(self) -> bool:
        """Keep (or try to take) the lock; False when another process sends.

        Raises when the database cannot be reached (the caller's loop backs off and retries).
        """
        if self.engine.dialect.name != "postgresql":
            return True
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1")  # still connected → still ours
                return True
            except Exception:
                log.warning(
                    "sender lock lost with its database connection; trying to take it again"
                )
                self.release()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:cls, hashtext(current_schema()))"),
                {"cls": LOCK_CLASS},
            ).scalar()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("this process is now the sender")
        return True

    def release(self) -> None:
        """Give the lock up (closing the connection releases it)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never back into the pool with the lock on it
                conn.close()
            except Exception:
                pass
