"""The console platform: `genjin say` and the sandbox page. No network; text rendering."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.adapters.base import Adapter, OutboundItem, SendResult
from bot.messages import Card, IncomingMessage, Mention, OutgoingMessage, render_mentions

if TYPE_CHECKING:
    from flask import Request

    from bot.config import Settings

PLATFORM = "console"
# A console mention: @ followed by a name up to whitespace or punctuation.
_MENTION = re.compile(r"[@＠]([^\s@＠,，:：;；、。()（）]+)")


def render_card(card: Card) -> list[str]:
    """A card as plain text lines."""
    lines = [f"【{card.title}】" + (f" {card.subtitle}" if card.subtitle else "")]
    for section in card.sections:
        if section.heading:
            lines.append(f"■ {section.heading}")
        lines.extend(section.lines)
        if section.table:
            lines.append(" | ".join(section.table.columns))
            lines.extend(" | ".join(row) for row in section.table.rows)
    return lines


def render_text(message: OutgoingMessage) -> str:
    """The console rendering: ``@名字`` for mentions, cards as text after the text."""
    parts = [message.text] if message.text else []
    if message.card is not None:
        parts.append("\n".join(render_card(message.card)))
    text = "\n".join(parts)
    return render_mentions(text, message.mentions, lambda m: f"@{m.name or m.user_id}")


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
        """Accept the message (the console has no network to fail)."""
        if self.listener is not None:
            self.listener(item)
        return SendResult(ok=True, message_id=f"console-{item.key}")
