"""The database a benchmark runs on: a new SQLite file, or a private PostgreSQL schema."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from models.db import make_engine
from tests.support.pgschema import pg_schema


@contextmanager
def bench_engine(url: str | None, name: str) -> Iterator[Engine]:
    """An engine for ``url``; PostgreSQL gets a private schema that is dropped afterwards."""
    if not url:
        engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/{name}.db")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with pg_schema(url, "genjin_bench") as schema:  # never touches existing tables
        engine = make_engine(schema.url)
        try:
            yield engine
        finally:
            engine.dispose()
