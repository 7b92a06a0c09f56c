"""No database lock is held while a message's text is read (issue 10, "bounded cost").

The dispatcher reads a long message once in a read-only rehearsal that takes no lock; its dates
and amounts are remembered (models.memo), so the run under the lock only looks them up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from models import dates, money
from models.db import holds_write_lock, read_only_engine
from models.member import Member
from tests.support.harness import ChatHarness

LONG_NOTE = "报价5万4千 下周三回访 " + "客户说再看看方案和价格 " * 12  # > REHEARSE_FROM characters


def _watch(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, seen: list[bool], engine: Any
) -> None:
    original: Callable[..., Any] = getattr(module, name)

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(holds_write_lock(engine))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, watched)


@pytest.fixture
def watched(chat: ChatHarness, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the write lock was held at each parse of a date or an amount."""
    dates.read_note.cache_clear()  # type: ignore[attr-defined]
    money.find_amounts.cache_clear()  # type: ignore[attr-defined]
    seen: list[bool] = []
    engine = chat.runtime.engine
    _watch(monkeypatch, dates, "_read", seen, engine)
    _watch(monkeypatch, money, "_lex", seen, engine)
    return seen


def test_a_long_note_is_parsed_outside_the_write_lock(
    chat: ChatHarness, watched: list[bool]
) -> None:
    chat.send("/新客户 华为")
    watched.clear()
    reply = chat.reply(f"/跟进 华为 {LONG_NOTE}")
    assert (
        "12月2日" in reply and "5.4万" in reply
    )  # 下周三 from Friday 2026-11-27: the reading reached the reply
    assert watched, "the note was never parsed"
    assert not any(watched), "a date or an amount was parsed while the write lock was held"
    activity = chat.activities()[-1]
    assert activity.next_follow_up_at is not None
    assert activity.next_follow_up_at.astimezone(chat.clock().tzinfo).day == 2


def test_a_short_line_is_not_rehearsed(chat: ChatHarness, watched: list[bool]) -> None:
    chat.send("/新客户 华为")
    watched.clear()
    chat.reply("/跟进 华为 报价已发 下周三回访")
    assert watched  # parsed once, under the lock: short lines cost well under a millisecond


def test_a_rehearsal_cannot_write(chat: ChatHarness) -> None:
    chat.send("/新客户 华为")
    with chat.runtime.sessions() as session:
        before = session.query(Member).count()
    with Session(read_only_engine(chat.runtime.engine)) as session:
        session.add(Member(chat_id=1, user_id="ghost", name="幽灵", created_at=chat.clock()))
        with pytest.raises(DBAPIError):  # SQLite: query_only; PostgreSQL: READ ONLY
            session.flush()
        session.rollback()
    # the connection went back to the pool writable: the next real write works
    chat.send("/新客户 小米")
    with chat.runtime.sessions() as session:
        assert session.query(Member).count() == before
    assert chat.customer("小米") is not None


def test_a_message_the_rehearsal_cannot_finish_is_still_handled(chat: ChatHarness) -> None:
    """A first message creates its chat and member: the rehearsal stops at the first write."""
    reply = chat.reply("/新客户 华为 展会 " + "朋友介绍的老客户" * 12)
    assert chat.customer("华为") is not None, reply
