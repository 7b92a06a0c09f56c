"""`genjin export --format xlsx|csv`: sheets 客户, 跟进记录, 目标 with headers the import reads;
export → import into an empty chat gives the same book."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.export import book, write_csv, write_xlsx
from bot.scheduler import chat_by_name
from models.book import import_book
from models.book_read import read_book
from tests.support.harness import ChatHarness


def team_book(chat: ChatHarness) -> None:
    """A small book made in the chat: owners, stages, amounts, aliases, payments, a target."""
    chat.send("/帮助", as_="老板")
    chat.make_manager("王经理")
    chat.reply("/我是 张三", as_="张三")
    chat.send("/新客户 华为 @张三 50万 展会", as_="王经理")
    chat.send("/跟进 华为 报价已发 下周三14点回访", as_="张三")
    chat.send("/别名 华为 花花", as_="张三")
    chat.send("/跟进 腾讯 初次拜访 12月5日再约", as_="李四")
    chat.send("/新客户 阿里 @李四 30万", as_="王经理")
    chat.send("/签约 阿里", as_="李四")
    chat.send("/回款 阿里 30万", as_="李四")
    chat.send("/目标 @张三 12月 100万", as_="王经理")


def sheets_of(chat: ChatHarness) -> dict[str, list[list]]:
    with chat.runtime.sessions() as session:
        data = book(session, chat.name)
    assert data is not None
    return data


def import_into(chat: ChatHarness, path: Path):
    with chat.runtime.sessions() as session:
        target = chat_by_name(session, chat.name)
        report = import_book(session, target, read_book(path), chat.clock(), file=path.name)
        session.commit()
    return report


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_then_import_into_an_empty_chat_gives_the_same_book(runtime, clock, tmp_path, fmt):
    source = ChatHarness(runtime, clock, "一组")
    team_book(source)
    exported = sheets_of(source)
    customers = exported["客户"]
    assert customers[0][:4] == ["客户名称", "别名", "负责人", "阶段"]
    assert len(customers) == 4 and exported["目标"][1][:2] == ["张三", "2026-12"]
    assert any(row[3] == "导入" or row[3] == "建档" for row in exported["跟进记录"][1:])
    path = tmp_path / f"book.{fmt}"
    if fmt == "xlsx":
        write_xlsx(exported, path)
    else:
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            write_csv(customers, out)
    empty = ChatHarness(runtime, clock, "二组")
    for name in ("张三", "李四", "王经理"):
        empty.send("/帮助", as_=name)
    report = import_into(empty, path)
    assert report.problems == [] and report.created == 3
    again = sheets_of(empty)
    assert again["客户"] == customers
    if fmt == "xlsx":
        assert again["目标"] == exported["目标"]
    assert import_into(empty, path).unchanged == 3  # and once more changes nothing


def test_csv_is_the_customer_sheet_with_a_bom_for_excel(chat, tmp_path):
    team_book(chat)
    out = io.StringIO()
    write_csv(sheets_of(chat)["客户"], out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][0] == "客户名称" and {r[0] for r in rows[1:]} == {"华为", "腾讯", "阿里"}
    huawei = next(r for r in rows if r[0] == "华为")
    assert huawei[1:4] == ["花花", "张三", "已报价"]
    assert huawei[7] == "500000.00" and huawei[9] == "2026-12-02 14:00"


@pytest.mark.slow
def test_cli_export_formats_and_file_mode(tmp_path):
    env = {**os.environ, "GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    env.pop("GENJIN_CONFIG", None)

    def genjin(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
        )

    assert genjin("say", "--chat", "c", "--as", "张三", "/跟进 华为 明天回访").returncode == 0
    xlsx = genjin("export", "--format", "xlsx", "--chat", "c", "--output", "out/book.xlsx")
    assert xlsx.returncode == 0, xlsx.stderr
    path = tmp_path / "out" / "book.xlsx"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [s.name for s in read_book(path)] == ["客户", "跟进记录", "目标"]
    no_file = genjin("export", "--format", "xlsx")
    assert no_file.returncode == 2 and "--output" in no_file.stderr
    csv_out = genjin("export", "--format", "csv", "--chat", "c")
    assert csv_out.stdout.splitlines()[1].startswith("华为,,张三,跟进中")
    assert '"customers"' in genjin("export").stdout  # json stays the default


def test_export_then_import_gives_the_same_history_and_a_second_import_adds_none(
    runtime, clock, tmp_path
):
    source = ChatHarness(runtime, clock, "一组")
    source.send("/帮助", as_="老板")
    source.make_manager("王经理")
    steps = [
        ("王经理", "/新客户 华为 @张三 50万 展会"),
        ("张三", "/跟进 华为 报价已发 下周三14点回访"),
        ("张三", "/跟进 华为 报价已发 下周三14点回访"),  # the same line twice stays twice
        ("张三", "/报价 华为 48万"),
        ("李四", "/跟进 腾讯 初次拜访 12月5日再约"),
        ("李四", "/跟进 腾讯 写错了"),
        ("李四", "/撤销"),
        ("王经理", "/新客户 阿里 @李四 30万"),
        ("李四", "/签约 阿里"),
        ("李四", "/回款 阿里 30万 全款"),
    ]
    for who, text in steps:
        clock.advance(minutes=7)
        source.send(text, as_=who)
    exported = sheets_of(source)
    history = exported["跟进记录"][1:]
    assert len(history) >= len(steps)
    assert {row[3] for row in history} >= {"建档", "跟进", "改阶段", "签约", "回款"}
    assert any(row[5] == "已签约→已回款" and row[6] is not None for row in history)
    assert any(row[8] == "是" for row in history)  # the undone follow-up, marked
    path = tmp_path / "book.xlsx"
    write_xlsx(exported, path)

    clock.advance(days=3)
    empty = ChatHarness(runtime, clock, "二组")
    for name in ("张三", "李四", "王经理"):
        empty.send("/帮助", as_=name)
    report = import_into(empty, path)
    assert report.problems == [] and report.created == 3
    assert report.history == {
        "rows": len(history),
        "added": len(history),
        "existing": 0,
        "skipped": 0,
    }
    assert f"跟进记录 {len(history)} 条：新增 {len(history)}，已有 0（工作表“跟进记录”）" in (
        report.lines()
    )
    again = sheets_of(empty)
    assert again["客户"] == exported["客户"]
    imported, replayed = again["跟进记录"][1:4], again["跟进记录"][4:]
    assert [row[3] for row in imported] == ["导入"] * 3  # this import's own entries, then
    assert replayed == history  # time, member, kind, text, stage, amount, next, undone

    second = import_into(empty, path)
    assert second.history == {
        "rows": len(history),
        "added": 0,
        "existing": len(history),
        "skipped": 0,
    }
    assert sheets_of(empty)["跟进记录"] == again["跟进记录"]
    assert import_into(source, path).history["added"] == 0  # back into its own chat: all 已有
