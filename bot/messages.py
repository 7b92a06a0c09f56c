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

# A tap on a card (IncomingMessage.kind ACTION): ``platform_data`` holds ACTION_VERB (Button.action),
# ACTION_TARGET (Button.target), ACTION_ARG (Button.arg), ACTION_CARD (the platform message id of
# the card tapped, '' when unknown) and each submitted form value as FORM_PREFIX + field name
# (dates as YYYY-MM-DD). ``message_id`` is the platform's id of the callback (deduplicated like a
# message id); ``sender_id`` the operator from the signed callback; ``text`` a readable line for
# logs ("[卡片] ✅ 已跟进"), never parsed.
ACTION = "action"
ACTION_VERB = "action"
ACTION_TARGET = "target"
ACTION_ARG = "arg"
ACTION_CARD = "card_message_id"
FORM_PREFIX = "form."
# Set by the pipeline on a tap whose webhook (or long connection) waits for the answer
# (``Runtime.receive_action``): until this time (ISO, aware) the replies are held for that waiter,
# which claims them as answered inline; the sender delivers them only after it.
AWAITED_UNTIL = "awaited_until"


def tap_data(
    verb: str, target: str, arg: str, card: str, form: dict[str, str] | None = None
) -> dict[str, str]:
    """The ``platform_data`` of a tap (kind ACTION): the button's verb/target/arg, the card's
    platform message id and each submitted form value under FORM_PREFIX."""
    data = {ACTION_VERB: verb, ACTION_TARGET: target, ACTION_ARG: arg, ACTION_CARD: card}
    data.update({FORM_PREFIX + name: value for name, value in (form or {}).items()})
    return data


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


# Card actions: what a Button does (Button.action). The handlers (handlers/card_actions.py) turn
# each into the typed command it stands for; adapters only carry the verb back.
ACT_DONE = "done"  # ✅ 已跟进: log a follow-up (form: note, next date, stage)
ACT_SNOOZE = "snooze"  # ⏰ 推到明天 / 下周一: move the next follow-up (arg: "tomorrow" | "monday")
ACT_CLAIM = "claim"  # 🙋 我来跟: take the customer
ACT_LOSE = "lose"  # ❌ 输单 (form: reason)
ACT_OPEN = "open"  # show a button's form (platforms that cannot hold every form open at once)

# Form field kinds (Field.kind).
FIELD_TEXT = "text"
FIELD_DATE = "date"  # a date picker; the submitted value is YYYY-MM-DD
FIELD_SELECT = "select"  # one of Field.options; the submitted value is the option's value


@dataclass
class Option:
    """One choice of a select field: the value submitted and the label shown."""

    value: str
    label: str


@dataclass
class Field:
    """One input of a form; ``name`` is its key in the submitted values."""

    name: str
    label: str
    kind: str = FIELD_TEXT
    options: list[Option] = field(default_factory=list)
    placeholder: str = ""
    required: bool = False
    default: str = ""


@dataclass
class Form:
    """Inputs submitted together with their button's action."""

    fields: list[Field]
    submit: str = "提交"


@dataclass
class Button:
    """A tap on a card: ``action`` (ACT_*) on ``target`` (a customer id, as text), with ``arg``.

    Nothing in a button is trusted beyond naming the action and its customer: who tapped comes
    from the platform's signed callback, and the handlers check permissions as for typed commands.
    ``form``: the button opens (or carries) a form whose values come back with the action.
    ``style``: "default" | "primary" | "danger".
    """

    label: str
    action: str
    target: str = ""
    arg: str = ""
    style: str = "default"
    form: Form | None = None


@dataclass
class Series:
    """One named line of numbers in a chart, one value per label."""

    name: str
    values: list[float]


# Chart kinds (Chart.kind).
CHART_FUNNEL = "funnel"  # one series: count per stage, in stage order
CHART_BAR = "bar"  # one or more series per label (e.g. per rep: done vs target)
CHART_LINE = "line"  # one or more series over labels (e.g. weeks)


