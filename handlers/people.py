"""People in a chat: members learned from the platform, names kept unique, @-mentions resolved.

Rules:
- A member is (chat, platform user id). Their name comes from the platform (Feishu mention
  names, ``[wecom.names]``, the console) or from ``/我是``.
- Names are unique per chat. ``/我是`` refuses a name another member (or a configured user)
  already has. When the platform itself reports two people with the same name, both are shown
  with a short tag of their id, 张伟（zhangwei）and 张伟（…6706）, so no digest mixes them up.
- An ``@`` in a command is resolved exactly: first the platform's own mentions of the message
  (by user id; Feishu gives them, names with spaces included), then the chat's members by
  name or user id, then ``[wecom.names]``. Two members answering to the same ``@name`` or an
  unknown one are refused with a reason; nobody is guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.messages import Mention
from handlers.registry import CommandError
from models.chat import Chat
from models.member import Member
from models.parsing import sanitize_user_text

if TYPE_CHECKING:
    from handlers.context import Context

# Platform ids meaning "everyone": no member may be created or mentioned under them.
RESERVED_IDS = frozenset({"all", "@_all", "_all"})
# Names that would read as "everyone" in a reply.
RESERVED_NAMES = frozenset({"所有人", "全体成员", "全员", "all", "everyone", "here"})
_AT = "@＠"
# What may follow a mentioned name: the end, a space, another mention or punctuation.
_BOUNDARY = set(_AT) | set(",，、;；:：。!！?？)）")
_TAG_ID_LIMIT = 16
_NAME_ROOM: int = getattr(Member.__table__.c.name.type, "length", 100)  # String(100)


def fold(name: str) -> str:
    """A name as compared: NFKC, casefolded, inner whitespace as one space."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def tag_of(user_id: str) -> str:
    """A short, stable way to tell two same-named people apart: their id, or its last 4 chars."""
    return user_id if len(user_id) <= _TAG_ID_LIMIT else "…" + user_id[-4:]


def tagged(name: str, user_id: str) -> str:
    """``name`` with the tag of ``user_id``: 张伟（zhangwei）, cut to fit the name column."""
    tail = f"（{tag_of(user_id)}）"
    return name[: _NAME_ROOM - len(tail)] + tail


def base_name(member: Member) -> str:
    """The member's name without the tag that told them apart from a namesake."""
    tail = f"（{tag_of(member.user_id)}）"
    if member.name.endswith(tail) and len(member.name) > len(tail):
        return member.name[: -len(tail)]
    return member.name


_MEMBER = select(Member).where(Member.chat_id == bindparam("c"), Member.user_id == bindparam("u"))
_OTHERS = (
    select(Member)
    .where(Member.chat_id == bindparam("c"), Member.user_id != bindparam("u"))
    .order_by(Member.id)
)


def member_for(session: Session, chat: Chat, user_id: str, name: str, now: datetime) -> Member:
    """Get or create the member; learn the display name the platform gives, when one is given."""
    member = session.scalars(_MEMBER, {"c": chat.id, "u": user_id}).first()
    if member is None:
        member = Member(chat_id=chat.id, user_id=user_id, name="", created_at=now)
        learn_name(session, chat, member, name)
        session.add(member)
        session.flush()
        return member
    learn_name(session, chat, member, name)
    return member


def learn_name(session: Session, chat: Chat, member: Member, name: str) -> None:
    """Take the platform's name for ``member``; tag it (and its namesakes) when it is not unique."""
    name = " ".join(name.split())
    if not name or base_name(member) == name:
        return
    others = [
        other
        for other in session.scalars(_OTHERS, {"c": chat.id, "u": member.user_id})
        if other.name and fold(base_name(other)) == fold(name)
    ]
    if not others:
        member.name = name
        return
    member.name = tagged(name, member.user_id)
    for other in others:
        if other.name == base_name(other):
            other.name = tagged(other.name, other.user_id)


def configured_names(settings: Settings, platform: str) -> dict[str, str]:
    """user id → name from the config, for platforms that cannot look names up (WeCom)."""
    if platform == "wecom":
        return dict(settings.wecom.names)
    return {}


def name_holder(
    session: Session, chat: Chat, member: Member, name: str, settings: Settings
) -> str | None:
    """Who already answers to ``name`` in this chat (their display), or None when it is free."""
    wanted = fold(name)
    if wanted in RESERVED_NAMES:
        return "所有人"
    for other in session.scalars(_OTHERS, {"c": chat.id, "u": member.user_id}):
        if wanted in (fold(other.name), fold(base_name(other)), fold(other.user_id)):
            return other.display
    for user_id, configured in configured_names(settings, chat.platform).items():
        if user_id != member.user_id and wanted in (fold(configured), fold(user_id)):
            return configured
    for admin in settings.bot.admins:  # an admin's id, even before they first speak
        if admin != member.user_id and wanted == fold(admin):
            return admin
    return None


@dataclass(frozen=True)
class _Form:
    """One way to write a person after ``@``: the folded text and whom it means."""

    text: str
    user_id: str
    name: str  # the name to learn when the member is created ('' to learn nothing)


def _ends_name(text: str, at: int) -> bool:
    """A mentioned name may end at ``at``: end of text, a space, another @ or punctuation."""
    return at >= len(text) or text[at].isspace() or text[at] in _BOUNDARY


