"""What a handler sees: the session, chat, sender, clock and settings, and helpers to reply.

Handlers never see Flask or a platform object; everything arrives through this context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messages import IncomingMessage, OutgoingMessage, Reply
from handlers.format import customer_label, member_label, quote_name
from handlers.registry import Command, CommandError, UsageError
from models.chat import Chat
from models.customer import Customer
from models.customers import Changes, log_activity
from models.member import ROLE_ADMIN, ROLE_MANAGER, ROLE_REP, Member
from models.parsing import (
    Candidate,
    match_name,
    normalize_name,
    sanitize_user_text,
    split_known_prefix,
)

PENDING_MINUTES = 10
# Platform ids meaning "everyone": no member may be created or mentioned under them.
RESERVED_IDS = {"all", "@_all", "_all"}


class Ambiguous(CommandError):
    """Several customers fit a name: the reply is a numbered question, stored on the member."""

    def __init__(self, text: str, pending: dict[str, Any]) -> None:
        super().__init__(text)
        self.pending = pending


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

    # -- members -----------------------------------------------------------------------------
    def member_from_mention(self, token: str) -> Member | None:
        """The member a ``@name`` token refers to (created on first sight), or None."""
        name = token.lstrip("@").strip()
        if not name:
            return None
        for mention in self.message.mentions:
            if mention.user_id.casefold() in RESERVED_IDS:
                continue  # "@all" is everyone, never a member the bot would mention by id
            if mention.name == name or mention.user_id == name:
                return member_for(self.session, self.chat, mention.user_id, mention.name, self.now)
        return None

    def mention(self, reply: Reply, member: Member) -> str:
        """A notifying mention token of ``member`` inside ``reply``."""
        return reply.mention(member.user_id, sanitize_user_text(member.display, 30))

    # -- customers ---------------------------------------------------------------------------
    def candidates(self) -> list[Candidate]:
        """This chat's customers as match candidates."""
        rows = self.session.execute(
            select(Customer.id, Customer.name, Customer.aliases).where(
                Customer.chat_id == self.chat.id
            )
        )
        return [Candidate(id_, name, tuple(aliases or ())) for id_, name, aliases in rows]

    def find_customer(
        self, query: str, rest: str = "", missing_ok: bool = False
    ) -> tuple[Customer | None, str]:
        """Resolve a typed customer name by the matching ladder; returns (customer, rest).

        A near match is used and noted in the reply; several → a numbered question (nothing
        saved); none → None when ``missing_ok`` else a clear error.
        """
        # Most names are typed as stored: one indexed lookup by key, before loading every candidate.
        # (The key is unique per chat, so this is the ladder's "exact" rung in one query.)
        key = normalize_name(query)
        if key:
            customer = self.session.scalars(_CUSTOMER_BY_KEY, {"c": self.chat.id, "k": key}).first()
            if customer is not None:
                return customer, rest
        candidates = self.candidates()
        match = match_name(query, candidates)
        if match.kind in ("fuzzy", "none"):
            # ``华为报价已发``: a known name glued to the note (fuzzy would swallow the note),
            # unless the token is a shortening of that name (``华为技术`` for 华为技术有限公司) or the
            # rest is a single character, more likely part of another name (华为云).
            split = split_known_prefix(query, candidates)
            if split is not None and len(split[1]) >= 2 and not _shortens(query, split[0]):
                cand, tail = split
                customer = self.session.get(Customer, cand.key)
                if match.kind == "fuzzy":
                    self._note_near_match(query, customer)
                return customer, f"{tail} {rest}".strip()
        shown = sanitize_user_text(query, 30)
        if match.kind in ("fuzzy", "ambiguous") and not match.sure:
            near = [c.name for c in match.options] or [match.name or ""]
            if missing_ok:  # 中石化 is probably not 中石油: a new customer, with a hint
                names = "、".join(sanitize_user_text(n, 40) for n in near[:3])
                self.notes.append(f"（已有相近的客户 {names}；如果指的是它，请 /撤销 后重发）")
                return None, rest
            if match.kind == "fuzzy":
                title = f"🤔 没有找到“{shown}”，是指下面这个客户吗？回复 1 确认："
            else:
                title = f"🤔 没有找到“{shown}”，是指下面哪个客户？回复数字选择："
            raise self._question(title, query, near)
        if match.kind == "none":
            if missing_ok:
                return None, rest
            raise self.usage(f"没有找到客户“{shown}”，请检查名称")
        if match.kind == "ambiguous":
            names = [c.name for c in match.options[:5]]
            raise self._question(f"🤔 “{shown}”对应多个客户，回复数字选择：", query, names)
        customer = self.session.get(Customer, match.key)
        if match.kind == "fuzzy":
            self._note_near_match(query, customer)
        return customer, rest

    def _question(self, title: str, query: str, names: list[str]) -> Ambiguous:
        """A numbered question about which customer was meant; the answer re-runs the command."""
        lines = [title] + [f"{i}. {sanitize_user_text(n, 40)}" for i, n in enumerate(names, 1)]
        pending = {
            "command": self.command.name if self.command else "",
            "args": self.args,
            "query": query,
            "options": names,
            "expires_at": (self.now + timedelta(minutes=PENDING_MINUTES)).isoformat(),
        }
        return Ambiguous("\n".join(lines), pending)

    def _note_near_match(self, query: str, customer: Customer) -> None:
        """Tell the sender which customer a not-quite-matching name was taken for."""
        self.notes.append(
            f"（“{sanitize_user_text(query, 30)}”按 {customer_label(customer)} 处理）"
        )

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


def _shortens(token: str, candidate: Candidate) -> bool:
    """True when ``token`` is part of one of the candidate's names (a shortening, not name+note)."""
    key = normalize_name(token)
    return any(key in normalize_name(n) for n in (candidate.name, *candidate.aliases))


_MEMBER = select(Member).where(Member.chat_id == bindparam("c"), Member.user_id == bindparam("u"))
_CUSTOMER_BY_KEY = select(Customer).where(
    Customer.chat_id == bindparam("c"), Customer.key == bindparam("k")
)


def member_for(session: Session, chat: Chat, user_id: str, name: str, now: datetime) -> Member:
    """Get or create the member; learn their display name when one is given."""
    member = session.scalars(_MEMBER, {"c": chat.id, "u": user_id}).first()
    if member is None:
        member = Member(chat_id=chat.id, user_id=user_id, name=name or "", created_at=now)
        session.add(member)
        session.flush()
    elif name and member.name != name:
        member.name = name
    return member


def quoted(name: str) -> str:
    """A customer name as it must be typed in a command (quoted when it has spaces)."""
    return quote_name(name)
