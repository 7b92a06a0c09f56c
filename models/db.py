"""Engine and session factory; schema upgrades through Alembic on start; private data files."""

from __future__ import annotations

import logging
import os
import stat
import threading
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_upgrade_lock = threading.Lock()
log = logging.getLogger(__name__)
PRIVATE_FILE = 0o600  # the data: customers, messages, secrets in replies; the owner only
PRIVATE_DIR = 0o700
# SQLite's companions of a database file; it creates them with the database file's mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents as 0700 whatever the umask (existing ones untouched)."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another process made it first
        os.chmod(directory, PRIVATE_DIR)  # mkdir's mode is filtered by the umask


def private_file(path: Path) -> None:
    """Create ``path`` empty as 0600 whatever the umask, or tighten an existing one (see tighten)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        tighten(path)
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def tighten(path: Path) -> None:
    """Make an existing data file that group or others may access 0600, with a log line."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if not mode & 0o077:
        return
    try:
        os.chmod(path, PRIVATE_FILE)
    except OSError as exc:
        log.warning(
            "%s is readable by other users (mode %o) and cannot be fixed: %s", path, mode, exc
        )
        return
    log.warning("%s was readable by other users (mode %o); it is now %o", path, mode, PRIVATE_FILE)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, write-intent transactions, 0600 files."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    kwargs.pop("pool_size", None)  # SQLite: connections are cheap and the pool sizes itself
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        private_dir(path.parent)
        private_file(path)  # SQLite gives -wal and -shm the database file's mode
        for suffix in SQLITE_COMPANIONS:
            tighten(Path(f"{path}{suffix}"))
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("check_same_thread", False)
    connect_args.setdefault("timeout", 30)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (needed for SAVEPOINT).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if database not in ("", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    # SQLite has one writer at a time, and its busy handler polls with growing sleeps, so a thread
    # that commits back to back (the dispatcher) starves one that needs a quick insert (the
    # webhook). Inside the process, transactions therefore queue on a FIFO lock instead.
    lock = FairLock()
    WRITE_LOCKS[engine] = lock

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # A read-only run: no lock, no write intent, and SQLite refuses any write.
            conn.info["genjin_read_only"] = True
            conn.exec_driver_sql("PRAGMA query_only=ON")
            conn.exec_driver_sql("BEGIN")
            return
        # IMMEDIATE takes the write lock up front: no read-to-write upgrade deadlocks between threads.
        lock.acquire()
        conn.info["genjin_lock"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn.info, lock)
            raise

    def _end(conn: Any, statement: str) -> None:
        """Finish the transaction on the DBAPI connection, then let the next one in."""
        driver = conn.connection.driver_connection
        if conn.info.pop("genjin_read_only", False):
            try:
                driver.execute("ROLLBACK")  # whatever it tried, a read-only run leaves nothing
            finally:
                driver.execute("PRAGMA query_only=OFF")
            return
        try:
            driver.execute(statement)
        finally:
            _release(conn.info, lock)

    event.listen(engine, "commit", lambda conn: _end(conn, "COMMIT"))
    event.listen(engine, "rollback", lambda conn: _end(conn, "ROLLBACK"))

    def _on_reset(dbapi: Any, record: Any, _state: Any) -> None:
        if record.info.pop("genjin_read_only", False):  # returned mid-read-only run: writable again
            try:
                dbapi.execute("ROLLBACK")
            finally:
                dbapi.execute("PRAGMA query_only=OFF")
        _release(record.info, lock)  # a connection returned mid-transaction

    event.listen(engine.pool, "reset", _on_reset)
    return engine


# The execution option of a read-only connection (``read_only_engine``): on SQLite without the
# process's write lock.
READ_ONLY = "genjin_read_only"
WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, FairLock] = weakref.WeakKeyDictionary()


def read_only_engine(engine: Engine) -> Engine:
    """``engine`` for reading without any lock (a rehearsal, a board page): nothing it writes
    can be committed.

    SQLite: a deferred transaction with ``PRAGMA query_only`` and without the process's FIFO
    write lock (readers do not block the writer in WAL mode). PostgreSQL: a READ ONLY
    transaction; it takes no advisory or row lock.
    """
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    return engine.execution_options(**options)


_READERS: weakref.WeakKeyDictionary[Engine, sessionmaker[Session]] = weakref.WeakKeyDictionary()


def read_only_sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``read_only_engine(engine)`` (one factory per engine): pages that only read."""
    factory = _READERS.get(engine)
    if factory is None:
        factory = _READERS[engine] = sessionmaker(
            read_only_engine(engine), expire_on_commit=False, autoflush=False
        )
    return factory


def holds_write_lock(engine: Engine) -> bool:
    """Whether the calling thread holds the SQLite write lock of ``engine`` (False elsewhere)."""
    lock = WRITE_LOCKS.get(engine)
    return lock is not None and lock.held_by_me()


def _release(info: dict[str, Any], lock: FairLock) -> None:
    """Release the process lock if this connection holds it (exactly once)."""
    if info.pop("genjin_lock", False):
        lock.release()


class FairLock:
    """A first-come, first-served lock, reentrant for the thread that holds it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        """Wait for our turn."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._cond.wait()
            self._owner, self._depth = me, 1

    def held_by_me(self) -> bool:
        """Whether the calling thread holds the lock."""
        with self._cond:
            return self._owner == threading.get_ident()

    def release(self) -> None:
        """Hand over to the next in line."""
        with self._cond:
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            self._serving += 1
            self._cond.notify_all()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (replies are built from them)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Any:
    """An Alembic Config pointing at the packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser syntax
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent; called on every start)."""
    from alembic import command

    config = alembic_config(engine)
    with _upgrade_lock, engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
