"""The one adapter contract: what a chat platform implements, and nothing else knows about it.

A platform is a module under ``bot/adapters/`` with an ``Adapter`` subclass, plus its settings
section (a ``PlatformSettings`` subclass, the ``[<platform>]`` table of config.toml), listed once
in ``bot.adapters.PLATFORMS``. The runtime, the web app and the config loader only go through this
class and that table: none of them names a platform.

Every platform implements:

- ``from_settings(settings, clock)``: build the adapter from the loaded settings (a classmethod;
  ``clock`` gives epoch seconds, so signed requests are checked against the runtime's clock).
- ``parse_request(req)``: verify and normalise one ``/webhook/<platform>`` request into the
  messages to store and the HTTP answer the platform expects; a forgery gets a 4xx answer and no
  messages, never an exception. None when the platform has no webhook (the route answers 404).
- ``send(item)``: deliver one outbox item; platform errors are a ``SendResult``, never raised.

Optional capabilities, no-ops unless a platform overrides them:

- ``start_long_connection(receive)`` / ``stop_long_connection()``: events over a connection the
  bot opens (``mode = "ws"``) instead of a webhook; the thread shows in /healthz, with
  ``long_connection_problem()`` saying why it is not up (reconnecting, kicked out).
- ``member_names(chat_id)``: display names of a chat's members (None: the platform cannot tell).
- ``prefetch()``: learn what the webhook needs (the bot's own id), once at start, off the
  request path.
- ``download_file(chat_id, message_id, file_key, limit)``: the name and bytes of a file someone
  sent (for /导入); raises ``FileFetchError`` with a one-line Chinese reason.
- ``send_private(item, user_id)``: deliver one message to one person privately (a morning
  nudge under ``/设置 提醒方式 私聊``). A platform that implements it says so with
  ``private_sends = True`` on its settings class, so /设置 and the jobs know without the adapter.
- ``transcribe(chat_id, message_id, file_key, limit)``: the text of a voice note someone sent
  (speech-to-text); raises ``FileFetchError`` with a one-line Chinese reason (e.g. how to turn
  it on).

Card actions (one tap instead of one line; see ``bot.messages`` ACTION, Button, Form, Chart):

- ``parse_request`` (and the long connection) turn a verified card callback into an
  ``IncomingMessage`` of kind ACTION: the operator from the signed callback, the callback's id as
  ``message_id``, the button's verb/target/arg and the form's values in ``platform_data``.
- The runtime stores it like any message and waits briefly for its replies
  (``Runtime.receive_action``); ``action_response(message, replies)`` then builds the webhook's
  answer (Feishu: toast + the updated card within 3 s; WeCom: the passive reply within 5 s).
  ``replies`` is None when they were not ready in time: answer "已收到" and the sender delivers
  them later. On the long connection, ``receive`` returns the same ``replies`` for an ACTION.
- ``send`` of a message with ``update_of`` replaces that card in place (Feishu PATCH, WeCom
  update through the response path the platform gives); a toast that could not be shown inline
  is sent as a short text to the chat naming the operator, or dropped where the card says it.

A message with a file (``OutgoingMessage.file``) arrives with its bytes in
``OutboundItem.file_data``; a platform that cannot post files sends its text.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Self

if TYPE_CHECKING:  # keep this module light: bot.config imports the platform table
    from flask import Request, Response

    from bot.config import Settings
    from bot.messages import IncomingMessage, OutgoingMessage


@dataclass
class OutboundItem:
    """One outbox row as an adapter sees it; ``key`` is the idempotency key of the send.

    ``reply_token`` is what the platform gave to answer the message in ``reply_to`` (from the
    incoming message's ``platform_data``), e.g. WeCom's one-use response_url; '' for most.
    """

    key: str
    chat_id: str
    message: OutgoingMessage
    reply_to: str = ""
    job: str = ""
    attempts: int = 0
    reply_token: str = ""
    file_data: bytes | None = None  # the bytes of message.file (None: there is none)


@dataclass
class SendResult:
    """The outcome of one send.

    ok → the row is sent; permanent → failed for good (no retry); otherwise retried with
    back-off, or after ``retry_after`` seconds when the platform said so. ``deferred`` means the
    message was not attempted (a rate limit): it waits ``retry_after`` without using up an attempt.
    """

    ok: bool
    message_id: str = ""
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None
    deferred: bool = False


class FileFetchError(Exception):
    """A received file could not be downloaded; the text (Chinese, one line) says why."""


# What parse_request answers: the messages to store, then the HTTP response for the platform.
WebhookAnswer = tuple[list["IncomingMessage"], "Response"]


@dataclass
class PlatformSettings(ABC):
    """A platform's config section ``[<platform>]``; subclasses add their keys as fields.

    Every field is a config key and a ``GENJIN_<PLATFORM>_<KEY>`` variable, documented in
    config.example.toml. ``secret_keys`` are never shown in an error, ``url_keys`` only without
    their password.
    """

    secret_keys: ClassVar[tuple[str, ...]] = ()
    url_keys: ClassVar[tuple[str, ...]] = ()
    private_sends: ClassVar[bool] = False  # the adapter implements send_private

    @property
    @abstractmethod
    def enabled(self) -> bool:
        """Whether the platform is configured (then the runtime builds its adapter)."""

    def validate(self) -> None:
        """Cross-field checks, raising ``bot.config.ConfigError`` naming the key."""
        return None

    def sends_private(self) -> bool:
        """Whether, as configured, the adapter can message one person (``send_private``)."""
        return self.private_sends


class Adapter(ABC):
    """A chat platform: webhook parser, sender, and optional capabilities (see the module doc)."""

    platform: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float]) -> Self:
        """The adapter for the loaded settings; ``clock`` is the runtime's, in epoch seconds."""

    @abstractmethod
    def parse_request(self, req: Request) -> WebhookAnswer | None:
        """Verify and normalise one webhook request; None when the platform has no webhook."""

    @abstractmethod
    def send(self, item: OutboundItem) -> SendResult:
        """Deliver one message; must not raise for platform errors (return a SendResult)."""

    def action_response(
        self, message: IncomingMessage, replies: list[OutgoingMessage] | None
    ) -> Response | None:
        """The webhook's answer to a card tap once its replies are known (None: keep
        ``parse_request``'s answer). ``replies`` None: not ready in time (see the module doc)."""
        return None

    def start_long_connection(
        self, receive: Callable[[IncomingMessage], object]
    ) -> threading.Thread | None:
        """Start receiving events over a connection the bot opens; None when there is none."""
        return None

    def stop_long_connection(self) -> None:
        """Close the long connection, if any."""
        return None

    def long_connection_problem(self) -> str:
        """Why the long connection is not up (reconnecting, kicked out…); '' when it is."""
        return ""

    def send_private(self, item: OutboundItem, user_id: str) -> SendResult:
        """Deliver one message to ``user_id`` privately; platforms without it fail for good."""
        return SendResult(ok=False, permanent=True, error=f"{self.platform}: no private sends")

    def member_names(self, chat_id: str) -> dict[str, str] | None:
        """user id → display name for a chat's members; None when the platform cannot tell."""
        return None

    def prefetch(self) -> None:
        """Learn platform facts the webhook needs, once at start (network allowed here)."""
        return None

    def download_file(
        self, chat_id: str, message_id: str, file_key: str, limit: int
    ) -> tuple[str, bytes]:
        """(name, bytes) of the file sent in ``message_id``, at most ``limit`` bytes.

        ``file_key`` '' means: read it from the message. Raises FileFetchError.
        """
        raise FileFetchError("这个平台的机器人收不到文件")

    def transcribe(self, chat_id: str, message_id: str, file_key: str, limit: int) -> str:
        """The transcript of the voice note in ``message_id`` (audio of at most ``limit`` bytes).

        Raises FileFetchError.
        """
        raise FileFetchError("这个平台的机器人听不了语音，请打字发送")
