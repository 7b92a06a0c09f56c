"""A real local HTTP server that speaks the slice of the Feishu open API genjin uses.

Point the real SDK at it with ``lark.Client.builder().domain(fake.url)`` (lark-oapi allows ``http://`` for
127.0.0.1 only), or use ``fake.lark_client()``::

    with FakeFeishu(members={"oc_1": {"ou_a": "张三"}}) as fake:
        client = fake.lark_client()
        ...                                   # code under test sends through `client`
        fake.wait_for(1)
        assert fake.texts() == ["已记录：客户A · 报价已发"]

Endpoints (all answers carry ``X-Tt-Logid``; every endpoint except the token one needs
``Authorization: Bearer <fake.token>`` else HTTP 401 ``{"code": 99991663}``):

* ``POST /open-apis/auth/v3/tenant_access_token/internal`` — checks ``app_id``/``app_secret`` from the body;
  wrong → HTTP 400 ``{"code": 10014, "msg": "app secret invalid"}`` (the SDK then raises
  ``ObtainAccessTokenException``).
* ``POST /open-apis/im/v1/messages?receive_id_type=...`` (create) and
  ``POST /open-apis/im/v1/messages/{message_id}/reply`` (reply) — recorded as :class:`Sent`.
  ``receive_id_type`` is one of ``chat_id``, ``open_id``, ``user_id``, ``union_id``, ``email``
  (else 99992402); ``open_id`` etc. is a private message to that user (``sent_to_user``), and
  ``permanent_error(open_id, 230013, …)`` plays a user outside the app's availability range.
* ``GET /open-apis/im/v1/chats/{chat_id}/members`` — from ``fake.members``; paginates by ``page_size``
  (``page_token`` is the offset). A chat missing from ``members`` → HTTP 400
  ``{"code": 232011, "msg": "Operator can NOT be out of the chat."}``.
* ``GET /open-apis/bot/v3/info`` — ``{"bot": {"app_name", "open_id": fake.bot_open_id, ...}}``.
* ``POST /open-apis/im/v1/files`` — multipart ``file_type`` (opus/mp4/pdf/doc/xls/ppt/stream),
  ``file_name``, ``file``; kept in ``fake.uploads`` by the ``file_key`` answered
  (``{"data": {"file_key"}}``). Empty → 400 ``{"code": 234010}``, over 30 MB → 400
  ``{"code": 234006}``, a missing or bad field → 400 ``{"code": 99992402}``. A ``file`` message
  (create/reply, ``content {"file_key"}``) must name a key this app uploaded, else 400
  ``{"code": 230017}``.
* ``GET /open-apis/im/v1/messages/{message_id}/resources/{file_key}?type=file`` — the bytes of a
  file someone sent (``fake.add_received_file``), ``application/octet-stream`` with a
  ``Content-Disposition: attachment; filename*=UTF-8''…``. A file_key not of that message →
  400 ``{"code": 234003}``; a bad ``type`` → 400 ``{"code": 234001}``.
* ``GET /open-apis/im/v1/messages/{message_id}`` — a received file message as
  ``{"data": {"items": [{"msg_type": "file", "body": {"content": "{\"file_key\",…}"}, …}]}}``;
  unknown → 400 ``{"code": 230001}``.
* ``POST /open-apis/speech_to_text/v1/speech/file_recognize`` — ``{"speech": {"speech": <base64
  PCM>}, "config": {"file_id": <16 letters/digits/_>, "format": "pcm", "engine_type": "16k_auto"}}``
  → ``{"code": 0, "data": {"recognition_text": fake.speech_text}}``, the decoded PCM kept in
  ``fake.recognized``. A bad field, odd-length PCM or more than 60 s (16 kHz s16le) → 400
  ``{"code": 1040101}``; ``fake.speech_code`` (e.g. 99991672, no scope) answers that error instead.
* ``PATCH /open-apis/im/v1/messages/{message_id}`` — update a card this fake posted, body
  ``{"content": "<card JSON>"}``; recorded in ``fake.updates`` (:class:`Update`) and
  ``fake.card(message_id)`` gives the card now shown. Both the old and the new card must declare
  ``config.update_multi: true`` and the new one must pass ``card_problems`` (else 400
  ``{"code": 230099}``, the fake's choice of code); over 30 KB → 230025; a message not posted by
  this fake or not a card → 230001; older than 14 days (``fake.clock``) → 230031; more than 5 updates
  a second to one message → 230020. Cards posted by create/reply must pass ``card_problems`` too.
* ``GET /open-apis/im/v1/chats/{chat_id}`` — chat info with ``chat_mode``: ``p2p`` for the bot's
  private chat with a user (each ``receive_id_type=open_id`` send creates one, ``fake.p2p_chat(open_id)``;
  the send's answer carries its ``chat_id``), else ``group``; a chat the fake does not know (not in
  ``members``, never sent to) falls through to the 404 of an unknown route.
* ``fake.tap(message_id, label, open_id)`` and ``fake.submit(message_id, values, open_id)`` play the
  Feishu client: they read the card now shown, find the button (or the form and its inputs) and
  return the ``card.action.trigger`` callback it would send (``feishu_testkit.card_action_event``),
  for the test to post to the bot's webhook signed like an event, or to push over the long
  connection as a ``card`` frame (``FakeFeishuWS.push_card``).
* Anything else → HTTP 404 ``{"code": 404, ...}`` and the request is kept in ``fake.unhandled``.

Message-endpoint pipeline, in order (each step may answer and stop):

1. ``down`` (applies to every endpoint): ``True`` closes the connection without any response, so the SDK's
   ``requests`` call raises ``requests.exceptions.ConnectionError``; ``down = 503`` (any int) answers
   that HTTP status with an HTML body instead (a gateway outage; the SDK raises ``JSONDecodeError``).
2. ``delay`` seconds of sleep (message endpoints only; interrupted by ``stop()``).
3. Injected faults, FIFO: ``fail_next`` then ``rate_limit_next``.
4. Token check (401/99991663).
5. ``permanent_error(chat_id)`` (HTTP 400 with the configured code).
6. Real limits, when ``enforce_limits`` (default on), counted over a sliding 1 s window of every message
   request that reaches this step (also the rejected and duplicate ones — Feishu meters requests, not
   messages): more than ``app_qps`` (50) per second for the app → HTTP 429 ``{"code": 99991400}`` with
   ``x-ogw-ratelimit-*`` headers; more than ``chat_qps`` (5) to one chat/user → HTTP 400 ``{"code": 230020}``
   (no rate-limit headers: the docs don't promise them for 230020). Each rejection increments ``violations``.
7. Validation: missing fields, non-JSON ``content``, ``uuid`` longer than 50 → HTTP 400 ``{"code": 99992402}``;
   content over 150 KB (text) / 30 KB (other types) → HTTP 400 ``{"code": 230025}``.
8. ``uuid`` idempotency: a uuid already accepted within the last hour (keyed by uuid alone, across chats and
   create/reply — stricter than, or equal to, the real platform) answers success with the SAME message_id,
   is not recorded again, and increments ``duplicates``.

Which chat does a reply go to? Replies to messages this fake created resolve automatically; for
messages from inbound events call ``fake.register_message(message_id, chat_id)`` or
``fake.note_event(event_dict)``. Unresolved replies have ``chat_id=None`` and are limited per
``reply:<message_id>``.

Nothing is logged to stdout/stderr.
"""

