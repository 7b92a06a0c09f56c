"""Feishu long connection: one ``lark.ws.Client`` per process, in a daemon thread.

The SDK runs handlers inside its event loop, so the handler only stores the message in the inbox
(a quick insert) and returns; the dispatcher thread does the work. ``lark_oapi`` must be imported
in the main thread first (its ws module captures an event loop at import time, which is also why
there is one client per process: a later ``start_long_connection`` with the same app only points
the running connection at the new adapter).

Card taps: lark-oapi 1.7.5 drops ``type=card`` frames without an ack (feishu-cards-files.md §1.3);
``route_card_frames`` routes them through the same dispatcher, and runs every card action (a
``card`` frame, or an ``event`` frame carrying ``card.action.trigger``) in a worker thread: its
handler waits up to ~2 s for the replies, and the event loop must keep serving pings and other
frames meanwhile. The ack carries the handler's answer (toast and card) like the webhook's body.
"""

from __future__ import annotations

import asyncio
import base64
import http
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import lark_oapi as lark  # type: ignore[import-untyped]

from bot.adapters.feishu import CARD_EVENT, FeishuAdapter
from bot.messages import IncomingMessage

log = logging.getLogger(__name__)
_lock = threading.Lock()
_running: dict[str, Any] = {}  # "key": (app_id, domain), "thread", "adapter"


class _Forward:
    """The event handler the ws client holds: forwards to the current adapter's dispatcher."""

    def _do_without_validation(self, payload: bytes) -> Any:
        adapter: FeishuAdapter = _running["adapter"]
        return adapter.handler._do_without_validation(payload)


def start_long_connection(
    adapter: FeishuAdapter, receive: Callable[[IncomingMessage], object]
) -> threading.Thread:
    """Connect to Feishu and feed every event to ``receive``; returns the daemon thread."""
    key = (adapter.settings.app_id, adapter.settings.domain)
    with _lock:
        adapter.sink = receive
        thread = _running.get("thread")
        if thread is not None:
            if _running["key"] != key or not thread.is_alive():
                raise RuntimeError("the Feishu long connection runs once per process")
            _running["adapter"] = adapter
            return thread
        route_card_frames()
        client = lark.ws.Client(
            adapter.settings.app_id,
            adapter.settings.app_secret,
            log_level=lark.LogLevel.WARNING,
            event_handler=_Forward(),
            domain=adapter.settings.domain,
        )

        def run() -> None:
            try:
                client.start()
            except Exception:
                log.exception("feishu long connection stopped; no events arrive until a restart")

        thread = threading.Thread(target=run, name="genjin-feishu-ws", daemon=True)
        _running.update(key=key, thread=thread, adapter=adapter)
        thread.start()
        return thread


def route_card_frames() -> None:
    """Make lark-oapi's ws client answer card taps (once per process; see the module doc)."""
    from lark_oapi.core.json import JSON  # type: ignore[import-untyped]
    from lark_oapi.ws import client as ws_client  # type: ignore[import-untyped]
    from lark_oapi.ws.const import (  # type: ignore[import-untyped]
        HEADER_BIZ_RT,
        HEADER_MESSAGE_ID,
        HEADER_SEQ,
        HEADER_SUM,
        HEADER_TYPE,
    )
    from lark_oapi.ws.enum import MessageType  # type: ignore[import-untyped]
    from lark_oapi.ws.model import Response  # type: ignore[import-untyped]

    stock = ws_client.Client._handle_data_frame
    if getattr(stock, "genjin_cards", False):
        return

    async def handle_data_frame(self: Any, frame: Any) -> None:
        headers = {h.key: h.value for h in frame.headers}
        kind = headers.get(HEADER_TYPE)
        parts = int(headers.get(HEADER_SUM) or 1)
        payload = frame.payload
        if kind == MessageType.EVENT.value and (parts > 1 or CARD_EVENT.encode() not in payload):
            return await stock(self, frame)  # events keep the stock path
        if kind != MessageType.CARD.value and kind != MessageType.EVENT.value:
            return await stock(self, frame)
        if parts > 1:
            seq = int(headers.get(HEADER_SEQ) or 0)
            payload = self._combine(headers.get(HEADER_MESSAGE_ID), parts, seq, payload)
            if payload is None:
                return None
        answer = Response(code=http.HTTPStatus.OK)
        try:
            start = time.monotonic()
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(
                None, self._event_handler._do_without_validation, payload
            )
            header = frame.headers.add()
            header.key = HEADER_BIZ_RT
            header.value = str(int((time.monotonic() - start) * 1000))
            if result is not None:
                answer.data = base64.b64encode(JSON.marshal(result).encode("utf-8"))
        except Exception as exc:
            log.error("feishu card action over the long connection failed: %s", exc)
            answer = Response(code=http.HTTPStatus.INTERNAL_SERVER_ERROR)
        frame.payload = JSON.marshal(answer).encode("utf-8")
        await self._write_message(frame.SerializeToString())
        return None

    handle_data_frame.genjin_cards = True  # type: ignore[attr-defined]
    ws_client.Client._handle_data_frame = handle_data_frame
