"""The local sandbox page: chat with the bot in a browser through the real pipeline (console).

Off a loopback bind it runs only when switched on, and then every page and API call needs
``server.sandbox_key`` (a login form sets a cookie; scripts may send the X-Sandbox-Key header).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
)
from sqlalchemy import select

from bot.adapters.console import PLATFORM, parse_console, render_text
from bot.messages import OutgoingMessage
from bot.websec import (
    SANDBOX,
    SANDBOX_COOKIE,
    has_sandbox_key,
    key_matches,
    same_origin,
    session_token,
)
from models.pipeline import SENT, Inbox, Outbox

log = logging.getLogger(__name__)

blueprint = Blueprint(
    SANDBOX,
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/sandbox/static",
)
MAX_TEXT = 2000
MAX_CHAT = 64
MAX_SENDER = 32
PAGE = 200  # events of each kind per poll
MAX_CURSOR = 2**63 - 1  # a database BIGINT: larger ids cannot exist
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")  # the page's id for one typed message
OPEN_ENDPOINTS = frozenset({f"{SANDBOX}.static", f"{SANDBOX}.login"})


def _error(message: str, status: int) -> tuple[Response, int]:
    """A refused API call: the reason in Chinese for the page, and one log line."""
    log.info("sandbox refused (%s): %s %s", status, request.path, message)
    return jsonify({"error": message}), status


@blueprint.before_request
def guard() -> Any:
    """Cross-site POSTs are refused; with a key configured, every call must carry it."""
    if request.method == "POST" and not same_origin(request):
        return _error("跨站请求被拒绝", 403)
    key = current_app.extensions["genjin"].settings.server.sandbox_key
    if not key or request.endpoint in OPEN_ENDPOINTS or has_sandbox_key(request, key):
        return None
    if request.endpoint == f"{SANDBOX}.page":
        return _login_page(401)
    return _error("需要访问密钥：请刷新页面并输入密钥", 401)


def _login_page(status: int, wrong: bool = False) -> tuple[str, int]:
    runtime = current_app.extensions["genjin"]
    page = render_template("sandbox_login.html", bot_name=runtime.settings.bot.name, wrong=wrong)
    return page, status


@blueprint.post("/sandbox/login")
def login() -> Any:
    """Check the typed key; right → a session cookie (HttpOnly, SameSite=Strict) and the page."""
    key = current_app.extensions["genjin"].settings.server.sandbox_key
    if not key:
        return redirect("/", 303)
    given = request.form.get("key", "")
    if not key_matches(given, key):
        log.warning("sandbox login refused (403): wrong key from %s", request.remote_addr)
        return _login_page(403, wrong=True)
    response = redirect("/", 303)
    response.set_cookie(
        SANDBOX_COOKIE,
        session_token(key),
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/",
    )
    return response


@blueprint.get("/")
def page() -> Any:
    """The chat page."""
    runtime = current_app.extensions["genjin"]
    return render_template("sandbox.html", bot_name=runtime.settings.bot.name, max_text=MAX_TEXT)


def _json_object() -> dict[str, Any] | None:
    """The request body as a JSON object, or None (not JSON, too deeply nested, not an object)."""
    try:
        data = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _user_event(row: Inbox) -> dict[str, Any]:
    return {
        "kind": "user",
        "id": row.id,
        "as": row.sender_id,
        "text": row.payload.get("text", ""),
        "at": row.received_at.isoformat(timespec="microseconds"),
    }


def _bot_event(row: Outbox) -> dict[str, Any]:
    return {
        "kind": "bot",
        "id": row.id,
        "text": render_text(OutgoingMessage.from_payload(row.payload)),
        "at": (row.sent_at or row.created_at).isoformat(timespec="microseconds"),
        "job": row.job,
    }


@blueprint.post("/sandbox/api/send")
def send() -> Any:
    """Store a typed line in the inbox (like a platform webhook would) and wake the workers.

    Answers with the stored message (its id), so the page keeps the text until this arrives. The
    page sends its own ``id`` for each typed message, so a retry after a lost answer is stored once.
    """
    runtime = current_app.extensions["genjin"]
    data = _json_object()
    if data is None:
        return _error("请求必须是 JSON 对象 {chat, as, text}", 400)
    fields = {key: data.get(key, "") for key in ("chat", "as", "text")}
    if not all(isinstance(value, str) for value in fields.values()):
        return _error("chat、as、text 必须是文字", 400)
    chat = fields["chat"].strip()[:MAX_CHAT]
    sender = fields["as"].strip()[:MAX_SENDER]
    text = fields["text"]
    if not chat:
        return _error("请先填写“群”", 400)
    if not sender:
        return _error("请先填写“我是”：以哪位同事的身份发言", 400)
    if not text.strip():
        return _error("消息是空的", 400)
    if len(text) > MAX_TEXT:
        return _error(f"消息太长：最多 {MAX_TEXT} 字，这条有 {len(text)} 字", 413)
    client_id = data.get("id")
    if client_id is not None and not (
        isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id)
    ):
        return _error("id 必须是 8 到 64 个字母、数字、- 或 _", 400)
    message_id = f"sandbox-{client_id or uuid.uuid4().hex}"
    message = parse_console(chat, sender, text, message_id, bot_name=runtime.settings.bot.name)
    inbox_id = runtime.receive(message)
    with runtime.sessions() as session:
        row = session.scalars(
            select(Inbox).where(Inbox.platform == PLATFORM, Inbox.message_id == message_id)
        ).one()
        if (row.chat_external_id, row.sender_id) != (chat, sender):
            return _error("这个 id 已经用过了", 409)
        event = _user_event(row)
    # A repeated id (the page retrying after a lost answer) is stored once: the same answer again.
    return jsonify({"inbox_id": row.id, "event": event, "duplicate": inbox_id is None})


def _cursor(name: str) -> int | None:
    """A non-negative id from the query string (0 when absent), None when it is not one."""
    value = request.args.get(name, "0")
    if not value.isdigit() or len(value) > 19 or int(value) > MAX_CURSOR:
        return None
    return int(value)


@blueprint.get("/sandbox/api/messages")
def messages() -> Any:
    """The chat's transcript after the given cursors: what people typed and what the bot sent.

    Answers the events in order plus the cursors to ask with next; ``more`` when a page is full.
    """
    runtime = current_app.extensions["genjin"]
    chat = request.args.get("chat", "").strip()[:MAX_CHAT]
    in_after, out_after = _cursor("in_after"), _cursor("out_after")
    if in_after is None or out_after is None:
        return _error("in_after 和 out_after 必须是非负整数", 400)
    with runtime.sessions() as session:
        typed = session.scalars(
            select(Inbox)
            .where(Inbox.platform == PLATFORM, Inbox.chat_external_id == chat, Inbox.id > in_after)
            .order_by(Inbox.id)
            .limit(PAGE)
        ).all()
        sent = session.scalars(
            select(Outbox)
            .where(
                Outbox.platform == PLATFORM,
                Outbox.chat_external_id == chat,
                Outbox.status == SENT,
                Outbox.id > out_after,
            )
            .order_by(Outbox.id)
            .limit(PAGE)
        ).all()
        events = [_user_event(row) for row in typed] + [_bot_event(row) for row in sent]
    events.sort(key=lambda e: (e["at"], e["kind"] == "bot", e["id"]))
    return jsonify(
        {
            "events": events,
            "in_after": max((row.id for row in typed), default=in_after),
            "out_after": max((row.id for row in sent), default=out_after),
            "more": len(typed) == PAGE or len(sent) == PAGE,
        }
    )
