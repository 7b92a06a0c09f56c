"""What a command sees: who said what, where and when, and the command being run.

Handlers never see Flask or a platform object; everything arrives through this context. The
rules live elsewhere and the context only hands them its world: roles in ``handlers.roles``,
people in ``handlers.people``, customer names in ``handlers.lookup``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messages import IncomingMessage, Mention, OutgoingMessage, Reply
from handlers import lookup, people, roles
from handlers.format import mention_member
from handlers.lookup import Replay
from handlers.registry import Command, UsageError
from models.activity import SOURCE_CHAT, Kind
from models.chat import Chat
from models.customer import Customer
from models.customers import Changes, log_activity
from models.member import Member


@dataclass
class Context:
    """One command's world; ``now`` is aware, in the chat's time zone."""

    session: Session
    chat: Chat
    sender: Member
    message: IncomingMessage
    now: datetime
    settings: Settings
    command: Command
    args: str = ""
    replay: Replay | None = None  # set when this run answers a numbered question
    notes: list[str] = field(default_factory=list)  # lines added under the reply
    # messages sent after the reply (e.g. /看板's link, privately, while the group hears where)
    also: list[OutgoingMessage] = field(default_factory=list)
    # A tap on a card (handlers.card_actions): the customer its button names, taken for any
    # typed name (no lookup, no question), and where the activities come from.
    target: Customer | None = None
    source: str = SOURCE_CHAT

    @property
    def entry_key(self) -> str:
        """What ties together the activities one message logged (undone together)."""
        return f"{self.message.platform}:{self.message.message_id}"

    @property
    def mentions(self) -> list[Mention]:
        """The platform's mentions of the command's message (kept across a numbered question)."""
        return self.replay.mentions if self.replay is not None else self.message.mentions

    def usage(self, reason: str) -> UsageError:
        """A usage error with this command's example."""
        return self.command.usage_error(reason)

    # -- roles (handlers.roles) ------------------------------------------------------------------
    def role_of(self, member: Member) -> str:
        """A member's effective role."""
        return roles.role_of(self.settings, member)

    def require_manager(self, action: str) -> None:
        """Refuse unless the sender is a manager or admin."""
        roles.require_manager(self, action)

    def require_admin(self, action: str) -> None:
        """Refuse unless the sender is an admin."""
        roles.require_admin(self, action)

    def require_can_change(
        self, customer: Customer, action: str = "修改", claim: bool = False
    ) -> None:
        """Refuse unless the sender may change ``customer`` (its owner, or a manager)."""
        roles.require_can_change(self, customer, action, claim)

    # -- people (handlers.people) ----------------------------------------------------------------
    def people(self, text: str, empty: str = "找不到群成员 ＠") -> tuple[list[Member], str]:
        """The members @-mentioned in ``text`` and the text without them; unknown ones refused."""
        return people.mentioned(self, text, self.mentions, empty)

    def mention(self, reply: Reply, member: Member) -> str:
        """A notifying mention token of ``member`` inside ``reply``."""
        return mention_member(reply, member)

    # -- customers (handlers.lookup) -------------------------------------------------------------
    def customer(self, query: str, rest: str = "") -> tuple[Customer, str]:
        """The known customer a typed name means, and the rest of the text.

        Raises the numbered question when that is not certain, or the refusal when nothing fits.
        """
        return lookup.customer(self, query, rest)

    def customer_or_new(
        self, query: str, rest: str = "", new: bool = False
    ) -> tuple[Customer | None, str]:
        """Like ``customer``, but None where the command is to create the customer.

        ``new``: the user asked to create this name, so even a sure near match is a question.
        """
        return lookup.customer_or_new(self, query, rest, new)

    def log(
        self, customer: Customer, kind: Kind, changes: Changes | None = None, **fields: Any
    ) -> None:
        """Record an activity by the sender for this command's entry (from ``source``)."""
        fields.setdefault("source", self.source)
        log_activity(
            self.session, customer, self.sender, kind, self.now, self.entry_key, changes, **fields
        )
