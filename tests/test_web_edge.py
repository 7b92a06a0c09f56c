"""The web server at its edges: slow clients, public binds, Host names, headers, odd sandbox input.

The server tests run a real `genjin serve` (tests/support/serving.py) on loopback; the rest use the app.
"""

from __future__ import annotations

import http.client
import json
import logging
import resource
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bot.adapters.wecom_crypto import WecomCrypto, sign
from bot.app import create_app
from bot.cli import main as cli_main
from bot.config import ConfigError, load_settings
from bot.server import DeadlineServer, web_server
from bot.websec import SANDBOX_COOKIE, host_name, session_token
from models import Inbox
from tests.support.fake_wecom import FakeWecom
from tests.support.serving import genjin_serve, get_json
from tests.support.slowloris import Slowloris, raise_open_files, wait_until

SLOW = 500
KEY = "sandbox-key-0123456789"


def _inbox_count(runtime) -> int:
    with runtime.sessions() as session:
        return session.query(Inbox).count()


# -- 1. slow clients against the real server -----------------------------------------------------
WC_TOKEN = "slowT0ken"
WC_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WC_CHAT = "wrkSLOW"


def _signed_callback(base: str, fake: FakeWecom, n: int) -> urllib.request.Request:
    body = {
        "msgid": f"slow-{n}",
        "chatid": WC_CHAT,
        "chattype": "group",
        "from": {"userid": "zhangsan"},
        "response_url": fake.response_url(f"slow{n}"),
        "msgtype": "text",
        "text": {"content": f"@跟进助手 /跟进 客户{n} 电话沟通"},
    }
    enc = WecomCrypto(WC_TOKEN, WC_KEY, "").encrypt(json.dumps(body, ensure_ascii=False))
    ts, nonce = str(int(time.time())), f"n{n}"
    query = urllib.parse.urlencode(
        {"msg_signature": sign(WC_TOKEN, ts, nonce, enc), "timestamp": ts, "nonce": nonce}
    )
    return urllib.request.Request(
        f"{base}/webhook/wecom?{query}",
        data=json.dumps({"encrypt": enc}).encode(),
        headers={"Content-Type": "application/json"},
    )


@pytest.mark.slow
def test_a_slowloris_of_500_connections_does_not_stop_healthz_or_a_webhook(tmp_path: Path):
    if raise_open_files(SLOW + 512) < SLOW + 512:
        pytest.skip(f"needs {SLOW + 512} open files (ulimit -Hn)")
    fake = FakeWecom(keys={"hook-slow"}).start()
    (tmp_path / "config.toml").write_text(
        f'[wecom.chats."{WC_CHAT}"]\nwebhook_key = "hook-slow"\n', encoding="utf-8"
    )
    env = {
        "GENJIN_CONFIG": str(tmp_path / "config.toml"),
        "GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/slow.db",
        "GENJIN_WECOM_TOKEN": WC_TOKEN,
        "GENJIN_WECOM_ENCODING_AES_KEY": WC_KEY,
        "GENJIN_WECOM_DOMAIN": fake.url,
    }
    try:
        with genjin_serve(tmp_path, env) as served:
            port = int(served.base.rsplit(":", 1)[1])
            with Slowloris(port, SLOW, interval=10.0) as attack:
                assert wait_until(lambda: attack.open() == SLOW, 10), attack.open()
                for _ in range(3):
                    assert get_json(f"{served.base}/healthz", timeout=5)["status"] == "ok"
                for n in range(3):
                    with urllib.request.urlopen(_signed_callback(served.base, fake, n), timeout=5):
                        pass  # urlopen raises on anything but 2xx
                assert attack.open() == SLOW  # the attack held on while we were answered
            assert wait_until(lambda: len(fake.responses()) == 3, 15)
    finally:
        fake.stop()


