"""Board links and sessions: signed claims (chat, member, epoch, expiry), checked in constant time.

A token is ``<chat>.<member>.<epoch>.<expires>.<signature>``: four whole numbers and the
URL-safe base64 of HMAC-SHA256 over them with the server secret. The purpose (a link in a chat
message, or the session cookie it opens) is signed too, so one is never accepted as the other.
Expiry is checked against the caller's clock; revocation against ``member.board_epoch``
(``/看板 重置`` raises it). Both the chat command (handlers/board.py) and the web edge
(bot/board/access.py) use this module, which imports neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine

log = logging.getLogger(__name__)

LINK = "link"
SESSION = "session"
_TOKEN = re.compile(r"(\d{1,18})\.(\d{1,18})\.(\d{1,9})\.(\d{1,12})\.([A-Za-z0-9_-]{43})")
MAX_TOKEN = 120  # longer input is refused before any parsing
SECRET_FILE = "board.secret"
MIN_SECRET = 32


class Refusal(StrEnum):
    """Why a token is not accepted; the value is the reason shown on the refusal page."""

    MALFORMED = "链接不完整或已被改动"
    EXPIRED = "链接已过期"
    REVOKED = "链接已被重置作废"
    OTHER_CHAT = "这个链接不属于这个团队"
    UNKNOWN_MEMBER = "链接对应的成员已不在团队里"


@dataclass(frozen=True)
class Claims:
    """What a valid token says: whose board, which member, their epoch, until when (epoch s)."""

    chat_id: int
    member_id: int
    epoch: int
    expires: int


class TokenError(Exception):
    """A token that is refused; ``reason`` says why."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


def _signature(secret: str, purpose: str, body: str) -> str:
    """URL-safe base64 (no padding) of HMAC-SHA256 over the purpose and the claims."""
    mac = hmac.new(
        secret.encode("utf-8"), f"genjin-board:{purpose}:{body}".encode(), hashlib.sha256
    )
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def sign(secret: str, claims: Claims, purpose: str = LINK) -> str:
    """The token carrying ``claims``, signed for ``purpose`` (LINK or SESSION)."""
    if not secret:
        raise ValueError("the board has no secret")
    body = f"{claims.chat_id}.{claims.member_id}.{claims.epoch}.{claims.expires}"
    return f"{body}.{_signature(secret, purpose, body)}"


def read(secret: str, token: str, now: datetime, purpose: str = LINK) -> Claims:
    """The claims of a genuine, unexpired token; TokenError otherwise (never another exception).

    The signature is compared with ``hmac.compare_digest`` before any claim is trusted.
    Revocation and chat scope need the database: the caller checks them (``check_epoch``).
    """
    if not secret or not isinstance(token, str) or len(token) > MAX_TOKEN:
        raise TokenError(Refusal.MALFORMED)
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise TokenError(Refusal.MALFORMED)
    body = token.rsplit(".", 1)[0]
    if not hmac.compare_digest(
        match.group(5).encode("ascii"), _signature(secret, purpose, body).encode("ascii")
    ):
        raise TokenError(Refusal.MALFORMED)
    chat_id, member_id, epoch, expires = (int(match.group(i)) for i in range(1, 5))
    if now.timestamp() >= expires:
        raise TokenError(Refusal.EXPIRED)
    return Claims(chat_id, member_id, epoch, expires)


def check_epoch(claims: Claims, current_epoch: int) -> None:
    """Refuse claims made before the member's last ``/看板 重置``."""
    if claims.epoch != current_epoch:
        raise TokenError(Refusal.REVOKED)


def expiry(now: datetime, hours: float) -> int:
    """The expiry (epoch seconds) of a link made at ``now`` that lives ``hours``."""
    return int((now + timedelta(hours=hours)).timestamp())


def lifetime_words(hours: float) -> str:
    """How long a link lives, as a chat reply says it: 7 天, 12 小时, 1 天 6 小时, 30 分钟."""
    minutes = round(hours * 60)
    days, rest = divmod(minutes, 24 * 60)
    whole_hours, mins = divmod(rest, 60)
    parts = [f"{days} 天"] if days else []
    if whole_hours:
        parts.append(f"{whole_hours} 小时")
    if mins:
        parts.append(f"{mins} 分钟")
    return " ".join(parts) or "0 分钟"


def secret_path(engine: Engine) -> Path | None:
    """``board.secret`` next to an SQLite database file; None for PostgreSQL or in-memory."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve().parent / SECRET_FILE


def stored_secret(engine: Engine, create: bool = False) -> str | None:
    """The secret in ``board.secret`` next to an SQLite database, if there is a valid one.

    ``create``: generate the file (0600, 32 random bytes) when it is missing; ``genjin serve``
    does, so a fresh install's /看板 works. PostgreSQL (several processes) has no such file.
    The secret itself is never logged.
    """
    path = secret_path(engine)
    if path is None:
        return None
    if not path.exists() and create:
        from models.db import private_dir, private_file

        private_dir(path.parent)
        private_file(path)
        path.write_text(secrets.token_urlsafe(MIN_SECRET) + "\n", encoding="ascii")
        log.info("board: generated a secret in %s (0600); links from /看板 now work", path)
    if not path.exists():
        return None
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if len(text) < MIN_SECRET:
        log.warning("board: %s holds no valid secret (too short); the board stays off", path)
        return None
    return text
