"""The only types adapters and handlers share: incoming and outgoing messages, mentions, cards.

Mentions inside outgoing text are private-use tokens (``\\ue000<index>\\ue001``) pointing into
``mentions``; each adapter renders them its own way. User text is sanitised before it is put into
a reply, so nobody can forge a mention or markup by typing it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String
from sqlalchemy.sql.elements import KeyedColumnElement

from models.activity import Activity
from models.chat import Chat
from models.member import Member
from models.parsing import strip_control
from models.pipeline import Inbox, Outbox

log = logging.getLogger(__name__)

_MENTION_TOKEN = re.compile("\ue000(\\d+)\ue001")


def _room(*columns: KeyedColumnElement[Any]) -> int:
    """The most characters every one of ``columns`` (all VARCHARs) can store."""
    lengths = [cast(String, column.type).length for column in columns]
    if None in lengths:
        raise TypeError("_room: every column needs a length")
    return min(length for length in lengths if length is not None)


# Where each incoming id or name ends up; longer values are cut here, at the adapter boundary,
# so no later INSERT can fail on them (PostgreSQL enforces VARCHAR lengths, SQLite does not).
_LIMITS = {
    "chat_id": _room(
        Chat.__table__.c.external_id,
        Inbox.__table__.c.chat_external_id,
        Outbox.__table__.c.chat_external_id,
    ),
    "message_id": min(
        _room(Inbox.__table__.c.message_id, Outbox.__table__.c.reply_to),
        # an activity's entry key is "<platform>:<message id>"
        _room(Activity.__table__.c.entry_key) - _room(Inbox.__table__.c.platform) - 1,
    ),
    "sender_id": _room(Inbox.__table__.c.sender_id, Member.__table__.c.user_id),
    "sender_name": _room(Member.__table__.c.name),
    "chat_name": _room(Chat.__table__.c.name),
    "user_id": _room(Member.__table__.c.user_id),
    "name": _room(Member.__table__.c.name),
}


@dataclass(frozen=True)
class Mention:
    """A person mentioned: platform user id plus the display name known for them."""

    user_id: str
    name: str = ""

    def __post_init__(self) -> None:
        for key in ("user_id", "name"):  # frozen: set once, here
            object.__setattr__(self, key, _fit(key, _clean(getattr(self, key))))


def _clean(value: str) -> str:
    """Incoming ids, names and text without control characters (see strip_control)."""
    return strip_control(value) if isinstance(value, str) else value


def _fit(key: str, value: str) -> str:
    """``value`` cut to the column it is stored in, logged: an oversize id must not poison a row."""
    limit = _LIMITS[key]
    if not isinstance(value, str) or len(value) <= limit:
        return value
    log.warning("incoming %s of %d characters cut to %d: %.40r…", key, len(value), limit, value)
    return value[:limit]


# A received file (IncomingMessage.kind FILE): its platform_data holds the platform's FILE_KEY and
# the FILE_NAME shown in the chat. A message quoting or replying to another names it in PARENT_ID.
FILE = "file"
FILE_KEY = "file_key"
FILE_NAME = "file_name"
PARENT_ID = "parent_id"

# A voice note (IncomingMessage.kind VOICE): ``text`` is the platform's transcript when it gives
# one (WeCom); otherwise FILE_KEY names the audio, transcribed through FileNeeded(transcribe=True).
VOICE = "voice"

# IncomingMessage.chat_type of a private (one-to-one) chat with the bot: Feishu p2p, WeCom single.
PRIVATE = "p2p"

# The ``platform_data`` entry the pipeline keeps with the replies to a message (outbox.reply_token)
# and gives back to the adapter (OutboundItem.reply_token), e.g. WeCom's one-use response_url.
REPLY_TOKEN = "reply_token"


@dataclass
class IncomingMessage:
    """A platform message normalised: bot mention stripped, other mentions kept as ``@name``.

    ``kind`` is "message" for chat lines; a file someone posted is "file" (FILE_KEY and FILE_NAME
    in ``platform_data``: stored, answered by nobody, found later by /导入); a voice note is "voice"
    (see VOICE: confirmed by the sender before it counts); platform events that
    matter to the bot arrive as "bot_added" (say hello), "bot_removed" and "members_added" (learn
    names from ``mentions``).
    ``platform_data`` holds what only the adapter understands, as strings (see REPLY_TOKEN).
    """

    platform: str
    chat_id: str
    message_id: str
    sender_id: str
    text: str
    sender_name: str = ""
    mentions: list[Mention] = field(default_factory=list)
    to_me: bool = True
    chat_type: str = "group"
    chat_name: str = ""
    sent_at: str = ""
    platform_data: dict[str, str] = field(default_factory=dict)
    kind: str = "message"

    def __post_init__(self) -> None:
        self.text = _clean(self.text)
        for name in ("chat_id", "message_id", "sender_id", "sender_name", "chat_name"):
            setattr(self, name, _fit(name, _clean(getattr(self, name))))

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict for the inbox row."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> IncomingMessage:
        """Rebuild from an inbox row (rows stored before ``platform_data`` too)."""
        data = dict(payload)
        data["mentions"] = [Mention(**m) for m in data.get("mentions", [])]
        data["platform_data"] = dict(data.get("platform_data") or {})
        legacy = data.pop(REPLY_TOKEN, "")  # once a field of its own
        if legacy:
            data["platform_data"].setdefault(REPLY_TOKEN, str(legacy))
        return cls(**data)

    @property
    def reply_token(self) -> str:
        """The pipeline's handle for answering this message ('' for most platforms)."""
        return self.platform_data.get(REPLY_TOKEN, "")

    def sent_at_dt(self) -> datetime | None:
        """The platform's send time, if it gave one."""
        return datetime.fromisoformat(self.sent_at) if self.sent_at else None