@pytest.mark.slow
def test_a_request_trickling_its_headers_is_closed_after_the_deadline(tmp_path: Path):
    """One header line every 0.3 s is never idle; the 2 s request deadline still closes it."""
    env = {
        "GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/deadline.db",
        "GENJIN_SERVER_CHANNEL_TIMEOUT_SECONDS": "2",
    }
    with genjin_serve(tmp_path, env) as served:
        port = int(served.base.rsplit(":", 1)[1])
        with Slowloris(port, 5, interval=0.3) as attack:
            assert attack.open() == 5
            began = time.monotonic()
            assert wait_until(lambda: attack.open() == 0, 15), attack.open()
            assert time.monotonic() - began < 8
        # An honest keep-alive client that pauses between complete requests is not cut off.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            for _ in range(2):
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                assert response.status == 200
                time.sleep(1.0)
        finally:
            conn.close()
    assert "whose request did not arrive within 2 s" in served.output()


def test_web_server_is_sized_for_many_connections(runtime):
    runtime.settings.server.port = 0
    runtime.settings.server.connection_limit = 321
    runtime.settings.server.channel_timeout_seconds = 7
    server = web_server(create_app(runtime.settings, runtime), runtime.settings)
    try:
        assert isinstance(server, DeadlineServer)
        assert server.adj.connection_limit == 321
        assert server.adj.channel_timeout == 7
        assert server.adj.asyncore_use_poll  # select() cannot watch descriptors above 1024
    finally:
        server.close()


