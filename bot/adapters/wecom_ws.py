"""WeCom long connection: the intelligent robot's websocket, one per bot, in a daemon thread.

Protocol (the official SDKs; shared/platforms/wecom-cards-files.md §2): every frame is JSON
``{cmd?, headers: {req_id}, body?, errcode?, errmsg?}``. The client subscribes with
``aibot_subscribe {bot_id, secret}``, pings every 30 s, receives ``aibot_msg_callback`` and
``aibot_event_callback`` frames, answers a message with ``aibot_respond_msg`` echoing its
``req_id`` and posts on its own with ``aibot_send_msg {chatid, msgtype, …}``. The server acks
every client frame with ``{headers: {req_id}, errcode, errmsg}``. A second connection for the same
bot kicks the first out with a ``disconnected_event``: then this one stops for good (two processes
would kick each other forever) and says so in /healthz.

Inbound frames are not acknowledged by the client: each message is stored in the inbox (a quick
insert that deduplicates by msgid) before the next frame is read. Sends come from the sender
threads: a frame goes out under a lock and the caller waits for its ack, which the reader thread
routes back by ``req_id``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from bot.adapters.base import SendResult

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0  # the SDKs' heartbeat_interval
MISSED_PINGS = 2  # unanswered pings before the link counts as dead (the SDKs' _max_missed_pong)
ACK_SECONDS = 5.0  # how long a send waits for its ack (the SDK's _reply_ack_timeout)
BACKOFF_SECONDS = 1.0  # first reconnect delay; doubled per failure, capped, with jitter
BACKOFF_MAX_SECONDS = 30.0
AUTH_ATTEMPTS = 3  # refused subscriptions in a row before giving up (wrong bot_id/secret)
WS_TOKEN = "ws|"  # reply_token prefix: "ws|<epoch seconds received>|<callback req_id>"
MAX_FRAME = 1024 * 1024


def req_id(prefix: str) -> str:
    """A request id as the SDKs make them: ``<prefix>_<ms>_<8 hex>`` (acks match on it)."""
    return f"{prefix}_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


def reply_token(received_at: float, callback_req_id: str) -> str:
    """What an incoming message keeps to be answered within its window over the connection."""
    return f"{WS_TOKEN}{int(received_at)}|{callback_req_id}"


def parse_reply_token(token: str) -> tuple[float, str] | None:
    """(received at, callback req_id) of a ``reply_token``; None when it is not ours."""
    if not token.startswith(WS_TOKEN):
        return None
    at, _, rid = token[len(WS_TOKEN) :].partition("|")
    try:
        return float(at), rid
    except ValueError:
        return None


def stream_id(key: str) -> str:
    """The stream id of a reply: from the outbox key, so a repeated reply updates, not adds."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass
class _Pending:
    """A sent frame waiting for its ack."""

    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] | None = None  # the ack; None when the connection went away


