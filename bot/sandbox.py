"""The local sandbox page: chat with the bot in a browser through the real pipeline (console).

The page shows cards as a platform would (buttons, forms, charts); a tap goes through the same
path as a platform's card callback (``Runtime.receive_action``), and a scheduled message can be
run now for the chat shown (the job's own builder, written to the outbox like a scheduled run).
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

from bot.adapters.console import (
    PLATFORM,
    parse_console,
    parse_console_action,
    render_data,
    render_text,
)
from bot.messages import ACTION, Button, Card, OutgoingMessage
from bot.websec import (
    SANDBOX,
    SANDBOX_COOKIE,
    has_sandbox_key,
    key_matches,
    same_origin,
    session_token,
)
from models.chat import Chat
from models.pipeline import PENDING, SENT, Inbox, Outbox

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
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")  # the page's id for one typed message or tap
MAX_CARD = 200  # a card's id: an outbox id or its platform message id (outbox.platform_message_id)
MAX_BUTTON = 64  # a button's verb, target and arg
MAX_FIELDS = 20  # values in one submitted form
FIELD_NAME = re.compile(r"[A-Za-z0-9_]{1,32}")
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
    from bot.scheduler import JOBS

    runtime = current_app.extensions["genjin"]
    return render_template(
        "sandbox.html",
        bot_name=runtime.settings.bot.name,
        max_text=MAX_TEXT,
        jobs=[(job.name, job.title) for job in JOBS],
    )


def _json_object() -> dict[str, Any] | None:
    """The request body as a JSON object, or None (not JSON, too deeply nested, not an object)."""
    try:
        data = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _user_event(row: Inbox) -> dict[str, Any]:
    """A stored line (or a tap on a card: ``tap`` true, ``text`` the button's readable line)."""
    return {
        "kind": "user",
        "id": row.id,
        "as": row.sender_id,
        "text": row.payload.get("text", ""),
        "tap": row.payload.get("kind") == ACTION,
        "at": row.received_at.isoformat(timespec="microseconds"),
    }


def _bot_event(row: Outbox) -> dict[str, Any]:
    """A sent message: its text as the console shows it, and the same as structured data.

    ``message_id`` is the id a tap names the card by; an event with ``update_of`` replaces
    that card in the page instead of adding a message.
    """
    message = OutgoingMessage.from_payload(row.payload)
    data = render_data(message)
    return {
        "kind": "bot",
        "id": row.id,
        "text": render_text(message),
        "body": data["text"],
        "card": data["card"],
        "update_of": data["update_of"],
        "toast": data["toast"],
        "toast_kind": data["toast_kind"],
        "message_id": row.platform_message_id,
        "reply_to": row.reply_to,
        "at": (row.sent_at or row.created_at).isoformat(timespec="microseconds"),
        "job": row.job,
    }


def _names(data: dict[str, Any], texts: tuple[str, ...]) -> tuple[str, str] | str:
    """The request's chat and speaker (``as``), or the reason they are unusable.

    ``texts``: the fields that must be text when present (chat and as among them).
    """
    fields = {key: data.get(key, "") for key in texts}
    if not all(isinstance(value, str) for value in fields.values()):
        return "、".join(texts) + " 必须是文字"
    chat = fields["chat"].strip()[:MAX_CHAT]
    sender = fields["as"].strip()[:MAX_SENDER]
    if not chat:
        return "请先填写“群”"
    if not sender:
        return "请先填写“我是”：以哪位同事的身份发言"
    return chat, sender


def _client_id(data: dict[str, Any]) -> str | None:
    """The page's id of the request (None when it sent none); raises ValueError when malformed."""
    client_id = data.get("id")
    if client_id is not None and not (
        isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id)
    ):
        raise ValueError(client_id)
    return client_id


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
    names = _names(data, ("chat", "as", "text"))
    if isinstance(names, str):
        return _error(names, 400)
    chat, sender = names
    text = data.get("text", "")
    if not text.strip():
        return _error("消息是空的", 400)
    if len(text) > MAX_TEXT:
        return _error(f"消息太长：最多 {MAX_TEXT} 字，这条有 {len(text)} 字", 413)
    try:
        client_id = _client_id(data)
    except ValueError:
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


