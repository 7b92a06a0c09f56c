"""/webhook/<platform>: adapter.parse → inbox → 200. Platform adapters plug in here."""

from __future__ import annotations

import logging
from typing import Protocol

from flask import Blueprint, Request, Response, current_app, jsonify, request
from sqlalchemy.exc import OperationalError

from bot.messages import IncomingMessage

log = logging.getLogger(__name__)
blueprint = Blueprint("webhook", __name__)


class WebhookParser(Protocol):
    """What a platform adapter offers the webhook: verify + decrypt + normalise.

    Returns the messages to store and the HTTP response the platform expects; raises nothing
    (a forged request is answered with a 401/403 response and no messages).
    """

    def parse_request(self, req: Request) -> tuple[list[IncomingMessage], Response]:
        """Verify and normalise one webhook request."""
        ...


@blueprint.route("/webhook/<platform>", methods=["GET", "POST"])
def webhook(platform: str):  # noqa: ANN201 - Flask view
    """Store what the platform sent, then acknowledge; 503 (platform retries) if the DB is down."""
    runtime = current_app.extensions["genjin"]
    parser = runtime.webhooks.get(platform)
    if parser is None:
        log.info("webhook refused (404): no platform %r configured", platform[:40])
        return jsonify({"error": "unknown platform"}), 404
    messages, response = parser.parse_request(request)
    try:
        for message in messages:
            runtime.receive(message)
    except OperationalError:
        return jsonify({"error": "database unavailable"}), 503
    return response
