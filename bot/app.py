"""The Flask app factory: health check, sandbox page, webhook seam. The glue stays tiny."""

from __future__ import annotations

from flask import Flask, jsonify, request

from bot import websec
from bot.config import Settings, load_settings
from bot.health import refusal as health_refusal
from bot.health import render_metrics
from bot.runtime import Runtime


def create_app(
    settings: Settings | None = None, runtime: Runtime | None = None, board_secret: bool = True
) -> Flask:
    """Build the web app; tests pass their own settings/runtime, never monkeypatch globals.

    ``board_secret``: generate board.secret (SQLite) now when there is none; `genjin serve`
    does it only once its port is bound, so a taken port stays its one error line.
    """
    settings = settings or (runtime.settings if runtime else load_settings())
    if runtime is None:
        runtime = Runtime(settings)
        runtime.migrate()
    app = Flask(__name__, static_folder=None)  # the sandbox blueprint serves its own files
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_body_bytes
    app.extensions["genjin"] = runtime
    websec.init_app(app, settings)  # Host check, security headers, one log line per 4xx

    @app.get("/healthz")
    def healthz():  # noqa: ANN202 - Flask view
        """200 with the database status and backlog; 503 with reasons when stuck or unreachable."""
        refused = health_refusal(
            settings.server, request.remote_addr, request.headers.get("Authorization")
        )
        if refused is not None:
            return jsonify({"error": refused.error}), refused.status, refused.headers
        health = runtime.health()
        return jsonify(health), (200 if health["status"] == "ok" else 503)

    @app.get("/metrics")
    def metrics():  # noqa: ANN202 - Flask view
        """The health figures in Prometheus text format."""
        refused = health_refusal(
            settings.server, request.remote_addr, request.headers.get("Authorization")
        )
        if refused is not None:
            return jsonify({"error": refused.error}), refused.status, refused.headers
        body = render_metrics(runtime.health())
        return body, 200, {"Content-Type": "text/plain; version=0.0.4"}

    from bot.webhook import blueprint as webhook_blueprint

    app.register_blueprint(webhook_blueprint)
    from bot.board import init_app as init_board
    from bot.board.access import load_secret

    load_secret(settings, runtime.engine, create=board_secret)  # [board] secret, or board.secret
    init_board(app)
    if settings.sandbox_enabled():
        from bot.sandbox import blueprint as sandbox_blueprint

        app.register_blueprint(sandbox_blueprint)
    return app
