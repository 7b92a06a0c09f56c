"""Shared by the chat-command tests: a refused or malformed command must store nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from models import Activity, Customer, Member


def stored(chat: Any) -> dict[str, Any]:
    """Every customer and activity row (all columns) plus each member's role, as plain values."""
    with chat.runtime.sessions() as session:

        def rows(model: Any) -> list[tuple[Any, ...]]:
            columns = model.__table__.columns
            found = session.scalars(select(model).order_by(model.id))
            return [tuple(getattr(row, c.key) for c in columns) for row in found]

        roles = {m.user_id: m.role for m in session.scalars(select(Member))}
        return {"customers": rows(Customer), "activities": rows(Activity), "roles": roles}


def assert_nothing_saved(chat: Any, before: dict[str, Any]) -> None:
    """No customer or activity row added, removed or changed, and no role changed, since ``before``.

    A first-time sender still gets a member row (that is how the bot learns names).
    """
    after = stored(chat)
    assert chat.count(Customer) == len(before["customers"])
    assert chat.count(Activity) == len(before["activities"])
    assert after["customers"] == before["customers"]
    assert after["activities"] == before["activities"]
    assert {k: after["roles"][k] for k in before["roles"]} == before["roles"]
