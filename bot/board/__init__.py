"""The manager's board: a read-only web view of a team's book, opened from the chat with /看板.

The blueprint ``board`` serves everything under ``/board``: ``open`` (a link from /看板 → the
session cookie), ``company`` (bot/board/company.py), the team pages under ``/board/t/<chat_id>/``
(bot/board/pages.py) and its own static files (styles, the vendored ECharts build, charts.js).
A guard runs before every request: the board is off without a secret (404), and a team page
needs a session that may see that team (bot/board/access.py). Security headers come from
bot/websec.py, like every response of the app.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, g, redirect, request, send_file
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from bot.board.access import (
    NO_SESSION,
    OFF,
    Denied,
    Viewer,
    deny,
    home_viewer,
    member_of,
    now,
    open_session,
    session_claims,
    viewer_for,
)
from bot.config import Settings
from models.board_link import LINK, Refusal, TokenError, read
from models.chat import Chat
from models.db import read_only_sessions
from models.member import ROLE_NAMES

log = logging.getLogger(__name__)

BOT_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = BOT_DIR / "static" / "board"
NAME = "board"
blueprint = Blueprint(
    NAME, __name__, url_prefix="/board", template_folder=str(BOT_DIR / "templates")
)
OPEN_ENDPOINTS = frozenset({f"{NAME}.static_file", f"{NAME}.open_link"})
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
YEAR = 365 * 24 * 3600
MAX_ID = 2**63 - 1  # a database BIGINT: larger ids in a URL cannot exist


def _settings() -> Settings:
    from flask import current_app

    return current_app.extensions["genjin"].settings  # type: ignore[no-any-return]


@blueprint.before_request
def guard() -> ResponseReturnValue | None:
    """Off without a secret; a team page needs a session that may see that team."""
    settings = _settings()
    if request.endpoint == f"{NAME}.static_file":
        return None
    if not settings.board.secret:
        return deny(404, OFF)
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    view_args = request.view_args or {}
    if any(isinstance(v, int) and not 0 < v <= MAX_ID for v in view_args.values()):
        return deny(404, "没有这个页面，或者你无权查看")  # no such row (and no 64-bit overflow)
    chat_id = view_args.get("chat_id")
    runtime = _runtime()
    try:
        claims = session_claims(settings, now())
        with read_only_sessions(runtime.engine)() as session:
            if isinstance(chat_id, int):
                viewer = viewer_for(session, settings, claims, chat_id)
            else:
                viewer, _member = home_viewer(session, settings, claims)
            chat = session.get(Chat, viewer.chat_id)
            g.board_team = (chat.name or chat.external_id) if chat is not None else ""
    except Denied as refused:
        return deny(refused.status, refused.reason)
    g.board_viewer = viewer
    return None


def _runtime() -> Any:
    from flask import current_app

    return current_app.extensions["genjin"]


REASONS = {
    400: "请求有误",
    401: NO_SESSION,
    403: "你无权查看这个页面",
    404: "没有这个页面，或者你无权查看",
    405: "不支持这种请求",
}


@blueprint.errorhandler(HTTPException)
def refused(error: HTTPException) -> ResponseReturnValue:
    """A 4xx inside the board (abort(404) for another team's customer…): the Chinese page."""
    if error.response is not None:  # abort(response): already the page to show
        return error.response
    code = error.code or 500
    if 400 <= code < 500:
        return deny(code, REASONS.get(code, "请求有误"))
    return error


@blueprint.get("/open")
def open_link() -> ResponseReturnValue:
    """A link from /看板: check it, set the session cookie, redirect to the clean board URL."""
    settings = _settings()
    token = request.args.get("t", "")
    try:
        claims = read(settings.board.secret, token, now(), LINK)
        with read_only_sessions(_runtime().engine)() as session:
            member_of(session, claims)
    except TokenError as exc:
        reason = exc.reason
        return deny(403 if reason is not Refusal.EXPIRED else 410, reason.value)
    except Denied as refused:
        return deny(refused.status, refused.reason)
    return open_session(settings, claims)


@blueprint.get("/")
def home() -> ResponseReturnValue:
    """The viewer's own team board."""
    viewer: Viewer = g.board_viewer
    return redirect(f"/board/t/{viewer.chat_id}/", 303)


@cache
def _static_files() -> dict[str, tuple[Path, str, Path | None]]:
    """Every servable file of bot/static/board: its path, a short content hash, its .gz twin.

    The ``.gz`` twin is used only when it unpacks to exactly the file (a stale one is ignored).
    """
    files: dict[str, tuple[Path, str, Path | None]] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if not path.is_file() or path.suffix not in STATIC_TYPES:
            continue
        data = path.read_bytes()
        gz: Path | None = path.with_name(path.name + ".gz")
        if gz is not None and not (gz.is_file() and gzip.decompress(gz.read_bytes()) == data):
            gz = None
        files[path.name] = (path, hashlib.sha256(data).hexdigest()[:12], gz)
    return files


def static_url(name: str) -> str:
    """The URL of a board static file, versioned by its content so it can be cached for a year."""
    _path, digest, _gz = _static_files()[name]
    return f"/board/static/{name}?v={digest}"


@blueprint.get("/static/<name>")
def static_file(name: str) -> ResponseReturnValue:
    """A static file, gzip-compressed ahead of time when the browser accepts it; cached long."""
    found = _static_files().get(name)
    if found is None:
        return deny(404, "没有这个文件")
    path, digest, gz = found
    zipped = gz is not None and "gzip" in request.headers.get("Accept-Encoding", "").lower()
    mimetype = STATIC_TYPES[path.suffix]
    if zipped and gz is not None:
        response = send_file(gz, mimetype=mimetype, conditional=True, etag=f"{digest}-gz")
        del response.headers["Content-Disposition"]
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = send_file(path, mimetype=mimetype, conditional=True, etag=digest)
    response.headers["Vary"] = "Accept-Encoding"
    versioned = request.args.get("v") == digest
    response.headers["Cache-Control"] = (
        f"public, max-age={YEAR}, immutable" if versioned else "public, max-age=300"
    )
    return response


@blueprint.app_template_global("board_static")
def board_static(name: str) -> str:
    """Templates: ``{{ board_static('board.css') }}``."""
    return static_url(name)


@blueprint.context_processor
def board_context() -> dict[str, Any]:
    """What base.html needs: the viewer, their team's name, the nav."""
    viewer = g.get("board_viewer")
    if not isinstance(viewer, Viewer):
        return {"viewer": None, "team": "", "nav": []}
    base = f"/board/t/{viewer.chat_id}/"
    nav = [("pipeline", "管道", base), ("funnel", "漏斗与趋势", f"{base}funnel")]
    nav.append(("late", "逾期与停滞", f"{base}late"))
    if viewer.sees_all:
        nav.append(("company", "公司总览", "/board/company"))
    current = request.path
    items = [
        {"key": key, "label": label, "url": url, "active": current == url}
        for key, label, url in nav
    ]
    return {
        "viewer": viewer,
        "team": g.get("board_team", ""),
        "nav": items,
        "role_label": ROLE_NAMES.get(viewer.role, viewer.role),
    }


@blueprint.app_template_filter("money")
def money(amount: Decimal | int | None) -> str:
    """An amount as the board shows it: 12,000 or 12,000.5 (exact, never rounded); - when unknown."""
    if amount is None:
        return "-"
    value = Decimal(amount).quantize(Decimal("0.01")).normalize()
    return f"{value:,f}"


def team_chats(session: Any) -> list[Chat]:
    """Every team chat the bot serves (private desks left out), oldest first."""
    from bot.board.access import is_team_chat

    chats = session.scalars(select(Chat).order_by(Chat.id)).all()
    return [chat for chat in chats if is_team_chat(chat)]


def init_app(app: Flask) -> None:
    """Register the board (its pages and the company overview) on the app."""
    import importlib

    from bot.board import company  # noqa: F401 - registers its route

    try:
        importlib.import_module("bot.board.pages")  # the team pages register their routes
    except ModuleNotFoundError as exc:  # pragma: no cover - until the pages exist
        if exc.name != "bot.board.pages":
            raise
    app.register_blueprint(blueprint)
