"""The Feishu long connection, faked locally: :class:`FakeFeishuWS` is a :class:`FakeFeishu` that also
answers ``POST /callback/ws/endpoint`` and runs a ``websockets`` server that pushes events.

The wire protocol is lark-oapi 1.7.5's (``lark_oapi/ws/client.py``, ``const.py``, ``model.py``,
``pb/pbbp2_pb2.py``; see docs: shared/platforms/feishu.md §2 and §6.3):

1. The client POSTs ``{"AppID", "AppSecret"}`` to ``{domain}/callback/ws/endpoint`` (the same host as the
   open API, so both live in this one fake). Answer: ``{"code": 0, "data": {"URL": "ws://…?device_id=…&
   service_id=…", "ClientConfig": {"ReconnectCount", "ReconnectInterval", "ReconnectNonce",
   "PingInterval"}}}``. Wrong credentials → ``{"code": 10014}`` (the SDK raises ``ClientException`` and
   gives up). ``device_id`` and ``service_id`` are read from the URL query by the client.
2. The client opens the websocket. A ``ticket`` this fake did not issue is refused with HTTP 403 and the
   ``handshake-status`` / ``handshake-msg`` headers the SDK parses.
3. Frames are protobuf ``pbbp2.Frame``. ``method`` 0 = control (``type`` header ``ping``/``pong``), 1 = data.
   :meth:`FakeFeishuWS.push_event` sends a data frame with headers ``type=event, message_id, trace_id,
   sum, seq`` and the event JSON as payload (optionally split into ``parts`` chunks, which the client
   reassembles by ``message_id``); :meth:`FakeFeishuWS.push_card` the same with ``type=card`` for a
   card callback.
4. The client acks each data frame by writing the frame back (headers plus ``biz_rt``, the handler time
   in ms) with payload ``{"code": 200|500, "headers": null, "data": null}``; ``data`` is a base64 JSON
   of the handler's result when it returned one. Acks are recorded in ``acks`` as :class:`Ack`.
   Pings are recorded in ``pings`` and answered with a pong carrying the ``ClientConfig``.

Usage::

    with FakeFeishuWS(bot_open_id=BOT_OPEN_ID) as fake:
        ...                                   # start the bot with domain=fake.url, mode ws
        fake.wait_connected()
        frame_id = fake.push_event(message_event("@_user_1 /跟进 …", token=""))
        assert fake.wait_ack(frame_id).code == 200

The websocket server runs on 127.0.0.1 in its own thread with its own asyncio loop; ``stop()`` closes
the connections and joins the thread. Nothing is logged to stdout/stderr.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.support.fake_feishu import FakeFeishu, _Handler, _json_or_none, _Reply

__all__ = ["Ack", "Connection", "FakeFeishuWS", "build_frame", "parse_frame"]

ENDPOINT_PATH = "/callback/ws/endpoint"
WS_PATH = "/ws/v2"
CONTROL, DATA = 0, 1  # lark_oapi.ws.enum.FrameType

_log = logging.getLogger("tests.support.fake_feishu_ws")
_log.addHandler(logging.NullHandler())
_log.propagate = False


def _frame_class() -> Any:
    from lark_oapi.ws.pb.pbbp2_pb2 import Frame  # the SDK's own generated protobuf

    return Frame


def build_frame(
    method: int,
    headers: dict[str, str],
    payload: bytes = b"",
    *,
    service: int = 0,
    seq_id: int = 0,
    log_id: int = 0,
) -> bytes:
    """A serialised ``pbbp2.Frame`` (``SeqID``, ``LogID``, ``service``, ``method`` are required)."""
    frame = _frame_class()()
    frame.SeqID = seq_id
    frame.LogID = log_id
    frame.service = service
    frame.method = method
    for key, value in headers.items():
        header = frame.headers.add()
        header.key = key
        header.value = value
    if payload:
        frame.payload = payload
    return frame.SerializeToString()


def parse_frame(data: bytes) -> tuple[int, dict[str, str], bytes, Any]:
    """``(method, headers, payload, frame)`` of a serialised ``pbbp2.Frame``."""
    frame = _frame_class()()
    frame.ParseFromString(data)
    return frame.method, {h.key: h.value for h in frame.headers}, bytes(frame.payload), frame


@dataclass
class Connection:
    """One websocket the client opened."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    closed_at: float | None = None


