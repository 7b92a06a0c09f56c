"""The local sandbox page: chat with the bot in a browser through the real pipeline (console)."""

from __future__ import annotations

import uuid

from flask import Blueprint, current_app, jsonify, render_template, request
from sqlalchemy import select

from bot.adapters.console import PLATFORM, parse_console, render_text
from bot.messages import OutgoingMessage
from models.pipeline import SENT, Inbox, Outbox

blueprint = Blueprint("sandbox", __name__, template_folder="templates")
MAX_TEXT = 2000


@blueprint.get("/")
def page():  # noqa: ANN201 - Flask view
    """The chat page."""
    runtime = current_app.extensions["genjin"]
    return render_template("sandbox.html", bot_name=runtime.settings.bot.name)


@blueprint.post("/sandbox/api/send")
def send():  # noqa: ANN201 - Flask view
    """Store a typed line in the inbox (like a platform webhook would) and wake the workers."""
    runtime = current_app.extensions["genjin"]
    data = request.get_json(silent=True) or {}
    chat = str(data.get("chat", "")).strip()[:64]
    sender = str(data.get("as", "")).strip()[:32]
    text = str(data.get("text", ""))
    if not chat or not sender or not text.strip():
        return jsonify({"error": "chat, as and text are required"}), 400
    if len(text) > MAX_TEXT:
        return jsonify({"error": f"text longer than {MAX_TEXT} characters"}), 413
    message = parse_console(
        chat, sender, text, f"sandbox-{uuid.uuid4().hex}", bot_name=runtime.settings.bot.name
    )
    inbox_id = runtime.receive(message)
    return jsonify({"inbox_id": inbox_id})


@blueprint.get("/sandbox/api/messages")
def messages():  # noqa: ANN201 - Flask view
    """The chat's transcript after the given cursors: what people typed and what the bot sent."""
    runtime = current_app.extensions["genjin"]
    chat = request.args.get("chat", "")
    in_after = request.args.get("in_after", 0, type=int)
    out_after = request.args.get("out_after", 0, type=int)
    with runtime.sessions() as session:
        typed = session.scalars(
            select(Inbox)
            .where(Inbox.platform == PLATFORM, Inbox.chat_external_id == chat, Inbox.id > in_after)
            .order_by(Inbox.id)
            .limit(200)
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
            .limit(200)
        ).all()
        events = [
            {
                "kind": "user",
                "id": row.id,
                "as": row.sender_id,
                "text": row.payload.get("text", ""),
                "at": row.received_at.isoformat(),
            }
            for row in typed
        ] + [
            {
                "kind": "bot",
                "id": row.id,
                "text": render_text(OutgoingMessage.from_payload(row.payload)),
                "at": (row.sent_at or row.created_at).isoformat(),
                "job": row.job,
            }
            for row in sent
        ]
    events.sort(key=lambda e: (e["at"], e["kind"] == "bot"))
    return jsonify({"events": events})