from __future__ import annotations

import base64
import collections
import itertools
import json
import re
import sys
import threading
import time
import uuid as uuid_mod
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.support.feishu_testkit import card_action_event, card_problems

__all__ = [
    "GATEWAY_HTML",
    "Call",
    "FakeFeishu",
    "ReceivedFile",
    "Sent",
    "Update",
    "Upload",
    "reset_lark_token_cache",
]

GATEWAY_HTML = "<html>502</html>"
UPLOAD_LIMIT = 30 * 1024 * 1024
FILE_TYPES = {"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"}
UUID_WINDOW_S = 3600.0
TEXT_LIMIT = 150 * 1024
RECEIVE_ID_TYPES = ("chat_id", "open_id", "user_id", "union_id", "email")
RICH_LIMIT = 30 * 1024


@dataclass
class Sent:
    """One accepted (recorded) message request."""

    kind: str  # "create" | "reply"
    message_id: str  # the om_fake_N this fake answered with
    chat_id: str | None  # create to a chat, or the resolved chat of a reply; else None
    reply_to: str | None  # reply: the message_id replied to
    msg_type: str
    content: Any  # json.loads of the request's `content` string
    uuid: str | None
    reply_in_thread: bool | None
    at: float  # time.monotonic() when accepted
    receive_id_type: str | None = None  # create only
    receive_id: str | None = None  # create only
    raw_content: str = ""

    @property
    def text(self) -> str:
        """Text of a text message; card JSON for interactive; joined text runs for post."""
        return _content_text(self.msg_type, self.content)


@dataclass
class Update:
    """One accepted ``PATCH`` of a card."""

    message_id: str
    card: Any  # json.loads of the request's ``content``
    at: float  # time.monotonic() when accepted


@dataclass
class Upload:
    """One accepted ``POST /open-apis/im/v1/files``."""

    file_key: str
    file_type: str
    file_name: str
    data: bytes


@dataclass
class ReceivedFile:
    """A file message someone sent, downloadable by the message-resource API."""

    message_id: str
    chat_id: str
    file_key: str
    file_name: str
    data: bytes
    sender_open_id: str