@dataclass
class Ack:
    """A data frame the client wrote back: its answer to one pushed event."""

    message_id: str
    trace_id: str
    code: int | None  # 200 when the handler returned, 500 when it raised
    biz_rt: str | None  # handler time in ms (absent when the handler raised)
    headers: dict[str, str]
    payload: dict[str, Any] | None  # the decoded JSON payload
    at: float

    @property
    def data(self) -> Any:
        """The handler's result the SDK sent back (base64 JSON), or None."""
        raw = (self.payload or {}).get("data")
        return json.loads(base64.b64decode(raw)) if raw else None


@dataclass
class _WsState:
    endpoint_requests: list[dict[str, Any]] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    pings: list[float] = field(default_factory=list)
    frames_in: list[bytes] = field(default_factory=list)  # every binary frame received, raw


class FakeFeishuWS(FakeFeishu):
    """:class:`FakeFeishu` plus the long-connection endpoint and websocket server (thread-safe).

    ``client_config`` is what the endpoint (and each pong) hands the client; the defaults keep a test
    quiet and quick: no reconnect jitter, one-second reconnect interval, pings every 120 s.
    """

    def __init__(
        self,
        *,
        client_config: dict[str, int] | None = None,
        service_id: int = 7,
        **kwargs: Any,
    ) -> None:
        self.client_config = {
            "ReconnectCount": -1,
            "ReconnectInterval": 1,
            "ReconnectNonce": 0,
            "PingInterval": 120,
            **(client_config or {}),
        }
        self.service_id = service_id
        self.endpoint_code = 0  # set non-zero to make the endpoint refuse (e.g. 1 = system busy)
        self._tickets: set[str] = set()
        self._seq = itertools.count(1)
        self._ws_loop: asyncio.AbstractEventLoop | None = None
        self._ws_server: Server | None = None
        self._ws_thread: threading.Thread | None = None
        self._ws_conns: list[ServerConnection] = []
        super().__init__(**kwargs)

    def _init_state(self) -> None:
        super()._init_state()
        previous = getattr(self, "_ws", None)
        self._ws = _WsState()
        if previous is not None:  # reset(): the websockets still open stay on record
            self._ws.connections = [c for c in previous.connections if c.closed_at is None]

    # ---- records --------------------------------------------------------------------------------

    @property
    def endpoint_requests(self) -> list[dict[str, Any]]:
        """JSON bodies POSTed to ``/callback/ws/endpoint`` (``AppID``, ``AppSecret``)."""
        with self._lock:
            return list(self._ws.endpoint_requests)

    @property
    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._ws.connections)

    @property
    def acks(self) -> list[Ack]:
        with self._lock:
            return list(self._ws.acks)

    @property
    def pings(self) -> list[float]:
        with self._lock:
            return list(self._ws.pings)

    @property
    def ws_url(self) -> str:
        if self._ws_server is None:
            raise RuntimeError("FakeFeishuWS is not started")
        host, port = next(iter(self._ws_server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}{WS_PATH}"

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeFeishuWS:
        if self._ws_thread is None:
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            failure: list[BaseException] = []

            async def open_server() -> Server:
                return await serve(
                    self._serve_connection,
                    "127.0.0.1",
                    0,
                    process_request=self._check_ticket,
                    compression=None,
                    ping_interval=None,  # the SDK pings with its own control frames
                    logger=_log,
                )

            def run() -> None:
                asyncio.set_event_loop(loop)
                try:
                    self._ws_server = loop.run_until_complete(open_server())
                except BaseException as exc:  # pragma: no cover - port/loop trouble
                    failure.append(exc)
                    ready.set()
                    loop.close()
                    return
                ready.set()
                try:
                    loop.run_forever()
                finally:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                    loop.close()

            self._ws_loop = loop
            self._ws_thread = threading.Thread(target=run, name="fake-feishu-ws", daemon=True)
            self._ws_thread.start()
            ready.wait(10)
            if failure or self._ws_server is None:
                self._ws_thread.join(5)
                self._ws_thread = self._ws_loop = None
                raise RuntimeError(f"fake feishu ws server did not start: {failure!r}")
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        loop, server, thread = self._ws_loop, self._ws_server, self._ws_thread
        if thread is None or loop is None:
            return

        async def shutdown() -> None:
            if server is not None:
                server.close(close_connections=True)
                await server.wait_closed()

        if loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._ws_loop = self._ws_server = self._ws_thread = None
        self._ws_conns = []

    def __enter__(self) -> FakeFeishuWS:
        return self.start()

    # ---- HTTP: the endpoint -------------------------------------------------------------------

    def _route(
        self, h: _Handler, method: str, path: str, query: dict[str, str], raw: bytes
    ) -> None:
        if method == "POST" and path == ENDPOINT_PATH:
            self._endpoint(raw)
        super()._route(h, method, path, query, raw)

    def _endpoint(self, raw: bytes) -> None:
        body = _json_or_none(raw) or {}
        with self._lock:
            self._ws.endpoint_requests.append(body if isinstance(body, dict) else {})
            code = self.endpoint_code
        if code:
            raise _Reply(200, {"code": code, "msg": "fake feishu: endpoint refused"})
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            raise _Reply(200, {"code": 10014, "msg": "app secret invalid"})
        ticket = secrets.token_hex(8)
        device_id = f"fake-device-{secrets.token_hex(4)}"
        with self._lock:
            self._tickets.add(ticket)
        url = f"{self.ws_url}?device_id={device_id}&service_id={self.service_id}&ticket={ticket}"
        raise _Reply(
            200,
            {
                "code": 0,
                "msg": "ok",
                "data": {"URL": url, "ClientConfig": dict(self.client_config)},
            },
        )

    # ---- websocket --------------------------------------------------------------------------------

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.path).query).items()}
        with self._lock:
            known = query.get("ticket") in self._tickets
        if known and query.get("device_id") and query.get("service_id"):
            return None
        response = connection.respond(HTTPStatus.FORBIDDEN, "forbidden\n")
        response.headers["handshake-status"] = str(HTTPStatus.FORBIDDEN.value)
        response.headers["handshake-msg"] = "fake feishu: unknown ticket"
        return response

    async def _serve_connection(self, conn: ServerConnection) -> None:
        parts = urlsplit(conn.request.path if conn.request else "")
        record = Connection(
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
            headers=dict(conn.request.headers.raw_items()) if conn.request else {},
            at=time.monotonic(),
        )
        with self._cond:
            self._ws_conns.append(conn)
            self._ws.connections.append(record)
            self._cond.notify_all()
        try:
            async for message in conn:
                if isinstance(message, bytes):
                    await self._on_frame(conn, message)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                record.closed_at = time.monotonic()
                if conn in self._ws_conns:
                    self._ws_conns.remove(conn)
                self._cond.notify_all()

    async def _on_frame(self, conn: ServerConnection, data: bytes) -> None:
        try:
            method, headers, payload, frame = parse_frame(data)
        except Exception as exc:  # not a Frame: keep it for inspection
            with self._cond:
                self._ws.frames_in.append(data)
                self.errors.append(exc)
                self._cond.notify_all()
            return
        now = time.monotonic()
        with self._cond:
            self._ws.frames_in.append(data)
            if method == CONTROL and headers.get("type") == "ping":
                self._ws.pings.append(now)
            elif method == DATA:
                body = _json_or_none(payload)
                body = body if isinstance(body, dict) else None
                code = body.get("code") if body else None
                self._ws.acks.append(
                    Ack(
                        message_id=headers.get("message_id", ""),
                        trace_id=headers.get("trace_id", ""),
                        code=int(code) if isinstance(code, int | str) else None,
                        biz_rt=headers.get("biz_rt"),
                        headers=headers,
                        payload=body,
                        at=now,
                    )
                )
            self._cond.notify_all()
        if method == CONTROL and headers.get("type") == "ping":
            pong = build_frame(
                CONTROL,
                {"type": "pong"},
                json.dumps(self.client_config).encode(),
                service=frame.service,
            )
            try:
                await conn.send(pong)
            except ConnectionClosed:
                pass

    # ---- pushing events ------------------------------------------------------------------------

    def wait_connected(self, n: int = 1, timeout: float = 10.0) -> Connection:
        """Block until ``n`` websockets have been opened and one is open now; return the newest."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._ws.connections) < n or not self._ws_conns:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no long connection within {timeout}s: endpoint requests "
                        f"{len(self._ws.endpoint_requests)}, websockets {len(self._ws.connections)}"
                    )
                self._cond.wait(min(left, 0.1))
            return self._ws.connections[-1]

    def push_event(
        self,
        event: dict[str, Any],
        *,
        message_id: str | None = None,
        trace_id: str | None = None,
        parts: int = 1,
        timeout: float = 5.0,
        frame_type: str = "event",
    ) -> str:
        """Send ``event`` as a data frame on the newest open connection; returns the frame message_id.

        ``parts > 1`` splits the payload into that many frames (``sum``/``seq``), as Feishu does for large
        events. A redelivery by Feishu is a new frame (new message_id) carrying the same event.
        ``frame_type`` "card": a card callback (``card.action.trigger``) in a ``type=card`` frame, as
        reported in production (feishu-cards-files.md §1.3); its ack carries the answer (toast, card).
        """
        with self._lock:
            conn = self._ws_conns[-1] if self._ws_conns else None
            loop = self._ws_loop
        if conn is None or loop is None:
            raise RuntimeError("no long connection is open")
        frame_id = message_id or f"fake-frame-{secrets.token_hex(8)}"
        trace = trace_id or secrets.token_hex(8)
        payload = json.dumps(event, ensure_ascii=False).encode("utf-8")
        parts = max(1, min(parts, len(payload)))
        size = -(-len(payload) // parts)
        chunks = [payload[i * size : (i + 1) * size] for i in range(parts)]
        frames = [
            build_frame(
                DATA,
                {
                    "type": frame_type,
                    "message_id": frame_id,
                    "trace_id": trace,
                    "sum": str(parts),
                    "seq": str(seq),
                },
                chunk,
                service=self.service_id,
                seq_id=next(self._seq),
            )
            for seq, chunk in enumerate(chunks)
        ]

        async def send() -> None:
            for data in frames:
                await conn.send(data)

        asyncio.run_coroutine_threadsafe(send(), loop).result(timeout)
        return frame_id

    def push_card(self, callback: dict[str, Any], **kwargs: Any) -> str:
        """``push_event`` of a card callback in a ``type=card`` frame; returns the frame message_id."""
        return self.push_event(callback, frame_type="card", **kwargs)

    def wait_ack(self, message_id: str, timeout: float = 5.0) -> Ack:
        """Block until the client acked the frame ``message_id``; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ack in self._ws.acks:
                    if ack.message_id == message_id:
                        return ack
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no ack for frame {message_id} within {timeout}s; acks so far: "
                        f"{[(a.message_id, a.code) for a in self._ws.acks]!r}"
                    )
                self._cond.wait(min(left, 0.1))
