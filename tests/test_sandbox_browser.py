"""The sandbox page in a real browser (Debian's chromium through Playwright) against `genjin serve`.

A loopback proxy (tests/support/tcp_proxy.py) between the browser and the server holds every chunk
the browser sends for 400 ms, so requests overlap the way they do on a slow link: the page must
still keep unsent text, never run two polls at once, and show every message exactly once.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.serving import Served, genjin_serve, stop_processes
from tests.support.tcp_proxy import TcpProxy

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip("playwright is not installed (pip install -e '.[test]')", allow_module_level=True)
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:  # pragma: no cover - depends on the environment
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LATENCY = 0.4  # seconds added to every chunk the browser sends
KEY = "browser-key-0123456789"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        # --no-sandbox: chromium's own sandbox cannot start as root in a container.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with genjin_serve(tmp_path, {"GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/b.db"}) as server:
        yield server


@pytest.fixture
def slow_base(served: Served) -> Iterator[str]:
    with TcpProxy(int(served.base.rsplit(":", 1)[1]), delay=LATENCY) as proxy:
        yield f"http://127.0.0.1:{proxy.port}"


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    opened.problems = problems  # type: ignore[attr-defined]
    yield opened
    context.close()


def _bubbles(page: Page, kind: str) -> list[str]:
    return page.locator(f"#log .msg.{kind} .bubble").all_inner_texts()


def _only_expected_console_errors(page: Page) -> None:
    """No script error and no CSP violation; failed fetches of a stopped server are expected."""
    unexpected = [
        p
        for p in page.problems  # type: ignore[attr-defined]
        if "Failed to load resource" not in p and "ERR_" not in p
    ]
    assert unexpected == []


def test_eight_quick_messages_over_a_slow_link_show_once_each(page: Page, slow_base: str):
    page.goto(slow_base)
    text = page.locator("#text")
    button = page.locator("#send")
    lines = [f"/跟进 客户{n} 电话沟通" for n in range(1, 9)]
    for line in lines:
        expect(button).to_be_enabled()
        text.fill(line)
        text.press("Enter")
        assert text.input_value() == line  # kept until the server has stored it
        expect(text).to_have_value("", timeout=10_000)
    expect(page.locator("#log .msg.bot")).to_have_count(8, timeout=20_000)
    time.sleep(3 * LATENCY + 2.0)  # several more polls: a duplicate would show now
    assert _bubbles(page, "user") == lines
    bots = _bubbles(page, "bot")
    assert len(bots) == 8
    for n in range(1, 9):
        assert sum(f"客户{n}｜" in bot for bot in bots) == 1, (n, bots)
    assert page.locator("#status").is_hidden()
    _only_expected_console_errors(page)


def test_a_text_over_the_limit_stays_with_one_line_saying_why(page: Page, slow_base: str):
    page.goto(slow_base)
    long = "长" * 2500
    page.locator("#text").fill(long)
    page.locator("#text").press("Enter")
    status = page.locator("#status")
    expect(status).to_be_visible(timeout=10_000)
    expect(status).to_contain_text("太长")
    assert "\n" not in status.inner_text()
    assert page.locator("#text").input_value() == long
    time.sleep(2 * LATENCY + 1.5)
    assert _bubbles(page, "user") == []
    expect(status).to_contain_text("没有发送")


def test_an_empty_name_keeps_the_text_and_says_so(page: Page, slow_base: str):
    page.goto(slow_base)
    page.locator("#as").fill("")
    page.locator("#text").fill("/我的")
    page.locator("#text").press("Enter")
    status = page.locator("#status")
    expect(status).to_be_visible()
    expect(status).to_contain_text("我是")
    assert page.locator("#text").input_value() == "/我的"
    page.locator("#as").fill("张三")
    page.locator("#text").press("Enter")
    expect(page.locator("#text")).to_have_value("", timeout=10_000)
    expect(status).to_be_hidden()
    expect(page.locator("#log .msg.user")).to_have_count(1)


def test_a_stopped_server_keeps_the_text_and_shows_one_line(
    page: Page, slow_base: str, served: Served
):
    page.goto(slow_base)
    page.locator("#text").fill("/我的")
    page.locator("#text").press("Enter")
    expect(page.locator("#log .msg.bot")).to_have_count(1, timeout=20_000)
    stop_processes([served.proc])
    page.locator("#text").fill("/跟进 客户A 报价已发")
    page.locator("#text").press("Enter")
    status = page.locator("#status")
    expect(status).to_contain_text("连不上服务器，消息没有发送", timeout=10_000)
    time.sleep(4.0)  # failing polls meanwhile must not replace or repeat the line
    expect(status).to_contain_text("连不上服务器，消息没有发送")
    assert "\n" not in status.inner_text()
    assert page.locator("#text").input_value() == "/跟进 客户A 报价已发"
    assert _bubbles(page, "user") == ["/我的"]


def test_switching_chats_shows_only_that_chats_messages(page: Page, slow_base: str):
    page.goto(slow_base)
    page.locator("#text").fill("/我的")
    page.locator("#text").press("Enter")
    expect(page.locator("#log .msg.bot")).to_have_count(1, timeout=20_000)
    page.locator("#chat").fill("销售二组")
    page.locator("#chat").dispatch_event("change")
    expect(page.locator("#log .msg")).to_have_count(0, timeout=10_000)
    page.locator("#chat").fill("销售一组")
    page.locator("#chat").dispatch_event("change")
    expect(page.locator("#log .msg")).to_have_count(2, timeout=10_000)
    time.sleep(2 * LATENCY + 1.5)
    expect(page.locator("#log .msg")).to_have_count(2)


def test_a_keyed_sandbox_asks_for_the_key_then_works(page: Page, tmp_path: Path):
    env = {
        "GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "GENJIN_SERVER_SANDBOX": "on",
        "GENJIN_SERVER_SANDBOX_KEY": KEY,
    }
    with genjin_serve(tmp_path, env) as server:
        page.goto(server.base)
        expect(page.locator("#key")).to_be_visible()
        page.locator("#key").fill("wrong-key-000000000")
        page.locator("#key").press("Enter")
        expect(page.locator(".status")).to_contain_text("密钥不对")
        page.locator("#key").fill(KEY)
        page.locator("#key").press("Enter")
        expect(page.locator("#text")).to_be_visible()
        cookies = page.context.cookies()
        assert [(c["httpOnly"], c["sameSite"]) for c in cookies] == [(True, "Strict")]
        assert KEY not in cookies[0]["value"]
        page.locator("#text").fill("/我的")
        page.locator("#text").press("Enter")
        expect(page.locator("#log .msg.bot")).to_have_count(1, timeout=20_000)
    _only_expected_console_errors(page)


def test_the_page_runs_under_its_content_security_policy(page: Page, served: Served):
    """The CSP forbids inline script: the page's own files must be all it needs."""
    page.goto(served.base)
    expect(page.locator("#log")).to_be_visible()
    page.locator("#text").fill("/帮助")
    page.locator("#text").press("Enter")
    expect(page.locator("#log .msg.bot")).to_have_count(1, timeout=20_000)
    assert page.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"
    _only_expected_console_errors(page)


def test_a_retry_after_a_lost_answer_is_stored_once(page: Page, served: Served):
    """The server stored the message but its answer never arrived: sending again is no double."""
    sent: list[dict[str, Any]] = []

    def lose_the_first_answer(route: Any) -> None:
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            route.fetch()  # the server stores it …
            route.abort()  # … and the page never hears back
        else:
            route.continue_()

    page.route("**/sandbox/api/send", lose_the_first_answer)
    page.goto(served.base)
    page.locator("#text").fill("/我的")
    page.locator("#text").press("Enter")
    expect(page.locator("#status")).to_contain_text("没有发送", timeout=10_000)
    assert page.locator("#text").input_value() == "/我的"
    page.locator("#text").press("Enter")
    expect(page.locator("#text")).to_have_value("", timeout=10_000)
    expect(page.locator("#status")).to_be_hidden()
    expect(page.locator("#log .msg.bot")).to_have_count(1, timeout=20_000)
    time.sleep(2.0)
    assert _bubbles(page, "user") == ["/我的"]
    assert len(sent) == 2 and sent[0]["id"] == sent[1]["id"]
