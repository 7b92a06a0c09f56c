"""The board's pages in a real browser (Debian's chromium through Playwright), desktop and phone.

The board is served on a loopback port in this process (tests/support/board.py) over the book of
tests/test_board_data.py; a link made as /看板 makes it signs the browser in. Every page's numbers
are checked against `genjin export`, a filter is applied through the form, an .xlsx is downloaded
and read back, and each page is photographed at 1280 px and 390 px into test-artifacts/board/.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.export import export
from bot.runtime import Runtime
from models import Chat, Customer, Member
from tests.support.board import (
    board_app,
    board_runtime,
    browser,
    desktop,
    horizontal_overflow,
    link_path,
    make_token,
    no_page_errors,
    phone,
    served_board,
    shot,
    skip_without_browser,
)
from tests.support.harness import ChatHarness
from tests.test_board_data import seed_book

skip_without_browser()

__all__ = ["board_app", "board_runtime", "browser", "desktop", "phone", "served_board"]
pytestmark = [pytest.mark.browser]  # in `make test`: in-process, a few seconds
STAGES = ["线索", "已分配", "跟进中", "已报价", "已签约", "已回款", "售后", "输单"]


@pytest.fixture
def ids(board_runtime: Runtime, chat: ChatHarness) -> dict[str, int]:
    """The book seeded through the chat; ids of the team, its members and customers."""
    seed_book(chat)
    with board_runtime.sessions() as session:
        team = session.scalars(select(Chat.id).where(Chat.external_id == "销售一组")).one()
        found = {"team": team}
        found |= {
            m.display: m.id for m in session.scalars(select(Member).where(Member.chat_id == team))
        }
        found |= {c.name: c.id for c in session.scalars(select(Customer))}
    return found


def exported(runtime: Runtime) -> list[dict[str, Any]]:
    """The team's live customers as `genjin export` gives them."""
    with runtime.sessions() as session:
        book = export(session, "销售一组")
    assert book is not None
    return [c for c in book["customers"] if c["deleted_at"] is None]


def sign_in(page: Any, served: Any, runtime: Runtime, chat_id: int, member_id: int) -> None:
    """Open a fresh /看板 link in ``page``: lands on the pipeline with the cookie set."""
    page.goto(served.base + link_path(make_token(runtime, chat_id, member_id)))
    assert page.url == f"{served.base}/board/t/{chat_id}/", page.url


def column_counts(page: Any) -> dict[str, int]:
    """Pipeline column → its count, as the browser shows it."""
    found = page.eval_on_selector_all(
        "section.col",
        "cols => cols.map(c => [c.dataset.stage, c.querySelector('[data-k=count]').textContent])",
    )
    return {stage: int(count) for stage, count in found}


def small_targets(page: Any) -> list[str]:
    """Links, buttons and form fields shorter than 44 CSS px (the tap target floor)."""
    return list(
        page.eval_on_selector_all(
            "main a, main button, main select, header a, form label.check",
            "els => els.filter(e => e.offsetParent !== null)"
            ".filter(e => e.getBoundingClientRect().height < 44)"
            ".map(e => e.outerHTML.slice(0, 80))",
        )
    )


def check_pages(page: Any, served: Any, runtime: Runtime, ids: dict[str, int], size: str) -> None:
    """Every page shows the exported numbers; a screenshot of each."""
    base = f"{served.base}/board/t/{ids['team']}/"
    live = exported(runtime)
    page.goto(base)
    counts = column_counts(page)
    assert list(counts) == STAGES
    assert {s: n for s, n in counts.items() if n} == dict(Counter(c["stage"] for c in live))
    for c in live:
        card = page.locator(f"a.deal[data-customer='{ids[c['name']]}']")
        assert card.count() == 1
        assert (c["owner"] or "未分配") in card.inner_text()
    shot(page, f"pipeline-{size}")

    page.goto(base + "funnel")
    page.wait_for_selector("html[data-charts='3']")
    funnel = page.eval_on_selector_all(
        "table[data-table=funnel] tbody tr",
        "rows => rows.map(r => [r.dataset.stage, r.querySelector('[data-k=count]').textContent])",
    )
    assert dict((s, int(n)) for s, n in funnel) == {
        s: sum(1 for c in live if c["stage"] == s) for s in STAGES
    }
    assert page.locator("tr[data-rep='张三'] [data-k=progress]").inner_text() == "20%"
    shot(page, f"funnel-{size}")

    page.goto(base + "late")
    late = page.eval_on_selector_all("tr[data-customer] th a", "as => as.map(a => a.textContent)")
    assert late[0] == "腾讯" and "京东" in late and "小米" in late
    assert (
        page.locator(f"tr[data-customer='{ids['京东']}'] [data-k=late]").inner_text()
        == "1 个工作日"
    )
    shot(page, f"late-{size}")

    page.goto(base + f"customer/{ids['华为']}")
    assert page.locator("[data-k=aliases]").inner_text() == "HW"
    assert page.locator("[data-k=amount]").inner_text() == "480,000"
    assert page.locator("ol.timeline > li").count() == 6
    shot(page, f"customer-{size}")


