"""Feishu long connection: one ``lark.ws.Client`` per process, in a daemon thread.

The SDK runs handlers inside its event loop, so the handler only stores the message in the inbox
(a quick insert) and returns; the dispatcher thread does the work. ``lark_oapi`` must be imported
in the main thread first (its ws module captures an event loop at import time).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import lark_oapi as lark  # type: ignore[import-untyped]

from bot.adapters.feishu import FeishuAdapter
from bot.messages import IncomingMessage

log = logging.getLogger(__name__)
_started = threading.Lock()


def start_long_connection(
    adapter: FeishuAdapter, receive: Callable[[IncomingMessage], object]
) -> threading.Thread:
    """Connect to Feishu and feed every event to ``receive``; returns the daemon thread."""
    if not _started.acquire(blocking=False):
        raise RuntimeError("the Feishu long connection runs once per process")
    adapter.sink = receive
    client = lark.ws.Client(
        adapter.settings.app_id,
        adapter.settings.app_secret,
        log_level=lark.LogLevel.WARNING,
        event_handler=adapter.handler,
        domain=adapter.settings.domain,
    )

    def run() -> None:
        try:
            client.start()
        except Exception:
            log.exception("feishu long connection stopped; no events arrive until a restart")

    thread = threading.Thread(target=run, name="genjin-feishu-ws", daemon=True)
    thread.start()
    return thread
