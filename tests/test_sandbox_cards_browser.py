"""Cards in the sandbox page, in a real browser (Debian's chromium through Playwright) on `genjin serve`.

A newcomer's path with `make run` alone: a customer due today, the morning nudge run now from the
page, the card's `✅ 已跟进` filled in and submitted; the toast shows, the card changes in place and
the book has the follow-up. A screenshot of the page goes to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models import Activity, Customer, Inbox
from models.activity import SOURCE_CARD
from models.db import make_engine
from tests.support.serving import Served, genjin_serve

try:
    from playwright.sync_api import Page, Route, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip("playwright is not installed (pip install -e '.[test]')", allow_module_level=True)
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:  # pragma: no cover - depends on the environment
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
TZ = ZoneInfo("Asia/Shanghai")  # bot.timezone's default: the server's "today"
HOSTILE = '<img src=x onerror="window.pwned=1">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        # --no-sandbox: chromium's own sandbox cannot start as root in a container.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cards.db"


@pytest.fixture
def served(tmp_path: Path, database: str) -> Iterator[Served]:
    with genjin_serve(tmp_path, {"GENJIN_DATABASE_URL": database}) as server:
        yield server


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    # Every refused call counts, except the browser's own favicon request.
    opened.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    opened.problems = problems  # type: ignore[attr-defined]
    yield opened
    context.close()


def _say(page: Page, text: str, replies: int) -> None:
    """Type a line and wait until the bot has answered ``replies`` messages in all."""
    page.locator("#text").fill(text)
    page.locator("#text").press("Enter")
    expect(page.locator("#log .msg.bot")).to_have_count(replies, timeout=20_000)


def test_the_morning_nudge_card_takes_a_follow_up_from_its_form(
    page: Page, served: Served, database: str
):
    page.goto(served.base)
    _say(page, "/跟进 客户A 电话沟通 今天回访", 1)
    expect(page.locator("#job")).to_have_value("morning_nudges")
    page.locator("#run-now").click()
    card = page.locator("#log .card").filter(has_text="早上好")
    expect(card).to_have_count(1, timeout=20_000)
    row = card.locator(".card-section[data-key^='customer:']").filter(has_text="客户A")
    expect(row).to_have_count(1)
    expect(row.locator(".actions button")).to_contain_text(["✅ 已跟进", "⏰ 推到明天"])

    row.get_by_role("button", name="✅ 已跟进").click()
    form = row.locator("form.card-form")
    expect(form).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    next_day = (datetime.now(TZ) + timedelta(days=7)).date()
    form.locator("input[name='note']").fill("报价已发")
    form.locator("input[name='next'][type='date']").fill(next_day.isoformat())
    form.locator("select[name='stage']").select_option("已报价")
    page.screenshot(path=str(SCREENSHOTS / "sandbox-nudge-card-form.png"), full_page=True)
    form.locator("button[type='submit']").click()

    expect(page.locator("#toast")).to_contain_text("已记录", timeout=10_000)
    expect(row.locator(".actions")).to_have_count(0)  # acted: the buttons give way to the result
    expect(row).to_contain_text("张三")
    expect(row).to_contain_text("已跟进")
    expect(page.locator("#log .card").filter(has_text="早上好")).to_have_count(1)  # in place
    page.screenshot(path=str(SCREENSHOTS / "sandbox-nudge-card-acted.png"), full_page=True)

    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            customer = connection.execute(select(Customer).where(Customer.name == "客户A")).one()
            assert customer.stage == "已报价"
            notes = connection.execute(
                select(Activity.text, Activity.source).where(Activity.customer_id == customer.id)
            ).all()
            assert [n for n in notes if n.source == SOURCE_CARD] == [("报价已发", SOURCE_CARD)]
    finally:
        engine.dispose()
    shown = page.locator("#log .msg.bot").count()
    _say(page, "/客户 客户A", shown + 1)
    expect(page.locator("#log .msg.bot").last).to_contain_text("已报价")
    expect(page.locator("#log .msg.bot").last).to_contain_text("报价已发")
    expect(page.locator("#log .msg.bot").last).to_contain_text(
        f"下次跟进：{next_day.month}月{next_day.day}日"
    )
    _no_errors(page)


def test_a_tap_retried_after_a_lost_answer_counts_once(page: Page, served: Served, database: str):
    """The server took the tap but its answer never arrived: tapping again is not a second tap."""
    sent: list[dict[str, Any]] = []

    def lose_the_first_answer(route: Route) -> None:
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            route.fetch()  # the server stores and handles it …
            route.abort()  # … and the page never hears back
        else:
            route.continue_()

    def hold_updates_until_the_retry(route: Route) -> None:
        """Polls do not show the card's update before the retry (else there is no button)."""
        response = route.fetch()
        data = response.json()
        if len(sent) < 2:
            asked = int(parse_qs(urlsplit(route.request.url).query).get("out_after", ["0"])[0])
            data["events"] = [e for e in data["events"] if not e.get("update_of")]
            bots = [e["id"] for e in data["events"] if e["kind"] == "bot"]
            data["out_after"] = max(bots, default=asked)
        route.fulfill(response=response, body=json.dumps(data))

    page.route("**/sandbox/api/action", lose_the_first_answer)
    page.route("**/sandbox/api/messages?*", hold_updates_until_the_retry)
    page.goto(served.base)
    _say(page, "/跟进 客户A 电话沟通 今天回访", 1)
    page.locator("#run-now").click()
    row = page.locator("#log .card-section[data-key^='customer:']").filter(has_text="客户A")
    expect(row).to_have_count(1, timeout=20_000)
    row.get_by_role("button", name="⏰ 推到明天").click()
    expect(page.locator("#status")).to_contain_text("没有送达", timeout=10_000)
    row.get_by_role("button", name="⏰ 推到明天").click()
    expect(page.locator("#status")).to_be_hidden(timeout=10_000)
    assert len(sent) == 2 and sent[0]["id"] == sent[1]["id"]
    expect(page.locator("#toast")).to_contain_text("已记录", timeout=10_000)
    expect(row.locator(".actions")).to_have_count(0, timeout=20_000)
    expect(row).to_contain_text("张三")
    engine = make_engine(database)
    try:
        with engine.connect() as connection:
            taps = connection.execute(
                select(Inbox.id).where(Inbox.message_id.like("sandbox-tap-%"))
            ).all()
    finally:
        engine.dispose()
    assert len(taps) == 1
    _no_errors(page)