def test_every_page_on_a_desktop(
    desktop: Any, served_board: Any, board_runtime: Runtime, ids: dict[str, int]
) -> None:
    sign_in(desktop, served_board, board_runtime, ids["team"], ids["王经理"])
    check_pages(desktop, served_board, board_runtime, ids, "desktop")
    assert no_page_errors(desktop) == []


def test_every_page_on_a_phone_without_sideways_scrolling(
    phone: Any, served_board: Any, board_runtime: Runtime, ids: dict[str, int]
) -> None:
    sign_in(phone, served_board, board_runtime, ids["team"], ids["王经理"])
    check_pages(phone, served_board, board_runtime, ids, "phone")
    base = f"{served_board.base}/board/t/{ids['team']}/"
    for path in ("", "funnel", "late", f"customer/{ids['华为']}"):
        phone.goto(base + path)
        assert horizontal_overflow(phone) == 0, path
        assert small_targets(phone) == [], path
    phone.goto(base)
    # Only the pipeline's columns scroll sideways, inside their own box.
    assert phone.eval_on_selector(".pipeline", "p => p.scrollWidth > p.clientWidth")
    assert no_page_errors(phone) == []


def test_filter_then_download_the_filtered_table(
    desktop: Any, served_board: Any, board_runtime: Runtime, ids: dict[str, int], tmp_path: Any
) -> None:
    sign_in(desktop, served_board, board_runtime, ids["team"], ids["王经理"])
    desktop.select_option("select[name=rep]", label="李四")
    desktop.click("form.filters button[type=submit]")
    desktop.wait_for_url("**rep=*")
    counts = column_counts(desktop)
    owned = [c for c in exported(board_runtime) if c["owner"] == "李四"]
    assert sum(counts.values()) == len(owned) == 4
    with desktop.expect_download() as info:
        desktop.click("a[data-xlsx]")
    path = tmp_path / "pipeline.xlsx"
    info.value.save_as(path)
    rows = list(load_workbook(path, read_only=True)["客户"].iter_rows(values_only=True))
    assert rows[0][0] == "客户名称"
    assert sorted(r[0] for r in rows[1:]) == sorted(c["name"] for c in owned)
    desktop.goto(f"{served_board.base}/board/t/{ids['team']}/late")
    desktop.check("input[name=overdue]")
    desktop.click("form.filters button[type=submit]")
    desktop.wait_for_url("**overdue=1*")
    names = desktop.eval_on_selector_all(
        "tr[data-customer] th a", "as => as.map(a => a.textContent)"
    )
    assert names == ["京东"]


def test_a_rep_sees_their_own_book_only(
    phone: Any, served_board: Any, board_runtime: Runtime, ids: dict[str, int]
) -> None:
    sign_in(phone, served_board, board_runtime, ids["team"], ids["张三"])
    mine = [c["name"] for c in exported(board_runtime) if c["owner"] == "张三"]
    assert sum(column_counts(phone).values()) == len(mine) == 3
    response = phone.goto(f"{served_board.base}/board/t/{ids['team']}/customer/{ids['小米']}")
    assert response is not None and response.status == 404
    assert "小米" not in phone.content()
    shot(phone, "pipeline-rep-phone")
