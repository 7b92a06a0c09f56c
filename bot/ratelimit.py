"""Sliding-window rate limits, per key: how platforms state their limits (N per window)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


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
        return self.acquire(key)[0]

    def acquire(self, key: str = "") -> tuple[float, float | None]:
        """(0, the event's time) when one more fits and was recorded, else (seconds to wait, None)."""
        with self._lock:
            now = self.clock()
            wait = self._wait(key, now)
            if wait:
                return wait, None
            self._events.setdefault(key, deque()).append(now)
            return 0.0, now

    def settle(self, key: str = "", stamp: float | None = None) -> None:
        """Move an event to now: a request counts from when it surely arrived.

        Called after the request returns, so a slow first request (a token fetch, a new
        connection) cannot squeeze the next window. ``stamp`` (from acquire) names the event,
        which matters when several requests are in flight; without it, the latest one moves.
        """
        with self._lock:
            events = self._events.get(key)
            if not events:
                return
            now = self.clock()
            if stamp is None:
                events[-1] = max(events[-1], now)
                return
            try:
                events.remove(stamp)  # equal stamps are interchangeable
            except ValueError:
                return  # already out of the window
            events.append(max(now, events[-1]) if events else now)  # stays sorted

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


@dataclass
class Grant:
    """What acquire_all took: ``wait`` > 0 means nothing was taken; settle() once the request returned."""

    wait: float = 0.0
    slots: list[tuple[SlidingWindow, str, float]] = field(default_factory=list)

    def settle(self) -> None:
        """Count every taken slot from now (see SlidingWindow.settle)."""
        for limiter, key, stamp in self.slots:
            limiter.settle(key, stamp)


def acquire_all(limits: list[tuple[SlidingWindow, str]], max_sleep: float) -> Grant:
    """Take one slot from every (limiter, key), sleeping up to ``max_sleep`` for them.

    Thread-safe: several senders may share the limiters.
    """
    deadline = time.monotonic() + max_sleep
    while True:
        with _group_lock:  # check all, then take all: a slot is never taken from only some
            wait = max(limiter.wait_time(key) for limiter, key in limits)
            if wait == 0:
                grant = Grant()
                for limiter, key in limits:
                    _, stamp = limiter.acquire(key)
                    if stamp is not None:
                        grant.slots.append((limiter, key, stamp))
                return grant
        if time.monotonic() + wait > deadline:
            return Grant(wait=wait)
        time.sleep(wait + 0.001)
