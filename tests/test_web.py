"""The web app: health check, sandbox page and API, webhook seam, body limit; and a real server."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from bot.app import create_app
from models import Inbox
from tests.support.serving import genjin_serve, get_json


@pytest.fixture
def client(runtime):
    app = create_app(runtime.settings, runtime)
    return app.test_client()


def test_healthz_reports_database_and_backlog(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["inbox_pending"] == 0 and body["outbox_failed"] == 0


def test_healthz_is_503_when_the_database_is_unreachable(settings, clock):
    from bot.runtime import Runtime
    from models.db import make_engine

    broken = Runtime(settings, engine=make_engine("sqlite:////nonexistent-dir/x/y.db"), clock=clock)
    app = create_app(settings, broken)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_sandbox_page_is_served_when_no_platform_is_configured(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "跟进助手 · 本地试用" in page
    assert "<script>" not in page  # no inline script: the CSP forbids it
    script = client.get("/sandbox/static/sandbox.js")
    assert script.status_code == 200
    assert "bubble.textContent = e.text" in script.get_data(as_text=True)  # never as HTML


def test_sandbox_round_trip_through_the_pipeline(client, runtime):
    sent = client.post(
        "/sandbox/api/send",
        json={"chat": "销售一组", "as": "张三", "text": "/跟进 客户A 报价已发 明天回访"},
    )
    assert sent.status_code == 200 and sent.get_json()["inbox_id"] == 1
    runtime.drain()
    events = client.get("/sandbox/api/messages?chat=销售一组").get_json()["events"]
    assert [e["kind"] for e in events] == ["user", "bot"]
    assert events[0]["text"] == "/跟进 客户A 报价已发 明天回访"
    assert events[1]["text"].endswith("✅ 客户A｜跟进中 → 已报价｜下次跟进 11月28日(周六)")
    after = client.get(
        f"/sandbox/api/messages?chat=销售一组&in_after={events[0]['id']}&out_after={events[1]['id']}"
    )
    assert after.get_json()["events"] == []
    other = client.get("/sandbox/api/messages?chat=销售二组").get_json()["events"]
    assert other == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"chat": "a", "as": "b"},
        {"chat": "", "as": "b", "text": "x"},
        {"chat": "a", "as": "b", "text": "  "},
    ],
)
def test_sandbox_rejects_incomplete_messages_and_stores_nothing(client, runtime, body):
    assert client.post("/sandbox/api/send", json=body).status_code == 400
    assert client.post("/sandbox/api/send", data="not json").status_code == 400
    with runtime.sessions() as session:
        assert session.query(Inbox).count() == 0


def test_request_bodies_over_the_limit_are_refused(runtime):
    runtime.settings.server.max_body_bytes = 1000
    app = create_app(runtime.settings, runtime)
    response = app.test_client().post(
        "/sandbox/api/send", json={"chat": "a", "as": "b", "text": "x" * 5000}
    )
    assert response.status_code == 413


def test_sandbox_is_off_when_configured_off(runtime):
    runtime.settings.server.sandbox = "off"
    app = create_app(runtime.settings, runtime)
    assert app.test_client().get("/").status_code == 404
    assert app.test_client().get("/healthz").status_code == 200


def test_unknown_webhook_platform_is_404(client):
    assert client.post("/webhook/nope", data=b"{}").status_code == 404


@pytest.mark.slow
def test_genjin_serve_answers_on_a_real_port(tmp_path: Path):
    """What `make run` starts: health, sandbox page, and a reply produced by the worker threads."""
    with genjin_serve(
        tmp_path, {"GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    ) as served:
        base = served.base
        health = get_json(f"{base}/healthz")
        assert health["status"] == "ok" and health["database"] == "ok"
        with urllib.request.urlopen(f"{base}/", timeout=5) as page:
            assert "本地试用" in page.read().decode()
        request = urllib.request.Request(
            f"{base}/sandbox/api/send",
            data=json.dumps(
                {"chat": "销售一组", "as": "张三", "text": "/跟进 客户A 报价已发 明天回访"}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).read()
        deadline = time.monotonic() + 10
        bot = []
        while time.monotonic() < deadline and not bot:
            data = get_json(
                f"{base}/sandbox/api/messages?chat=%E9%94%80%E5%94%AE%E4%B8%80%E7%BB%84"
            )
            bot = [e for e in data["events"] if e["kind"] == "bot"]
            time.sleep(0.1)
        assert bot and "✅ 客户A｜跟进中 → 已报价" in bot[0]["text"]
    assert f"{base}/" in served.output()
