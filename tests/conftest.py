"""Test fixtures: a real database (SQLite always, PostgreSQL when GENJIN_TEST_DATABASE_URL is set),
a fixed clock, and a harness that reads like the chat: ``chat.send("/跟进 …") == ["✅ …"]``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.config import Settings
from bot.runtime import Runtime
from models import Base
from models.db import make_engine, upgrade
from tests.support.harness import BACKENDS, PG_URL, START, ChatHarness, Clock
from tests.support.pgschema import pg_schema

# Fixtures shared by several modules without importing them one by one (the board kit, Feishu).
pytest_plugins = ["tests.support.board", "tests.support.feishu_fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    """``TEST_WALL_CLOCK=<ISO time>`` moves this process's wall clock there (ticking on).

    Tests run on the fixed clock of ``tests/support/harness.py``; CI runs the fast suite once more
    with the wall clock moved (.ci/run) to prove that no test reads the real date or hour. Only
    the wall clock moves: monotonic time, sleeps and timeouts are real. Processes a test starts
    (``genjin serve``) keep the real clock; those tests are ``slow`` and not in that run.
    """
    moved = os.environ.get("TEST_WALL_CLOCK")
    if moved:
        import time_machine

        time_machine.travel(datetime.fromisoformat(moved), tick=True).start()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow_on_postgresql`` tests are ``slow`` in their PostgreSQL run only (before -m filters)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and callspec.params.get("engine") == "postgresql"
        if on_pg and item.get_closest_marker("slow_on_postgresql"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for every test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "genjin.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    """A migrated private schema in the test PostgreSQL, dropped at the end."""
    with pg_schema(PG_URL, "genjin_test", migrate=True) as schema:
        engine = make_engine(schema.url)
        yield engine
        engine.dispose()


@pytest.fixture(scope="session")
def pg_reset(pg_engine: Engine) -> str:
    """SQL that empties every table and restarts every id sequence, in one round trip.

    DELETE and setval, not TRUNCATE: on tables of a few rows TRUNCATE is several times slower
    (it swaps the files of every table), and it ran before each of the PostgreSQL tests.
    Autovacuum is off for these tables so the space of deleted rows is never reused: new rows
    keep their insertion order on disk, as in fresh tables.
    """
    tables = [t.name for t in Base.metadata.sorted_tables]
    with pg_engine.begin() as conn:
        for table in tables:
            conn.execute(text(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)'))
    with pg_engine.connect() as conn:
        sequences = conn.scalars(
            text(
                "SELECT quote_ident(relname) FROM pg_class"
                " WHERE relkind = 'S' AND relnamespace = current_schema()::regnamespace"
            )
        ).all()
    deletes = [f'DELETE FROM "{table}"' for table in reversed(tables)]
    restarts = [f"SELECT setval('{seq}', 1, false)" for seq in sequences]
    return "; ".join(deletes + restarts)


@pytest.fixture(params=BACKENDS)
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Engine]:
    """A fresh, migrated database for one test on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "genjin.db"
        shutil.copy(sqlite_template, path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
        return
    eng = request.getfixturevalue("pg_engine")
    with eng.begin() as conn:
        conn.execute(text(request.getfixturevalue("pg_reset")))
    yield eng


@pytest.fixture
def settings() -> Settings:
    """Default settings with 老板 as the configured admin."""
    s = Settings()
    s.bot.admins = ["老板"]
    return s


@pytest.fixture
def clock() -> Clock:
    """The test clock, starting Friday 2026-11-27 10:00 Asia/Shanghai."""
    return Clock(START)


@pytest.fixture
def runtime(engine: Engine, settings: Settings, clock: Clock) -> Runtime:
    """A runtime on the test database with the fixed clock."""
    return Runtime(settings, engine=engine, clock=clock)


@pytest.fixture
def chat(runtime: Runtime, clock: Clock) -> ChatHarness:
    """The chat harness on a fresh database."""
    return ChatHarness(runtime, clock)
