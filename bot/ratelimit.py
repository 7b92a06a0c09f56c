"""Sliding-window rate limits, per key: how platforms state their limits (N per window)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds for each key."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = max(1, int(limit))
        self.window = window
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, key: str = "") -> float:
        """Seconds until one more event for ``key`` fits (0 when it fits now)."""
        with self._lock:
            return self._wait(key, self.clock())

    def try_acquire(self, key: str = "") -> float:
        """Record an event if it fits and return 0; otherwise return the seconds to wait."""
        with self._lock:
            now = self.clock()
            wait = self._wait(key, now)
            if wait == 0:
                self._events.setdefault(key, deque()).append(now)
            return wait

    def settle(self, key: str = "") -> None:
        """Move the key's latest event to now: a request counts from when it surely arrived.

        Called after the request returns, so a slow first request (a token fetch, a new
        connection) cannot squeeze the next window.
        """
        with self._lock:
            events = self._events.get(key)
            if events:
                events[-1] = max(events[-1], self.clock())

    def _wait(self, key: str, now: float) -> float:
        events = self._events.get(key)
        if not events:
            return 0.0
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) < self.limit:
            return 0.0
        return events[0] + self.window - now


_group_lock = threading.Lock()


def acquire_all(limits: list[tuple[SlidingWindow, str]], max_sleep: float) -> float:
    """Take one slot from every (limiter, key), sleeping up to ``max_sleep`` for them.

    Returns 0 when acquired, else the wait still needed (nothing recorded).
    """
    deadline = time.monotonic() + max_sleep
    while True:
        with _group_lock:  # check all, then take all: a slot is never taken from only some
            wait = max(limiter.wait_time(key) for limiter, key in limits)
            if wait == 0:
                for limiter, key in limits:
                    limiter.try_acquire(key)
                return 0.0
        if time.monotonic() + wait > deadline:
            return wait
        time.sleep(wait + 0.001)
