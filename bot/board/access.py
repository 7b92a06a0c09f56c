"""Who is looking at the board: links from /看板 open a signed session; every request is checked.

``/board/open?t=<link token>`` checks the link (signature in constant time, expiry, the member's
``board_epoch``) and answers with a session cookie carrying the same claims, signed for another
purpose (models/board_link.py), and a redirect to the team's board, so the token leaves the
address bar. Every later request reads the cookie again: expiry, revocation (``/看板 重置``) and
the member's current role are checked each time. A team board lives under
``/board/t/<chat_id>/``; the cookie's chat may open it, and an admin (``[bot] admins``) may open
any team chat's. Anything else is a Chinese refusal page with a 4xx status, never a 500.

The secret: ``[board] secret`` (GENJIN_BOARD_SECRET). Without one, ``genjin serve`` on an SQLite
file generates it once into ``board.secret`` (0600) next to the database; on PostgreSQL (several
processes) the board stays off until it is configured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from flask import abort, current_app, g, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.config import Settings
from handlers.jobs.base import DESK
from models.board_link import (
    SESSION,
    Claims,
    Refusal,
    TokenError,
    check_epoch,
    read,
    sign,
    stored_secret,
)
from models.chat import Chat
from models.member import ROLE_ADMIN, ROLE_MANAGER, ROLE_REP, Member

log = logging.getLogger(__name__)

COOKIE = "genjin_board"
COOKIE_PATH = "/board"
NO_SESSION = "请在团队群里发送 /看板，再点开机器人回复的链接"
OFF = (
    "看板没有开启：管理员在配置里设置 [board] secret（至少 32 个字符，"
    "或环境变量 GENJIN_BOARD_SECRET）后重启 genjin"
)


@dataclass(frozen=True)
class Viewer:
    """Who is looking, from the session cookie, at the team board in the URL."""

    chat_id: int  # models.chat.Chat.id of the team whose board this is
    member_id: int  # models.member.Member.id (the viewer's own member row)
    name: str
    role: str  # ROLE_REP / ROLE_MANAGER / ROLE_ADMIN (effective, as handlers/roles.py)
    sees_all: bool  # manager or admin: the whole book; False: only customers they own


class Denied(Exception):
    """A request the board refuses: ``status`` and the Chinese ``reason`` for the page."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def effective_role(settings: Settings, member: Member) -> str:
    """The member's role as handlers.roles.role_of has it (tests prove they agree).

    Admins by platform id from the config, managers from /设置, everyone else a rep.
    """
    if member.user_id in set(settings.bot.admins):
        return ROLE_ADMIN
    return member.role if member.role in (ROLE_MANAGER, ROLE_REP) else ROLE_REP


def is_team_chat(chat: Chat) -> bool:
    """A group chat with a book, not someone's private desk (handlers/desk.py)."""
    return DESK not in (chat.settings or {})


# -- the secret --------------------------------------------------------------------------------
def load_secret(settings: Settings, engine: Engine, create: bool = False) -> None:
    """Fill ``settings.board.secret`` from ``board.secret`` (SQLite) when the config has none.

    ``create``: generate the file when missing (the web app does; see models/board_link.py).
    """
    if not settings.board.secret:
        settings.board.secret = stored_secret(engine, create) or ""


# -- claims → viewer ---------------------------------------------------------------------------
def _runtime() -> Any:
    return current_app.extensions["genjin"]


def now() -> datetime:
    """The runtime's clock (tests fix it)."""
    return _runtime().clock()  # type: ignore[no-any-return]


def member_of(session: Session, claims: Claims) -> Member:
    """The member the claims name, still in that chat and not revoked; Denied otherwise."""
    member = session.get(Member, claims.member_id)
    if member is None or member.chat_id != claims.chat_id:
        raise Denied(403, Refusal.UNKNOWN_MEMBER.value)
    try:
        check_epoch(claims, member.board_epoch)
    except TokenError as exc:
        raise Denied(403, exc.reason.value) from None
    return member


def session_claims(settings: Settings, at: datetime) -> Claims:
    """The claims of this request's session cookie; Denied (401/403) when absent or refused."""
    token = request.cookies.get(COOKIE, "")
    if not token:
        raise Denied(401, NO_SESSION)
    try:
        return read(settings.board.secret, token, at, SESSION)
    except TokenError as exc:
        raise Denied(403 if exc.reason is not Refusal.EXPIRED else 401, exc.reason.value) from None


def home_viewer(session: Session, settings: Settings, claims: Claims) -> tuple[Viewer, Member]:
    """The viewer of the cookie's own team, and their member row."""
    member = member_of(session, claims)
    role = effective_role(settings, member)
    viewer = Viewer(
        claims.chat_id, member.id, member.display, role, role in (ROLE_MANAGER, ROLE_ADMIN)
    )
    return viewer, member


def viewer_for(session: Session, settings: Settings, claims: Claims, chat_id: int) -> Viewer:
    """The viewer of team ``chat_id``: the cookie's own team, or any team chat for an admin."""
    viewer, _member = home_viewer(session, settings, claims)
    if chat_id == claims.chat_id:
        return viewer
    chat = session.get(Chat, chat_id)
    if viewer.role != ROLE_ADMIN or chat is None or not is_team_chat(chat):
        raise Denied(403, Refusal.OTHER_CHAT.value)
    return Viewer(chat_id, viewer.member_id, viewer.name, viewer.role, True)


def require_viewer() -> Viewer:
    """In a board request: the viewer of the team board in the URL (the guard set it)."""
    viewer = g.get("board_viewer")
    if not isinstance(viewer, Viewer):
        abort(401)
    chat_id = (request.view_args or {}).get("chat_id")
    if chat_id is not None and chat_id != viewer.chat_id:
        abort(403)
    return viewer


def deny(status: int, reason: str) -> ResponseReturnValue:
    """The refusal page: what happened and how to get a fresh link, in Chinese."""
    log.info("board refused (%s): %s %s", status, request.path[:200], reason)
    page = render_template("board/denied.html", reason=reason, status=status)
    return page, status


def fail(status: int, reason: str) -> NoReturn:
    """Stop the request with the refusal page."""
    abort(make_response(deny(status, reason)))


# -- the session cookie ------------------------------------------------------------------------
def open_session(settings: Settings, claims: Claims) -> ResponseReturnValue:
    """The answer to a good link: the session cookie and a redirect to the team's board."""
    response = redirect(f"/board/t/{claims.chat_id}/", 303)
    cookie = sign(settings.board.secret, claims, SESSION)
    max_age = max(0, claims.expires - int(now().timestamp()))
    secure = request.is_secure or settings.server.public_url.startswith("https://")
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=max_age,
        httponly=True,
        samesite="Lax",
        secure=secure,
        path=COOKIE_PATH,
    )
    return response