def _find_button(card: Card, verb: str, target: str, arg: str) -> Button | None:
    """The button of ``card`` with this verb, target and arg (a page can only tap those)."""
    for section in card.sections:
        for button in section.buttons:
            if (button.action, button.target, button.arg) == (verb, target, arg):
                return button
    return None


def _form_values(data: dict[str, Any], button: Button) -> dict[str, str] | tuple[str, int]:
    """The submitted form values, checked against the button's form; or (reason, status)."""
    form = data.get("form") or {}
    if not isinstance(form, dict) or len(form) > MAX_FIELDS:
        return f"form 必须是不超过 {MAX_FIELDS} 项的 {{名称: 文字}}", 400
    if form and button.form is None:
        return f"“{button.label}”没有表单", 400
    names = {field.name for field in button.form.fields} if button.form else set()
    values: dict[str, str] = {}
    for name, value in form.items():
        if not FIELD_NAME.fullmatch(name) or name not in names:
            return f"表单里没有“{name[:32]}”这一项", 400
        if not isinstance(value, str):
            return f"表单的“{name}”必须是文字", 400
        if len(value) > MAX_TEXT:
            return f"“{name}”太长：最多 {MAX_TEXT} 字，这里有 {len(value)} 字", 413
        values[name] = value
    return values


def _card_row(session: Any, chat: str, card: str) -> Outbox | None:
    """The sent card a tap names: by outbox id (digits) or platform message id, in this chat."""
    query = select(Outbox).where(
        Outbox.platform == PLATFORM, Outbox.chat_external_id == chat, Outbox.status == SENT
    )
    if card.isdigit() and len(card) <= 19 and int(card) <= MAX_CURSOR:
        query = query.where(Outbox.id == int(card))
    else:
        query = query.where(Outbox.platform_message_id == card)
    row: Outbox | None = session.scalars(query.order_by(Outbox.id).limit(1)).first()
    return row


@blueprint.post("/sandbox/api/action")
def action() -> Any:
    """A tap on a card button (or a submitted form), handled as a platform's card callback.

    Body: ``{chat, as, id, card, verb, target, arg, form}``. The tap is the IncomingMessage of
    kind ACTION a platform adapter would give (the operator is "as"), stored and answered through
    ``Runtime.receive_action``. Answers the tap as a user event, the replies already sent (the
    updated card and its toast), and ``pending`` while they are still on their way (the page then
    sees them in /sandbox/api/messages). A repeated ``id`` is stored once: the same answer again.
    """
    runtime = current_app.extensions["genjin"]
    data = _json_object()
    if data is None:
        return _error("请求必须是 JSON 对象 {chat, as, id, card, verb, target, arg, form}", 400)
    texts = ("chat", "as", "card", "verb", "target", "arg")
    names = _names(data, texts)
    if isinstance(names, str):
        return _error(names, 400)
    chat, sender = names
    card, verb = data.get("card", "").strip(), data.get("verb", "")
    target, arg = data.get("target", ""), data.get("arg", "")
    if not card or len(card) > MAX_CARD:
        return _error(f"card 必须是卡片的编号（最多 {MAX_CARD} 个字符）", 400)
    if not verb or max(len(verb), len(target), len(arg)) > MAX_BUTTON:
        return _error(f"verb 不能为空，verb、target、arg 最多 {MAX_BUTTON} 个字符", 400)
    try:
        client_id = _client_id(data)
    except ValueError:
        return _error("id 必须是 8 到 64 个字母、数字、- 或 _", 400)
    with runtime.sessions() as session:
        row = _card_row(session, chat, card)
        if row is None:
            return _error("这个群里没有这张卡片：请刷新页面再试", 404)
        shown = OutgoingMessage.from_payload(row.payload).card
        card_id = row.platform_message_id or str(row.id)
    button = _find_button(shown, verb, target, arg) if shown is not None else None
    if button is None:
        return _error("这张卡片上没有这个按钮：请刷新页面再试", 400)
    values = _form_values(data, button)
    if isinstance(values, tuple):
        return _error(*values)
    message_id = f"sandbox-tap-{client_id or uuid.uuid4().hex}"
    with runtime.sessions() as session:
        known = session.scalar(
            select(Inbox.id).where(Inbox.platform == PLATFORM, Inbox.message_id == message_id)
        )
    if known is None:  # a repeated id changes nothing: no second store, no second wait
        tap = parse_console_action(chat, sender, message_id, card_id, button, values)
        runtime.receive_action(tap)
    with runtime.sessions() as session:
        stored = session.scalars(
            select(Inbox).where(Inbox.platform == PLATFORM, Inbox.message_id == message_id)
        ).one()
        if (stored.chat_external_id, stored.sender_id) != (chat, sender):
            return _error("这个 id 已经用过了", 409)
        replies = session.scalars(
            select(Outbox).where(Outbox.inbox_id == stored.id).order_by(Outbox.id)
        ).all()
        pending = stored.status == PENDING or any(r.status == PENDING for r in replies)
        answer = {
            "inbox_id": stored.id,
            "event": _user_event(stored),
            "replies": [_bot_event(r) for r in replies if r.status == SENT],
            "pending": pending,
            "duplicate": known is not None,
        }
    return jsonify(answer)


