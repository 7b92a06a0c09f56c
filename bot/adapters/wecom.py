"""WeCom (企业微信): the intelligent robot's encrypted callback in, markdown out.

Commands reach us through the 智能机器人 (API mode, URL callback): only messages that @ the robot,
as encrypted JSON. The callback is answered at once with an empty 200; the reply goes to the
message's ``response_url`` (one use, valid one hour). Scheduled and proactive messages, and
replies whose response_url is spent, go through the group's 消息推送 webhook (20 per minute per
key, markdown ≤ 4096 bytes). See docs/wecom.md.

A file (/导出) is posted through the webhook only: upload_media (type=file) gives a media_id
valid for three days, then a file message names it. The robot's response_url cannot carry a file,
and the robot receives no files in groups (so /导入 is the CLI's; docs/import.md).

In long-connection mode (``mode = "ws"``, bot/adapters/wecom_ws.py) there is no callback URL and
no push webhook: messages arrive over a websocket the bot opens, a reply echoes the message's
``req_id`` within its window (a stream whose id comes from the outbox key), and everything else
is posted with ``aibot_send_msg``.

Cards with buttons (bot/adapters/wecom_cards.py, docs/wecom.md §8) are ``button_interaction``
template cards where WeCom takes them: over the long connection, and through a single chat's
response_url; elsewhere markdown. A tap (``template_card_event``, verified like a message) is an
ACTION; ``action_response`` answers it within WeCom's 5 s with the encrypted passive reply that
updates the card (long connection: ``aibot_respond_update_msg`` echoing the event's req_id). An
answer not ready in time is sent by the sender: still an update within the 5 s on the long
connection, else a short markdown naming the tapper (WeCom cannot update a card later).

Neither endpoint takes an idempotency key, so a post whose outcome is unknown (the request went
out whole, the answer did not come back) is never repeated: it may have been shown already. Only
a post that provably never left (connection refused, name not resolved, connect timeout) and a
refusal WeCom answered are retried.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Request, Response

from bot.adapters import wecom_cards as cards
from bot.adapters.base import Adapter, OutboundItem, SendResult, WebhookAnswer
from bot.adapters.charts import text_bars
from bot.adapters.freshness import stale_reason
from bot.adapters.render import fit_card, take
from bot.adapters.wecom_crypto import WecomCrypto, WecomCryptoError
from bot.adapters.wecom_settings import WecomSettings
from bot.adapters.wecom_ws import (
    WecomLongConnection,
    classify,
    parse_reply_token,
    reply_token,
    stream_id,
)
from bot.config import BotSettings, Settings
from bot.messages import (
    ACTION,
    PRIVATE,
    REPLY_TOKEN,
    VOICE,
    Card,
    IncomingMessage,
    Mention,
    OutgoingMessage,
    escape_markdown,
    render_mentions,
    tap_data,
)
from bot.ratelimit import SlidingWindow

log = logging.getLogger(__name__)

PLATFORM = "wecom"
WEBHOOK_LIMIT = 4096  # bytes of markdown.content for the push webhook
RESPONSE_URL_LIMIT = 20480  # bytes of markdown for a response_url
PER_MINUTE = 20  # messages per minute per webhook key
MAX_BODY = 256 * 1024  # callbacks are small JSON; anything bigger is refused
RATE_LIMITED = {45009}
# Errors no retry can fix: invalid webhook key, content too long, bad type, empty content.
PERMANENT = {93000, 40058, 40008, 44004}
# Long connection: also an unknown chatid (case-sensitive; the chat never talked to the robot).
WS_PERMANENT = PERMANENT | {93006}
REPLY_WINDOW_SECONDS = 300.0  # answer a message by its req_id this long (streams expire at 6 min)
# upload_media refusals: bad media type, bad type, bad file size, push disabled.
UPLOAD_REFUSED = {40004, 40005, 40006, 93004}
_SPENT_TOKENS = 1000  # response_urls remembered as used or expired
UPLOAD_LIMIT = 20 * 1024 * 1024  # bytes: the push webhook's limit for a file (40006 over it)
_UPLOADS_KEPT = 200  # media_ids remembered by outbox key: a retried send does not re-upload
UPDATE_WINDOW_SECONDS = 4.0  # a tapped card can be updated this long (WeCom: within 5 s)
_CARDS_KEPT = 1000  # template cards remembered by task_id (a refusal re-shows the card)
TASK_ID = "wecom_task_id"  # platform_data of a tap: the task_id of the card tapped
NONCE = "wecom_nonce"  # platform_data of a tap: the callback's nonce (the passive reply's)
# _post's errcode for a post that went out whole but got no answer: it may have been delivered.
UNCONFIRMED = -1
_LEADING_MENTION = re.compile(r"^[@＠]\S*[\s\u3000]*")
# Spaces of every width as one: WeCom ends an ``@名字`` with U+2005, which must not glue the name
# to what follows (the @-mentions of a command are read from this text, see handlers.people).
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


def strip_bot_mention(text: str, bot_name: str = "") -> str:
    """Remove the leading ``@机器人名`` (the robot only receives messages that @ it)."""
    stripped = text.strip().lstrip("\u3000")
    for prefix in (f"@{bot_name}", f"＠{bot_name}"):
        if bot_name and stripped.startswith(prefix):
            return stripped[len(prefix) :].strip().lstrip("\u3000").strip()
    return _LEADING_MENTION.sub("", stripped, count=1).strip()


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut_bytes(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, never cutting inside a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: max(0, limit - len("…".encode()))].decode("utf-8", "ignore") + "…"


def render_markdown(
    message: OutgoingMessage, limit: int = WEBHOOK_LIMIT, mention_tags: bool = True
) -> str:
    """A neutral message as WeCom markdown within ``limit`` bytes (lists cut with "还有 N 个…").

    ``mention_tags``: ``<@userid>`` (notifies; push webhook) or plain ``@名字``.
    """

    def mention(m: Mention) -> str:
        if mention_tags:
            return f"<@{m.user_id}>"
        return f"@{escape_markdown(m.name or m.user_id)}"

    def md(text: str) -> str:
        return render_mentions(escape_markdown(text), message.mentions, mention)

    text, _ = fit_card(
        message.card, lambda budget: _markdown_body(message, md, budget), _utf8_len, limit
    )
    return _cut_bytes(text, limit)


def _markdown_body(message: OutgoingMessage, md: Callable[[str], str], budget: int | None) -> str:
    """Text, then the card: a ``###`` title, bold headings, lines, tables as lines."""
    out: list[str] = []
    if message.text:
        out.append(md(message.text))
    card: Card | None = message.card
    if card is not None:
        title = f"### {escape_markdown(card.title)}"
        if card.subtitle:
            title += f"\n{escape_markdown(card.subtitle)}"
        out.append(title)
        for section in card.sections:
            block: list[str] = []
            if section.heading:
                block.append(f"**{escape_markdown(section.heading)}**")
            lines, more = take(section.lines, budget)
            block.extend(md(line) for line in lines)
            if more:
                block.append(f"还有 {more} 个…")
            if section.table:
                rows, more_rows = take(section.table.rows, budget)
                block.append("**" + " ｜ ".join(md(c) for c in section.table.columns) + "**")
                block.extend(" ｜ ".join(md(cell) for cell in row) for row in rows)
                if more_rows:
                    block.append(f"还有 {more_rows} 个…")
            bars = text_bars(section.chart) if section.chart is not None else []
            if bars and section.chart is not None:
                block.append(f"**{escape_markdown(section.chart.title)}**")
                block.extend(md(bar) for bar in bars)
            if block:
                out.append("\n".join(block))
    return "\n\n".join(out)


