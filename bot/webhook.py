"""/webhook/<platform>: adapter.parse_request → inbox → 200. The glue stays tiny.

A tap on a card (kind ACTION) waits briefly for its answer (``Runtime.receive_action``), which
``adapter.action_response`` turns into the HTTP answer (a toast and the updated card).

Which platforms answer here is the runtime's adapters (built from bot.adapters.PLATFORMS); an
adapter without a webhook returns None and the route answers 404, as for an unknown name.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError

from bot.messages import ACTION

log = logging.getLogger(__name__)
blueprint = Blueprint("webhook", __name__)


@blueprint.route("/webhook/<platform>", methods=["GET", "POST"])
def webhook(platform: str) -> ResponseReturnValue:
    """Store what the platform sent, then acknowledge; 503 (platform retries) if the DB is down."""
    runtime = current_app.extensions["genjin"]
    adapter = runtime.adapters.get(platform)
    answer = adapter.parse_request(request) if adapter is not None else None
    if answer is None:
        log.info("webhook refused (404): no platform %r configured", platform[:40])
        return jsonify({"error": "unknown platform"}), 404
    messages, response = answer
    try:
        for message in messages:
            if message.kind != ACTION:
                runtime.receive(message)
                continue
            tapped = adapter.action_response(message, runtime.receive_action(message))
            if tapped is not None:
                response = tapped
    except OperationalError:
        return jsonify({"error": "database unavailable"}), 503
    return response