class WecomLongConnection:
    """One websocket to WeCom, kept up (reconnect with back-off and jitter) until stopped.

    ``on_frame(cmd, headers, body)`` handles each callback frame in the reader thread.
    """

    def __init__(
        self,
        url: str,
        bot_id: str,
        secret: str,
        on_frame: Callable[[str, dict[str, Any], dict[str, Any]], None],
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.bot_id = bot_id
        self._secret = secret
        self._on_frame = on_frame
        self.timeout = timeout
        self.heartbeat_seconds = HEARTBEAT_SECONDS
        self.backoff_seconds = BACKOFF_SECONDS
        self.backoff_max_seconds = BACKOFF_MAX_SECONDS
        self.ack_seconds = ACK_SECONDS
        self._stop = threading.Event()
        self._conn: ClientConnection | None = None
        self._ready = threading.Event()  # subscribed: sends may go out
        self._send_lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._pending_lock = threading.Lock()
        self.problem = "connecting"  # why the connection is not up ('' while it is)
        self.connections = 0  # successful subscriptions, for logs and tests
        self._up_since = float("-inf")  # when the last subscription succeeded (monotonic)
        self.thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        """Run the connection in a daemon thread; returns it (it ends when stopped or kicked)."""
        self.thread = threading.Thread(target=self._run, name="genjin-wecom-ws", daemon=True)
        self.thread.start()
        return self.thread

    def stop(self) -> None:
        """Close the connection and end the thread (no reconnect)."""
        self._stop.set()
        conn = self._conn
        if conn is not None:
            conn.close()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(self.timeout)

    def wait_ready(self, timeout: float) -> bool:
        """Whether the connection is subscribed within ``timeout`` seconds."""
        return self._ready.wait(timeout)

    def _run(self) -> None:
        failures = 0
        refusals = 0
        while not self._stop.is_set():
            try:
                outcome = self._session()
            except (OSError, InvalidHandshake, InvalidURI, ConnectionClosed, TimeoutError) as exc:
                outcome = f"connection failed: {type(exc).__name__}"
            except Exception:  # never let a surprise end the thread silently
                log.exception("wecom long connection: unexpected error")
                outcome = "unexpected error (see the log)"
            finally:
                self._down()
            if self._stop.is_set():
                self.problem = "stopped"
                return
            if outcome == "kicked":
                self.problem = (
                    "kicked out: another connection for this bot_id took over "
                    "(run one long-connection process per bot); not reconnecting"
                )
                log.error("wecom long connection %s", self.problem)
                return
            if outcome.startswith("refused"):
                refusals += 1
                self.problem = (
                    f"subscription {outcome}: check wecom.bot_id and wecom.secret "
                    "(the robot's long-connection Secret)"
                )
                if refusals >= AUTH_ATTEMPTS:
                    log.error("wecom long connection: %s; giving up", self.problem)
                    return
            else:
                refusals = 0
                self.problem = f"reconnecting: {outcome}"
            if time.monotonic() - self._up_since > self.backoff_max_seconds:
                failures = 0  # it was up a good while: start the back-off again
            failures += 1
            delay = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** (failures - 1))
            delay *= random.uniform(0.5, 1.0)  # jitter: restarted processes do not reconnect as one
            log.warning("wecom long connection: %s; reconnecting in %.1fs", outcome, delay)
            self._stop.wait(delay)

    def _session(self) -> str:
        """Connect, subscribe and read frames until the link ends; says how it ended."""
        self._up_since = float("inf")
        conn = connect(
            self.url,
            open_timeout=self.timeout,
            ping_interval=None,  # the protocol's own ping frames keep the link alive
            max_size=MAX_FRAME,
            proxy=None,
        )
        self._conn = conn
        if self._stop.is_set():
            return "stopped"
        subscribe = req_id("aibot_subscribe")
        conn.send(
            _dumps(
                {
                    "cmd": "aibot_subscribe",
                    "headers": {"req_id": subscribe},
                    "body": {"bot_id": self.bot_id, "secret": self._secret},
                }
            )
        )
        ack = _loads(conn.recv(timeout=self.timeout))
        if (ack.get("headers") or {}).get("req_id") != subscribe:
            return "refused: no subscription ack"
        if int(ack.get("errcode", 0) or 0) != 0:
            return f"refused (errcode={ack.get('errcode')} errmsg={ack.get('errmsg', '')})"
        self.connections += 1
        self._up_since = time.monotonic()
        self.problem = ""
        self._ready.set()
        log.info("wecom long connection: subscribed (connection %s)", self.connections)
        unanswered: set[str] = set()
        next_ping = time.monotonic() + self.heartbeat_seconds
        while not self._stop.is_set():
            wait = next_ping - time.monotonic()
            if wait <= 0:
                if len(unanswered) >= MISSED_PINGS:
                    conn.close()
                    return "heartbeat: no answer to the last pings"
                ping = req_id("ping")
                unanswered.add(ping)
                try:
                    self._write({"cmd": "ping", "headers": {"req_id": ping}})
                except ConnectionClosed:
                    pass  # closed by the server: read what it sent first (a kick-out event)
                next_ping = time.monotonic() + self.heartbeat_seconds
                continue
            try:
                raw = conn.recv(timeout=wait)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return "the connection closed"
            frame = _loads(raw)
            headers = frame.get("headers") or {}
            rid = str(headers.get("req_id") or "")
            cmd = frame.get("cmd")
            if not cmd:  # an ack of one of ours
                unanswered.discard(rid)
                self._answer(rid, frame)
                continue
            body = frame.get("body") or {}
            event = body.get("event") if isinstance(body, dict) else None
            if isinstance(event, dict) and event.get("eventtype") == "disconnected_event":
                conn.close()
                return "kicked"
            if isinstance(body, dict):
                self._on_frame(str(cmd), headers, body)
        return "stopped"

    def _down(self) -> None:
        """The link is gone: no more sends; every waiting send learns it got no ack."""
        self._ready.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for waiting in pending.values():
            waiting.done.set()

    # -- sending -----------------------------------------------------------------------------
    def _write(self, frame: dict[str, Any]) -> None:
        conn = self._conn
        if conn is None:
            raise ConnectionError("not connected")
        with self._send_lock:
            conn.send(_dumps(frame))

    def _answer(self, rid: str, frame: dict[str, Any]) -> None:
        with self._pending_lock:
            waiting = self._pending.pop(rid, None)
        if waiting is not None:
            waiting.answer = frame
            waiting.done.set()

    def post(self, cmd: str, body: dict[str, Any], rid: str = "") -> tuple[str, dict[str, Any]]:
        """Send one frame and wait for its ack: ("not sent"|"no ack"|"acked", ack or {})."""
        if not self._ready.is_set():
            return "not sent", {}
        rid = rid or req_id(cmd)
        waiting = _Pending()
        with self._pending_lock:
            self._pending[rid] = waiting
        try:
            self._write({"cmd": cmd, "headers": {"req_id": rid}, "body": body})
        except (ConnectionError, ConnectionClosed):
            with self._pending_lock:
                self._pending.pop(rid, None)
            return "not sent", {}
        if not waiting.done.wait(self.ack_seconds) or waiting.answer is None:
            with self._pending_lock:
                self._pending.pop(rid, None)
            return "no ack", {}
        return "acked", waiting.answer

    def fire(self, cmd: str, body: dict[str, Any], rid: str) -> None:
        """Send a frame without waiting for its ack (from the reader thread: a welcome)."""
        try:
            self._write({"cmd": cmd, "headers": {"req_id": rid}, "body": body})
        except (ConnectionError, ConnectionClosed) as exc:
            log.warning("wecom long connection: %s not sent (%s)", cmd, type(exc).__name__)


def classify(cmd: str, outcome: str, ack: dict[str, Any], permanent: set[int]) -> SendResult:
    """The SendResult of a ``post``: retry what never left, never repeat what may have landed."""
    if outcome == "not sent":
        return SendResult(
            ok=False, error="wecom long connection is down; waiting", retry_after=2.0, deferred=True
        )
    if outcome == "no ack":
        error = (
            f"wecom {cmd}: sent but not acknowledged; may have been delivered, not re-posted "
            "(WeCom cannot tell a retry from a new message)"
        )
        log.warning("%s", error)
        return SendResult(ok=False, error=error, permanent=True)
    errcode = int(ack.get("errcode", 0) or 0)
    if errcode == 0:
        return SendResult(ok=True)
    error = f"wecom {cmd} errcode={errcode} errmsg={ack.get('errmsg', '')}"
    if errcode == 45009:
        return SendResult(ok=False, error=error, retry_after=60.0, deferred=True)
    if errcode in permanent:
        log.error("wecom: giving up on a message: %s", error)
        return SendResult(ok=False, error=error, permanent=True)
    return SendResult(ok=False, error=error)


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False)


def _loads(raw: str | bytes) -> dict[str, Any]:
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return frame if isinstance(frame, dict) else {}
