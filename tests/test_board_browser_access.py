"""The board's door in a real browser (Debian's chromium through Playwright).

The app is served on a loopback port in this process (tests/support/board.py), on the test
database and the fixed clock, so a link made by /看板 in the chat harness opens in the browser
exactly as a user's would, and expiry is reached by moving the clock, not by waiting.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.board import (
    Book,
    ServedApp,
    horizontal_overflow,
    link_in,
    no_page_errors,
    shot,
    skip_without_browser,
)
from tests.support.harness import ChatHarness, Clock

skip_without_browser()
pytestmark = [pytest.mark.browser]  # in `make test`: in-process, a few seconds


def _local(served: ServedApp, url: str) -> str:
    """A link from the chat, pointed at the served port (the config's address is not ours)."""
    return served.base + url[url.index("/board/") :]


def _open(page: Any, served: ServedApp, chat: ChatHarness, as_: str) -> str:
    """Open the link /看板 gives ``as_``; the link."""
    link = _local(served, link_in(chat.reply("/看板", as_=as_)))
    page.goto(link)
    return link


def test_a_link_from_the_chat_signs_in_and_leaves_a_clean_address(
    desktop: Any, served_board: ServedApp, board_book: Book, chat: ChatHarness
):
    _open(desktop, served_board, chat, "王经理")
    assert desktop.url == f"{served_board.base}/board/t/{board_book.chat_id}/"
    assert "t=" not in desktop.url
    (cookie,) = desktop.context.cookies()
    assert cookie["name"] == "genjin_board" and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/board" and not cookie["secure"]
    assert desktop.evaluate("document.cookie") == ""  # HttpOnly: no script can read it
    assert desktop.locator("header .who").inner_text().startswith("王经理 · 经理")
    assert no_page_errors(desktop) == []


def test_an_expired_or_revoked_link_is_refused(
    desktop: Any, served_board: ServedApp, board_book: Book, chat: ChatHarness, clock: Clock
):
    link = _local(served_board, link_in(chat.reply("/看板", as_="张三")))
    clock.advance(days=7, seconds=1)
    response = desktop.goto(link)
    assert response is not None and response.status == 410
    assert "链接已过期" in desktop.locator("h1").inner_text()
    shot(desktop, "denied-expired-desktop")
    _open(desktop, served_board, chat, "张三")  # a fresh link works …
    assert desktop.url.endswith(f"/board/t/{board_book.chat_id}/")
    chat.reply("/看板 重置", as_="张三")  # … until 重置, even in the open tab
    response = desktop.reload()
    assert response is not None and response.status == 403
    assert "重置" in desktop.locator("h1").inner_text()


def test_a_rep_cannot_open_another_team(
    desktop: Any, served_board: ServedApp, board_book: Book, chat: ChatHarness
):
    _open(desktop, served_board, chat, "张三")
    response = desktop.goto(f"{served_board.base}/board/t/{board_book.other_chat_id}/")
    assert response is not None and response.status == 403
    assert "不属于这个团队" in desktop.locator("h1").inner_text()
    response = desktop.goto(f"{served_board.base}/board/company")
    assert desktop.url.endswith(f"/board/t/{board_book.chat_id}/")  # no company view for a rep


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_company_page_side_by_side(
    device: str, request: pytest.FixtureRequest, served_board: ServedApp, board_book: Book, chat
):
    page = request.getfixturevalue(device)
    _open(page, served_board, chat, "老板")
    page.goto(f"{served_board.base}/board/company")
    teams = page.locator("article.team")
    assert teams.count() == 2
    assert teams.nth(0).locator("h2").inner_text() == "销售一组"
    assert teams.nth(1).locator("h2").inner_text() == "销售二组"
    page.wait_for_selector("html[data-charts='1']")
    assert page.locator("#company-funnel canvas").count() >= 1
    if device == "desktop":  # side by side: the second team's card beside the first
        first, second = teams.nth(0).bounding_box(), teams.nth(1).bounding_box()
        assert first and second and abs(first["y"] - second["y"]) < 2 and second["x"] > first["x"]
    assert horizontal_overflow(page) == 0
    assert no_page_errors(page) == []  # CSP violations show up here too
    shot(page, f"company-{device}")
    page.locator("article.team").nth(1).locator("a.open-team").click()
    assert page.url.endswith(f"/board/t/{board_book.other_chat_id}/")
