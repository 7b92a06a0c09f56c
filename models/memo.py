"""Remembered readings: a message's text is read once, before its transaction, then looked up.

The dispatcher reads a long message once outside any database lock (a rehearsal, see
``bot.dispatcher``), so the reading inside the transaction is a lookup here, not a parse. The
readers memoised are pure functions of their arguments (text, the message's time, the chat's
calendar) returning immutable values; a list comes back as a fresh copy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

SIZE = 512  # readings kept per reader: a few MB at most for 5,000-character notes


def remembered(func: Callable[P, R]) -> Callable[P, R]:
    """``func`` with a bounded, thread-safe memory of its recent answers."""
    cached = functools.lru_cache(maxsize=SIZE)(func)

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result: Any = cached(*args, **kwargs)  # type: ignore[arg-type]
        except TypeError:  # an unhashable argument: read without memory
            return func(*args, **kwargs)
        return list(result) if isinstance(result, list) else result  # type: ignore[return-value]

    call.cache_info = cached.cache_info  # type: ignore[attr-defined]
    call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return call
