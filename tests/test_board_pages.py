"""The board's pages through the Flask test client, signed in with a real /看板 link.

The book is the one of tests/test_board_data.py (written through the chat); every number a page
shows is checked against `genjin export` or models/reports.py, and every page against scope:
a rep sees their own customers only, and no page shows another team's.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select, update

from bot.export import export
from bot.runtime import Runtime
from models import Chat, Customer, Member
from tests.support.board import board_app, board_runtime, open_client
from tests.support.harness import ChatHarness
from tests.test_board_data import OTHER_CHAT, seed_book

__all__ = ["board_app", "board_runtime"]  # fixtures used by this module

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Team:
    """The seeded book: ids of the chats, members and customers."""

    def __init__(self, runtime: Runtime) -> None:
        with runtime.sessions() as session:
            chats = {c.external_id: c.id for c in session.scalars(select(Chat))}
            self.chat_id, self.other_id = chats["销售一组"], chats[OTHER_CHAT]
            self.members = {(m.chat_id, m.display): m.id for m in session.scalars(select(Member))}
            self.customers = {c.name: c.id for c in session.scalars(select(Customer))}

    def member(self, name: str, other: bool = False) -> int:
        """A member id by name (of the other team when ``other``)."""
        return self.members[(self.other_id if other else self.chat_id, name)]


@pytest.fixture
def team(board_runtime: Runtime, chat: ChatHarness) -> Team:
    """The book seeded through the chat, with the board on."""
    seed_book(chat)
    return Team(board_runtime)


def client_of(
    app: Flask, runtime: Runtime, team: Team, name: str, other: bool = False
) -> FlaskClient:
    """A client signed in with a fresh link of ``name``."""
    chat_id = team.other_id if other else team.chat_id
    return open_client(app, runtime, chat_id, team.member(name, other))


def text(client: FlaskClient, path: str, status: int = 200) -> str:
    """GET a page; its HTML."""
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def cells(html: str, key: str) -> list[str]:
    """The text of every element marked ``data-k="key"``."""
    return [
        re.sub(r"<[^>]+>", "", m).strip()
        for m in re.findall(rf'data-k="{key}"[^>]*>(.*?)</', html, re.S)
    ]


def column_counts(html: str) -> dict[str, int]:
    """Pipeline column → its customer count."""
    found = re.findall(
        r'<section class="col" data-stage="([^"]+)">\s*<h2>[^<]*<span class="count" data-k="count">(\d+)</span>',
        html,
    )
    return {stage: int(count) for stage, count in found}


def workbook(client: FlaskClient, path: str) -> dict[str, list[tuple[Any, ...]]]:
    """Download an .xlsx and read every sheet back."""
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.headers["Content-Type"] == XLSX
    assert response.headers["Content-Disposition"].startswith("attachment; filename*=UTF-8''")
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}


def test_pipeline_page_shows_the_exported_book(
    board_app: Flask, board_runtime: Runtime, team: Team
) -> None:
    client = client_of(board_app, board_runtime, team, "王经理")
    html = text(client, f"/board/t/{team.chat_id}/")
    with board_runtime.sessions() as session:
        book = export(session, "销售一组")
    assert book is not None
    live = [c for c in book["customers"] if c["deleted_at"] is None]
    expected: dict[str, int] = {}
    for c in live:
        expected[c["stage"]] = expected.get(c["stage"], 0) + 1
    counts = column_counts(html)
    assert {s: n for s, n in counts.items() if n} == expected
    assert list(counts) == [
        "线索",
        "已分配",
        "跟进中",
        "已报价",
        "已签约",
        "已回款",
        "售后",
        "输单",
    ]
    assert "7 个客户 · 金额 980,000" in html
    for c in live:
        assert f">{c['name']}" in html
    assert "阿里" not in html and "测试客户" not in html
    assert cells(html, "overdue") == ["1"]
    assert "逾期 1 天" in html  # 京东


def test_pipeline_filters_and_download(
    board_app: Flask, board_runtime: Runtime, team: Team
) -> None:
    client = client_of(board_app, board_runtime, team, "王经理")
    li = team.member("李四")
    html = text(client, f"/board/t/{team.chat_id}/?rep={li}&stage=")
    assert sum(column_counts(html).values()) == 4
    assert "华为" not in html and "小米" in html
    assert f'<option value="{li}" selected>李四</option>' in html
    assert f'href="/board/t/{team.chat_id}/pipeline.xlsx?rep={li}"' in html
    html = text(client, f"/board/t/{team.chat_id}/?tag=重点&grade=B")
    assert {s: n for s, n in column_counts(html).items() if n} == {"跟进中": 1}
    html = text(client, f"/board/t/{team.chat_id}/?overdue=1")
    assert sum(column_counts(html).values()) == 1 and "京东" in html
    html = text(client, f"/board/t/{team.chat_id}/?stage=成交了吗")
    assert "阶段“成交了吗”不存在，例如 ?stage=已报价" in html
    assert sum(column_counts(html).values()) == 7  # the bad value is ignored, not guessed
    sheets = workbook(client, f"/board/t/{team.chat_id}/pipeline.xlsx?rep={li}")
    header, *rows = sheets["客户"]
    assert header[:4] == ("客户名称", "阶段", "等级", "负责人")
    assert sorted(r[0] for r in rows) == ["OPPO", "小米", "百度", "腾讯"]
    assert {r[3] for r in rows} == {"李四"}
    totals = {r[0]: r for r in sheets["各阶段合计"][1:]}
    assert totals["合计"][1] == 4 and totals["已分配"][2] == 300000


def test_funnel_page_numbers(
    board_app: Flask, board_runtime: Runtime, team: Team, chat: ChatHarness
) -> None:
    client = client_of(board_app, board_runtime, team, "王经理")
    html = text(client, f"/board/t/{team.chat_id}/funnel")
    assert cells(html, "count") == ["0", "1", "2", "1", "2", "0", "0", "1"]
    assert cells(html, "reached")[:5] == ["7", "7", "6", "3", "2"]
    assert cells(html, "conversion")[:4] == ["-", "100%", "86%", "50%"]
    assert cells(html, "last_month") == ["0", "0", "1", "0", "1", "0", "0", "0"]
    funnel_reply = chat.reply("/漏斗", as_="王经理")
    assert "已报价 | 1 | - | 3 | 50%" in funnel_reply  # the same figures as the chat's /漏斗
    assert re.findall(r'data-rep="([^"]+)"', html) == ["张三", "李四", "王经理"]
    assert cells(html, "progress") == ["20%", "0%", "-"]  # 王经理 logged 腾讯, has no target
    assert 'data-chart="funnel-chart-spec"' in html and 'data-chart="weekly-chart-spec"' in html
    assert 'data-chart="reps-chart-spec"' in html
    sheets = workbook(client, f"/board/t/{team.chat_id}/funnel.xlsx")
    assert set(sheets) == {"漏斗", "本月与上月", "每周趋势", "成员本月"}
    funnel = {r[0]: r for r in sheets["漏斗"][1:]}
    assert funnel["已签约"][2] == 2 and funnel["已签约"][4] == 680000
    months = {r[0]: r[1:] for r in sheets["本月与上月"][1:]}
    assert months["签约金额"] == (200000, 480000) and months["回款"] == (200000, 0)
    reps = {r[0]: r for r in sheets["成员本月"][1:]}
    assert reps["张三"][9] == 1000000 and reps["张三"][10] == "20%"
    assert len(sheets["每周趋势"]) == 9


def test_late_page_lists_overdue_and_stalled(
    board_app: Flask, board_runtime: Runtime, team: Team
) -> None:
    client = client_of(board_app, board_runtime, team, "王经理")
    html = text(client, f"/board/t/{team.chat_id}/late")
    names = re.findall(r'<a href="/board/t/\d+/customer/\d+">([^<]+)</a>', html)
    assert "京东" in names and "腾讯" in names and "小米" in names
    assert names[0] == "腾讯"  # 18 working days in 已分配 against a limit of 2: the latest
    assert "1 个工作日" in html
    sheets = workbook(client, f"/board/t/{team.chat_id}/late.xlsx")
    rows = sheets["逾期与停滞"][1:]
    assert [r[0] for r in rows] == names
    assert {r[-1] for r in rows} == {"未提醒"}
    only = text(client, f"/board/t/{team.chat_id}/late?overdue=1")
    assert re.findall(r'<a href="/board/t/\d+/customer/\d+">([^<]+)</a>', only) == ["京东"]


def test_customer_page_and_its_download(
    board_app: Flask, board_runtime: Runtime, team: Team
) -> None:
    client = client_of(board_app, board_runtime, team, "王经理")
    huawei = team.customers["华为"]
    html = text(client, f"/board/t/{team.chat_id}/customer/{huawei}")
    assert cells(html, "aliases") == ["HW"]
    assert cells(html, "owner") == ["张三"]
    assert cells(html, "amount") == ["480,000"] and cells(html, "paid") == ["200,000"]
    assert html.count("data-activity=") == 6
    assert "阶段：已报价 → 已签约" in html and "首付款" in html
    sheets = workbook(client, f"/board/t/{team.chat_id}/customer/{huawei}.xlsx")
    assert sheets["客户"][1][0] == "华为" and sheets["客户"][1][11] == "HW"
    assert len(sheets["跟进记录"]) == 7
    assert sheets["跟进记录"][1][2] == "加别名"


def test_a_rep_cannot_open_another_reps_customer(
    board_app: Flask, board_runtime: Runtime, team: Team
) -> None:
    client = client_of(board_app, board_runtime, team, "张三")
    html = text(client, f"/board/t/{team.chat_id}/")
    assert sum(column_counts(html).values()) == 3
    assert "小米" not in html and "腾讯" not in html
    assert 'name="rep"' not in html
    text(client, f"/board/t/{team.chat_id}/customer/{team.customers['小米']}", 404)
    text(client, f"/board/t/{team.chat_id}/customer/{team.customers['小米']}.xlsx", 404)
    text(client, f"/board/t/{team.chat_id}/customer/{team.customers['华为']}")
    sheets = workbook(client, f"/board/t/{team.chat_id}/pipeline.xlsx?rep={team.member('李四')}")
    assert sorted(r[0] for r in sheets["客户"][1:]) == ["vivo", "京东", "华为"]
    funnel = text(client, f"/board/t/{team.chat_id}/funnel")
    assert 'data-rep="张三"' in funnel and 'data-rep="李四"' not in funnel
    late = text(client, f"/board/t/{team.chat_id}/late")
    assert "腾讯" not in late and "小米" not in late


@pytest.mark.parametrize(
    "path",
    [
        "",
        "funnel",
        "late",
        "pipeline.xlsx",
        "funnel.xlsx",
        "late.xlsx",
        "customer/{ali}",
        "customer/{ali}.xlsx",
    ],
)
def test_another_chats_pages_are_refused(
    board_app: Flask, board_runtime: Runtime, team: Team, path: str
) -> None:
    """Our manager gets nothing of 销售二组; their rep gets nothing of ours (both ways)."""
    ours = client_of(board_app, board_runtime, team, "王经理")
    theirs = client_of(board_app, board_runtime, team, "赵六", other=True)
    ali, huawei = team.customers["阿里"], team.customers["华为"]
    response = ours.get(f"/board/t/{team.other_id}/" + path.format(ali=ali))
    assert response.status_code in (403, 404)
    assert "阿里" not in response.get_data(as_text=True)
    response = theirs.get(f"/board/t/{team.chat_id}/" + path.format(ali=huawei))
    assert response.status_code in (403, 404)
    assert "华为" not in response.get_data(as_text=True)
    if path.startswith("customer"):  # another team's id under our own board: not found
        text(ours, f"/board/t/{team.chat_id}/" + path.format(ali=ali), 404)
        text(theirs, f"/board/t/{team.other_id}/" + path.format(ali=huawei), 404)


def test_user_text_is_escaped(board_app: Flask, board_runtime: Runtime, team: Team) -> None:
    with board_runtime.sessions() as session, session.begin():
        session.execute(
            update(Customer)
            .where(Customer.name == "京东")
            .values(name="<script>alert(1)</script>", tags=["<b>x</b>"])
        )
        session.execute(update(Member).where(Member.name == "张三").values(name='"><img src=x>'))
    client = client_of(board_app, board_runtime, team, "王经理")
    jd = team.customers["京东"]
    for path in ("", "late", f"customer/{jd}", "funnel"):
        html = text(client, f"/board/t/{team.chat_id}/{path}")
        assert "<script>alert" not in html and "<img src=x>" not in html and "<b>x</b>" not in html
    html = text(client, f"/board/t/{team.chat_id}/customer/{jd}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    funnel = text(client, f"/board/t/{team.chat_id}/funnel")
    assert "\\u003cimg src=x\\u003e" in funnel or "&#34;&gt;&lt;img" in funnel


def test_pages_need_a_session(board_app: Flask, team: Team) -> None:
    client = board_app.test_client()
    for path in ("", "funnel", "late", "pipeline.xlsx", f"customer/{team.customers['华为']}"):
        response = client.get(f"/board/t/{team.chat_id}/{path}")
        assert response.status_code in (401, 403)
        assert "华为" not in response.get_data(as_text=True)


def test_amounts_in_the_download_are_numbers(
    board_app: Flask, board_runtime: Runtime, team: Team
) -> None:
    client = client_of(board_app, board_runtime, team, "王经理")
    sheets = workbook(client, f"/board/t/{team.chat_id}/pipeline.xlsx?stage=已签约")
    amounts = sorted(Decimal(str(r[4])) for r in sheets["客户"][1:])
    assert amounts == [Decimal("200000"), Decimal("480000")]
