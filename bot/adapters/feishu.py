"""Feishu (飞书) / Lark: verify, decrypt and normalise events; send replies and cards.

Verification and decryption are the SDK's own (``lark.EventDispatcherHandler``); its answers are
mapped to what Feishu should see: a forgery gets 401/403 (the SDK's 500 would make Feishu retry
it), a malformed body 400, an event type we do not use a plain 200. Sending goes through the
SDK's IM API with the outbox key as the request ``uuid``, so a re-send never double-posts.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import lark_oapi as lark  # type: ignore[import-untyped]
from flask import Request, Response
from lark_oapi.api.im.v1 import (  # type: ignore[import-untyped]
    CreateFileRequest,
    CreateFileRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    GetChatMembersRequest,
    GetMessageRequest,
    GetMessageResourceRequest,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)

from bot.adapters.base import (
    Adapter,
    FileFetchError,
    OutboundItem,
    SendResult,
    WebhookAnswer,
)
from bot.adapters.feishu_cards import CARD_LIMIT as CARD_LIMIT  # re-exported
from bot.adapters.feishu_cards import form_values, render_card
from bot.adapters.feishu_settings import FeishuSettings
from bot.adapters.feishu_speech import SPEECH_OFF, recognize, to_pcm16k
from bot.adapters.freshness import stale_reason
from bot.config import BotSettings, Settings
from bot.messages import (
    ACT_CLAIM,
    ACT_DONE,
    ACT_LOSE,
    ACT_OPEN,
    ACT_SNOOZE,
    ACTION,
    ACTION_CARD,
    FILE,
    FILE_KEY,
    FILE_NAME,
    PARENT_ID,
    PRIVATE,
    VOICE,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    render_mentions,
    tap_data,
)
from bot.ratelimit import SlidingWindow, acquire_all

log = logging.getLogger(__name__)

PLATFORM = "feishu"
RATE_LIMITED = {99991400, 230020, 11232}
# Errors no retry can fix: bot not in the chat, no permission, chat gone, bad content.
# 230013 user outside the app's availability, 230029 resigned, 230038 cross-tenant, 230053 the
# user stopped the bot: a private send that can never succeed.
PERMANENT = {
    230001,
    230002,
    230006,
    230013,
    230017,
    230029,
    230038,
    230053,
    230025,
    230031,
    230110,
    230027,
    230034,
    232009,
    99991672,
    99991679,
}
# Replying to a message that is gone: post to the chat instead.
REPLY_TARGET_GONE = {230011, 231003, 230003}
# 230025 card over 30 KB, 230031 card older than 14 days, 230110 deleted (and the reply codes
# above: recalled): an update of the card can never succeed.
CARD_GONE = {230025, 230031, 230110, *REPLY_TARGET_GONE}
CARD_EVENT = "card.action.trigger"
TOAST_KINDS = ("success", "info", "warning", "error")
TOAST_LIMIT = 200  # characters of a toast
RECEIVED = "已收到，正在处理"
UNREADABLE_TAP = "这个按钮认不出来，请用命令操作"
VALUE_LIMIT = 64  # characters of a button's verb, target or arg
_CHAT_MODES_KEPT = 10_000
VERB_LABELS = {
    ACT_DONE: "✅ 已跟进",
    ACT_SNOOZE: "⏰ 推迟",
    ACT_CLAIM: "🙋 我来跟",
    ACT_LOSE: "❌ 输单",
    ACT_OPEN: "📝 打开表单",
}
WINDOW = 1.1  # seconds: Feishu's limits are per second
TEXT_LIMIT = 20_000  # characters; far below Feishu's 150 KB
UPLOAD_LIMIT = 30 * 1024 * 1024  # bytes; Feishu refuses bigger files (234006)
_UPLOADS_KEPT = 200  # file_keys of uploads remembered by outbox key (a retry does not re-upload)
# Why a download was refused, in the user's words (the rest: "code=… msg=…").
DOWNLOAD_ERRORS = {
    234037: "文件超过 100 MB，飞书不允许机器人下载",
    234043: "合并转发的消息和卡片里的文件下载不了，请直接发文件",
    234038: "群开启了保密模式，机器人下载不了文件",
    234009: "外部群里的文件机器人下载不了",
    234040: "这条消息对机器人不可见（入群前的历史消息）",
    234003: "文件和消息对不上",
    234004: "机器人不在这个群里",
}
_SIGNATURE_HEADERS = ("X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature")
_AUTH_ERRORS = ("signature", "verification_token", "NoneType", "encrypt_key", "AccessDenied")


def render_text(message: OutgoingMessage) -> str:
    """A text message body: mentions as ``<at user_id>`` tags that notify."""
    text = message.text.replace("<", "＜").replace(">", "＞")
    rendered = render_mentions(
        text, message.mentions, lambda m: f'<at user_id="{m.user_id}">{m.name or m.user_id}</at>'
    )
    return rendered[:TEXT_LIMIT]


def flatten_post(
    content: dict[str, Any], bot_ids: set[str], keys: dict[str, tuple[str, str]]
) -> str:
    """A rich-text (``post``) message as plain text; ``@`` elements become ``@name``.

    In received posts an ``at`` element's user_id is the mention key (``@_user_1``); ``keys``
    maps it to (open_id, name).
    """
    if "content" not in content:  # {"zh_cn": {...}} wrapped by locale
        content = next((v for v in content.values() if isinstance(v, dict) and "content" in v), {})
    lines = []
    for paragraph in content.get("content") or []:
        parts = []
        for element in paragraph or []:
            tag = element.get("tag")
            if tag in ("text", "a", "md"):
                parts.append(str(element.get("text", "")))
            elif tag == "at":
                user_id = str(element.get("user_id", ""))
                open_id, known = keys.get(user_id, (user_id, ""))
                if open_id in bot_ids or user_id in ("all", "@_all"):
                    continue
                name = known or element.get("user_name") or open_id
                parts.append(f"@{name}")
            elif tag == "code_block":
                parts.append(str(element.get("text", "")))
        lines.append("".join(parts).strip())
    title = str(content.get("title") or "")
    text = "\n".join(line for line in lines if line.strip())
    return f"{title}\n{text}" if title and text else (title or text)


class FeishuAdapter(Adapter):
    """The Feishu platform: webhook parser, long-connection handler and sender."""

    platform = PLATFORM

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float]) -> FeishuAdapter:
        """The adapter for ``[feishu]``; signed requests are checked against ``clock``."""
        section = settings.platform_sections[PLATFORM]
        assert isinstance(section, FeishuSettings)
        return cls(
            section,
            settings.bot,
            clock=clock,
            signed_max_age_seconds=settings.server.signed_max_age_seconds,
        )

    def __init__(
        self,
        settings: FeishuSettings,
        bot: BotSettings,
        clock: Callable[[], float] | None = None,
        signed_max_age_seconds: float = 3600.0,
    ) -> None:
        self.settings = settings
        self.bot = bot
        # Epoch seconds; the runtime passes its own clock (signed requests must be recent).
        self._now = clock or time.time
        self.signed_max_age_seconds = signed_max_age_seconds
        self._local = threading.local()
        self._bot_open_id = settings.bot_open_id
        self._client: lark.Client | None = None
        self._client_lock = threading.Lock()
        self._uploads: dict[str, str] = {}  # outbox key → file_key of its uploaded file
        self._chat_modes: dict[str, str] = {}  # chat_id → PRIVATE | "group" (for card taps)
        self.sink: Callable[[IncomingMessage], object] | None = None  # long-connection receiver
        # Windows a little over a second: network jitter must not push a burst over the limit.
        self._per_chat = SlidingWindow(int(settings.chat_qps), WINDOW)
        self._per_app = SlidingWindow(int(settings.app_qps), WINDOW)
        self.handler = self._build_handler(settings.encrypt_key, settings.verification_token)

    # -- receiving ---------------------------------------------------------------------------
    def _build_handler(self, encrypt_key: str, token: str) -> Any:
        """The SDK dispatcher, with a handler for every event type we subscribe to."""
        builder = lark.EventDispatcherHandler.builder(encrypt_key, token, lark.LogLevel.CRITICAL)
        builder.register_p2_im_message_receive_v1(
            lambda data: self._collect(self._safe_normalize(data))
        )
        builder.register_p2_card_action_trigger(self._on_card_action)
        builder.register_p2_im_chat_member_bot_added_v1(
            lambda data: self._collect(self._chat_event(data, "bot_added"))
        )
        builder.register_p2_im_chat_member_bot_deleted_v1(
            lambda data: self._collect(self._chat_event(data, "bot_removed"))
        )
        builder.register_p2_im_chat_member_user_added_v1(
            lambda data: self._collect(self._chat_event(data, "members_added"))
        )
        for ignored in (
            builder.register_p2_im_chat_member_user_deleted_v1,
            builder.register_p2_im_chat_member_user_withdrawn_v1,
            builder.register_p2_im_message_message_read_v1,
            builder.register_p2_im_message_recalled_v1,
            builder.register_p2_im_chat_disbanded_v1,
            builder.register_p2_im_chat_updated_v1,
        ):
            ignored(lambda data: None)
        return builder.build()

    def _collect(self, message: IncomingMessage | None) -> None:
        """Hand a normalised message to the webhook request in this thread, or to ``sink``."""
        if message is None:
            return
        pending = getattr(self._local, "messages", None)
        if pending is not None:
            pending.append(message)
        elif self.sink is not None:
            self.sink(message)

    def parse_request(self, req: Request) -> WebhookAnswer:
        """Verify + decrypt with the SDK; map its errors to 400/401/403 so forgeries are not retried."""
        if not self.settings.verification_token:
            # Long-connection set-ups may leave the token empty; the SDK would then check nothing,
            # so the webhook is simply not there.
            log.info("feishu webhook refused (404): no verification_token (long connection mode)")
            return [], _json({"msg": "feishu webhook not configured"}, 404)
        raw = lark.RawRequest()
        raw.uri = req.path
        raw.body = req.get_data()
        raw.headers = {k: v for k, v in req.headers.items()}
        signed = all(raw.headers.get(h) for h in _SIGNATURE_HEADERS)
        if signed and self.settings.encrypt_key:
            # The SDK decrypts before it checks the signature; check it first, with the SDK's own
            # primitive, so that a forgery is a 403 whatever its body looks like.
            try:
                self.handler._verify_sign(raw, self.settings.encrypt_key)
            except Exception:
                log.warning("feishu webhook refused (403): signature verification failed")
                return [], _json({"msg": "forbidden"}, 403)
            # The SDK never compares the signed timestamp with the clock: a replay would verify.
            timestamp = raw.headers["X-Lark-Request-Timestamp"]
            if stale := stale_reason(timestamp, self._now(), self.signed_max_age_seconds):
                log.warning("feishu webhook refused (403): %s", stale)
                return [], _json({"msg": "forbidden"}, 403)
        self._local.messages = []
        try:
            result = self.handler.do(raw)
        finally:
            messages, self._local.messages = self._local.messages, None
        body = bytes(result.content or b"").decode("utf-8", "replace")
        if result.status_code == 200:
            return messages, Response(body, 200, content_type="application/json; charset=utf-8")
        if "processor not found" in body:
            return [], _json({"msg": "success"}, 200)  # an event type we do not use: ack it
        if any(marker in body for marker in _AUTH_ERRORS):
            status = 401 if ("NoneType" in body or "encrypt_key" in body) else 403
            log.warning("feishu webhook refused (%s): %s", status, body[:200])
            return [], _json({"msg": "forbidden"}, status)
        log.warning("feishu webhook malformed request: %s", body[:200])
        return [], _json({"msg": "bad request"}, 400)

    def bot_ids(self) -> set[str]:
        """The bot's open_id when known (config, or fetched once by ``prefetch``)."""
        return {self._bot_open_id} if self._bot_open_id else set()

    def prefetch(self) -> None:
        """Learn the bot's open_id from the API (at start, never on the webhook's path)."""
        if not self._bot_open_id:
            self._bot_open_id = self._fetch_bot_open_id()

    def start_long_connection(
        self, receive: Callable[[IncomingMessage], object]
    ) -> threading.Thread | None:
        """In ``mode = "ws"``, connect to Feishu and feed every event to ``receive``."""
        if self.settings.mode != "ws":
            return None
        from bot.adapters.feishu_ws import start_long_connection

        return start_long_connection(self, receive)

    def _safe_normalize(self, data: Any) -> IncomingMessage | None:
        """normalize(), dropping (with a log line) a signed event that is not Feishu's shape."""
        try:
            message = self.normalize(data)
        except (AttributeError, TypeError, ValueError) as exc:
            log.warning("feishu event with an unexpected shape ignored: %s", type(exc).__name__)
            return None
        if message is not None and not all(
            isinstance(v, str) and v for v in (message.chat_id, message.message_id)
        ):
            log.warning("feishu event without a usable chat_id/message_id ignored")
            return None
        return message

    def normalize(self, data: Any) -> IncomingMessage | None:
        """``im.message.receive_v1`` → IncomingMessage (bot mention stripped, others as @name)."""
        event = data.event
        message = event.message
        if event.sender is not None and getattr(event.sender, "sender_type", "user") not in (
            "user",
            None,
        ):
            return None  # another bot or the system
        sender_id = (
            event.sender.sender_id.open_id if event.sender and event.sender.sender_id else ""
        )
        try:
            content = json.loads(message.content or "{}")
        except (ValueError, RecursionError):  # not JSON, or nested too deep to read
            content = {}
        bot_ids = self.bot_ids()
        to_me = message.chat_type == "p2p"
        mentions: list[Mention] = []
        keys: dict[str, tuple[str, str]] = {}
        text = ""
        if message.message_type == "text":
            text = str(content.get("text", ""))
        written: dict[str, str] = {}  # mention key → what the text shows instead
        for m in message.mentions or []:
            open_id = m.id.open_id if m.id else ""
            is_bot = open_id in bot_ids or (not bot_ids and _looks_like_bot(m, text, self.bot.name))
            keys[m.key] = (open_id, m.name or "")
            if is_bot:
                to_me = True
                written[m.key] = " "
                continue
            if m.key == "@_all":
                written[m.key] = "＠所有人"
                continue
            written[m.key] = f"@{m.name or open_id}"
            mention = Mention(open_id, m.name or "")
            if mention not in mentions:
                mentions.append(mention)
        text = _replace_keys(text, written)
        if message.message_type == "post":
            text = flatten_post(content, bot_ids, keys)
            at_ids = [keys.get(k, (k, ""))[0] for k in _post_at_ids(content)]
            to_me = to_me or any(open_id in bot_ids for open_id in at_ids)
        elif message.message_type != "text":
            text = ""  # images, files, stickers: nothing to parse
        sent_at = ""
        if message.create_time:
            sent_at = datetime.fromtimestamp(int(message.create_time) / 1000, UTC).isoformat()
        kind, data = "message", {}
        if message.message_type == "file" and content.get("file_key"):
            # Kept for /导入: only the last file a person sent, or the one replied to, is read.
            kind, to_me = FILE, False
            data = {
                FILE_KEY: str(content["file_key"]),
                FILE_NAME: str(content.get("file_name") or ""),
            }
        elif message.message_type == "audio" and content.get("file_key"):
            # A voice note: a group's cannot @ the bot (to_me stays False there, and it is ignored)
            kind, data = VOICE, {FILE_KEY: str(content["file_key"])}
        elif getattr(message, "parent_id", None):
            data = {PARENT_ID: str(message.parent_id)}
        self._remember_chat(message.chat_id or "", message.chat_type or "group")
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=message.chat_id or "",
            message_id=message.message_id or "",
            sender_id=sender_id or "",
            text=re.sub(r"[ \t]+", " ", text).strip(),
            mentions=mentions,
            to_me=to_me,
            chat_type=message.chat_type or "group",
            sent_at=sent_at,
            platform_data=data,
            kind=kind,
        )

    def _chat_event(self, data: Any, kind: str) -> IncomingMessage | None:
        """Bot added/removed and members added, as pseudo-messages deduplicated by event id."""
        event = data.event
        users = [
            Mention(u.user_id.open_id, u.name or "")
            for u in (getattr(event, "users", None) or [])
            if u.user_id and u.user_id.open_id
        ]
        operator = getattr(event, "operator_id", None)
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=event.chat_id or "",
            message_id=f"event:{data.header.event_id}",
            sender_id=(operator.open_id if operator else "") or "",
            text="",
            mentions=users,
            to_me=False,
            chat_name=getattr(event, "name", "") or "",
            kind=kind,
        )

    # -- card actions ------------------------------------------------------------------------
    def _on_card_action(self, data: Any) -> dict[str, Any]:
        """A verified ``card.action.trigger``: stored through the webhook request, or over the
        long connection handed to ``sink``, whose replies answer the tap within 3 s."""
        message = self._safe_action(data)
        if message is None:
            return {"toast": {"type": "error", "content": UNREADABLE_TAP}}
        pending = getattr(self._local, "messages", None)
        if pending is not None:  # the webhook: the route asks action_response once it knows
            pending.append(message)
            return self.action_body(message, None)
        if self.sink is None:
            log.warning("feishu card action arrived with nobody to take it")
            return {"toast": {"type": "error", "content": "机器人还没准备好，请稍后再试"}}
        replies = self.sink(message)
        return self.action_body(message, replies if isinstance(replies, list) else None)

    def _safe_action(self, data: Any) -> IncomingMessage | None:
        """action(), dropping (with a log line) a signed callback that is not Feishu's shape."""
        try:
            return self.action(data)
        except (AttributeError, TypeError, ValueError) as exc:
            log.warning("feishu card action with an unexpected shape ignored: %s", exc)
            return None

    def action(self, data: Any) -> IncomingMessage | None:
        """``card.action.trigger`` → IncomingMessage of kind ACTION (None: not one of ours).

        Only verb, target and arg are read from the button's value; who tapped is the signed
        operator, the card and its chat come from the callback's context.
        """
        event = data.event
        value = event.action.value if event.action else None
        context = event.context
        operator = event.operator
        open_id = (operator.open_id if operator else "") or ""
        chat_id = (context.open_chat_id if context else "") or ""
        card_id = (context.open_message_id if context else "") or ""
        event_id = (data.header.event_id if data.header else "") or ""
        if not isinstance(value, dict) or not all((open_id, chat_id, card_id, event_id)):
            log.warning("feishu card action without a button value, operator, chat or card")
            return None
        verb, target, arg = (
            str(value.get(k) or "")[:VALUE_LIMIT] for k in ("verb", "target", "arg")
        )
        if not verb:
            log.warning("feishu card action whose button carries no verb")
            return None
        platform_data = tap_data(verb, target, arg, card_id, form_values(event.action.form_value))
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=chat_id,
            message_id=event_id,
            sender_id=open_id,
            text=f"[卡片] {VERB_LABELS.get(verb, verb)}",
            to_me=True,
            chat_type=self.chat_type(chat_id),
            sent_at=_callback_time(data.header.create_time),
            platform_data=platform_data,
            kind=ACTION,
        )

    def chat_type(self, chat_id: str) -> str:
        """PRIVATE when ``chat_id`` is known to be a one-to-one chat with the bot, else "group".

        A callback does not say: known from the chat's messages and the bot's private sends.
        No network on the tap's path: when this process does not know (after a restart), the
        dispatcher tells from the database (``handlers.router.is_private``: a desk chat, or a
        card the bot sent to one person).
        """
        with self._client_lock:
            return self._chat_modes.get(chat_id, "group")

    def _remember_chat(self, chat_id: str, chat_type: str) -> None:
        """Keep whether a chat is private (it never changes)."""
        if not chat_id:
            return
        with self._client_lock:
            self._chat_modes[chat_id] = PRIVATE if chat_type == PRIVATE else "group"
            while len(self._chat_modes) > _CHAT_MODES_KEPT:
                self._chat_modes.pop(next(iter(self._chat_modes)))

    def action_body(
        self, message: IncomingMessage, replies: list[OutgoingMessage] | None
    ) -> dict[str, Any]:
        """The answer to a tap: a toast, and the updated card when a reply replaces it.

        ``replies`` None: not ready in time; the sender delivers them later (``send``).
        """
        if replies is None:
            return {"toast": {"type": "info", "content": RECEIVED}}
        body: dict[str, Any] = {}
        shown = next((r for r in replies if r.toast), None) or next(
            (r for r in replies if r.text), None
        )
        if shown is not None:
            kind = shown.toast_kind if shown.toast and shown.toast_kind in TOAST_KINDS else "info"
            body["toast"] = {"type": kind, "content": _plain(shown.toast or shown.text, shown)}
        tapped = message.platform_data.get(ACTION_CARD, "")
        for reply in replies:
            if reply.update_of and reply.card is not None:
                if reply.update_of != tapped:
                    log.warning("feishu: an update of another card cannot answer this tap")
                    continue
                body["card"] = {"type": "raw", "data": render_card(reply.card, reply.mentions)}
                break
        return body

    def action_response(
        self, message: IncomingMessage, replies: list[OutgoingMessage] | None
    ) -> Response | None:
        """The webhook's answer to a tap (HTTP 200 within Feishu's 3 s): toast and card."""
        return Response(
            json.dumps(self.action_body(message, replies), ensure_ascii=False),
            200,
            content_type="application/json; charset=utf-8",
        )

    # -- sending -----------------------------------------------------------------------------
    def client(self) -> lark.Client:
        """The SDK client (built once; thread-safe for the sync calls we make)."""
        with self._client_lock:
            if self._client is None:
                from bot.adapters import feishu_transport

                feishu_transport.install()
                self._client = (
                    lark.Client.builder()
                    .app_id(self.settings.app_id)
                    .app_secret(self.settings.app_secret)
                    .domain(self.settings.domain)
                    .timeout(self.settings.timeout_seconds)
                    .log_level(lark.LogLevel.ERROR)
                    .build()
                )
            return self._client

    def send(self, item: OutboundItem) -> SendResult:
        """Reply in thread to a command, or post to the chat; honours Feishu's rate limits."""
        return self._limited(item.chat_id, item, "")

    def send_private(self, item: OutboundItem, user_id: str) -> SendResult:
        """Message one person (their open_id) privately: the bot's p2p chat with them."""
        return self._limited(f"open_id:{user_id}", item, user_id)

    def _limited(self, slot: str, item: OutboundItem, user_id: str) -> SendResult:
        """One send within Feishu's rate limits (per chat or per user, and per app)."""
        grant = acquire_all([(self._per_chat, slot), (self._per_app, "")], max_sleep=1.0)
        if grant.wait:
            return SendResult(
                ok=False, retry_after=grant.wait, deferred=True, error="local rate limit"
            )
        try:
            return self._send(item, user_id)
        finally:
            grant.settle()

    def _send(self, item: OutboundItem, user_id: str = "") -> SendResult:
        """Reply, post to the chat, or (``user_id``) post to one person; a file is uploaded first.

        The rate-limit slot is already taken.
        """
        message = item.message
        if message.update_of and message.card is not None and not user_id:
            return self._patch(item)
        answers_tap = bool(message.update_of or message.toast)
        if message.file is not None:
            file_key, failed = self._upload(item)
            if failed is not None:
                return failed
            msg_type, content = "file", json.dumps({"file_key": file_key})
        elif answers_tap:  # a toast that came too late to show: a short text in the chat
            late = OutgoingMessage(message.text or message.toast, message.mentions)
            msg_type, content = "text", json.dumps({"text": render_text(late)}, ensure_ascii=False)
        else:
            msg_type, content = self.render(message)
        replies = item.reply_to and not item.reply_to.startswith("event:") and not answers_tap
        if replies and not user_id:
            result = self._call(
                self.client().im.v1.message.reply,
                ReplyMessageRequest.builder()
                .message_id(item.reply_to)
                .request_body(
                    ReplyMessageRequestBody.builder()
                    .msg_type(msg_type)
                    .content(content)
                    .uuid(item.key)
                    .build()
                )
                .build(),
            )
            if result[1] not in REPLY_TARGET_GONE:
                return result[0]
            log.info("feishu: message %s to reply to is gone; posting to the chat", item.reply_to)
        return self._call(
            self.client().im.v1.message.create,
            CreateMessageRequest.builder()
            .receive_id_type("open_id" if user_id else "chat_id")
            .request_body(
                CreateMessageRequestBody.builder()
                .receive_id(user_id or item.chat_id)
                .msg_type(msg_type)
                .content(content)
                .uuid(item.key)
                .build()
            )
            .build(),
            private=bool(user_id),
        )[0]

    def _patch(self, item: OutboundItem) -> SendResult:
        """Replace a card in place (``PATCH /open-apis/im/v1/messages/:id``; both cards declare
        ``update_multi``); a card recalled, deleted or older than 14 days fails for good."""
        message = item.message
        assert message.card is not None
        card = render_card(message.card, message.mentions)
        request = (
            PatchMessageRequest.builder()
            .message_id(message.update_of)
            .request_body(
                PatchMessageRequestBody.builder()
                .content(json.dumps(card, ensure_ascii=False))
                .build()
            )
            .build()
        )
        result, code = self._call(self.client().im.v1.message.patch, request)
        if result.ok:
            result.message_id = message.update_of
        elif code in CARD_GONE and not result.permanent:
            log.error("feishu: card %s cannot be updated: %s", message.update_of, result.error)
            result.permanent = True
        return result

    def _upload(self, item: OutboundItem) -> tuple[str, SendResult | None]:
        """The file_key of the item's file, uploaded once per outbox key (or why not).

        Uploads have no idempotency key; a retried upload only leaves an unused file behind.
        The message that posts it carries the outbox key as its uuid, so it is posted once.
        """
        attachment = item.message.file
        assert attachment is not None
        with self._client_lock:
            known = self._uploads.get(item.key)
        if known:
            return known, None
        data = item.file_data or b""
        if not data:
            return "", SendResult(ok=False, permanent=True, error="file bytes missing (purged?)")
        if len(data) > UPLOAD_LIMIT:
            return "", SendResult(ok=False, permanent=True, error=f"file of {len(data)} bytes")
        request = (
            CreateFileRequest.builder()
            .request_body(
                CreateFileRequestBody.builder()
                .file_type("stream")  # `xls` is for .xls; .xlsx and .csv go as stream
                .file_name(attachment.name)
                .file(io.BytesIO(data))
                .build()
            )
            .build()
        )
        try:
            resp = self.client().im.v1.file.create(request)
        except Exception as exc:
            return "", SendResult(ok=False, error=f"upload: {type(exc).__name__}: {exc}"[:500])
        if not resp.success() or not resp.data or not resp.data.file_key:
            result, _ = self._classify(resp)
            return "", result
        with self._client_lock:
            self._uploads[item.key] = resp.data.file_key
            while len(self._uploads) > _UPLOADS_KEPT:
                self._uploads.pop(next(iter(self._uploads)))
        return resp.data.file_key, None

    def render(self, message: OutgoingMessage) -> tuple[str, str]:
        """(msg_type, content JSON) for a neutral message: a card when it has one, else text."""
        if message.card is not None:
            card = render_card(message.card, message.mentions, intro=message.text)
            return "interactive", json.dumps(card, ensure_ascii=False)
        return "text", json.dumps({"text": render_text(message)}, ensure_ascii=False)

    def _call(
        self, method: Any, request: Any, private: bool = False
    ) -> tuple[SendResult, int | None]:
        """Run one SDK call and classify the outcome (never raises); ``private``: the chat the
        message went to is the bot's one-to-one chat with the user (remembered for taps)."""
        try:
            resp = method(request)
        except Exception as exc:  # network errors, or a non-JSON gateway page
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500]), None
        if resp.success():
            data = getattr(resp, "data", None)
            if private:
                self._remember_chat(str(getattr(data, "chat_id", "") or ""), PRIVATE)
            return SendResult(ok=True, message_id=getattr(data, "message_id", "") or ""), 0
        return self._classify(resp)

    def _classify(self, resp: Any) -> tuple[SendResult, int | None]:
        """A refused SDK call as a SendResult: rate limit, permanent, or retry."""
        status = resp.raw.status_code if resp.raw else 0
        error = f"feishu code={resp.code} http={status} msg={resp.msg} log_id={resp.get_log_id()}"
        if resp.code in RATE_LIMITED or status == 429:
            headers = {
                k.lower(): v for k, v in ((resp.raw.headers if resp.raw else None) or {}).items()
            }
            try:
                reset = float(headers.get("x-ogw-ratelimit-reset") or 1.0)
            except ValueError:
                reset = 1.0
            return SendResult(
                ok=False, error=error, retry_after=max(reset, 0.2), deferred=True
            ), resp.code
        if resp.code in REPLY_TARGET_GONE:
            return SendResult(ok=False, error=error), resp.code
        if resp.code in PERMANENT:
            log.error("feishu: giving up on a message: %s", error)
            return SendResult(ok=False, error=error, permanent=True), resp.code
        return SendResult(ok=False, error=error), resp.code

    # -- files -------------------------------------------------------------------------------
    def download_file(
        self, chat_id: str, message_id: str, file_key: str, limit: int
    ) -> tuple[str, bytes]:
        """A file someone sent, by the message-resource API (the message is read first when
        only its id is known: a reply to a file the bot was not sent)."""
        name = ""
        if not file_key:
            file_key, name = self._file_of_message(message_id)
        request = (
            GetMessageResourceRequest.builder()
            .message_id(message_id)
            .file_key(file_key)
            .type("file")
            .build()
        )
        try:
            resp = self.client().im.v1.message_resource.get(request)
        except Exception as exc:
            raise FileFetchError(f"文件下载失败（{type(exc).__name__}），请稍后再试") from None
        if not resp.success() or resp.file is None:
            reason = DOWNLOAD_ERRORS.get(resp.code, f"code={resp.code} {resp.msg or ''}".strip())
            raise FileFetchError(f"文件下载失败：{reason}")
        data = resp.file.read(limit + 1)
        if len(data) > limit:
            raise FileFetchError(f"文件太大，最多 {limit / 1048576:.0f} MB")
        return (resp.file_name or name or ""), data

    def transcribe(self, chat_id: str, message_id: str, file_key: str, limit: int) -> str:
        """A voice note's text: downloaded, decoded to 16 kHz PCM, sent to speech-to-text."""
        if self.settings.speech != "on":
            raise FileFetchError(SPEECH_OFF)
        _, audio = self.download_file(chat_id, message_id, file_key, limit)
        return recognize(self.client(), to_pcm16k(audio))

    def _file_of_message(self, message_id: str) -> tuple[str, str]:
        """(file_key, file_name) of a file message, read by ``GET /im/v1/messages/{id}``."""
        try:
            resp = self.client().im.v1.message.get(
                GetMessageRequest.builder().message_id(message_id).build()
            )
        except Exception as exc:
            raise FileFetchError(f"读取那条消息失败（{type(exc).__name__}）") from None
        items = (resp.data.items or []) if resp.success() and resp.data else []
        if not items:
            raise FileFetchError(f"读取那条消息失败：code={resp.code} {resp.msg or ''}".strip())
        item = items[0]
        try:
            content = json.loads(item.body.content if item.body else "{}")
        except (ValueError, RecursionError):
            content = {}
        if item.msg_type != "file" or not content.get("file_key"):
            raise FileFetchError("回复的那条消息不是文件：请回复 .xlsx 或 .csv 文件消息 /导入")
        return str(content["file_key"]), str(content.get("file_name") or "")

    # -- names -------------------------------------------------------------------------------
    def member_names(self, chat_id: str) -> dict[str, str] | None:
        """open_id → name for the chat's members (needs a chat-members scope); {} if refused."""
        names: dict[str, str] = {}
        page_token = ""
        for _ in range(50):
            builder = (
                GetChatMembersRequest.builder()
                .chat_id(chat_id)
                .member_id_type("open_id")
                .page_size(100)
            )
            if page_token:
                builder = builder.page_token(page_token)
            try:
                resp = self.client().im.v1.chat_members.get(builder.build())
            except Exception as exc:
                log.warning("feishu: chat members of %s unavailable: %s", chat_id, exc)
                return {}
            if not resp.success():
                log.info("feishu: chat members of %s not readable (code %s)", chat_id, resp.code)
                return {}
            for item in resp.data.items or []:
                if item.member_id and item.name:
                    names[item.member_id] = item.name
            if not resp.data.has_more:
                break
            page_token = resp.data.page_token or ""
        return names

    def _fetch_bot_open_id(self) -> str:
        """The bot's open_id from ``GET /open-apis/bot/v3/info`` ('' when unavailable)."""
        request = (
            lark.BaseRequest.builder()
            .http_method(lark.HttpMethod.GET)
            .uri("/open-apis/bot/v3/info")
            .token_types({lark.AccessTokenType.TENANT})
            .build()
        )
        try:
            resp = self.client().request(request)
            data = json.loads(resp.raw.content or b"{}")
            return str((data.get("bot") or {}).get("open_id") or "")
        except Exception as exc:
            log.warning("feishu: bot info unavailable (%s); telling the bot by its name", exc)
            return ""