class WecomAdapter(Adapter):
    """The WeCom platform: callback parser and markdown sender."""

    platform = PLATFORM

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float]) -> WecomAdapter:
        """The adapter for ``[wecom]``; callbacks are also bounded by server.max_body_bytes."""
        section = settings.platform_sections[PLATFORM]
        assert isinstance(section, WecomSettings)
        return cls(
            section,
            settings.bot,
            clock=clock,
            max_body_bytes=min(MAX_BODY, settings.server.max_body_bytes),
            signed_max_age_seconds=settings.server.signed_max_age_seconds,
        )

    def __init__(
        self,
        settings: WecomSettings,
        bot: BotSettings,
        clock: Callable[[], float] | None = None,
        max_body_bytes: int = MAX_BODY,
        signed_max_age_seconds: float = 3600.0,
    ) -> None:
        self.settings = settings
        self.bot = bot
        self.crypto = (
            WecomCrypto(settings.token, settings.encoding_aes_key, settings.receive_id)
            if settings.mode == "webhook"
            else None
        )
        self.ws: WecomLongConnection | None = None  # mode "ws": the connection, once started
        self.max_body_bytes = max_body_bytes
        self.signed_max_age_seconds = signed_max_age_seconds
        # Epoch seconds; the runtime passes its own clock so tests need no sleeping.
        self._now = clock or time.time
        self._per_key = SlidingWindow(PER_MINUTE, 60.0, clock or time.monotonic)
        self._spent: dict[str, None] = {}  # response_urls known to be used or expired
        self._spent_lock = threading.Lock()
        self._uploads: dict[str, str] = {}  # outbox key → media_id of its uploaded file
        self._parts: dict[str, int] = {}  # outbox key → parts of a card message already posted
        self._cards: dict[str, dict[str, Any]] = {}  # task_id → the template card as posted

    # -- receiving ---------------------------------------------------------------------------
    def parse_request(self, req: Request) -> WebhookAnswer:
        """GET: URL verification. POST: verify, decrypt and normalise; forgeries get 4xx."""
        if self.crypto is None:
            log.info("wecom webhook refused (404): long-connection mode has no callback URL")
            return [], _text("not found", 404)
        args = req.args
        if req.method == "GET":
            try:
                plain = self.crypto.verify_url(
                    args["msg_signature"], args["timestamp"], args["nonce"], args["echostr"]
                )
            except KeyError:
                log.warning("wecom URL verification malformed (400): a parameter is missing")
                return [], _text("bad request", 400)
            except WecomCryptoError as exc:
                log.warning("wecom URL verification refused (403): %s", exc)
                return [], _text("forbidden", 403)
            if stale := self._stale(args["timestamp"]):
                log.warning("wecom URL verification refused (403): %s", stale)
                return [], _text("forbidden", 403)
            return [], _text(plain, 200)
        if (req.content_length or 0) > self.max_body_bytes:
            log.warning("wecom callback refused (413): %s bytes", req.content_length)
            return [], _text("too large", 413)
        body = req.get_data(cache=False)
        if len(body) > self.max_body_bytes:
            log.warning("wecom callback refused (413): over %s bytes", self.max_body_bytes)
            return [], _text("too large", 413)
        if not all(args.get(k) for k in ("msg_signature", "timestamp", "nonce")):
            log.warning("wecom callback refused (403): no signature")
            return [], _text("forbidden", 403)
        try:
            envelope = json.loads(body)
            encrypt = envelope["encrypt"]
            if not isinstance(encrypt, str):
                raise TypeError("encrypt is not a string")
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: deep nesting
            log.warning("wecom callback malformed (400)")
            return [], _text("bad request", 400)
        try:
            plain = self.crypto.decrypt_msg(
                args["msg_signature"], args["timestamp"], args["nonce"], encrypt
            )
        except WecomCryptoError as exc:
            log.warning("wecom callback refused (403): %s", exc)
            return [], _text("forbidden", 403)
        if stale := self._stale(args["timestamp"]):
            log.warning("wecom callback refused (403): %s", stale)
            return [], _text("forbidden", 403)
        try:
            data = json.loads(plain)
            if not isinstance(data, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError, RecursionError):
            log.warning("wecom callback decrypted to something that is not a JSON object (400)")
            return [], _text("bad request", 400)
        try:
            if data.get("msgtype") == "event":
                tap = self.normalize_tap(data, "", args["nonce"])
                if tap is not None:  # answered by action_response once its replies are known
                    return [tap], _text("", 200)
                return [], self._event_answer(data, args["nonce"])
            message = self.normalize(data)
        except (
            AttributeError,
            TypeError,
            ValueError,
            KeyError,
        ) as exc:  # signed, but not WeCom's shape
            log.warning("wecom callback with an unexpected shape (400): %s", type(exc).__name__)
            return [], _text("bad request", 400)
        return ([message] if message is not None else []), _text("", 200)

    def _stale(self, timestamp: str) -> str:
        """Why a verified callback's timestamp is too far from our clock ('' when fresh)."""
        return stale_reason(timestamp, self._now(), self.signed_max_age_seconds)

    def normalize(self, data: dict[str, Any]) -> IncomingMessage | None:
        """A decrypted robot callback → IncomingMessage (None for what we do not read)."""
        msgtype = data.get("msgtype")
        sender = data.get("from")
        if not isinstance(sender, dict):
            sender = {}
        user_id = str(sender.get("userid") or "")
        msgid = str(data.get("msgid") or "")
        if not user_id or not msgid:
            return None
        if msgtype == "text":
            text = str((data.get("text") or {}).get("content") or "")
        elif msgtype == "mixed":
            items = (data.get("mixed") or {}).get("msg_item") or []
            text = " ".join(
                str((item.get("text") or {}).get("content") or "")
                for item in items
                if isinstance(item, dict) and item.get("msgtype") == "text"
            )
        elif msgtype == "voice":  # single chats only; WeCom sends the transcript, no audio
            text = str((data.get("voice") or {}).get("content") or "")
        else:
            return None  # images, files, stream refreshes: nothing to parse
        group, chat_id = _chat_of(data, user_id)
        if not chat_id:
            return None
        response_url = str(data.get("response_url") or "")
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=chat_id,
            message_id=msgid,
            sender_id=user_id,
            sender_name=self.settings.names.get(user_id, ""),
            text=_SPACES.sub(" ", strip_bot_mention(text, self.bot.name)).strip(),
            to_me=True,
            chat_type="group" if group else PRIVATE,
            platform_data={REPLY_TOKEN: response_url} if response_url else {},
            kind=VOICE if msgtype == "voice" else "message",
        )

    def normalize_tap(self, data: dict[str, Any], rid: str, nonce: str) -> IncomingMessage | None:
        """A ``template_card_event`` on one of our buttons → an ACTION (None: not a tap of ours).

        The operator is the callback's ``from.userid``; the chat as for messages. The button's
        key names verb/target/arg and nothing else; the task_id names the card and section.
        """
        event = data.get("event")
        if not isinstance(event, dict) or event.get("eventtype") != "template_card_event":
            return None
        fields = event.get("template_card_event")
        sender = data.get("from")
        if not isinstance(fields, dict) or not isinstance(sender, dict):
            return None
        tap = cards.parse_tap(str(fields.get("event_key") or ""), str(fields.get("task_id") or ""))
        user_id = str(sender.get("userid") or "")
        msgid = str(data.get("msgid") or "")
        if tap is None or not user_id or not msgid:
            return None
        group, chat_id = _chat_of(data, user_id)
        if not chat_id:
            return None
        response_url = str(data.get("response_url") or "")
        token = cards.action_token(self._now(), rid, tap.task_id, user_id, response_url)
        return IncomingMessage(
            platform=PLATFORM,
            chat_id=chat_id,
            message_id=msgid,
            sender_id=user_id,
            sender_name=self.settings.names.get(user_id, ""),
            text=f"[卡片] {cards.LABELS.get(tap.verb, tap.verb)}",
            to_me=True,
            chat_type="group" if group else PRIVATE,
            platform_data={
                **tap_data(tap.verb, tap.target, tap.arg, tap.card_id),
                TASK_ID: tap.task_id,
                NONCE: nonce,
                REPLY_TOKEN: token,
            },
            kind=ACTION,
        )

    def action_response(
        self, message: IncomingMessage, replies: list[OutgoingMessage] | None
    ) -> Response | None:
        """The passive reply to a tap: the tapped card updated (encrypted like every reply).

        Replies not ready in time (None): an empty 200, and the sender answers later (see
        ``_send_tap_answer``).
        """
        if self.crypto is None or message.kind != ACTION:
            return None
        update = self._card_update(
            message.platform_data.get(TASK_ID, ""), message.sender_id, replies
        )
        if update is None:
            return _text("", 200)
        plain = json.dumps(update, ensure_ascii=False)
        nonce = message.platform_data.get(NONCE, "")
        envelope = self.crypto.encrypt_json_reply(plain, nonce, str(int(self._now())))
        return Response(json.dumps(envelope), 200, content_type="application/json")

    def _card_update(
        self, task: str, operator: str, replies: list[OutgoingMessage] | None
    ) -> dict[str, Any] | None:
        """The ``update_template_card`` answer to a tap on ``task``; None: nothing to update.

        The handler's card (``update_of``) is re-rendered for the section tapped, for everyone,
        with its toast as the last line. A refusal (no update) re-shows the card as posted with
        the reason, to the operator only; WeCom has no toast. A success without a card (the
        handler could not load it) shows the card as posted with the toast and no buttons.
        """
        parsed = cards.parse_task(task)
        if not replies or parsed is None:
            return None
        _, section, full = parsed
        updated = next((r for r in replies if r.update_of and r.card is not None), None)
        if updated is not None and updated.card is not None:
            if section < len(updated.card.sections):
                card = cards.template_card(
                    updated.card, section, task, _plain(updated), full=full, note=updated.toast
                )
                self._remember(task, card)
                return {"response_type": "update_template_card", "template_card": card}
        reply = replies[0]
        note = _plain(reply)(reply.toast or reply.text)
        refused = reply.toast_kind == "error"
        if not refused:
            note = f"✅ {self.settings.names.get(operator, operator)}：{note}"
        with self._spent_lock:
            posted = self._cards.get(task)
        if posted is not None:
            card = dict(posted)
            body = str(card.get("sub_title_text") or "")
            line = f"⚠️ {note}" if refused else note
            card["sub_title_text"] = f"{body}\n{line}" if body else line
        else:  # posted by another process: the words alone
            title = "未能操作" if refused else "已处理"
            card = {
                "card_type": "button_interaction",
                "main_title": {"title": title},
                "sub_title_text": f"⚠️ {note}" if refused else note,
                "task_id": task,
            }
        if not refused:  # done without the card (the handler did not find it): retire its buttons
            card["button_list"] = [{"text": "已处理", "style": 2, "key": cards.DONE_KEY}]
            return {"response_type": "update_template_card", "template_card": card}
        card.setdefault("button_list", [{"text": "已处理", "style": 2, "key": cards.DONE_KEY}])
        return {
            "response_type": "update_template_card",
            "userids": [operator],
            "template_card": card,
        }

    def _remember(self, task: str, card: dict[str, Any]) -> None:
        with self._spent_lock:
            self._cards[task] = card
            while len(self._cards) > _CARDS_KEPT:
                self._cards.pop(next(iter(self._cards)))

    def _event_answer(self, data: dict[str, Any], nonce: str) -> Response:
        """Events: ``enter_chat`` (a single chat opened) gets a welcome; the rest an empty 200."""
        event = data.get("event")
        if not isinstance(event, dict):
            event = {}
        if event.get("eventtype") != "enter_chat":
            return _text("", 200)
        assert self.crypto is not None
        welcome = json.dumps(self._welcome(), ensure_ascii=False)
        envelope = self.crypto.encrypt_json_reply(welcome, nonce, str(int(self._now())))
        return Response(json.dumps(envelope), 200, content_type="application/json")

    def _welcome(self) -> dict[str, Any]:
        """The answer to ``enter_chat`` (someone opened a single chat with the robot)."""
        content = f"你好，我是{self.bot.name}。发送 /帮助 查看全部命令。"
        return {"msgtype": "text", "text": {"content": content}}

    # -- the long connection (mode "ws") -----------------------------------------------------
    def start_long_connection(
        self, receive: Callable[[IncomingMessage], object]
    ) -> threading.Thread | None:
        """In ``mode = "ws"``, connect to WeCom and store every message through ``receive``."""
        if self.settings.mode != "ws":
            return None

        def on_frame(cmd: str, headers: dict[str, Any], body: dict[str, Any]) -> None:
            rid = str(headers.get("req_id") or "")
            if cmd == "aibot_event_callback":
                event = body.get("event")
                if isinstance(event, dict) and event.get("eventtype") == "enter_chat" and self.ws:
                    self.ws.fire("aibot_respond_welcome_msg", self._welcome(), rid)
                    return
                try:
                    tap = self.normalize_tap(body, rid, "")
                except (AttributeError, TypeError, ValueError, KeyError) as exc:
                    log.warning("wecom event with an unexpected shape: %s", type(exc).__name__)
                    return
                if tap is not None:
                    self._answer_tap(receive, tap, rid)
                return
            if cmd != "aibot_msg_callback":
                return
            try:
                message = self.normalize(body)
            except (AttributeError, TypeError, ValueError, KeyError) as exc:
                log.warning("wecom frame with an unexpected shape: %s", type(exc).__name__)
                return
            if message is None:
                return
            message.platform_data = {REPLY_TOKEN: reply_token(self._now(), rid)}
            store_patiently(receive, message)  # stored before the next frame is read

        self.ws = WecomLongConnection(
            self.settings.ws_url,
            self.settings.bot_id,
            self.settings.secret,
            on_frame,
            timeout=self.settings.timeout_seconds,
        )
        return self.ws.start()

    def _answer_tap(
        self, receive: Callable[[IncomingMessage], object], tap: IncomingMessage, rid: str
    ) -> None:
        """Store a tap (the runtime waits briefly for its replies), then update the card by
        the event's req_id: ``aibot_respond_update_msg``, not waiting for its ack (this is the
        thread that reads acks). Not ready in time: the sender answers (``_send_tap_answer``)."""
        replies = receive_patiently(receive, tap)
        update = self._card_update(
            tap.platform_data[TASK_ID],
            tap.sender_id,
            replies if isinstance(replies, list) else None,
        )
        if update is not None and self.ws is not None:
            self.ws.fire("aibot_respond_update_msg", update, rid)

    def stop_long_connection(self) -> None:
        """Close the long connection (no reconnect)."""
        if self.ws is not None:
            self.ws.stop()

    def long_connection_problem(self) -> str:
        """Why the long connection is not up: reconnecting, kicked out, refused ('' when up)."""
        return self.ws.problem if self.ws is not None else ""

    def _send_ws(self, item: OutboundItem) -> SendResult:
        """A reply by the message's req_id within its window, else ``aibot_send_msg``.

        The reply is a finished stream whose id derives from the outbox key. A frame that went
        out without an ack may have been shown: it is never repeated (see classify).
        """
        ws = self.ws
        if ws is None:
            return classify("send", "not sent", {}, WS_PERMANENT)
        if cards.actions(item.message.card):
            chat = item.chat_id.removeprefix("single:")
            return self._send_ws_cards(ws, item, chat, item.reply_token)
        parsed = parse_reply_token(item.reply_token)
        token = item.reply_token
        if parsed and self._now() - parsed[0] < REPLY_WINDOW_SECONDS:
            fresh = not self._is_spent(token)  # one sender per chat: no race on a token
            if fresh:
                self._mark_spent(token)
                content = render_markdown(item.message, RESPONSE_URL_LIMIT, mention_tags=False)
                stream = {"id": stream_id(item.key), "finish": True, "content": content}
                outcome, ack = ws.post(
                    "aibot_respond_msg", {"msgtype": "stream", "stream": stream}, rid=parsed[1]
                )
                if outcome == "not sent":
                    with self._spent_lock:
                        self._spent.pop(token, None)  # still usable after the reconnect
                if outcome != "acked" or int(ack.get("errcode", 0) or 0) == 0:
                    return classify("aibot_respond_msg", outcome, ack, WS_PERMANENT)
                log.info("wecom: reply by req_id refused (%s); posting it instead", ack)
        body = {
            "chatid": item.chat_id.removeprefix("single:"),
            "msgtype": "markdown",
            "markdown": {"content": render_markdown(item.message, WEBHOOK_LIMIT, False)},
        }
        return classify("aibot_send_msg", *ws.post("aibot_send_msg", body), WS_PERMANENT)

    def _card_parts(self, item: OutboundItem) -> list[dict[str, Any]]:
        """The posts of a message with buttons: one template card, or markdown then cards.

        Each part is ``{"markdown": content}`` or ``{"card": template card}`` (see wecom_cards).
        """
        message = item.message
        card = message.card
        assert card is not None
        plain = _plain(message)
        cid = cards.card_id(item.key)
        sections = cards.actions(card)
        if cards.fits_one(card, message.text, plain):
            task = cards.task_id(cid, sections[0], True)
            full = cards.template_card(card, sections[0], task, plain, message.text, full=True)
            return [{"card": full}]
        shown = sections[: cards.CARDS_PER_MESSAGE]
        extra = [f"点下面卡片上的按钮直接记录（{len(shown)} 位客户）。"]
        if len(sections) > len(shown):
            extra[0] = f"前 {len(shown)} 位客户可点下面卡片上的按钮直接记录，其余请打字。"
        lead = [message.text] if message.text else []
        text = "\n".join([*lead, *extra, *cards.hints(card)])
        summary = OutgoingMessage(text, message.mentions, card)
        parts: list[dict[str, Any]] = [
            {"markdown": render_markdown(summary, WEBHOOK_LIMIT, mention_tags=False)}
        ]
        for index in shown:
            task = cards.task_id(cid, index, False)
            parts.append({"card": cards.template_card(card, index, task, plain)})
        return parts

    def _send_ws_cards(
        self, ws: WecomLongConnection, item: OutboundItem, chat: str, token: str
    ) -> SendResult:
        """Post the parts of a message with buttons (``_card_parts``), each once.

        The first part answers the message by its req_id when it can; the rest go by
        ``aibot_send_msg``. A retried row skips the parts already posted; a part that went out
        unacknowledged counts as posted (never repeated). Cards WeCom refuses are left out: the
        markdown carries everything (a lone card is posted as markdown instead).
        """
        parts = self._card_parts(item)
        with self._spent_lock:
            done = self._parts.get(item.key, 0)
        posted_card = False
        for number, part in enumerate(parts):
            if number < done:
                posted_card = posted_card or "card" in part
                continue
            if "card" in part:
                reply = {"msgtype": "template_card", "template_card": part["card"]}
                send = {"chatid": chat, **reply}
            else:
                stream = {"id": stream_id(item.key), "finish": True, "content": part["markdown"]}
                reply = {"msgtype": "stream", "stream": stream}
                send = {
                    "chatid": chat,
                    "msgtype": "markdown",
                    "markdown": {"content": part["markdown"]},
                }
            cmd, outcome, ack = self._ws_first_or_send(
                ws, token if number == 0 else "", reply, send
            )
            errcode = int(ack.get("errcode", 0) or 0) if outcome == "acked" else 0
            if outcome == "not sent":
                return classify(cmd, outcome, ack, WS_PERMANENT)  # retried: later parts wait
            if outcome == "no ack":
                log.warning(
                    "wecom %s: part %s of %s sent but not acknowledged", cmd, number, item.key
                )
            if errcode and "markdown" in part:
                return classify(cmd, outcome, ack, WS_PERMANENT)
            if errcode:
                log.warning("wecom: template card refused (%s); the markdown says it all", ack)
                if len(parts) == 1:
                    markdown = render_markdown(item.message, WEBHOOK_LIMIT, mention_tags=False)
                    body = {
                        "chatid": chat,
                        "msgtype": "markdown",
                        "markdown": {"content": markdown},
                    }
                    return classify(
                        "aibot_send_msg", *ws.post("aibot_send_msg", body), WS_PERMANENT
                    )
                break
            if "card" in part:
                posted_card = True
                self._remember(part["card"]["task_id"], part["card"])
            with self._spent_lock:
                self._parts[item.key] = number + 1
                while len(self._parts) > _UPLOADS_KEPT:
                    self._parts.pop(next(iter(self._parts)))
        with self._spent_lock:
            self._parts.pop(item.key, None)
        return SendResult(ok=True, message_id=cards.card_id(item.key) if posted_card else "")

    def _ws_first_or_send(
        self, ws: WecomLongConnection, token: str, reply: dict[str, Any], send: dict[str, Any]
    ) -> tuple[str, str, dict[str, Any]]:
        """``reply`` by the message's req_id (``token``) while it is fresh and unused, else (or
        when WeCom refuses that) ``send`` by ``aibot_send_msg``: (cmd, outcome, ack)."""
        parsed = parse_reply_token(token)
        if parsed and self._now() - parsed[0] < REPLY_WINDOW_SECONDS and not self._is_spent(token):
            self._mark_spent(token)
            outcome, ack = ws.post("aibot_respond_msg", reply, rid=parsed[1])
            if outcome == "not sent":
                with self._spent_lock:
                    self._spent.pop(token, None)  # still usable after the reconnect
            if outcome != "acked" or int(ack.get("errcode", 0) or 0) == 0:
                return "aibot_respond_msg", outcome, ack
            log.info("wecom: reply by req_id refused (%s); posting it instead", ack)
        return "aibot_send_msg", *ws.post("aibot_send_msg", send)

    def send_private(self, item: OutboundItem, user_id: str) -> SendResult:
        """To one person: ``aibot_send_msg`` to their userid, over the long connection only."""
        if self.settings.mode != "ws":
            error = 'wecom: the callback robot cannot post to one person (mode = "ws" can)'
            return SendResult(ok=False, permanent=True, error=error)
        if self.ws is None:
            return classify("send", "not sent", {}, WS_PERMANENT)
        if cards.actions(item.message.card):
            return self._send_ws_cards(self.ws, item, user_id, "")
        body = {
            "chatid": user_id,
            "msgtype": "markdown",
            "markdown": {"content": render_markdown(item.message, WEBHOOK_LIMIT, False)},
        }
        return classify("aibot_send_msg", *self.ws.post("aibot_send_msg", body), WS_PERMANENT)

    # -- sending -----------------------------------------------------------------------------
    def send(self, item: OutboundItem) -> SendResult:
        """Reply through the response_url when there is one, else the chat's push webhook.

        A post that may have been delivered (no answer) is final: never re-posted, and never
        followed by the webhook, which would show the reply twice. In long-connection mode
        everything goes over the connection (a file as its text).
        """
        if cards.parse_action_token(item.reply_token) is not None:
            return self._send_tap_answer(item)
        if self.settings.mode == "ws":
            return self._send_ws(item)
        if item.message.file is not None:
            return self._send_file(item)
        token = item.reply_token
        card = item.message.card
        if (
            token
            and not self._is_spent(token)
            and item.chat_id.startswith("single:")  # response_url takes cards in single chats only
            and card is not None
            and cards.fits_one(card, item.message.text, _plain(item.message))
        ):
            parts = self._card_parts(item)
            result, errcode = self._post(token, "", {"msgtype": "template_card", **_card(parts)})
            if result.ok:
                self._mark_spent(token)
                self._remember(parts[0]["card"]["task_id"], parts[0]["card"])
                return SendResult(ok=True, message_id=cards.card_id(item.key))
            if errcode == UNCONFIRMED:
                self._mark_spent(token)
                return result
            if errcode is None or result.deferred:
                return result
            log.info("wecom: template card refused (%s); sending markdown", result.error)
        if token and not self._is_spent(token):
            content = render_markdown(item.message, RESPONSE_URL_LIMIT, mention_tags=False)
            result, errcode = self._post(token, content)
            if result.ok or errcode == UNCONFIRMED:
                self._mark_spent(token)
                return result
            if errcode is None or result.deferred:  # network, 5xx or rate limit: retry it
                return result
            log.info("wecom: response_url refused (%s); falling back to the webhook", result.error)
            self._mark_spent(token)
        key, refused = self._webhook_key(item.chat_id)
        if refused is not None:
            return refused
        url = f"{self.settings.domain}/cgi-bin/webhook/send?key={quote(key, safe='')}"
        return self._post(url, render_markdown(item.message, WEBHOOK_LIMIT))[0]

    def _send_tap_answer(self, item: OutboundItem) -> SendResult:
        """The answer to a tap that was not ready within the callback (the late path).

        Long connection, still within WeCom's 5 s: the card update by the event's req_id.
        Otherwise WeCom cannot update the card any more: a short markdown naming the operator
        (its toast or text) through the event's response_url, the push webhook, or
        ``aibot_send_msg``.
        """
        parsed = cards.parse_action_token(item.reply_token)
        assert parsed is not None
        at, rid, task, operator, response_url = parsed
        message = item.message
        ws = self.ws
        if ws is not None and rid and self._now() - at < UPDATE_WINDOW_SECONDS:
            update = self._card_update(task, operator, [message])
            if update is not None:
                outcome, ack = ws.post("aibot_respond_update_msg", update, rid=rid)
                if outcome == "no ack" or (outcome == "acked" and not int(ack.get("errcode") or 0)):
                    return classify("aibot_respond_update_msg", outcome, ack, WS_PERMANENT)
                log.info("wecom: card update by req_id not possible (%s %s)", outcome, ack)
        who = self.settings.names.get(operator, operator)
        words = message.toast or message.text
        text = f"@{who}：{words}" if words else ""
        note = OutgoingMessage(text, card=None if words else message.card)
        answer = OutboundItem(item.key, item.chat_id, note, item.reply_to, item.job, item.attempts)
        answer.reply_token = response_url if self.settings.mode != "ws" else ""
        if self.settings.mode == "ws":
            return self._send_ws(answer)
        return self.send(answer)

    def _webhook_key(self, chat_id: str) -> tuple[str, SendResult | None]:
        """The chat's push webhook key and a slot of its rate limit, or why not now."""
        key = self.settings.webhook_key(chat_id)
        if not key:
            log.error(
                'wecom: no webhook_key for chat %s; set [wecom.chats."%s"] webhook_key',
                chat_id,
                chat_id,
            )
            return "", SendResult(
                ok=False, permanent=True, error=f"no webhook_key configured for {chat_id}"
            )
        wait = self._per_key.try_acquire(key)
        if wait:
            return "", SendResult(
                ok=False, retry_after=wait, deferred=True, error="local rate limit"
            )
        return key, None

    def _send_file(self, item: OutboundItem) -> SendResult:
        """upload_media (type=file), then a file message naming the media_id, by the webhook."""
        attachment = item.message.file
        assert attachment is not None
        data = item.file_data or b""
        if len(data) <= 5 or len(data) > UPLOAD_LIMIT:  # WeCom: more than 5 bytes, ≤ 20 MB
            return SendResult(ok=False, permanent=True, error=f"file of {len(data)} bytes")
        key, refused = self._webhook_key(item.chat_id)
        if refused is not None:
            return refused
        quoted = quote(key, safe="")
        with self._spent_lock:
            media_id = self._uploads.get(item.key, "")
        if not media_id:
            media_id, failed = self._upload(quoted, attachment.name, data)
            if failed is not None:
                return failed
            with self._spent_lock:
                self._uploads[item.key] = media_id
                while len(self._uploads) > _UPLOADS_KEPT:
                    self._uploads.pop(next(iter(self._uploads)))
        url = f"{self.settings.domain}/cgi-bin/webhook/send?key={quoted}"
        return self._post(url, "", {"msgtype": "file", "file": {"media_id": media_id}})[0]

    def _upload(self, quoted_key: str, name: str, data: bytes) -> tuple[str, SendResult | None]:
        """POST the file as multipart field ``media``; (media_id, None) or ('', the failure).

        An upload is not a message: retrying one that got no answer shows nothing twice.
        """
        boundary = f"genjin{uuid.uuid4().hex}"
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="media"; filename="{_header_name(name)}"; '
            f"filename*=UTF-8''{quote(name, safe='')}; filelength={len(data)}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        url = f"{self.settings.domain}/cgi-bin/webhook/upload_media?key={quoted_key}&type=file"
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_seconds) as resp:
                answer = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return "", SendResult(ok=False, error=f"wecom upload_media http={exc.code}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return "", SendResult(ok=False, error=f"wecom upload_media: {type(exc).__name__}")
        errcode = int(answer.get("errcode", 0) or 0) if isinstance(answer, dict) else -2
        if errcode == 0 and answer.get("media_id"):
            return str(answer["media_id"]), None
        error = f"wecom upload_media errcode={errcode} errmsg={answer.get('errmsg', '')}"
        if errcode in RATE_LIMITED:
            return "", SendResult(ok=False, error=error, retry_after=60.0, deferred=True)
        permanent = errcode in PERMANENT or errcode in UPLOAD_REFUSED
        return "", SendResult(ok=False, error=error, permanent=permanent)

    def _is_spent(self, token: str) -> bool:
        with self._spent_lock:
            return token in self._spent

    def _mark_spent(self, token: str) -> None:
        with self._spent_lock:
            self._spent[token] = None
            while len(self._spent) > _SPENT_TOKENS:
                self._spent.pop(next(iter(self._spent)))

    def _post(
        self, url: str, content: str, message: dict[str, Any] | None = None
    ) -> tuple[SendResult, int | None]:
        """POST one markdown message (or ``message`` as it is); (result, errcode).

        errcode is None when the message was not delivered and may be retried (not sent, or a
        5xx), UNCONFIRMED when it went out whole but no answer came back (a permanent failure:
        it may have been delivered, and neither endpoint can tell a retry from a new message).
        """
        message = message or {"msgtype": "markdown", "markdown": {"content": content}}
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        where = url.split("?", 1)[0]  # never log the key
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_seconds) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            error = f"wecom http={exc.code} at {where}"
            if exc.code == 429:
                return SendResult(ok=False, error=error, retry_after=60.0, deferred=True), 45009
            if 400 <= exc.code < 500:
                return SendResult(ok=False, error=error, permanent=True), exc.code
            return SendResult(ok=False, error=error), None
        except urllib.error.URLError as exc:  # urllib wraps errors before the request was sent
            return SendResult(ok=False, error=f"not sent: {exc.reason}"[:500]), None
        except (OSError, http.client.HTTPException) as exc:  # sent whole; the answer never came
            what = "timeout" if isinstance(exc, TimeoutError) else "no answer"
            error = (
                f"{what}: may have been delivered ({type(exc).__name__} after the request was "
                f"sent to {where}); not re-posted, WeCom cannot tell a retry from a new message"
            )
            log.warning("wecom: %s", error)
            return SendResult(ok=False, error=error[:500], permanent=True), UNCONFIRMED
        except ValueError as exc:  # a malformed URL
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500]), None
        try:
            answer = json.loads(raw or b"{}")
            errcode = int(answer.get("errcode", 0))
        except (ValueError, TypeError, AttributeError):
            return SendResult(ok=False, error=f"wecom: unreadable answer from {where}"), None
        if errcode == 0:
            return SendResult(ok=True), 0
        error = f"wecom errcode={errcode} errmsg={answer.get('errmsg', '')} at {where}"
        if errcode in RATE_LIMITED:
            return SendResult(ok=False, error=error, retry_after=60.0, deferred=True), errcode
        if errcode in PERMANENT:
            log.error("wecom: giving up on a message: %s", error)
            return SendResult(ok=False, error=error, permanent=True), errcode
        return SendResult(ok=False, error=error), errcode


