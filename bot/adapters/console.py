"""The console platform: `genjin say` and the sandbox page. No network; text rendering."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from bot.adapters.base import Adapter, OutboundItem, SendResult
from bot.messages import (
    ACTION,
    Button,
    Card,
    CardSection,
    Chart,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    render_mentions,
    tap_data,
)

if TYPE_CHECKING:
    from flask import Request

    from bot.config import Settings

PLATFORM = "console"
# A console mention: @ followed by a name up to whitespace or punctuation.
_MENTION = re.compile(r"[@＠]([^\s@＠,，:：;；、。()（）]+)")


def button_line(buttons: list[Button]) -> str:
    """A section's buttons as one text line: ``[✅ 已跟进] [⏰ 推到明天]``."""
    return " ".join(f"[{button.label}]" for button in buttons)


def chart_lines(chart: Chart) -> list[str]:
    """A chart as its title and text bars (the same bars WeCom shows); none without data."""
    from bot.adapters.charts import text_bars

    bars = text_bars(chart)
    return [f"📊 {chart.title}" if chart.title else "📊", *bars] if bars else []


def render_card(card: Card) -> list[str]:
    """A card as plain text lines: tables with ``|``, buttons in brackets, charts as bars."""
    lines = [f"【{card.title}】" + (f" {card.subtitle}" if card.subtitle else "")]
    for section in card.sections:
        if section.heading:
            lines.append(f"■ {section.heading}")
        lines.extend(section.lines)
        if section.table:
            lines.append(" | ".join(section.table.columns))
            lines.extend(" | ".join(row) for row in section.table.rows)
        if section.chart is not None:
            lines.extend(chart_lines(section.chart))
        if section.buttons:
            lines.append(button_line(section.buttons))
    return lines


def _console_mentions(message: OutgoingMessage) -> Callable[[str], str]:
    """Text with its mention tokens shown as ``@名字``."""
    return lambda text: render_mentions(text, message.mentions, lambda m: f"@{m.name or m.user_id}")


def render_text(message: OutgoingMessage) -> str:
    """The console rendering: ``@名字`` for mentions, cards as text after the text."""
    parts = [message.text] if message.text else []
    if message.card is not None:
        parts.append("\n".join(render_card(message.card)))
    return _console_mentions(message)("\n".join(parts))


def _section_data(section: CardSection, shown: Callable[[str], str]) -> dict[str, Any]:
    table = section.table
    return {
        "heading": shown(section.heading),
        "key": section.key,
        "lines": [shown(line) for line in section.lines],
        "table": (
            {
                "columns": [shown(c) for c in table.columns],
                "rows": [[shown(cell) for cell in row] for row in table.rows],
            }
            if table is not None
            else None
        ),
        "buttons": [asdict(button) for button in section.buttons],
        "chart": asdict(section.chart) if section.chart is not None else None,
        "open_form": str(getattr(section, "open_form", "") or ""),
    }


def render_data(message: OutgoingMessage) -> dict[str, Any]:
    """The message as structured data for the sandbox page, mentions shown as ``@名字``.

    ``text``: the message's own text (without the card); ``card``: title, subtitle and sections
    (heading, lines, table, key, buttons with their forms, chart), or None. Nothing here is
    markup: the page puts every string into the page as text.
    """
    shown = _console_mentions(message)
    card = message.card
    return {
        "text": shown(message.text),
        "card": (
            {
                "title": shown(card.title),
                "subtitle": shown(card.subtitle),
                "sections": [_section_data(section, shown) for section in card.sections],
            }
            if card is not None
            else None
        ),
        "update_of": message.update_of,
        "toast": shown(message.toast),
        "toast_kind": message.toast_kind,
    }


def parse_console(
    chat: str,
    sender: str,
    text: str,
    message_id: str,
    sent_at: str = "",
    bot_name: str = "",
) -> IncomingMessage:
    """A line typed in the console as an IncomingMessage; the name is the member id.

    A leading ``@<bot name>`` is stripped (the message is to the bot anyway); every other
    ``@名字`` becomes a mention of the member with that name.
    """
    stripped = text.strip()
    for prefix in (f"@{bot_name}", f"＠{bot_name}"):
        if bot_name and stripped.startswith(prefix):
            stripped = stripped[len(prefix) :].strip()
    mentions = []
    for name in _MENTION.findall(stripped):
        if name != bot_name and Mention(name, name) not in mentions:
            mentions.append(Mention(name, name))
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=chat,
        message_id=message_id,
        sender_id=sender,
        sender_name=sender,
        text=stripped,
        mentions=mentions,
        to_me=True,
        chat_type="group",
        chat_name=chat,
        sent_at=sent_at,
    )


def parse_console_action(
    chat: str,
    sender: str,
    message_id: str,
    card: str,
    button: Button,
    form: dict[str, str],
) -> IncomingMessage:
    """A tap on a card in the sandbox page as the IncomingMessage a platform callback gives.

    ``card`` is the platform message id of the card tapped; ``button`` carries the verb, target
    and arg; ``form`` the submitted values (dates as YYYY-MM-DD).
    """
    data = tap_data(button.action, button.target, button.arg, card, form)
    return IncomingMessage(
        platform=PLATFORM,
        chat_id=chat,
        message_id=message_id,
        sender_id=sender,
        sender_name=sender,
        text=f"[卡片] {button.label}",
        to_me=True,
        chat_type="group",
        chat_name=chat,
        platform_data=data,
        kind=ACTION,
    )


class ConsoleAdapter(Adapter):
    """Delivery is the outbox row itself: sending always succeeds and may notify a listener.

    Always present (``genjin say`` and the sandbox page feed it directly); it has no webhook and
    no settings section, so it is not in the platform table.
    """

    platform = PLATFORM

    def __init__(self, listener: Callable[[OutboundItem], None] | None = None) -> None:
        self.listener = listener

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float]) -> ConsoleAdapter:
        """The console needs no settings."""
        return cls()

    def parse_request(self, req: Request) -> None:
        """No webhook: console lines come from the CLI and the sandbox page."""
        return None

    def send(self, item: OutboundItem) -> SendResult:
        """Accept the message; its id (``console-<key>``) lets a later update find the card."""
        if self.listener is not None:
            self.listener(item)
        return SendResult(ok=True, message_id=f"console-{item.key}")
