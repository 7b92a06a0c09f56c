"""A private PostgreSQL schema for one test, fixture, run or benchmark, dropped afterwards.

Every PostgreSQL user of the test database works in its own schema, so runs never see each
other's rows (or wait on each other's per-schema locks).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text

from models.db import make_engine, upgrade


@dataclass(frozen=True)
class Schema:
    """The schema's name, and a database URL whose connections work inside it."""

    name: str
    url: str


@contextmanager
def pg_schema(url: str, prefix: str = "genjin_test", migrate: bool = False) -> Iterator[Schema]:
    """Create a new schema in the database at ``url`` (migrated if asked); drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in url else "?"
    schema = Schema(name, f"{url}{sep}options=-csearch_path%3D{name}")
    try:
        if migrate:
            engine = make_engine(schema.url)
            try:
                upgrade(engine)
            finally:
                engine.dispose()
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