def _replace_keys(text: str, written: dict[str, str]) -> str:
    """Each mention key replaced as a whole token: ``@_user_1`` never eats into ``@_user_10``."""
    keys = sorted((k for k in written if k), key=len, reverse=True)
    if not keys:
        return text
    pattern = re.compile("(?:" + "|".join(map(re.escape, keys)) + ")(?![0-9A-Za-z_])")
    return pattern.sub(lambda m: written[m.group()], text)


def _looks_like_bot(mention: Any, text: str, bot_name: str) -> bool:
    """Without the bot's open_id: the mention named like the bot, or leading a slash command."""
    if mention.name == bot_name:
        return True
    return text.startswith(mention.key) and text[len(mention.key) :].lstrip().startswith(
        ("/", "／")
    )


def _post_at_ids(content: dict[str, Any]) -> list[str]:
    """user_ids of the @ elements of a post."""
    if "content" not in content:
        content = next((v for v in content.values() if isinstance(v, dict) and "content" in v), {})
    return [
        str(e.get("user_id", ""))
        for paragraph in content.get("content") or []
        for e in paragraph or []
        if e.get("tag") == "at"
    ]


def _plain(text: str, message: OutgoingMessage) -> str:
    """A toast's words: mentions as names, at most TOAST_LIMIT characters."""
    shown = render_mentions(text, message.mentions, lambda m: m.name or "")
    return shown if len(shown) <= TOAST_LIMIT else shown[: TOAST_LIMIT - 1] + "…"


def _callback_time(create_time: Any) -> str:
    """A callback's ``header.create_time`` (microseconds, as text) as ISO time ('' if absent)."""
    try:
        stamp = int(str(create_time or ""))
    except ValueError:
        return ""
    if stamp <= 0:
        return ""
    if stamp > 10**14:  # microseconds, as the doc says
        seconds = stamp / 1_000_000
    elif stamp > 10**11:  # milliseconds, as message events
        seconds = stamp / 1000
    else:
        seconds = float(stamp)
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return ""


def _json(data: dict[str, Any], status: int) -> Response:
    """A small JSON response."""
    return Response(json.dumps(data), status, content_type="application/json; charset=utf-8")