def test_charts_are_drawn_as_inline_svg(page: Page, served: Served):
    """/漏斗 as a funnel, the daily digest (run now) with bars: the same numbers as their text."""
    page.goto(served.base)
    _say(page, "/跟进 客户A 电话沟通 今天回访", 1)
    _say(page, "/跟进 客户B 报价已发 明天回访", 2)
    _say(page, "/漏斗", 3)
    funnel = page.locator("#log .msg.bot").last.locator(".chart svg")
    expect(funnel).to_have_count(1)
    bars = funnel.locator("rect")
    assert bars.count() >= 2
    labels = funnel.locator("text").all_text_contents()
    assert "跟进中" in labels and "已报价" in labels
    page.locator("#job").select_option("daily_digest")
    page.locator("#run-now").click()
    digest = page.locator("#log .card").filter(has_text="日报")
    expect(digest.locator(".chart svg rect")).not_to_have_count(0, timeout=20_000)
    expect(digest.locator(".chart svg")).to_contain_text("张三")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "sandbox-charts.png"), full_page=True)
    _no_errors(page)


def test_card_text_from_the_server_is_shown_as_text_never_run(page: Page, served: Served):
    """Whatever a card line holds, the page shows it literally (the server is made to send markup)."""

    def add_markup(route: Route) -> None:
        response = route.fetch()
        data = response.json()
        for event in data["events"]:
            if event.get("card"):
                event["card"]["title"] = HOSTILE
                event["card"]["sections"][0]["lines"].append(HOSTILE)
        route.fulfill(response=response, body=json.dumps(data))

    page.route("**/sandbox/api/messages?*", add_markup)
    page.goto(served.base)
    _say(page, "/跟进 客户A 电话沟通 今天回访", 1)
    page.locator("#run-now").click()
    card = page.locator("#log .card")
    expect(card).to_have_count(1, timeout=20_000)
    expect(card.locator(".card-title")).to_have_text(HOSTILE)
    expect(card.locator(".line").filter(has_text=HOSTILE)).to_have_count(1)
    assert page.locator("#log img").count() == 0
    assert page.evaluate("window.pwned") is None
    _no_errors(page)


def test_running_a_job_with_nothing_due_says_so(page: Page, served: Served):
    page.goto(served.base)
    _say(page, "/帮助", 1)
    page.locator("#run-now").click()
    expect(page.locator("#toast")).to_contain_text("现在没有要发的内容", timeout=10_000)
    assert page.locator("#log .msg.bot").count() == 1
    _no_errors(page)


def _no_errors(page: Page) -> None:
    """No script error and no CSP violation (the card, its form and charts need no inline code)."""
    problems = page.problems  # type: ignore[attr-defined]
    assert [p for p in problems if "Failed to load resource" not in p] == []