def _longest(text: str, start: int, forms: Sequence[_Form]) -> list[_Form]:
    """The forms written at ``start`` (longest first wins), all of the winning length."""
    best: list[_Form] = []
    size = 0
    for form in forms:
        length = len(form.text)
        if length < size or not form.text:
            continue
        if fold(text[start : start + length]) == form.text and _ends_name(text, start + length):
            if length > size:
                best, size = [], length
            best.append(form)
    return best


def _message_forms(mentions: Sequence[Mention]) -> list[_Form]:
    """The platform's own mentions of the message: by display name and by user id."""
    forms = []
    for m in mentions:
        if m.user_id.casefold() in RESERVED_IDS:
            continue
        for text in (m.name, m.user_id):
            if text:
                forms.append(_Form(fold(text), m.user_id, ""))
    return forms


def _chat_forms(ctx: Context) -> list[_Form]:
    """Known members of the chat and configured users: by name, untagged name and user id."""
    forms = []
    members = select(Member).where(Member.chat_id == ctx.chat.id).order_by(Member.id)
    for member in ctx.session.scalars(members):
        if member.user_id.casefold() in RESERVED_IDS:
            continue
        for text in dict.fromkeys((member.name, base_name(member), member.user_id)):
            if text:
                forms.append(_Form(fold(text), member.user_id, ""))
    for user_id, name in configured_names(ctx.settings, ctx.chat.platform).items():
        forms.append(_Form(fold(name), user_id, name))
        forms.append(_Form(fold(user_id), user_id, name))
    return forms


def _token(text: str, start: int) -> str:
    """What was written after an ``@`` up to the next space or punctuation."""
    end = start
    while end < len(text) and not _ends_name(text, end):
        end += 1
    return text[start:end]


def mentioned(
    ctx: Context, text: str, mentions: Sequence[Mention], empty: str
) -> tuple[list[Member], str]:
    """The members @-mentioned in ``text`` (in order, once each) and the text without them.

    ``empty`` is the reason given for a bare ``@``. Raises a usage error for anyone unknown
    or ambiguous: nothing is guessed.
    """
    people: list[Member] = []
    used: set[str] = set()
    kept: list[str] = []
    by_message = _message_forms(mentions)
    by_chat: list[_Form] | None = None
    pos = 0
    for match in re.finditer(f"[{_AT}]", text):
        at = match.start()
        if at < pos or (at > 0 and not (text[at - 1].isspace() or text[at - 1] in _BOUNDARY)):
            continue  # inside a word (a@b.com) or a name already taken
        kept.append(text[pos:at])
        start = at + 1
        if fold(_token(text, start)) in RESERVED_NAMES:
            raise _unknown(ctx, _token(text, start), empty)  # "@所有人" is nobody in particular
        hits = _longest(text, start, by_message)
        if not hits:
            by_chat = by_chat if by_chat is not None else _chat_forms(ctx)
            hits = _longest(text, start, by_chat)
        ids = list(dict.fromkeys(h.user_id for h in hits))
        if not hits:
            written = _token(text, start)
            if fold(written) == fold(ctx.settings.bot.name) and written:
                pos = start + len(written)  # the bot itself, mentioned again
                continue
            raise _unknown(ctx, written, empty)
        if len(ids) > 1 and hits[0] in by_message:
            # Two people the platform shows with one name, both mentioned: in the order written.
            ids = [i for i in ids if i not in used] or ids
        elif len(ids) > 1:
            raise _namesakes(ctx, text[start : start + len(hits[0].text)], ids)
        hit = next(h for h in hits if h.user_id == ids[0])
        member = member_for(ctx.session, ctx.chat, hit.user_id, hit.name, ctx.now)
        used.add(hit.user_id)
        if member not in people:
            people.append(member)
        pos = start + len(hit.text)
    kept.append(text[pos:])
    return people, " ".join("".join(kept).split())


def _unknown(ctx: Context, written: str, empty: str) -> CommandError:
    """The refusal for an ``@`` nobody answers to."""
    if not written:
        return ctx.usage(empty)
    shown = sanitize_user_text(written, 20)
    if fold(written) in RESERVED_NAMES:
        return ctx.usage(f"＠{shown} 不是一位成员，请 @ 具体的人")
    return ctx.usage(f"不认识 ＠{shown}，请对方先在群里发一句 /我是 名字")


def _namesakes(ctx: Context, written: str, user_ids: list[str]) -> CommandError:
    """The refusal for an ``@name`` that several members answer to, naming how to tell them apart."""
    known = {
        m.user_id: m.display
        for m in ctx.session.scalars(
            select(Member).where(Member.chat_id == ctx.chat.id, Member.user_id.in_(user_ids))
        )
    }
    configured = configured_names(ctx.settings, ctx.chat.platform)
    shown = [known.get(u) or tagged(configured.get(u, u), u) for u in user_ids]
    names = "、".join(sanitize_user_text(s, 30) for s in shown)
    example = sanitize_user_text(shown[-1], 30)
    return ctx.usage(
        f"＠{sanitize_user_text(written, 20)} 有 {len(user_ids)} 位：{names}，"
        f"请写完整，例如 ＠{example}"
    )
