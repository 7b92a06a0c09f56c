"""The fixed test clock and the chat harness: ``chat.send("/跟进 …") == ["✅ …"]``."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.adapters.console import render_text
from bot.messages import OutgoingMessage
from bot.runtime import Runtime
from models import Activity, Customer, Member

TZ = ZoneInfo("Asia/Shanghai")
# A Friday morning; every test starts here unless it moves the clock.
START = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
PG_URL = os.environ.get("GENJIN_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


class Clock:
    """A settable clock (aware); ``runtime.clock`` calls it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        """Move time forward."""
        self.now += timedelta(**kwargs)


class ChatHarness:
    """Talk to the bot like a person in a group chat."""

    def __init__(self, runtime: Runtime, clock: Clock, name: str = "销售一组") -> None:
        self.runtime = runtime
        self.clock = clock
        self.name = name
        self.last: list[OutgoingMessage] | None = None

    def send(self, text: str, as_: str = "张三", message_id: str | None = None) -> list[str]:
        """Send a line as ``as_`` at the current clock; the bot's replies as console text."""
        self.last = self.runtime.say(self.name, as_, text, message_id=message_id)
        return [render_text(m) for m in self.last or []]

    def reply(self, text: str, as_: str = "张三") -> str:
        """Send and return the single reply."""
        replies = self.send(text, as_)
        assert len(replies) == 1, replies
        return replies[0]

    def mentions(self) -> list[str]:
        """Names mentioned in the last replies."""
        return [m.name for msg in self.last or [] for m in msg.mentions]

    def customer(self, name: str) -> Customer | None:
        """The stored customer with exactly this name."""
        with self.runtime.sessions() as session:
            return session.scalars(select(Customer).where(Customer.name == name)).first()

    def customers(self) -> list[Customer]:
        """All stored customers."""
        with self.runtime.sessions() as session:
            return list(session.scalars(select(Customer).order_by(Customer.id)))

    def activities(self, live_only: bool = False) -> list[Activity]:
        """All activity rows, oldest first."""
        with self.runtime.sessions() as session:
            query = select(Activity).order_by(Activity.id)
            if live_only:
                query = query.where(Activity.undone_at.is_(None))
            return list(session.scalars(query))

    def member(self, user_id: str) -> Member | None:
        """The stored member with this id."""
        with self.runtime.sessions() as session:
            return session.scalars(select(Member).where(Member.user_id == user_id)).first()

    def count(self, model: Any) -> int:
        """Rows in a table."""
        with self.runtime.sessions() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    def make_manager(self, name: str = "王经理") -> None:
        """Have the admin 老板 promote ``name`` to manager."""
        assert "设为经理" in self.reply(f"/设置 经理 @{name}", as_="老板")