def reply_token_of(payload: Any) -> str:
    """The reply token of a stored inbox payload, whatever its shape (a poison row's too)."""
    if not isinstance(payload, dict):
        return ""
    data = payload.get("platform_data")
    token = data.get(REPLY_TOKEN) if isinstance(data, dict) else None
    return str(token or payload.get(REPLY_TOKEN) or "")


@dataclass
class Table:
    """A small table in a card: column titles and rows of cell text."""

    columns: list[str]
    rows: list[list[str]]


@dataclass
class CardSection:
    """One block of a card: a heading, text lines (may hold mention tokens) and/or a table."""

    heading: str = ""
    lines: list[str] = field(default_factory=list)
    table: Table | None = None


@dataclass
class Card:
    """A platform-neutral card; adapters render it (console: text, Feishu: card JSON 2.0)."""

    title: str
    sections: list[CardSection] = field(default_factory=list)
    subtitle: str = ""


@dataclass
class Attachment:
    """A file to post: its name in the chat and ``ref``, the key of its stored bytes.

    The bytes stay out of the outbox row: they are a ``models.stored_file.StoredFile`` the
    command wrote, read by the sender just before the adapter uploads them.
    """

    name: str
    ref: str
    size: int = 0


@dataclass
class OutgoingMessage:
    """A message to post: text (with mention tokens) and optionally a card, or a file.

    With a ``file``, platforms that can post files send the file alone; ``text`` says the same
    in words where a file cannot be shown (the console, `genjin say`).
    ``to_user``: a platform user id; the message goes to that person privately (the adapter's
    ``send_private``) instead of the chat. Only jobs set it, and only for a platform whose
    settings say it can (``PlatformSettings.private_sends``).
    """

    text: str
    mentions: list[Mention] = field(default_factory=list)
    card: Card | None = None
    file: Attachment | None = None
    to_user: str = ""

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict for the outbox row."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> OutgoingMessage:
        """Rebuild from an outbox row."""
        card = payload.get("card")
        if card is not None:
            sections = []
            for s in card.get("sections", []):
                table = Table(**s["table"]) if s.get("table") else None
                sections.append(CardSection(s.get("heading", ""), list(s.get("lines", [])), table))
            card = Card(card["title"], sections, card.get("subtitle", ""))
        file = payload.get("file")
        return cls(
            text=payload.get("text", ""),
            mentions=[Mention(**m) for m in payload.get("mentions", [])],
            card=card,
            file=Attachment(**file) if file else None,
            to_user=str(payload.get("to_user") or ""),
        )


class FileNeeded(Exception):
    """Raised by a command that needs a received file the bot has not downloaded yet.

    The dispatcher rolls the message's transaction back, downloads the file outside any
    transaction (through the platform's adapter, refusing more than ``limit`` bytes), stores it
    as a StoredFile keyed ``received_key(platform, message_id)`` — or, when that fails, a row with
    the reason in ``error`` for ``for_message`` — and handles the message again.
    ``file_key`` may be '' when only the file's message is known (a reply to a file message the
    bot never received): the adapter reads the message first.
    ``transcribe``: the file is a voice note; what is stored is its transcript (UTF-8), made by
    the adapter's speech-to-text.
    """

    def __init__(
        self,
        platform: str,
        chat_id: str,
        message_id: str,
        file_key: str,
        name: str,
        for_message: str,
        limit: int,
        transcribe: bool = False,
    ) -> None:
        super().__init__(f"file needed: {platform}:{message_id}")
        self.platform = platform
        self.chat_id = chat_id
        self.message_id = message_id
        self.file_key = file_key
        self.name = name
        self.for_message = for_message
        self.limit = limit
        self.transcribe = transcribe


_MARKDOWN_SPECIAL = str.maketrans(
    {
        "*": "＊",
        "_": "＿",
        "~": "～",
        "`": "｀",
        "[": "［",
        "]": "］",
        "#": "＃",
        "<": "＜",
        ">": "＞",
        "\\": "＼",
        "|": "｜",
    }
)


def escape_markdown(text: str) -> str:
    """Make text inert in platform markdown: no emphasis, links, headings, tags or tables."""
    return text.translate(_MARKDOWN_SPECIAL)


def mention_token(index: int) -> str:
    """The placeholder for mention number ``index`` inside outgoing text."""
    return f"\ue000{index}\ue001"


def render_mentions(text: str, mentions: list[Mention], render: Callable[[Mention], str]) -> str:
    """Replace mention tokens with each platform's mention syntax."""

    def _one(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return render(mentions[index]) if index < len(mentions) else ""

    return _MENTION_TOKEN.sub(_one, text)


class Reply:
    """Builds an OutgoingMessage line by line, with mentions that notify."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.mentions: list[Mention] = []

    def mention(self, user_id: str, name: str) -> str:
        """Return the token for a mention of this person (deduplicated)."""
        m = Mention(user_id, name)
        if m not in self.mentions:
            self.mentions.append(m)
        return mention_token(self.mentions.index(m))

    def line(self, text: str) -> Reply:
        """Append a line."""
        self.parts.append(text)
        return self

    def build(self) -> OutgoingMessage:
        """The finished message."""
        return OutgoingMessage("\n".join(self.parts), list(self.mentions))
