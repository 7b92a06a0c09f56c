"""A local fake of WeCom's push webhook and response_url endpoints (a real HTTP server).

``POST /cgi-bin/webhook/send?key=KEY`` plays the 消息推送 webhook (20 messages per minute per
key; over that it answers 45009 and counts a violation); ``POST /response/<token>`` plays a
response_url (single use: a second POST gets an errcode). Every accepted message is recorded
with its arrival time on the fake's clock.

Files (wecom-cards-files.md §3.3): ``POST /cgi-bin/webhook/upload_media?key=KEY&type=file``
takes a ``multipart/form-data`` part named ``media`` (its ``filename`` is the name shown) and
answers ``{"errcode": 0, "type": "file", "media_id", "created_at"}``; the file is kept in
``media`` by media_id (for that key only). A bad key → 93000, a type other than file/voice →
40005, no ``media`` part → 40004, 5 bytes or fewer or over 20 MB → 40006. A webhook message
``{"msgtype": "file", "file": {"media_id"}}`` must name a media_id uploaded with the same key,
else 40007; it counts toward the 20 per minute.

Template cards (wecom-cards-files.md §1): a response_url takes ``template_card`` only when its
callback came from a single chat (``response_url(token, group=True)`` hands out a group one: a
card there is refused with 40008); the push webhook takes none of the interactive types.
:class:`CallbackClient` plays WeCom's side of the callback: it encrypts and signs a body (a
``template_card_event`` from :func:`card_event`), posts it to the bot's ``/webhook/wecom`` and
decrypts the passive reply (its signature checked), recording each in ``replies``.

Faults: ``fail_next`` answers the next posts with an error; ``answer_late`` accepts (records)
the next posts and answers only after a delay, as WeCom does when it is slow; ``stop()`` stops
listening (connections are refused, nothing is sent) until ``start()`` opens the same port again.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.adapters.wecom_crypto import WecomCrypto, sign

UPLOAD_LIMIT = 20 * 1024 * 1024
BAD_CARD = 40058  # what this fake answers a template card breaking the doc's rules with
_TASK_ID = re.compile(r"[0-9A-Za-z_\-@]{1,128}")


@dataclass
class Media:
    """One file uploaded through upload_media."""

    media_id: str
    key: str
    filename: str
    data: bytes


@dataclass
class Received:
    """One accepted message."""

    kind: str  # "webhook" or "response"
    target: str  # the webhook key or the response token
    body: dict[str, Any]
    at: float

    @property
    def content(self) -> str:
        """The markdown content (of a template card: its title and text)."""
        if self.body.get("msgtype") == "template_card":
            card = self.body.get("template_card") or {}
            title = str((card.get("main_title") or {}).get("title", ""))
            return "\n".join(t for t in (title, str(card.get("sub_title_text") or "")) if t)
        return str((self.body.get("markdown") or {}).get("content", ""))


@dataclass
class FakeWecom:
    """Start with ``start()``; ``url`` is the domain to configure."""

    clock: Callable[[], float] = time.monotonic
    keys: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)
    violations: int = 0
    fail_next: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    answer_late: int = 0  # the next N posts are handled, then answered after late_seconds
    late_seconds: float = 2.0
    requests: int = 0  # posts that arrived whole, whatever the answer
    media: dict[str, Media] = field(default_factory=dict)
    group_tokens: set[str] = field(default_factory=set)  # response_urls of group callbacks

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._used: set[str] = set()
        self._sent: dict[str, deque[float]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._port = 0

    # -- control -----------------------------------------------------------------------------
    def start(self) -> FakeWecom:
        """Serve on 127.0.0.1 (a free port, or the port it had before) in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                content_type = self.headers.get("Content-Type") or ""
                status, answer, delay = fake._handle(self.path, raw, content_type)
                if delay:
                    time.sleep(delay)  # handled; the client gave up waiting meanwhile
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client is gone (it timed out)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are refused; ``start()`` reopens the same port)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port> (the same after stop/start)."""
        assert self._port, "start() first"
        return f"http://127.0.0.1:{self._port}"

    def response_url(self, token: str, group: bool = False) -> str:
        """A response_url handed out with a callback (``group``: from a group chat)."""
        if group:
            self.group_tokens.add(token)
        return f"{self.url}/response/{token}"

    def webhook(self, key: str | None = None) -> list[Received]:
        """Messages accepted by the webhook (optionally for one key)."""
        return [m for m in self.messages if m.kind == "webhook" and key in (None, m.target)]

    def responses(self) -> list[Received]:
        """Messages accepted by response_urls."""
        return [m for m in self.messages if m.kind == "response"]

    def max_per_minute(self, key: str) -> int:
        """The most webhook messages for ``key`` in any 60-second window."""
        times = sorted(m.at for m in self.webhook(key))
        best = 0
        for i, start in enumerate(times):
            best = max(best, sum(1 for t in times[i:] if t < start + 60))
        return best

    # -- the endpoints -----------------------------------------------------------------------
    def files(self, key: str | None = None) -> list[tuple[Received, Media]]:
        """Each file message the webhook accepted, with the upload it names."""
        return [
            (m, self.media[m.body["file"]["media_id"]])
            for m in self.webhook(key)
            if m.body.get("msgtype") == "file"
        ]

    def _handle(
        self, path: str, raw: bytes, content_type: str = ""
    ) -> tuple[int, dict[str, Any], float]:
        """(status, answer, seconds to wait before answering) for one post."""
        with self._lock:
            self.requests += 1
            delay = 0.0
            if self.answer_late:
                self.answer_late -= 1
                delay = self.late_seconds
            status, answer = self._answer(path, raw, content_type)
            return status, answer, delay

    def _answer(self, path: str, raw: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        """WeCom's answer to one post (the lock is held)."""
        if self.fail_next:
            return self.fail_next.pop(0)
        parts = urlsplit(path)
        if parts.path == "/cgi-bin/webhook/upload_media":
            return self._upload(parse_qs(parts.query), raw, content_type)
        try:
            body = json.loads(raw)
        except ValueError:
            return 200, {"errcode": 40001, "errmsg": "invalid json"}
        now = self.clock()
        parts = urlsplit(path)
        if parts.path == "/cgi-bin/webhook/send":
            key = (parse_qs(parts.query).get("key") or [""])[0]
            if key not in self.keys:
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
            if body.get("msgtype") not in ("markdown", "file"):
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            if body.get("msgtype") == "file":
                media = self.media.get(str((body.get("file") or {}).get("media_id") or ""))
                if media is None or media.key != key:
                    return 200, {"errcode": 40007, "errmsg": "invalid media_id"}
            content = (body.get("markdown") or {}).get("content", "")
            if len(content.encode("utf-8")) > 4096:
                return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length"}
            window = self._sent.setdefault(key, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= 20:
                self.violations += 1
                return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
            window.append(now)
            self.messages.append(Received("webhook", key, body, now))
            return 200, {"errcode": 0, "errmsg": "ok"}
        if parts.path.startswith("/response/"):
            token = parts.path.removeprefix("/response/")
            if token in self._used or token in self.expired:
                return 200, {"errcode": 40001, "errmsg": "response_url used or expired"}
            if body.get("msgtype") == "template_card":
                if token in self.group_tokens:
                    return 200, {"errcode": 40008, "errmsg": "template_card: single chat only"}
                problem = card_problem(body.get("template_card"))
                if problem:
                    return 200, {"errcode": BAD_CARD, "errmsg": problem}
            elif body.get("msgtype") != "markdown":
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            self._used.add(token)
            self.messages.append(Received("response", token, body, now))
            return 200, {"errcode": 0, "errmsg": "ok"}
        return 404, {"errcode": 404, "errmsg": "not found"}

    def _upload(
        self, query: dict[str, list[str]], raw: bytes, content_type: str
    ) -> tuple[int, dict[str, Any]]:
        """upload_media: one multipart ``media`` part → a media_id for this key (lock held)."""
        key = (query.get("key") or [""])[0]
        if key not in self.keys:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        kind = (query.get("type") or [""])[0]
        if kind not in ("file", "voice"):
            return 200, {"errcode": 40005, "errmsg": "invalid media type"}
        part = _media_part(content_type, raw)
        if part is None:
            return 200, {"errcode": 40004, "errmsg": "invalid media data"}
        filename, data = part
        if len(data) <= 5 or len(data) > UPLOAD_LIMIT:
            return 200, {"errcode": 40006, "errmsg": "invalid file size"}
        media_id = f"3media{len(self.media) + 1:06d}"
        self.media[media_id] = Media(media_id, key, filename, data)
        created = str(int(self.clock()))
        return 200, {
            "errcode": 0,
            "errmsg": "ok",
            "type": kind,
            "media_id": media_id,
            "created_at": created,
        }


def _media_part(content_type: str, raw: bytes) -> tuple[str, bytes] | None:
    """(filename, bytes) of the multipart part named ``media``; None when there is none."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    for part in message.iter_parts() if message.is_multipart() else []:
        if part.get_param("name", header="content-disposition") == "media":
            payload = part.get_payload(decode=True)
            return str(part.get_filename() or ""), payload if isinstance(payload, bytes) else b""
    return None


def voice_callback(
    content: str, user: str, msgid: str, response_url: str = "", aibotid: str = "AIBOTID"
) -> dict[str, Any]:
    """A single-chat voice message as WeCom delivers it (wecom-cards-files.md §3.1): the
    transcript in ``voice.content``, no audio. Encrypt it like any callback body."""
    body: dict[str, Any] = {
        "msgid": msgid,
        "aibotid": aibotid,
        "chattype": "single",
        "from": {"userid": user},
        "msgtype": "voice",
        "voice": {"content": content},
    }
    if response_url:
        body["response_url"] = response_url
    return body


def card_problem(card: Any, update: bool = False) -> str:
    """What breaks the doc's rules for a ``button_interaction`` card ('' when nothing)."""
    if not isinstance(card, dict) or card.get("card_type") != "button_interaction":
        return "card_type must be button_interaction"
    if not isinstance(card.get("main_title"), dict) or not card["main_title"].get("title"):
        return "main_title.title is required"
    if not _TASK_ID.fullmatch(str(card.get("task_id") or "")):
        return "task_id: 1-128 of [0-9A-Za-z_-@]"
    buttons = card.get("button_list")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 6:
        return "button_list: 1 to 6 buttons"
    keys = [str(b.get("key") or "") for b in buttons]
    if len(set(keys)) != len(keys) or any(not k or len(k.encode()) > 1024 for k in keys):
        return "button_list.key: unique, 1-1024 bytes"
    if any(b.get("style", 1) not in (1, 2, 3, 4) for b in buttons):
        return "button_list.style: 1-4"
    return ""


def card_event(
    user: str,
    task_id: str,
    event_key: str,
    msgid: str,
    chat_id: str = "",
    response_url: str = "",
    create_time: int = 1700000000,
) -> dict[str, Any]:
    """A tap on a ``button_interaction`` card as WeCom delivers it (doc 101027): group when
    ``chat_id`` is given, else single. Encrypt it like any callback body."""
    body: dict[str, Any] = {
        "msgid": msgid,
        "create_time": create_time,
        "aibotid": "AIBOTID",
        "from": {"userid": user},
        "chattype": "group" if chat_id else "single",
        "msgtype": "event",
        "event": {
            "eventtype": "template_card_event",
            "template_card_event": {
                "card_type": "button_interaction",
                "event_key": event_key,
                "task_id": task_id,
            },
        },
    }
    if chat_id:
        body["chatid"] = chat_id
    if response_url:
        body["response_url"] = response_url
    return body


@dataclass
class Delivery:
    """One callback WeCom posted and what the bot answered (the passive reply, decrypted)."""

    body: dict[str, Any]
    status: int
    reply: dict[str, Any] | None  # None: an empty answer


class CallbackClient:
    """WeCom's side of the robot's callback URL: encrypt, sign, post, read the passive reply.

    ``post(query, envelope) -> (status, body bytes)`` reaches the bot (a Flask test client or
    a real port); ``clock`` gives the callback timestamp (epoch seconds).
    """

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        post: Callable[[dict[str, str], dict[str, Any]], tuple[int, bytes]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.crypto = WecomCrypto(token, encoding_aes_key, "")
        self._post = post
        self.clock = clock
        self.replies: list[Delivery] = []
        self._nonces = iter(range(1, 1_000_000))

    def deliver(self, body: dict[str, Any], signature: str = "") -> Delivery:
        """Post ``body`` once (WeCom posts a template_card_event once, and waits 5 s)."""
        enc = self.crypto.encrypt(json.dumps(body, ensure_ascii=False))
        ts, nonce = str(int(self.clock())), f"nonce{next(self._nonces)}"
        query = {
            "msg_signature": signature or sign(self.token, ts, nonce, enc),
            "timestamp": ts,
            "nonce": nonce,
        }
        status, raw = self._post(query, {"encrypt": enc})
        reply = None
        if status == 200 and raw:
            envelope = json.loads(raw)
            expected = sign(self.token, str(envelope["timestamp"]), nonce, envelope["encrypt"])
            assert envelope["nonce"] == nonce and envelope["msgsignature"] == expected
            reply = json.loads(self.crypto.decrypt(envelope["encrypt"]))
        delivery = Delivery(body, status, reply)
        self.replies.append(delivery)
        return delivery
