"""What a handler sees: the session, chat, sender, clock and settings, and helpers to reply.

Handlers never see Flask or a platform object; everything arrives through this context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messages import IncomingMessage, Mention, OutgoingMessage, Reply
from handlers import lookup, people
from handlers.format import customer_label, member_label
from handlers.lookup import Ambiguous, Replay
from handlers.people import RESERVED_IDS, member_for
from handlers.registry import Command, CommandError, UsageError
from models.chat import Chat
from models.customer import Customer
from models.customers import Changes, log_activity
from models.member import ROLE_ADMIN, ROLE_MANAGER, ROLE_REP, Member
from models.parsing import Candidate, sanitize_user_text

__all__ = ["RESERVED_IDS", "Ambiguous", "Context", "member_for"]


@dataclass
class Context:
    """One command's world; ``now`` is aware, in the chat's time zone."""

    session: Session
    chat: Chat
    sender: Member
    message: IncomingMessage
    now: datetime
    settings: Settings
    entry_key: str
    command: Command | None = None
    args: str = ""
    replies: list[OutgoingMessage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    replay: Replay | None = None  # set when this run answers a numbered question

    # -- roles -------------------------------------------------------------------------------
    def role_of(self, member: Member) -> str:
        """Effective role: admins come from config, managers from /设置."""
        # By platform id only: a display name is user-chosen (/我是 老板) and must not grant admin.
        if member.user_id in set(self.settings.bot.admins):
            return ROLE_ADMIN
        return member.role if member.role in (ROLE_MANAGER, ROLE_REP) else ROLE_REP

    @property
    def is_manager(self) -> bool:
        """Manager or admin."""
        return self.role_of(self.sender) in (ROLE_MANAGER, ROLE_ADMIN)

    @property
    def is_admin(self) -> bool:
        """Admin (from config)."""
        return self.role_of(self.sender) == ROLE_ADMIN

    def managers(self) -> list[Member]:
        """Members with the manager role in this chat."""
        return list(
            self.session.scalars(
                select(Member)
                .where(Member.chat_id == self.chat.id, Member.role == ROLE_MANAGER)
                .order_by(Member.id)
            )
        )

    def require_manager(self, action: str) -> None:
        """Refuse unless the sender is a manager or admin, naming who may."""
        if self.is_manager:
            return
        names = "、".join(sanitize_user_text(m.display, 20) for m in self.managers())
        who = (
            f"（本群经理：{names}）"
            if names
            else "（本群还没有经理，管理员可用 /设置 经理 @某人 指定）"
        )
        raise CommandError(f"⛔ 只有经理或管理员可以{action}{who}")

    def require_admin(self, action: str) -> None:
        """Refuse unless the sender is an admin from the config."""
        if not self.is_admin:
            raise CommandError(f"⛔ 只有管理员可以{action}（管理员在配置文件 [bot] admins 中设置）")

    def require_can_change(
        self, customer: Customer, action: str = "修改", claim: bool = False
    ) -> None:
        """A rep changes only customers they own; managers change any.

        A customer nobody owns is claimed by a rep's follow-up (``claim``); anything else on it
        (stage, payment, loss) is a manager's call until someone owns it.
        """
        if self.is_manager or customer.owner_id == self.sender.id:
            return
        if customer.owner_id is None:
            if claim:
                return
            raise CommandError(
                f"⛔ {customer_label(customer)} 还没有负责人，只有经理可以{action}；"
                f"用 /跟进 {customer_label(customer)} 内容 记录一次，它就归你负责"
            )
        owner = member_label(customer.owner)
        raise CommandError(
            f"⛔ {customer_label(customer)} 的负责人是 {owner}，只有负责人或经理可以{action}"
        )

    # -- members ----------------------------------------------------------------------------
    @property
    def mentions(self) -> list[Mention]:
        """The platform's mentions of the command's message (kept across a numbered question)."""
        return self.replay.mentions if self.replay is not None else self.message.mentions

    def people(self, text: str, empty: str = "找不到群成员 ＠") -> tuple[list[Member], str]:
        """The members @-mentioned in ``text`` and the text without them; unknown ones refused."""
        return people.mentioned(self, text, self.mentions, empty)

    def mention(self, reply: Reply, member: Member) -> str:
        """A notifying mention token of ``member`` inside ``reply``."""
        return reply.mention(member.user_id, sanitize_user_text(member.display, 30))

    # -- customers ---------------------------------------------------------------------------
    def candidates(self) -> list[Candidate]:
        """This chat's customers as match candidates."""
        return lookup.candidates(self)

    def find_customer(
        self, query: str, rest: str = "", missing_ok: bool = False, new: bool = False
    ) -> tuple[Customer | None, str]:
        """Resolve a typed customer name (see handlers.lookup); returns (customer, rest)."""
        return lookup.find_customer(self, query, rest, missing_ok, new)

    def log(
        self, customer: Customer, kind: str, changes: Changes | None = None, **fields: Any
    ) -> None:
        """Record an activity by the sender for this command's entry."""
        log_activity(
            self.session, customer, self.sender, kind, self.now, self.entry_key, changes, **fields
        )

    # -- replies -----------------------------------------------------------------------------
    def usage(self, reason: str) -> UsageError:
        """A usage error with this command's example."""
        example = self.command.example if self.command else "/帮助"
        return UsageError(reason, example)

    def reply(self, message: OutgoingMessage | Reply | str) -> None:
        """Queue a reply; the first one carries any notes (e.g. a fuzzy name match)."""
        if isinstance(message, str):
            message = OutgoingMessage(message)
        elif isinstance(message, Reply):
            message = message.build()
        if self.notes:
            message.text = "\n".join(filter(None, [message.text, *self.notes]))
            self.notes = []
        self.replies.append(message)