def _card(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"template_card": …}`` of a message that is one template card."""
    return {"template_card": parts[0]["card"]}


def _plain(message: OutgoingMessage) -> Callable[[str], str]:
    """Text of ``message`` for a template card: plain text, mentions as ``@名字``."""

    def mention(m: Mention) -> str:
        return f"@{m.name or m.user_id}"

    return lambda text: render_mentions(text, message.mentions, mention)


def _header_name(name: str) -> str:
    """A file name safe inside a quoted multipart header (the exact name goes in filename*)."""
    return "".join(c if c.isprintable() and c not in '"\\\r\n' else "_" for c in name)


def _text(body: str, status: int) -> Response:
    """A plain-text response (the URL verification answer must be the bare plaintext)."""
    return Response(body, status, content_type="text/plain; charset=utf-8")


STORE_RETRY_SECONDS = 600.0  # how long a message the database refused is held and retried
_LOST = object()  # receive_patiently: the message could not be stored


def store_patiently(
    receive: Callable[[IncomingMessage], object],
    message: IncomingMessage,
    give_up_after: float = STORE_RETRY_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Store one long-connection message, retrying with back-off while the database is away.

    WeCom never redelivers over the connection, so a message is held (and the next frame not
    read) until it is stored; after ``give_up_after`` seconds it is logged as lost.
    """
    return receive_patiently(receive, message, give_up_after, sleep) is not _LOST


def receive_patiently(
    receive: Callable[[IncomingMessage], object],
    message: IncomingMessage,
    give_up_after: float = STORE_RETRY_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> object:
    """What ``receive`` answered for ``message`` (a tap's replies), retried as store_patiently
    does; ``_LOST`` when it could not be stored."""
    waited, delay = 0.0, 0.5
    while True:
        try:
            return receive(message)
        except Exception:
            if waited >= give_up_after:
                log.exception(
                    "wecom message %s could not be stored for %.0f s; it is lost",
                    message.message_id,
                    waited,
                )
                return _LOST
            log.warning(
                "storing wecom message %s failed; retrying in %.1f s",
                message.message_id,
                delay,
                exc_info=True,
            )
            sleep(delay)
            waited += delay
            delay = min(delay * 2, 15.0)


def _chat_of(data: dict[str, Any], user_id: str) -> tuple[bool, str]:
    """Whether a callback came from a group, and genjin's id of its chat (a single chat is
    ``single:<userid>``); '' when a group callback names no chat."""
    group = data.get("chattype") == "group"
    return group, str(data.get("chatid") or "") if group else f"single:{user_id}"