@blueprint.post("/sandbox/api/run")
def run() -> Any:
    """Run a scheduled message for the chat shown now, whatever the time (sandbox only).

    Body: ``{chat, job}``. The job's own builder reads the chat's book with the chat's settings
    and the runtime's clock, and its messages go to the outbox as a scheduled run's do (the same
    ``job`` name, delivered by the sender); unlike a scheduled run it claims no period, so the
    real run at its time still happens. Answers how many messages it posted.
    """
    from bot.outbox import enqueue
    from bot.scheduler import JOBS, JOBS_BY_NAME
    from handlers.jobs.base import job_context

    runtime = current_app.extensions["genjin"]
    data = _json_object()
    if data is None:
        return _error("请求必须是 JSON 对象 {chat, job}", 400)
    chat_name, name = data.get("chat", ""), data.get("job", "")
    if not isinstance(chat_name, str) or not isinstance(name, str):
        return _error("chat、job 必须是文字", 400)
    chat_name = chat_name.strip()[:MAX_CHAT]
    if not chat_name:
        return _error("请先填写“群”", 400)
    spec = JOBS_BY_NAME.get(name)
    if spec is None:
        known = "、".join(f"{job.name}（{job.title}）" for job in JOBS)
        return _error(f"没有这个定时消息：{name[:32]}；可选：{known}", 400)
    now = runtime.clock()
    with runtime.sessions() as session, session.begin():
        chat = session.scalars(
            select(Chat).where(Chat.platform == PLATFORM, Chat.external_id == chat_name)
        ).first()
        if chat is None:
            return _error("这个群还没有人说过话：先发一条消息（例如 /帮助）再试", 404)
        ctx = job_context(session, chat, now, runtime.settings, job=spec.name)
        if spec.name in ctx.config.disabled:
            return _error(f"本群关闭了“{spec.title}”：发送 /设置 开启 {spec.title} 后再试", 409)
        rows = enqueue(
            session,
            chat.platform,
            chat.external_id,
            spec.build(ctx),
            key_base=f"sandbox-run:{spec.name}:{chat.platform}:{chat.external_id}:{uuid.uuid4()}",
            now=now,
            job=spec.name,
        )
        posted = len(rows)
    log.info("sandbox: ran %s for chat %s now: %s message(s)", spec.name, chat_name, posted)
    runtime.wake()
    return jsonify({"job": spec.name, "title": spec.title, "posted": posted})