@dataclass
class Chart:
    """A chart described once; Feishu renders a VChart spec, WeCom text bars, the sandbox SVG.

    The numbers must come from the same report query as the card's text, so both agree.
    """

    kind: str
    title: str
    labels: list[str]
    series: list[Series]
    unit: str = ""


@dataclass
class CardSection:
    """One block of a card: a heading, text lines (may hold mention tokens) and/or a table.

    ``key`` names the block for updates in place (e.g. ``customer:42``: the row of one customer);
    ``buttons`` are its actions; ``chart`` a chart shown after its lines and table.
    ``open_form``: the action (ACT_*) of the button whose form is shown open in this section (the
    answer to ACT_OPEN on platforms that cannot hold every form open); '' for none.
    """

    heading: str = ""
    lines: list[str] = field(default_factory=list)
    table: Table | None = None
    key: str = ""
    buttons: list[Button] = field(default_factory=list)
    chart: Chart | None = None
    open_form: str = ""


@dataclass
class Card:
    """A platform-neutral card; adapters render it (console: text, Feishu: card JSON 2.0)."""

    title: str
    sections: list[CardSection] = field(default_factory=list)
    subtitle: str = ""

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict (the outbox row keeps it, so a tap can update the card later)."""
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Card:
        """Rebuild from ``to_payload`` (rows stored before buttons and charts too)."""
        return cls(
            data["title"],
            [_section_from(s) for s in data.get("sections", [])],
            data.get("subtitle", ""),
        )


def _section_from(data: dict[str, Any]) -> CardSection:
    table = Table(**data["table"]) if data.get("table") else None
    chart = data.get("chart")
    return CardSection(
        heading=data.get("heading", ""),
        lines=list(data.get("lines", [])),
        table=table,
        key=data.get("key", ""),
        buttons=[_button_from(b) for b in data.get("buttons", [])],
        chart=(
            Chart(
                chart["kind"],
                chart["title"],
                list(chart["labels"]),
                [Series(x["name"], list(x["values"])) for x in chart["series"]],
                chart.get("unit", ""),
            )
            if chart
            else None
        ),
        open_form=str(data.get("open_form") or ""),
    )


def _button_from(data: dict[str, Any]) -> Button:
    form = data.get("form")
    return Button(
        data["label"],
        data["action"],
        data.get("target", ""),
        data.get("arg", ""),
        data.get("style", "default"),
        (
            Form(
                [
                    Field(
                        f["name"],
                        f["label"],
                        f.get("kind", FIELD_TEXT),
                        [Option(**o) for o in f.get("options", [])],
                        f.get("placeholder", ""),
                        bool(f.get("required", False)),
                        f.get("default", ""),
                    )
                    for f in form["fields"]
                ],
                form.get("submit", "提交"),
            )
            if form
            else None
        ),
    )


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
    ``update_of``: the platform message id of a card this message replaces in place (the card
    someone tapped); ``toast``: a short notice for the person who tapped, ``toast_kind`` one of
    "success" | "info" | "warning" | "error". Both are set only in answers to a card action
    (IncomingMessage kind ACTION).
    """

    text: str
    mentions: list[Mention] = field(default_factory=list)
    card: Card | None = None
    file: Attachment | None = None
    to_user: str = ""
    update_of: str = ""
    toast: str = ""
    toast_kind: str = "success"

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe dict for the outbox row."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> OutgoingMessage:
        """Rebuild from an outbox row."""
        card = payload.get("card")
        file = payload.get("file")
        return cls(
            text=payload.get("text", ""),
            mentions=[Mention(**m) for m in payload.get("mentions", [])],
            card=Card.from_payload(card) if card is not None else None,
            file=Attachment(**file) if file else None,
            to_user=str(payload.get("to_user") or ""),
            update_of=str(payload.get("update_of") or ""),
            toast=str(payload.get("toast") or ""),
            toast_kind=str(payload.get("toast_kind") or "success"),
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
