"""WeCom template cards for the neutral cards with buttons (shared/platforms/wecom-cards-files.md §1).

A card with buttons becomes ``button_interaction`` template cards, one per section with buttons
(a customer), because a template card holds at most 6 buttons and one ``task_id``:

- exactly one such section and the whole card fits one template card's text → that one card
  ("full": the card's title, text and every section's lines);
- otherwise the whole card as markdown first (every customer, the typed-command hints), then a
  compact template card for each of the first ``CARDS_PER_MESSAGE`` sections with buttons.

A card without buttons stays markdown. ``task_id`` (unique per robot, ``[0-9A-Za-z_-@]`` ≤ 128
bytes) is ``<card id>-<section index>[-f]``: the card id derives from the outbox key and is the
"platform message id" of the post, so a tap names the card (``ACTION_CARD``) and the section.
A button's ``key`` (≤ 1024 bytes, returned as ``event_key``) is ``gj:<verb>:<target>:<arg>``;
nothing else in it is read, and who tapped comes from the signed callback.

WeCom cards have no text inputs: a button whose form requires a value (❌ 输单's reason) is left
out and the card says which typed command does it; ✅ 已跟进 logs a quick follow-up without a
note, and the card says how to add one with a typed /跟进 line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.adapters.charts import text_bars
from bot.messages import ACT_CLAIM, ACT_DONE, ACT_LOSE, ACT_SNOOZE, Button, Card, CardSection

ACTION_TOKEN = "wca|"  # reply_token of a tap: see action_token

KEY_PREFIX = "gj"
DONE_KEY = "gj:-"  # the one button of an acted card: tapping it does nothing
KEY_LIMIT = 1024  # bytes of a button key
TASK_ID_LIMIT = 128  # bytes of a task_id
MAX_BUTTONS = 6  # per button_interaction card
CARDS_PER_MESSAGE = 5  # template cards posted for one message; the rest is in its markdown
TITLE_CHARS = 26  # main_title.title, as recommended
DESC_CHARS = 30  # main_title.desc, as recommended
# sub_title_text: the doc recommends ≤ 112 characters; a card's lines need more, and the client
# folds long text (unverified live). Beyond this many bytes the text is cut with "…".
SUBTITLE_BYTES = 1200
STYLE = {"primary": 1, "default": 2, "danger": 3}  # button_list.style (1–4)
# What to type instead of a button WeCom cannot show or fill in.
TYPED = {
    ACT_DONE: "写进展请打字：/跟进 客户 内容 [下次时间]",
    ACT_LOSE: "输单请打字：/输单 客户 原因",
}
LABELS = {ACT_DONE: "✅ 已跟进", ACT_SNOOZE: "⏰ 推迟", ACT_CLAIM: "🙋 我来跟", ACT_LOSE: "❌ 输单"}
_TASK_ID = re.compile(r"(gj[0-9a-f]{30})-(\d{1,3})(-f)?")
_PART = re.compile(r"[A-Za-z0-9_]{1,32}")


@dataclass(frozen=True)
class Tap:
    """What a template_card_event names: the button's verb/target/arg and the card's section."""

    verb: str
    target: str
    arg: str
    card_id: str
    section: int
    full: bool
    task_id: str


def card_id(outbox_key: str) -> str:
    """The id of the cards one outbox row posts (its platform message id): stable per row."""
    return KEY_PREFIX + hashlib.sha256(f"wecom-card:{outbox_key}".encode()).hexdigest()[:30]


def task_id(card: str, section: int, full: bool) -> str:
    """The task_id of the template card for ``section`` of the card ``card``."""
    return f"{card}-{section}" + ("-f" if full else "")


def button_key(button: Button) -> str:
    """``gj:<verb>:<target>:<arg>``; raises ValueError for a part WeCom could not carry back."""
    for part in (button.action, button.target, button.arg):
        if part and not _PART.fullmatch(part):
            raise ValueError(f"button part {part[:40]!r} is not [A-Za-z0-9_]{{1,32}}")
    return f"{KEY_PREFIX}:{button.action}:{button.target}:{button.arg}"


def parse_task(task: str) -> tuple[str, int, bool] | None:
    """(card id, section index, full) of one of our task_ids; None for any other."""
    match = _TASK_ID.fullmatch(task)
    return (match[1], int(match[2]), bool(match[3])) if match else None


def parse_tap(event_key: str, task: str) -> Tap | None:
    """The tap a template_card_event names; None for anything not ours (or the acted card's)."""
    parsed = parse_task(task)
    parts = event_key.split(":")
    if parsed is None or len(parts) != 4 or parts[0] != KEY_PREFIX:
        return None
    verb, target, arg = parts[1:]
    if not _PART.fullmatch(verb) or any(p and not _PART.fullmatch(p) for p in (target, arg)):
        return None
    return Tap(verb, target, arg, *parsed, task)


def usable(button: Button) -> bool:
    """Whether WeCom can offer the button: its key fits, and no form needing a typed value."""
    try:
        button_key(button)
    except ValueError:
        return False
    return button.form is None or not any(f.required for f in button.form.fields)


def actions(card: Card | None) -> list[int]:
    """The indexes of the sections with buttons WeCom can show."""
    if card is None:
        return []
    return [i for i, s in enumerate(card.sections) if any(usable(b) for b in s.buttons)]


def hints(card: Card) -> list[str]:
    """Typed commands for what the buttons cannot do (a note, a reason), once each."""
    verbs = {b.action for s in card.sections for b in s.buttons}
    return [TYPED[verb] for verb in (ACT_DONE, ACT_LOSE) if verb in verbs]


def section_lines(section: CardSection, plain: Callable[[str], str]) -> list[str]:
    """A section as plain lines: its lines, its table as lines, its chart as text bars."""
    out = [plain(line) for line in section.lines]
    if section.table:
        out.append(" ｜ ".join(plain(c) for c in section.table.columns))
        out.extend(" ｜ ".join(plain(c) for c in row) for row in section.table.rows)
    if section.chart is not None:
        bars = text_bars(section.chart)
        if bars:
            out.append(section.chart.title)
            out.extend(bars)
    return out


def fits_one(card: Card, text: str, plain: Callable[[str], str]) -> bool:
    """Whether the whole message can be one template card (one section with buttons, short)."""
    if len(actions(card)) != 1:
        return False
    return _bytes(full_text(card, text, plain)) <= SUBTITLE_BYTES


def full_text(card: Card, text: str, plain: Callable[[str], str]) -> str:
    """Everything the message says, as the text of one template card."""
    out = [plain(text)] if text else []
    for section in card.sections:
        if section.heading:
            out.append(f"【{plain(section.heading)}】")
        out.extend(section_lines(section, plain))
    out.extend(hints(card))
    return "\n".join(out)


def template_card(
    card: Card,
    section: int,
    task: str,
    plain: Callable[[str], str],
    text: str = "",
    full: bool = False,
    note: str = "",
) -> dict[str, Any]:
    """The ``button_interaction`` card of one section (``full``: of the whole message).

    ``note`` is a line added at the end (the update's "已记录…" or a refusal: WeCom has no
    toast). A section without buttons left gets one inert "已处理" button (the card type needs
    a button list; tapping it does nothing).
    """
    part = card.sections[section]
    if full:
        title, desc = card.title, card.subtitle
        body = full_text(card, text, plain)
    else:  # the customer's card: titled by its heading, else by its first line
        lines = section_lines(part, plain)
        title, desc = part.heading, card.title
        if not title and lines and len(lines[0]) <= TITLE_CHARS:
            title, lines = lines[0], lines[1:]
        title = title or card.title
        body = "\n".join(lines)
    if note and note not in body:
        body = f"{body}\n{note}" if body else note
    buttons = [
        {"text": b.label, "style": STYLE.get(b.style, 2), "key": button_key(b)}
        for b in part.buttons
        if usable(b)
    ][:MAX_BUTTONS]
    if not buttons:
        buttons = [{"text": "已处理", "style": 2, "key": DONE_KEY}]
    main: dict[str, str] = {"title": _chars(plain(title), TITLE_CHARS)}
    if desc:
        main["desc"] = _chars(plain(desc), DESC_CHARS)
    result: dict[str, Any] = {"card_type": "button_interaction", "main_title": main}
    if body:
        result["sub_title_text"] = _cut(body, SUBTITLE_BYTES)
    result["button_list"] = buttons
    result["task_id"] = task
    return result


def action_token(received_at: float, rid: str, task: str, operator: str, response_url: str) -> str:
    """What a tap keeps to be answered later: when, the event's req_id (long connection), the
    card's task_id, who tapped and the event's response_url (callback)."""
    return f"{ACTION_TOKEN}{int(received_at)}|{rid}|{task}|{operator}|{response_url}"


def parse_action_token(token: str) -> tuple[float, str, str, str, str] | None:
    """(received at, req_id, task_id, operator, response_url) of an ``action_token``."""
    if not token.startswith(ACTION_TOKEN):
        return None
    parts = token[len(ACTION_TOKEN) :].split("|", 4)
    if len(parts) != 5:
        return None
    try:
        at = float(parts[0])
    except ValueError:
        return None
    return at, parts[1], parts[2], parts[3], parts[4]


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - len("…".encode())].decode("utf-8", "ignore") + "…"
