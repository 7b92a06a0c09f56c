"""The database a benchmark runs on: a new SQLite file, or a private PostgreSQL schema."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from models.db import make_engine


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
    schema = f"genjin_bench_{time.time_ns()}"  # never touch existing tables
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
