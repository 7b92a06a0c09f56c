"""The WeCom intelligent robot's long connection, faked locally: :class:`FakeWecomWS` runs a
``websockets`` server on 127.0.0.1 that speaks the frames of the official SDKs
(shared/platforms/wecom-cards-files.md §2, the fake of §2.9 verified with wecom-aibot-python-sdk):

- every frame is JSON ``{cmd?, headers: {req_id}, body?, errcode?, errmsg?}``;
- the client's first frame is ``aibot_subscribe {bot_id, secret}``: acked with errcode 0, or with
  ``AUTH_REFUSED`` for wrong credentials (the real code is undocumented);
- ``ping`` is acked; ``aibot_respond_msg`` (echoing a callback's req_id; a req_id answers once,
  then ``846605``) and ``aibot_send_msg`` (to a known chatid, else ``93006``) are acked and
  recorded in ``sent`` as :class:`Sent`;
- template cards (``msgtype: template_card`` in a reply or ``aibot_send_msg``) are checked
  against the doc's rules (``card_problem``) and a task_id may be posted once per robot;
  :meth:`push_tap` sends a ``template_card_event`` and ``aibot_respond_update_msg`` echoing its
  req_id (once, with the tapped card's task_id) is acked and recorded in ``updates``;
- :meth:`push_message` sends an ``aibot_msg_callback``, :meth:`push_event` an
  ``aibot_event_callback``; :meth:`kick` sends ``disconnected_event`` and closes, as WeCom does
  to the old connection when a new one is made; :meth:`drop` closes the link;
  ``refuse_connections`` makes the handshake fail (503) while set, ``unacked`` names commands
  that are shown but never acked.

Usage::

    with FakeWecomWS() as fake:                       # start the bot with ws_url=fake.url
        fake.wait_connected()
        fake.push_message("/跟进 客户A 报价已发")
        (reply,) = fake.wait_for(1)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.support.fake_wecom import BAD_CARD, card_problem

__all__ = ["AUTH_REFUSED", "FakeWecomWS", "Sent"]

AUTH_REFUSED = 40001  # what this fake answers a wrong bot_id/secret with
CHAT = "wrkSFfCgAAtestchat"
USER = "zhangsan"


@dataclass
class Sent:
    """A message the bot posted: a reply (``req_id`` of the callback) or a proactive send."""

    kind: str  # "reply" | "send"
    req_id: str
    chat_id: str
    text: str
    body: dict[str, Any] = field(default_factory=dict)


class FakeWecomWS:
    """A local WeCom long-connection server (thread-safe accessors)."""

    def __init__(self, bot_id: str = "aibTEST", secret: str = "s3cr3t-long-conn") -> None:
        self.bot_id = bot_id
        self.secret = secret
        self.chats = {CHAT}
        self.users = {USER}  # a single chat's chatid is the userid
        self.refuse_connections = False
        self.ignore_pings = False
        self.unacked: set[str] = set()  # commands recorded but never acked (a lost answer)
        self._lock = threading.Lock()
        self.frames: list[dict[str, Any]] = []  # every frame the bot sent
        self.sent: list[Sent] = []
        self.subscribes = 0  # accepted subscriptions
        self.refused = 0  # refused subscriptions
        self.handshakes = 0
        self._answered: set[str] = set()  # callback req_ids already replied to
        self._callbacks: dict[str, str] = {}  # callback req_id → chatid
        self._taps: dict[str, str] = {}  # template_card_event req_id → its task_id
        self._task_ids: set[str] = set()  # task_ids of every card posted
        self.updates: list[dict[str, Any]] = []  # bodies of accepted aibot_respond_update_msg
        self._conn: ServerConnection | None = None
        self._connected = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeWecomWS:
        """Start the server thread; ``url`` is then ``ws://127.0.0.1:<port>``."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop

            async def main() -> None:
                self._server = await serve(
                    self._serve, "127.0.0.1", 0, process_request=self._handshake
                )
                port = self._server.sockets[0].getsockname()[1]
                self.url = f"ws://127.0.0.1:{port}"
                ready.set()
                await self._server.serve_forever()

            try:
                loop.run_until_complete(main())
            except asyncio.CancelledError:
                pass
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-wecom-ws", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        """Close every connection and the server; join the thread."""
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeWecomWS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the server ----------------------------------------------------------------------------
    def _handshake(self, conn: ServerConnection, request: Request) -> Response | None:
        with self._lock:
            self.handshakes += 1
        if self.refuse_connections:
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "down for the test\n")
        return None

    async def _serve(self, conn: ServerConnection) -> None:
        try:
            async for raw in conn:
                frame = json.loads(raw)
                with self._lock:
                    self.frames.append(frame)
                rid = frame["headers"]["req_id"]
                cmd = frame.get("cmd")
                ack: dict[str, Any] = {"headers": {"req_id": rid}, "errcode": 0, "errmsg": "ok"}
                if cmd == "aibot_subscribe":
                    body = frame.get("body") or {}
                    if body.get("bot_id") != self.bot_id or body.get("secret") != self.secret:
                        with self._lock:
                            self.refused += 1
                        ack.update(errcode=AUTH_REFUSED, errmsg="invalid bot_id or secret")
                        await conn.send(json.dumps(ack))
                        continue
                    with self._lock:
                        self.subscribes += 1
                        self._conn = conn
                    self._connected.set()
                elif cmd == "ping" and self.ignore_pings:
                    continue
                elif cmd in ("aibot_respond_msg", "aibot_send_msg", "aibot_respond_update_msg"):
                    ack.update(self._record(cmd, rid, frame.get("body") or {}))
                    if cmd in self.unacked:
                        continue
                await conn.send(json.dumps(ack))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if self._conn is conn:
                    self._conn = None
                    self._connected.clear()

    def _record(self, cmd: str, rid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Record a post; the errcode/errmsg WeCom would answer it with."""
        with self._lock:
            if cmd == "aibot_respond_update_msg":
                if rid not in self._taps or rid in self._answered:
                    return {"errcode": 846605, "errmsg": "invalid req_id"}
                card = body.get("template_card") or {}
                if body.get("response_type") != "update_template_card":
                    return {"errcode": 93050, "errmsg": "response_type字段不合法"}
                problem = card_problem(card)
                if not problem and card.get("task_id") != self._taps[rid]:
                    problem = "task_id must be the tapped card's"
                if problem:
                    return {"errcode": BAD_CARD, "errmsg": problem}
                self._answered.add(rid)
                self.updates.append(body)
                return {}
            if body.get("msgtype") == "template_card":
                card = body.get("template_card") or {}
                problem = card_problem(card)
                if not problem and card.get("task_id") in self._task_ids:
                    problem = "task_id already used by this robot"
                if problem:
                    return {"errcode": BAD_CARD, "errmsg": problem}
                self._task_ids.add(str(card["task_id"]))
            if cmd == "aibot_respond_msg":
                if rid not in self._callbacks or rid in self._answered:
                    return {"errcode": 846605, "errmsg": "invalid req_id"}
                self._answered.add(rid)
                text = str((body.get("stream") or {}).get("content", "")) or _card_text(body)
                self.sent.append(Sent("reply", rid, self._callbacks[rid], text, body))
                return {}
            chat = str(body.get("chatid", ""))
            if chat not in self.chats and chat not in self.users:
                return {"errcode": 93006, "errmsg": "invalid chatid"}
            text = str((body.get("markdown") or {}).get("content", "")) or _card_text(body)
            self.sent.append(Sent("send", rid, chat, text, body))
            return {}

    def _push(self, frame: dict[str, Any]) -> None:
        conn, loop = self._conn, self._loop
        assert conn is not None and loop is not None, "the bot is not connected"
        asyncio.run_coroutine_threadsafe(conn.send(json.dumps(frame)), loop).result(5)

    # -- what tests do -------------------------------------------------------------------------
    def wait_connected(self, timeout: float = 10.0, subscribes: int = 1) -> None:
        """Wait until the bot has subscribed (``subscribes`` times in all) and is connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._connected.is_set() and self.subscribes >= subscribes:
                return
            time.sleep(0.02)
        raise AssertionError(f"not connected (subscribes={self.subscribes})")

    def push_message(
        self, text: str, chat_id: str = CHAT, user_id: str = USER, msgid: str = ""
    ) -> tuple[str, str]:
        """A group text message that @s the robot, as ``aibot_msg_callback``: (req_id, msgid)."""
        n = next(self._ids)
        rid, msgid = f"REQ-MSG-{n}", msgid or f"msg-{n}"
        with self._lock:
            self._callbacks[rid] = chat_id
        body = {
            "msgid": msgid,
            "aibotid": self.bot_id,
            "chatid": chat_id,
            "chattype": "group",
            "from": {"userid": user_id},
            "msgtype": "text",
            "text": {"content": f"@跟进助手 {text}"},
        }
        self._push({"cmd": "aibot_msg_callback", "headers": {"req_id": rid}, "body": body})
        return rid, msgid

    def push_event(self, eventtype: str, **event: Any) -> str:
        """An ``aibot_event_callback`` frame; returns its req_id."""
        rid = f"REQ-EVT-{next(self._ids)}"
        body = {
            "msgid": f"evt-{rid}",
            "create_time": int(time.time()),
            "aibotid": self.bot_id,
            "from": {"userid": USER},
            "msgtype": "event",
            "event": {"eventtype": eventtype, **event},
        }
        self._push({"cmd": "aibot_event_callback", "headers": {"req_id": rid}, "body": body})
        return rid

    def push_tap(
        self,
        task_id: str,
        event_key: str,
        user_id: str = USER,
        chat_id: str = CHAT,
        msgid: str = "",
    ) -> str:
        """A tap on a template card (``template_card_event``; single chat when ``chat_id`` is
        ''); returns its req_id. The bot may answer it once with aibot_respond_update_msg."""
        rid = f"REQ-TAP-{next(self._ids)}"
        body: dict[str, Any] = {
            "msgid": msgid or f"tap-{rid}",
            "create_time": int(time.time()),
            "aibotid": self.bot_id,
            "chattype": "group" if chat_id else "single",
            "from": {"userid": user_id},
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
        with self._lock:
            self._taps[rid] = task_id
        self._push({"cmd": "aibot_event_callback", "headers": {"req_id": rid}, "body": body})
        return rid

    def wait_updates(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` card updates, once there are at least that many."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.updates) >= count:
                    return list(self.updates[:count])
            time.sleep(0.02)
        raise AssertionError(f"{len(self.updates)} card updates, expected {count}")

    def cards(self) -> list[dict[str, Any]]:
        """The template cards the bot posted (replies and sends), in order."""
        with self._lock:
            return [
                s.body["template_card"]
                for s in self.sent
                if s.body.get("msgtype") == "template_card"
            ]

    def kick(self) -> None:
        """What WeCom does to the old connection when a new one subscribes: event, then close."""
        self.push_event("disconnected_event")
        self.drop()

    def drop(self, code: int = 1000) -> None:
        """Close the current connection (1000 clean, 1011 abnormal)."""
        conn, loop = self._conn, self._loop
        if conn is not None and loop is not None:
            asyncio.run_coroutine_threadsafe(conn.close(code=code), loop).result(5)
        deadline = time.monotonic() + 5
        while self._connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Sent]:
        """The first ``count`` posts, once there are at least that many."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.sent) >= count:
                    return list(self.sent[:count])
            time.sleep(0.02)
        raise AssertionError(f"{len(self.sent)} posts, expected {count}: {self.texts()}")

    def texts(self) -> list[str]:
        """The text of every post so far."""
        with self._lock:
            return [s.text for s in self.sent]

    def commands(self, cmd: str) -> list[dict[str, Any]]:
        """The frames of one ``cmd`` the bot sent."""
        with self._lock:
            return [f for f in self.frames if f.get("cmd") == cmd]


def _card_text(body: dict[str, Any]) -> str:
    """The title and text of a template card post ('' for anything else)."""
    card = body.get("template_card") or {}
    title = str((card.get("main_title") or {}).get("title", ""))
    return "\n".join(t for t in (title, str(card.get("sub_title_text") or "")) if t)
