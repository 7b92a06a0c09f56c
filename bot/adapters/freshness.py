"""Freshness of signed webhook requests (Feishu, WeCom).

A platform's signature covers the request's timestamp, but neither SDK compares that timestamp
with the clock: a captured request would verify forever. A correctly signed request whose
timestamp is further than ``server.signed_max_age_seconds`` from the server clock, in either
direction, is refused (a replay, or a server clock that is wrong).
"""

from __future__ import annotations


def stale_reason(timestamp: str, now: float, max_age: float) -> str:
    """Why a signed request's timestamp (epoch seconds) is not fresh, or '' when it is."""
    try:
        value = int(str(timestamp).strip())
    except ValueError:
        return "its timestamp is not a number of seconds"
    skew = value - now
    if abs(skew) <= max_age:
        return ""
    where = "in the future" if skew > 0 else "old"
    return (
        f"its timestamp is {_duration(abs(skew))} {where}, beyond "
        f"server.signed_max_age_seconds={int(max_age)} (a replayed request, or a wrong clock)"
    )


def _duration(seconds: float) -> str:
    """A rough human duration for a log line."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"
