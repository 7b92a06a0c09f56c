"""Timestamps come back aware (UTC) from both databases, whatever text SQLite holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from models.base import UTCDateTime

READ = UTCDateTime().result_processor(sqlite.dialect(), None)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-11-27 02:00:00.000000", datetime(2026, 11, 27, 2, tzinfo=UTC)),  # as genjin writes
        ("2026-11-27 02:00:00", datetime(2026, 11, 27, 2, tzinfo=UTC)),
        ("2026-11-27T02:00:00.5", datetime(2026, 11, 27, 2, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-27 10:00:00+08:00", datetime(2026, 11, 27, 2, tzinfo=UTC)),  # foreign text
        ("2026-11-27", datetime(2026, 11, 27, tzinfo=UTC)),
        (None, None),
    ],
)
def test_sqlite_text_is_read_as_utc(stored: str | None, expected: datetime | None) -> None:
    value = READ(stored)
    assert value == expected
    assert value is None or value.utcoffset() is not None


def test_postgresql_naive_values_get_utc() -> None:
    read = UTCDateTime().result_processor(postgresql.psycopg.dialect(), None)
    assert read(datetime(2026, 11, 27, 2)) == datetime(2026, 11, 27, 2, tzinfo=UTC)
    assert read(datetime(2026, 11, 27, 2)).tzinfo is UTC


def test_a_round_trip_keeps_the_instant(chat) -> None:
    chat.send("/新客户 华为")
    customer = chat.customer("华为")
    assert customer is not None and customer.created_at == chat.clock()