@dataclass
class Call:
    """Every HTTP request the fake saw (answered or dropped)."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None  # None when the connection was dropped
    at: float


@dataclass
class _Fault:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def _content_text(msg_type: str, content: Any) -> str:
    if msg_type == "text" and isinstance(content, dict):
        return str(content.get("text", ""))
    if msg_type == "post" and isinstance(content, dict):
        body = content
        if "content" not in body:  # send-side post: {"zh_cn": {"title", "content"}}
            body = next((v for v in body.values() if isinstance(v, dict)), {})
        runs = []
        for para in body.get("content") or []:
            runs.append("".join(str(el.get("text", "")) for el in para if isinstance(el, dict)))
        title = body.get("title") or ""
        return "\n".join([title, *runs] if title else runs)
    return json.dumps(content, ensure_ascii=False)


def reset_lark_token_cache() -> None:
    """Replace lark-oapi's process-global token cache (``TokenManager.cache``) with an empty one."""
    from lark_oapi.core.cache import LocalCache
    from lark_oapi.core.token.manager import TokenManager

    TokenManager.cache = LocalCache()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeFeishu

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print a traceback to stderr; keep it for inspection instead.
        with self.fake._lock:
            self.fake.errors.append(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "fake-feishu/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def do_PUT(self) -> None:
        self.server.fake._handle(self)

    def do_PATCH(self) -> None:
        self.server.fake._handle(self)

    def do_DELETE(self) -> None:
        self.server.fake._handle(self)


class _Reply(Exception):
    """Internal: short-circuit the handler with a response."""

    def __init__(
        self,
        status: int,
        payload: dict[str, Any] | None = None,
        *,
        body: bytes | None = None,
        content_type: str = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body if body is not None else json.dumps(payload, ensure_ascii=False).encode()
        self.content_type = content_type
        self.headers = headers or {}


class FakeFeishu:
    """Local fake of Feishu's open API. Thread-safe; all knobs may be set from tests while it runs."""

    def __init__(
        self,
        *,
        app_id: str | None = None,
        app_secret: str = "fake-secret",
        token: str = "t-fake",
        bot_open_id: str = "ou_bot",
        bot_name: str = "跟进助手",
        tenant_key: str = "tenant_test",
        members: dict[str, dict[str, str]] | None = None,
        enforce_limits: bool = True,
        chat_qps: int = 5,
        app_qps: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # A distinct app_id per instance keeps lark-oapi's process-global token cache from leaking a
        # token between fakes (its cache key is "self_tenant_token:{app_id}").
        self.app_id = app_id or f"cli_fake_{uuid_mod.uuid4().hex[:12]}"
        self.app_secret = app_secret
        self.token = token
        self.bot_open_id = bot_open_id
        self.bot_name = bot_name
        self.tenant_key = tenant_key
        self.members: dict[str, dict[str, str]] = dict(members or {})
        self.enforce_limits = enforce_limits
        self.chat_qps = chat_qps
        self.app_qps = app_qps
        self.clock = (
            clock  # epoch seconds for the create_time of sent messages (rates use real time)
        )

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._logids = itertools.count(1)
        self._init_state()

    def _init_state(self) -> None:
        self.sent: list[Sent] = []
        self.calls: list[Call] = []
        self.unhandled: list[Call] = []
        self.duplicates = 0
        self.violations = 0
        self.token_requests = 0
        self.errors: list[BaseException | None] = []  # exceptions raised inside request handling
        self.delay = 0.0
        self.down: bool | int = False
        self._faults: collections.deque[_Fault] = collections.deque()
        self._permanent: dict[str, tuple[int, str]] = {}
        self._uuids: dict[str, tuple[float, dict[str, Any]]] = {}
        self._msg_chat: dict[str, str] = {}
        self.uploads: dict[str, Upload] = {}
        self.updates: list[Update] = []
        self.answers: list[Any] = []  # the bot's answers to card callbacks (``answered``)
        self._cards: dict[str, Any] = {}  # message_id → the card shown now
        self._created: dict[str, float] = {}  # message_id → fake.clock() when posted
        self._p2p: dict[str, str] = {}  # open_id → the bot's private chat with them
        self._update_windows: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self.received_files: dict[str, ReceivedFile] = {}
        self.downloads = 0
        self.speech_text = ""
        self.speech_code = 0
        self.recognized: list[bytes] = []
        self._app_window: collections.deque[float] = collections.deque()
        self._chat_windows: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    # ---- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeFeishu is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeFeishu:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = f"fake-feishu:{server.server_address[1]}"
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeFeishu:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def lark_client(self, *, timeout: float | None = 5) -> Any:  # a lark_oapi.Client
        """A real ``lark.Client`` aimed at this fake (imports lark_oapi lazily; ~1.8 s the first time)."""
        import lark_oapi as lark

        builder = (
            lark.Client.builder()
            .app_id(self.app_id)
            .app_secret(self.app_secret)
            .domain(self.url)
            .log_level(lark.LogLevel.CRITICAL)
        )
        if timeout is not None:
            builder = builder.timeout(timeout)
        return builder.build()

    # ---- knobs ----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget records, counters, faults, delay, down, permanent errors, uuids and limit windows.

        Configuration (app credentials, token, members, bot identity, limits) is kept.
        """
        with self._cond:
            self._init_state()
            self._cond.notify_all()

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        code: int = 500,  # arbitrary non-zero; real 5xx bodies vary
        body: str | bytes | dict[str, Any] | None = None,
        *,
        html: bool = False,
        msg: str = "internal server error",
    ) -> None:
        """Answer the next ``n`` message requests with ``status``.

        Default body ``{"code": code, "msg": msg}``; ``html=True`` sends ``GATEWAY_HTML`` as text/html (a
        non-JSON gateway error); ``body`` overrides (dict → JSON, str/bytes → raw; text/html if it starts
        with ``<``).
        """
        if html and body is None:
            body = GATEWAY_HTML
        if body is None:
            body = {"code": code, "msg": msg}
        if isinstance(body, dict):
            raw, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        else:
            raw = body.encode() if isinstance(body, str) else body
            html_like = raw.lstrip().startswith(b"<")
            ctype = "text/html" if html_like else "text/plain; charset=utf-8"
        with self._lock:
            self._faults.extend(_Fault(status, raw, ctype) for _ in range(n))

    def rate_limit_next(self, n: int = 1, reset_seconds: int = 1, chat_level: bool = False) -> None:
        """Rate-limit the next ``n`` message requests.

        App level: HTTP 429 ``{"code": 99991400, "msg": "request trigger frequency limit"}`` with headers
        ``x-ogw-ratelimit-limit`` and ``x-ogw-ratelimit-reset: reset_seconds``. ``chat_level=True``: HTTP 400
        ``{"code": 230020}`` — the headers are sent too, so back-off code can be exercised either way.
        """
        headers = {"x-ogw-ratelimit-limit": "50", "x-ogw-ratelimit-reset": str(reset_seconds)}
        if chat_level:
            headers["x-ogw-ratelimit-limit"] = "5"
            fault = _Fault(400, json.dumps(_CHAT_LIMIT).encode(), _JSON, headers)
        else:
            fault = _Fault(429, json.dumps(_APP_LIMIT).encode(), _JSON, headers)
        with self._lock:
            self._faults.extend(
                _Fault(fault.status, fault.body, fault.content_type, dict(fault.headers))
                for _ in range(n)
            )

    def permanent_error(
        self, chat_id: str, code: int = 230002, msg: str = "Bot/User can NOT be out of the chat."
    ) -> None:
        """Every message request to ``chat_id`` fails with HTTP 400 and ``code`` until cleared."""
        with self._lock:
            self._permanent[chat_id] = (code, msg)

    def sent_to_user(self, user_id: str) -> list[Sent]:
        """Messages created for one person privately (any receive_id_type but chat_id)."""
        with self._lock:
            return [
                s
                for s in self.sent
                if s.kind == "create" and s.receive_id_type != "chat_id" and s.receive_id == user_id
            ]

    def clear_permanent_error(self, chat_id: str) -> None:
        with self._lock:
            self._permanent.pop(chat_id, None)

    def register_message(self, message_id: str, chat_id: str) -> None:
        """Tell the fake which chat ``message_id`` lives in (so replies to it count for that chat)."""
        with self._lock:
            self._msg_chat[message_id] = chat_id

    def note_event(self, event: dict[str, Any]) -> None:
        """``register_message`` from an ``im.message.receive_v1`` event dict (e.g. testkit.message_event)."""
        msg = event.get("event", {}).get("message") or {}
        if msg.get("message_id") and msg.get("chat_id"):
            self.register_message(msg["message_id"], msg["chat_id"])

    def add_received_file(
        self,
        message_id: str,
        chat_id: str,
        file_name: str,
        data: bytes,
        sender_open_id: str = "ou_sender",
    ) -> str:
        """A file message someone sent to ``chat_id``; returns its ``file_key``."""
        file_key = f"file_v3_fake_{uuid_mod.uuid4().hex[:16]}"
        with self._lock:
            self.received_files[message_id] = ReceivedFile(
                message_id, chat_id, file_key, file_name, data, sender_open_id
            )
            self._msg_chat[message_id] = chat_id
        return file_key

    # ---- cards ----------------------------------------------------------------------------------

    def p2p_chat(self, open_id: str) -> str:
        """The bot's private chat with ``open_id`` (made by the first private send to them)."""
        with self._lock:
            return self._p2p.setdefault(open_id, f"oc_p2p_{len(self._p2p) + 1}")

    def card(self, message_id: str) -> Any:
        """The card message ``message_id`` shows now (its last update), or None."""
        with self._lock:
            return self._cards.get(message_id)

    def wait_for_update(self, n: int = 1, timeout: float = 5.0) -> list[Update]:
        """Block until at least ``n`` card updates are recorded; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.updates) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {n} card update(s), got {len(self.updates)}")
                self._cond.wait(left)
            return list(self.updates)

    def tap(
        self,
        message_id: str,
        label: str,
        open_id: str,
        *,
        token: str = "vt_test",
        event_id: str | None = None,
        create_time_us: int | None = None,
    ) -> dict[str, Any]:
        """The callback of ``open_id`` tapping the button ``label`` (outside any form) of a card."""
        card = self._shown(message_id)
        for button, around in _buttons(card):
            text = (button.get("text") or {}).get("content")
            if text == label and "form" not in around:
                return card_action_event(
                    _callback_value(button),
                    open_id=open_id,
                    chat_id=self._chat_of(message_id),
                    message_id=message_id,
                    token=token,
                    event_id=event_id,
                    name=button.get("name"),
                    create_time_us=self._now_us(create_time_us),
                )
        raise AssertionError(f"no button {label!r} on card {message_id}")

    def submit(
        self,
        message_id: str,
        values: dict[str, str],
        open_id: str,
        *,
        token: str = "vt_test",
        event_id: str | None = None,
        create_time_us: int | None = None,
    ) -> dict[str, Any]:
        """The callback of ``open_id`` filling in the card's form and pressing its submit button.

        ``values`` are keyed by an input's label or placeholder (or its ``name``): dates as
        YYYY-MM-DD (sent as the picker sends them, ``2026-12-01 +0800``), selects by the option's
        text or value. A required input left empty raises, as the client refuses to send.
        """
        card = self._shown(message_id)
        forms = [c for c, _ in _components(card) if c.get("tag") == "form"]
        if len(forms) != 1:
            raise AssertionError(f"card {message_id} shows {len(forms)} forms")
        form_value: dict[str, Any] = {}
        submit: dict[str, Any] | None = None
        caption = ""
        for element, _ in _components(forms[0].get("elements")):
            tag = element.get("tag")
            if tag == "markdown":
                caption = str(element.get("content") or "")
                continue
            if tag == "button" and element.get("form_action_type") == "submit":
                submit = element
                continue
            if tag not in ("input", "date_picker", "select_static"):
                continue
            keys = {
                element.get("name"),
                caption,
                (element.get("label") or {}).get("content"),
                (element.get("placeholder") or {}).get("content"),
            }
            given = next((values[k] for k in values if k in keys), None)
            if given is None:
                given = {
                    "input": element.get("default_value"),
                    "date_picker": element.get("initial_date"),
                }.get(tag)
                if tag == "select_static" and element.get("initial_index"):
                    given = element["options"][int(element["initial_index"]) - 1]["value"]
            if not given:
                if element.get("required"):
                    raise AssertionError(f"有必填项未填写: {element.get('name')}")
                continue
            if tag == "date_picker":
                form_value[element["name"]] = f"{given} +0800"
            elif tag == "select_static":
                options = element.get("options") or []
                match = [
                    o["value"]
                    for o in options
                    if given in (o.get("value"), (o.get("text") or {}).get("content"))
                ]
                if not match:
                    raise AssertionError(f"no option {given!r} in {element.get('name')}")
                form_value[element["name"]] = match[0]
            else:
                form_value[element["name"]] = given
            caption = ""
        if submit is None:
            raise AssertionError(f"the form of card {message_id} has no submit button")
        return card_action_event(
            _callback_value(submit),
            open_id=open_id,
            chat_id=self._chat_of(message_id),
            message_id=message_id,
            token=token,
            event_id=event_id,
            form_value=form_value,
            name=submit.get("name"),
            create_time_us=self._now_us(create_time_us),
        )

    def answered(self, callback: dict[str, Any], body: Any) -> None:
        """Play the client receiving the bot's answer to ``callback``: a ``toast`` is shown, a
        ``card`` of type ``raw`` replaces the tapped card (it must be JSON 2.0 like the card sent,
        else the client shows error 200830). Answers are kept in ``fake.answers``."""
        if not isinstance(body, dict):
            raise AssertionError(f"the answer is not a JSON object: {body!r}")  # 200672
        toast = body.get("toast")
        if toast is not None and toast.get("type") not in ("info", "success", "error", "warning"):
            raise AssertionError(f"bad toast {toast!r}")
        context = callback["event"]["context"]
        message_id = context["open_message_id"]
        with self._lock:
            self.answers.append(body)
        card = body.get("card")
        if card is None:
            return
        if card.get("type") != "raw" or card_problems(card.get("data")):
            raise AssertionError(f"bad card in the answer: {card_problems(card.get('data'))}")
        with self._cond:
            self._cards[message_id] = card["data"]
            self._cond.notify_all()

    def _now_us(self, given: int | None) -> int:
        """A callback's ``create_time`` (µs): ``given``, else now on the fake's clock."""
        return given if given is not None else int(self.clock() * 1_000_000)

    def _shown(self, message_id: str) -> Any:
        card = self.card(message_id)
        if card is None:
            raise AssertionError(f"no card message {message_id}")
        return card

    def _chat_of(self, message_id: str) -> str:
        with self._lock:
            return self._msg_chat.get(message_id, "")

    # ---- inspection -----------------------------------------------------------------------------

    def files_sent(self) -> list[tuple[Sent, Upload]]:
        """Each recorded ``file`` message with the upload it names."""
        with self._lock:
            return [
                (s, self.uploads[s.content["file_key"]])
                for s in self.sent
                if s.msg_type == "file" and isinstance(s.content, dict)
            ]

    def sent_to(self, chat_id: str) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.chat_id == chat_id]

    def texts(self, chat_id: str | None = None) -> list[str]:
        """Text of each recorded message, in order: ``text`` for text messages, the card JSON
        (``ensure_ascii=False``) for interactive, joined text runs (title first) for post."""
        with self._lock:
            items = list(self.sent) if chat_id is None else self.sent_to(chat_id)
        return [s.text for s in items]

    def hits(self, path_prefix: str, method: str | None = None) -> int:
        """How many requests arrived whose path starts with ``path_prefix``."""
        with self._lock:
            return sum(
                1
                for c in self.calls
                if c.path.startswith(path_prefix) and (method is None or c.method == method)
            )

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Sent]:
        """Block until at least ``n`` messages are recorded; return them. AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.sent) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {n} sent message(s) within {timeout}s, got {len(self.sent)}: "
                        f"{[s.text for s in self.sent]!r}"
                    )
                self._cond.wait(left)
            return list(self.sent)

    # ---- request handling -----------------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        call = Call(h.command, path, query, None, time.monotonic())
        with self._lock:
            self.calls.append(call)
            down = self.down
        if down is True:
            h.close_connection = True
            try:
                h.connection.shutdown(2)  # SHUT_RDWR: the client sees the connection drop, no bytes
            except OSError:
                pass
            return
        try:
            if down:
                raise _Reply(
                    int(down), body=b"<html>service unavailable</html>", content_type="text/html"
                )
            self._route(h, h.command, path, query, raw)
            raise _Reply(404, {"code": 404, "msg": "fake feishu: no route"})
        except _Reply as r:
            call.status = r.status
            if r.status == 404:
                with self._lock:
                    self.unhandled.append(call)
            self._send(h, r)

    def _send(self, h: _Handler, r: _Reply) -> None:
        try:
            h.send_response(r.status)
            h.send_header("Content-Type", r.content_type)
            h.send_header("Content-Length", str(len(r.body)))
            h.send_header("X-Tt-Logid", f"fake-logid-{next(self._logids)}")
            for k, v in r.headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(r.body)
        except OSError:  # client went away (e.g. its timeout fired during `delay`)
            pass

    def _route(
        self, h: _Handler, method: str, path: str, query: dict[str, str], raw: bytes
    ) -> None:
        segs = [unquote(s) for s in path.strip("/").split("/")]
        if method == "POST" and path == "/open-apis/auth/v3/tenant_access_token/internal":
            self._token(raw)
        if method == "POST" and path == "/open-apis/im/v1/messages":
            self._message(h, "create", None, query, raw)
        if (
            method == "POST"
            and len(segs) == 6
            and segs[:4] == ["open-apis", "im", "v1", "messages"]
        ):
            if segs[5] == "reply":
                self._message(h, "reply", segs[4], query, raw)
        if (
            method == "PATCH"
            and len(segs) == 5
            and segs[:4] == ["open-apis", "im", "v1", "messages"]
        ):
            self._patch(h, segs[4], raw)
        if method == "GET" and len(segs) == 5 and segs[:4] == ["open-apis", "im", "v1", "chats"]:
            self._chat_info(h, segs[4])
        if method == "POST" and path == "/open-apis/im/v1/files":
            self._upload(h, raw)
        if method == "POST" and path == "/open-apis/speech_to_text/v1/speech/file_recognize":
            self._recognize(h, raw)
        if method == "GET" and segs[:4] == ["open-apis", "im", "v1", "messages"]:
            if len(segs) == 7 and segs[5] == "resources":
                self._resource(h, segs[4], segs[6], query)
            if len(segs) == 5:
                self._get_message(h, segs[4])
        if method == "GET" and len(segs) == 6 and segs[:4] == ["open-apis", "im", "v1", "chats"]:
            if segs[5] == "members":
                self._members(h, segs[4], query)
        if method == "GET" and path == "/open-apis/bot/v3/info":
            self._auth(h)
            raise _Reply(
                200,
                {
                    "code": 0,
                    "msg": "ok",
                    "bot": {
                        "app_name": self.bot_name,
                        "avatar_url": "",
                        "open_id": self.bot_open_id,
                        "activate_status": 2,
                        "ip_white_list": [],
                    },
                },
            )

    def _token(self, raw: bytes) -> None:
        with self._lock:
            self.token_requests += 1
        body = _json_or_none(raw) or {}
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            raise _Reply(400, {"code": 10014, "msg": "app secret invalid"})
        raise _Reply(
            200, {"code": 0, "msg": "ok", "tenant_access_token": self.token, "expire": 7200}
        )

    def _auth(self, h: _Handler) -> None:
        if h.headers.get("Authorization") != f"Bearer {self.token}":
            raise _Reply(
                401,
                {
                    "code": 99991663,
                    "msg": "Invalid access token for authorization. Please make a request with token "
                    "attached.",
                },
            )

    def _upload(self, h: _Handler, raw: bytes) -> None:
        self._auth(h)
        fields = _multipart(h.headers.get("Content-Type") or "", raw)
        file_type = fields.get("file_type", b"").decode("utf-8", "replace")
        file_name = fields.get("file_name", b"").decode("utf-8", "replace")
        if file_type not in FILE_TYPES or not file_name or "file" not in fields:
            raise _Reply(400, {"code": 99992402, "msg": "field validation failed: file"})
        data = fields["file"]
        if not data:
            raise _Reply(400, {"code": 234010, "msg": "File's size can't be 0."})
        if len(data) > UPLOAD_LIMIT:
            raise _Reply(400, {"code": 234006, "msg": "The file size exceed the max value."})
        file_key = f"file_v3_up_{uuid_mod.uuid4().hex[:16]}"
        with self._lock:
            self.uploads[file_key] = Upload(file_key, file_type, file_name, data)
        raise _Reply(200, {"code": 0, "msg": "success", "data": {"file_key": file_key}})

    def _resource(self, h: _Handler, message_id: str, file_key: str, query: dict[str, str]) -> None:
        self._auth(h)
        if query.get("type") not in ("file", "image"):
            raise _Reply(400, {"code": 234001, "msg": "Invalid request param."})
        with self._lock:
            found = self.received_files.get(message_id)
            if found is not None and found.file_key == file_key:
                self.downloads += 1
        if found is None or found.file_key != file_key:
            raise _Reply(400, {"code": 234003, "msg": "File not in msg."})
        raise _Reply(
            200,
            body=found.data,
            content_type="application/octet-stream",
            headers={
                "Content-Disposition": "attachment; filename*=UTF-8''"
                + quote(found.file_name, safe="")
            },
        )

    def _recognize(self, h: _Handler, raw: bytes) -> None:
        self._auth(h)
        body = _json_or_none(raw) or {}
        config = body.get("config") or {}
        speech = (body.get("speech") or {}).get("speech")
        invalid = _Reply(400, {"code": 1040101, "msg": "invalid param"})
        if (
            not isinstance(speech, str)
            or not re.fullmatch(r"[A-Za-z0-9_]{16}", str(config.get("file_id") or ""))
            or config.get("format") != "pcm"
            or config.get("engine_type") != "16k_auto"
        ):
            raise invalid
        try:
            pcm = base64.b64decode(speech, validate=True)
        except ValueError:
            raise invalid from None
        if not pcm or len(pcm) % 2 or len(pcm) > 60 * 32000:
            raise invalid
        with self._lock:
            code, text = self.speech_code, self.speech_text
            if not code:
                self.recognized.append(pcm)
        if code:
            raise _Reply(400, {"code": code, "msg": "fake speech error"})
        raise _Reply(200, {"code": 0, "msg": "success", "data": {"recognition_text": text}})

    def _get_message(self, h: _Handler, message_id: str) -> None:
        self._auth(h)
        with self._lock:
            found = self.received_files.get(message_id)
        if found is None:
            raise _Reply(400, {"code": 230001, "msg": "invalid message_id"})
        content = json.dumps(
            {"file_key": found.file_key, "file_name": found.file_name}, ensure_ascii=False
        )
        created = str(int(self.clock() * 1000))
        item = {
            "message_id": message_id,
            "root_id": "",
            "parent_id": "",
            "msg_type": "file",
            "create_time": created,
            "update_time": created,
            "deleted": False,
            "updated": False,
            "chat_id": found.chat_id,
            "sender": {
                "id": found.sender_open_id,
                "id_type": "open_id",
                "sender_type": "user",
                "tenant_key": self.tenant_key,
            },
            "body": {"content": content},
            "mentions": [],
        }
        raise _Reply(200, {"code": 0, "msg": "success", "data": {"items": [item]}})

    def _members(self, h: _Handler, chat_id: str, query: dict[str, str]) -> None:
        self._auth(h)
        with self._lock:
            people = self.members.get(chat_id)
            people = None if people is None else list(people.items())
        if people is None:
            raise _Reply(400, {"code": 232011, "msg": "Operator can NOT be out of the chat."})
        size = max(1, min(int(query.get("page_size") or 100), 100))
        start = int(query.get("page_token") or 0)
        page = people[start : start + size]
        more = start + size < len(people)
        items = [
            {
                "member_id_type": query.get("member_id_type") or "open_id",
                "member_id": oid,
                "name": name,
                "tenant_key": self.tenant_key,
            }
            for oid, name in page
        ]
        raise _Reply(
            200,
            {
                "code": 0,
                "msg": "success",
                "data": {
                    "items": items,
                    "has_more": more,
                    "page_token": str(start + size) if more else "",
                    "member_total": len(people),
                },
            },
        )

    def _message(
        self, h: _Handler, kind: str, reply_to: str | None, query: dict[str, str], raw: bytes
    ) -> None:
        with self._lock:
            delay = self.delay
        if delay:
            self._stopping.wait(delay)
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            raise _Reply(
                fault.status,
                body=fault.body,
                content_type=fault.content_type,
                headers=fault.headers,
            )
        self._auth(h)
        body = _json_or_none(raw)
        if not isinstance(body, dict):
            raise _Reply(400, {"code": 99992402, "msg": "field validation failed: body"})

        receive_id_type = query.get("receive_id_type") if kind == "create" else None
        receive_id = body.get("receive_id") if kind == "create" else None
        with self._lock:
            if kind == "create":
                chat_id = receive_id if receive_id_type == "chat_id" else None
                limit_key = f"{receive_id_type}:{receive_id}"
            else:
                chat_id = self._msg_chat.get(reply_to or "")
                limit_key = f"chat_id:{chat_id}" if chat_id else f"reply:{reply_to}"
            perm = self._permanent.get(chat_id or receive_id or "")
        if perm is not None:
            raise _Reply(400, {"code": perm[0], "msg": perm[1]})
        self._enforce_limits(limit_key)

        msg_type, content_str, uid = body.get("msg_type"), body.get("content"), body.get("uuid")
        if kind == "create" and (
            receive_id_type not in RECEIVE_ID_TYPES
            or not isinstance(receive_id, str)
            or not receive_id
        ):
            raise _Reply(400, {"code": 99992402, "msg": "field validation failed: receive_id"})
        if not msg_type or not isinstance(content_str, str):
            raise _Reply(
                400, {"code": 99992402, "msg": "field validation failed: msg_type/content"}
            )
        if uid is not None and (not isinstance(uid, str) or len(uid) > 50):
            raise _Reply(400, {"code": 99992402, "msg": "field validation failed: uuid"})
        try:
            content = json.loads(content_str)
        except ValueError:
            raise _Reply(400, {"code": 230001, "msg": "invalid message content"}) from None
        if msg_type == "file":
            with self._lock:
                known = isinstance(content, dict) and content.get("file_key") in self.uploads
            if not known:
                raise _Reply(400, {"code": 230017, "msg": "file_key not uploaded by this app"})
        limit = TEXT_LIMIT if msg_type == "text" else RICH_LIMIT
        if len(content_str.encode()) > limit:
            raise _Reply(400, {"code": 230025, "msg": "message content is too long"})
        if msg_type == "interactive" and isinstance(content, dict) and content.get("schema"):
            problems = card_problems(content)
            if problems:
                raise _Reply(400, {"code": 230099, "msg": f"fake feishu: bad card: {problems}"})

        now = time.monotonic()
        with self._cond:
            if uid:
                seen = self._uuids.get(uid)
                if seen is not None and now - seen[0] < UUID_WINDOW_S:
                    self.duplicates += 1
                    self._cond.notify_all()
                    raise _Reply(200, {"code": 0, "msg": "success", "data": seen[1]})
            message_id = f"om_fake_{next(self._ids)}"
            create_ms = str(int(self.clock() * 1000))
            data = {
                "message_id": message_id,
                "root_id": reply_to or "",
                "parent_id": reply_to or "",
                "msg_type": msg_type,
                "create_time": create_ms,
                "update_time": create_ms,
                "deleted": False,
                "updated": False,
                "chat_id": chat_id or "",
                "sender": {
                    "id": self.app_id,
                    "id_type": "app_id",
                    "sender_type": "app",
                    "tenant_key": self.tenant_key,
                },
                "body": {"content": content_str},
            }
            if kind == "create" and receive_id_type != "chat_id" and isinstance(receive_id, str):
                p2p = self._p2p.setdefault(receive_id, f"oc_p2p_{len(self._p2p) + 1}")
                data["chat_id"] = p2p
                self._msg_chat[message_id] = p2p
            if chat_id:
                self._msg_chat[message_id] = chat_id
            if msg_type == "interactive":
                self._cards[message_id] = content
            self._created[message_id] = self.clock()
            if uid:
                self._uuids[uid] = (now, data)
            self.sent.append(
                Sent(
                    kind=kind,
                    message_id=message_id,
                    chat_id=chat_id,
                    reply_to=reply_to,
                    msg_type=msg_type,
                    content=content,
                    uuid=uid,
                    reply_in_thread=body.get("reply_in_thread") if kind == "reply" else None,
                    at=now,
                    receive_id_type=receive_id_type,
                    receive_id=receive_id,
                    raw_content=content_str,
                )
            )
            self._cond.notify_all()
        raise _Reply(200, {"code": 0, "msg": "success", "data": data})

    def _patch(self, h: _Handler, message_id: str, raw: bytes) -> None:
        self._auth(h)
        body = _json_or_none(raw)
        content_str = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content_str, str):
            raise _Reply(400, {"code": 99992402, "msg": "field validation failed: content"})
        try:
            card = json.loads(content_str)
        except ValueError:
            raise _Reply(400, {"code": 230001, "msg": "invalid message content"}) from None
        with self._lock:
            old = self._cards.get(message_id)
            created = self._created.get(message_id, 0.0)
        if old is None:
            raise _Reply(400, {"code": 230001, "msg": "not a card message of this app"})
        if self.clock() - created > 14 * 86400:
            raise _Reply(400, {"code": 230031, "msg": "the message is older than 14 days"})
        if len(content_str.encode()) > RICH_LIMIT:
            raise _Reply(400, {"code": 230025, "msg": "message content is too long"})
        problems = card_problems(old, updatable=True) + card_problems(card, updatable=True)
        if problems:
            raise _Reply(400, {"code": 230099, "msg": f"fake feishu: cannot update: {problems}"})
        now = time.monotonic()
        with self._cond:
            window = self._update_windows[message_id]
            while window and now - window[0] >= 1.0:
                window.popleft()
            window.append(now)
            if self.enforce_limits and len(window) > 5:
                self.violations += 1
                raise _Reply(400, _CHAT_LIMIT)
            self._cards[message_id] = card
            self.updates.append(Update(message_id, card, now))
            self._cond.notify_all()
        raise _Reply(200, {"code": 0, "msg": "success", "data": {}})

    def _chat_info(self, h: _Handler, chat_id: str) -> None:
        with self._lock:
            private = chat_id in self._p2p.values()
            known = private or chat_id in self.members or chat_id in self._msg_chat.values()
        if not known:
            return  # falls through to the 404 of an unknown route
        self._auth(h)
        mode = "p2p" if private else "group"
        data = {
            "name": "" if private else chat_id,
            "chat_mode": mode,
            "chat_type": "private",
            "owner_id_type": "open_id",
            "tenant_key": self.tenant_key,
            "external": False,
        }
        raise _Reply(200, {"code": 0, "msg": "success", "data": data})

    def _enforce_limits(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            if not self.enforce_limits:
                return
            app, chat = self._app_window, self._chat_windows[key]
            for window in (app, chat):
                while window and now - window[0] >= 1.0:
                    window.popleft()
            app.append(now)
            chat.append(now)
            if len(app) > self.app_qps:
                self.violations += 1
                raise _Reply(
                    429,
                    _APP_LIMIT,
                    headers={
                        "x-ogw-ratelimit-limit": str(self.app_qps),
                        "x-ogw-ratelimit-reset": "1",
                    },
                )
            if len(chat) > self.chat_qps:
                self.violations += 1
                raise _Reply(400, _CHAT_LIMIT)


def _components(node: Any, around: tuple[str, ...] = ()) -> Any:
    """(component, tags of the components around it) for every component, in order."""
    if isinstance(node, dict):
        tag = node.get("tag")
        inner = (*around, str(tag)) if tag else around
        if tag:
            yield node, around
        for value in node.values():
            yield from _components(value, inner)
    elif isinstance(node, list):
        for value in node:
            yield from _components(value, around)


def _buttons(card: Any) -> Any:
    return ((c, around) for c, around in _components(card) if c.get("tag") == "button")


def _callback_value(button: dict[str, Any]) -> Any:
    for behavior in button.get("behaviors") or []:
        if behavior.get("type") == "callback":
            return behavior.get("value")
    raise AssertionError(f"button {button.get('text')} has no callback")


_JSON = "application/json; charset=utf-8"
_APP_LIMIT = {"code": 99991400, "msg": "request trigger frequency limit"}
_CHAT_LIMIT = {"code": 230020, "msg": "This operation triggers the frequency limit."}


def _multipart(content_type: str, raw: bytes) -> dict[str, bytes]:
    """The parts of a ``multipart/form-data`` body by field name ({} when it is not one)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, bytes] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = payload if isinstance(payload, bytes) else b""
    return fields


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        return None