FD_PROBE = """
import logging, resource, sys
hard = int(sys.argv[2]) if sys.argv[2] != "keep" else resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
logging.basicConfig(level=logging.WARNING)
from bot.config import Settings
from bot.server import web_server
settings = Settings()
settings.server.port = 0
server = web_server(lambda environ, start: [], settings)
print(server.adj.connection_limit, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


@pytest.mark.parametrize(
    ("soft", "hard", "limit", "files", "warned"),
    [(300, "keep", 1000, 1256, False), (300, "300", 44, 300, True)],
    ids=["raised", "too-low"],
)
@pytest.mark.slow
def test_the_open_files_limit_is_raised_or_the_connection_limit_fits_it(
    soft, hard, limit, files, warned
):
    if hard == "keep" and resource.getrlimit(resource.RLIMIT_NOFILE)[1] < files:
        pytest.skip(f"the hard open-files limit is below {files}")
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", FD_PROBE, str(soft), str(hard)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=60,
    )
    assert result.stdout.split() == [str(limit), str(files)], result.stderr[-2000:]
    message = "server.connection_limit 1000 is more than the open-files limit 300 allows; using 44"
    assert (message in result.stderr) is warned


# -- 2. the sandbox on a public bind --------------------------------------------------------------
def test_sandbox_stays_off_by_default_on_a_public_bind(runtime):
    runtime.settings.server.host = "0.0.0.0"
    assert not runtime.settings.sandbox_enabled()
    client = create_app(runtime.settings, runtime).test_client()
    assert client.get("/").status_code == 404
    body = {"chat": "a", "as": "b", "text": "x"}
    assert client.post("/sandbox/api/send", json=body).status_code == 404
    assert _inbox_count(runtime) == 0


def test_sandbox_on_a_public_bind_needs_a_key(tmp_path: Path):
    env = {"GENJIN_SERVER_HOST": "0.0.0.0", "GENJIN_SERVER_SANDBOX": "on"}
    with pytest.raises(ConfigError, match="server.sandbox_key"):
        load_settings(env=env)
    with pytest.raises(ConfigError, match="server.sandbox_key must be at least 16"):
        load_settings(env={**env, "GENJIN_SERVER_SANDBOX_KEY": "short"})
    assert load_settings(env={**env, "GENJIN_SERVER_SANDBOX_KEY": KEY}).sandbox_enabled()


def test_serve_with_host_flag_refuses_a_keyless_public_sandbox(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("GENJIN_SERVER_SANDBOX", "on")
    monkeypatch.delenv("GENJIN_SERVER_SANDBOX_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    code = cli_main(
        ["serve", "--host", "0.0.0.0", "--port", "1", "--db", f"sqlite:///{tmp_path}/x.db"]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "server.sandbox_key" in err[0]


@pytest.fixture
def keyed(runtime, caplog):
    """A sandbox switched on for 0.0.0.0 with a key."""
    caplog.set_level(logging.INFO)
    runtime.settings.server.host = "0.0.0.0"
    runtime.settings.server.sandbox = "on"
    runtime.settings.server.sandbox_key = KEY
    return create_app(runtime.settings, runtime).test_client()


def test_a_public_sandbox_logs_a_warning(keyed, caplog):
    assert any(
        r.levelno == logging.WARNING and "sandbox is on for 0.0.0.0" in r.getMessage()
        for r in caplog.get_records("setup")
    )


def test_a_keyed_sandbox_refuses_everything_without_the_key(keyed, runtime):
    page = keyed.get("/")
    assert page.status_code == 401
    assert 'name="key"' in page.get_data(as_text=True)  # the login form
    assert "本地试用" in page.get_data(as_text=True)
    sent = keyed.post(
        "/sandbox/api/send", json={"chat": "a", "as": "老板", "text": "/设置 经理 @x"}
    )
    assert sent.status_code == 401
    assert "密钥" in sent.get_json()["error"]
    assert keyed.get("/sandbox/api/messages?chat=a").status_code == 401
    keyed.set_cookie(SANDBOX_COOKIE, "0" * 64)
    assert keyed.get("/sandbox/api/messages?chat=a").status_code == 401
    assert keyed.get("/", headers={"X-Sandbox-Key": KEY + "x"}).status_code == 401
    assert _inbox_count(runtime) == 0


def test_the_login_form_sets_a_strict_http_only_cookie(keyed, runtime):
    wrong = keyed.post("/sandbox/login", data={"key": "guess"})
    assert wrong.status_code == 403 and "密钥不对" in wrong.get_data(as_text=True)
    assert "Set-Cookie" not in wrong.headers
    right = keyed.post("/sandbox/login", data={"key": KEY})
    assert right.status_code == 303 and right.headers["Location"] == "/"
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert KEY not in cookie and session_token(KEY) in cookie
    assert keyed.get("/").status_code == 200
    sent = keyed.post("/sandbox/api/send", json={"chat": "a", "as": "张三", "text": "/帮助"})
    assert sent.status_code == 200
    assert _inbox_count(runtime) == 1


def test_the_key_header_works_for_scripts(keyed):
    headers = {"X-Sandbox-Key": KEY}
    assert keyed.get("/sandbox/api/messages?chat=a", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_cross_site_posts_to_the_sandbox_are_refused(runtime, headers):
    client = create_app(runtime.settings, runtime).test_client()
    body = {"chat": "a", "as": "老板", "text": "/设置 经理 @x"}
    assert client.post("/sandbox/api/send", json=body, headers=headers).status_code == 403
    same = {"Origin": "http://localhost"}
    assert client.post("/sandbox/api/send", json=body, headers=same).status_code == 200
    assert _inbox_count(runtime) == 1


# -- 2b. Host names (DNS rebinding) and security headers ------------------------------------------
@pytest.mark.parametrize(
    ("host", "name"),
    [
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("LOCALHOST", "localhost"),
        ("bot.example.com.", "bot.example.com"),
        ("evil.example:80", "evil.example"),
        ("[::1", "[::1"),
    ],
)
def test_host_name(host, name):
    assert host_name(host) == name


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8000", "[::1]:8000", "localhost:1"])
def test_the_sandbox_answers_loopback_names(runtime, host):
    client = create_app(runtime.settings, runtime).test_client()
    assert client.get("/", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "a b"])
def test_the_sandbox_refuses_other_host_names(runtime, host):
    client = create_app(runtime.settings, runtime).test_client()
    assert client.get("/", headers={"Host": host}).status_code == 400
    body = {"chat": "a", "as": "b", "text": "x"}
    assert client.post("/sandbox/api/send", json=body, headers={"Host": host}).status_code == 400
    assert client.get("/sandbox/static/sandbox.js", headers={"Host": host}).status_code == 400
    assert _inbox_count(runtime) == 0


def test_allowed_hosts_extend_the_names_and_then_guard_webhooks_too(runtime):
    client = create_app(runtime.settings, runtime).test_client()
    public = {"Host": "bot.example.com"}
    # Without allowed_hosts a webhook answers whatever name the proxy passes on …
    assert client.post("/webhook/nope", data=b"{}", headers=public).status_code == 404
    runtime.settings.server.allowed_hosts = ["bot.example.com"]
    client = create_app(runtime.settings, runtime).test_client()
    assert client.get("/", headers=public).status_code == 200
    assert client.post("/webhook/nope", data=b"{}", headers=public).status_code == 404
    # … with it, other names are refused everywhere but the health probes.
    evil = {"Host": "evil.example"}
    assert client.post("/webhook/nope", data=b"{}", headers=evil).status_code == 400
    assert client.get("/healthz", headers=evil).status_code == 200
    assert client.get("/metrics", headers=evil).status_code == 200


def test_allowed_hosts_are_validated():
    with pytest.raises(ConfigError, match="server.allowed_hosts entry 'https://x.com'"):
        load_settings(env={"GENJIN_SERVER_ALLOWED_HOSTS": "bot.example.com, https://x.com"})
    settings = load_settings(env={"GENJIN_SERVER_ALLOWED_HOSTS": "bot.example.com,[::1]"})
    assert settings.server.allowed_hosts == ["bot.example.com", "[::1]"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/sandbox/static/sandbox.js"),
        ("GET", "/sandbox/api/messages?chat=a"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("POST", "/webhook/nope"),
        ("GET", "/no-such-page"),
        ("GET", "/sandbox/api/send"),  # 405
    ],
)
def test_every_response_has_security_headers(runtime, method, path):
    client = create_app(runtime.settings, runtime).test_client()
    response = client.open(path, method=method)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp


def test_sandbox_data_is_not_cached_but_its_script_may_be(runtime):
    client = create_app(runtime.settings, runtime).test_client()
    assert client.get("/sandbox/api/messages?chat=a").headers["Cache-Control"] == "no-store"
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/sandbox/static/sandbox.js").headers.get(
        "Cache-Control", ""
    )


def test_the_app_serves_no_static_files_when_the_sandbox_is_off(runtime):
    runtime.settings.server.sandbox = "off"
    client = create_app(runtime.settings, runtime).test_client()
    assert client.get("/sandbox/static/sandbox.js").status_code == 404
    assert client.get("/static/sandbox.js").status_code == 404


# -- 3/4. the sandbox API: odd input, ids and cursors ---------------------------------------------
@pytest.fixture
def client(runtime):
    return create_app(runtime.settings, runtime).test_client()


@pytest.mark.parametrize(
    "body",
    [b"[1,2]", b'"str"', b"123", b"null", b"true", b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000],
    ids=["list", "string", "number", "null", "bool", "deep", "deep-object"],
)
def test_sandbox_send_refuses_what_is_not_a_json_object(client, runtime, body, caplog):
    caplog.set_level(logging.INFO)
    response = client.post("/sandbox/api/send", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.get_json()["error"]
    ours = [r for r in caplog.records if r.name.startswith("bot")]
    assert len(ours) == 1 and ours[0].exc_info is None
    assert _inbox_count(runtime) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"chat": ["a"], "as": "b", "text": "x"}, "文字"),
        ({"chat": "a", "as": {"n": 1}, "text": "x"}, "文字"),
        ({"chat": "a", "as": "b", "text": 5}, "文字"),
        ({"chat": "a", "as": "  ", "text": "x"}, "我是"),
        ({"chat": "", "as": "b", "text": "x"}, "群"),
        ({"chat": "a", "as": "b", "text": " "}, "空"),
    ],
)
def test_sandbox_send_names_what_is_wrong_in_chinese(client, runtime, body, reason):
    response = client.post("/sandbox/api/send", json=body)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]
    assert _inbox_count(runtime) == 0


def test_sandbox_text_over_the_limit_is_413_with_a_reason(client, runtime):
    response = client.post("/sandbox/api/send", json={"chat": "a", "as": "b", "text": "长" * 2001})
    assert response.status_code == 413
    assert "2000" in response.get_json()["error"]
    assert _inbox_count(runtime) == 0


@pytest.mark.parametrize(
    "query",
    ["in_after=-1", "in_after=x", "out_after=99999999999999999999", "in_after=" + "9" * 5000],
)
def test_bad_cursors_are_400(client, query):
    assert client.get(f"/sandbox/api/messages?chat=a&{query}").status_code == 400


def test_send_answers_the_stored_message_and_polls_answer_cursors(client, runtime):
    sent = client.post(
        "/sandbox/api/send", json={"chat": "销售一组", "as": "张三", "text": "/我的"}
    )
    event = sent.get_json()["event"]
    assert event["kind"] == "user" and event["id"] == sent.get_json()["inbox_id"]
    assert event["text"] == "/我的" and event["as"] == "张三"
    runtime.drain()
    page = client.get("/sandbox/api/messages?chat=销售一组").get_json()
    assert [e["kind"] for e in page["events"]] == ["user", "bot"]
    assert page["events"][0] == event  # the same event, so the page can tell it is shown already
    assert page["in_after"] == event["id"] and page["out_after"] == page["events"][1]["id"]
    assert page["more"] is False
    again = client.get(
        f"/sandbox/api/messages?chat=销售一组&in_after={page['in_after']}&out_after={page['out_after']}"
    ).get_json()
    assert again == {
        "events": [],
        "in_after": page["in_after"],
        "out_after": page["out_after"],
        "more": False,
    }


def test_a_long_chat_name_is_cut_the_same_way_when_sending_and_reading(client, runtime):
    chat = "群" * 80
    client.post("/sandbox/api/send", json={"chat": chat, "as": "张三", "text": "/我的"})
    runtime.drain()
    query = urllib.parse.urlencode({"chat": chat})
    events = client.get(f"/sandbox/api/messages?{query}").get_json()["events"]
    assert [e["kind"] for e in events] == ["user", "bot"]


def test_a_full_page_says_there_is_more(client, runtime, monkeypatch):
    from bot import sandbox

    monkeypatch.setattr(sandbox, "PAGE", 2)
    for n in range(3):
        client.post("/sandbox/api/send", json={"chat": "a", "as": "b", "text": f"line {n}"})
    first = client.get("/sandbox/api/messages?chat=a").get_json()
    assert first["more"] is True and len(first["events"]) == 2
    rest = client.get(f"/sandbox/api/messages?chat=a&in_after={first['in_after']}").get_json()
    assert rest["more"] is False and [e["text"] for e in rest["events"]] == ["line 2"]


@pytest.mark.slow
def test_oversize_headers_and_query_strings_get_4xx_from_the_real_server(tmp_path: Path):
    with genjin_serve(tmp_path, {"GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/h.db"}) as served:
        port = int(served.base.rsplit(":", 1)[1])
        for request in (
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n",
            b"GET /sandbox/api/messages?chat=" + b"a" * 300_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /webhook/wecom?" + b"a=b&" * 80_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.connect()
                conn.sock.sendall(request)
                status = conn.sock.recv(64).split(b" ")[1]
            finally:
                conn.close()
            assert status.startswith(b"4"), status
        assert get_json(f"{served.base}/healthz")["status"] == "ok"


def test_a_repeated_message_id_is_stored_once_and_answered_the_same(client, runtime):
    body = {"chat": "销售一组", "as": "张三", "text": "/我的", "id": "a1b2c3d4e5f6"}
    first = client.post("/sandbox/api/send", json=body).get_json()
    again = client.post("/sandbox/api/send", json=body).get_json()
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["event"] == first["event"] and again["inbox_id"] == first["inbox_id"]
    assert _inbox_count(runtime) == 1
    other = client.post("/sandbox/api/send", json={**body, "chat": "销售二组"})
    assert other.status_code == 409 and _inbox_count(runtime) == 1


@pytest.mark.parametrize("bad", ["short", "x" * 65, "has space!", 12345678, ["a" * 8]])
def test_a_malformed_message_id_is_400(client, runtime, bad):
    body = {"chat": "a", "as": "b", "text": "/我的", "id": bad}
    assert client.post("/sandbox/api/send", json=body).status_code == 400
    assert _inbox_count(runtime) == 0
