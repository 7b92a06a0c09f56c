"""The Flask app factory: health check, sandbox page, webhook seam. The glue stays tiny."""

from __future__ import annotations

from flask import Flask, jsonify

from bot.config import Settings, load_settings
from bot.runtime import Runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the web app; tests pass their own settings/runtime, never monkeypatch globals."""
    settings = settings or (runtime.settings if runtime else load_settings())
    if runtime is None:
        runtime = Runtime(settings)
        runtime.migrate()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.server.max_body_bytes
    app.extensions["genjin"] = runtime

    @app.get("/healthz")
    def healthz():  # noqa: ANN202 - Flask view
        """200 with the database status and backlog; 503 when the database is unreachable."""
        health = runtime.health()
        return jsonify(health), (200 if health["status"] == "ok" else 503)

    @app.get("/metrics")
    def metrics():  # noqa: ANN202 - Flask view
        """The health figures in Prometheus text format."""
        health = runtime.health()
        lines = [
            "# HELP genjin_up 1 when the database answers.",
            "# TYPE genjin_up gauge",
            f"genjin_up {1 if health.get('database') == 'ok' else 0}",
        ]
        for key in ("inbox_pending", "outbox_pending", "outbox_failed"):
            if key in health:
                lines += [f"# TYPE genjin_{key} gauge", f"genjin_{key} {health[key]}"]
        return "\n".join(lines) + "\n", 200, {"Content-Type": "text/plain; version=0.0.4"}

    from bot.webhook import blueprint as webhook_blueprint

    app.register_blueprint(webhook_blueprint)
    if settings.sandbox_enabled():
        from bot.sandbox import blueprint as sandbox_blueprint

        app.register_blueprint(sandbox_blueprint)
    return app
