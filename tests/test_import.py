"""`genjin import`: the sample books in tests/data/books import with a correct preview and book,
a second import changes nothing, an updated file updates and logs, nothing is half-imported."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.scheduler import chat_by_name
from models import Activity, Customer
from models.activity import Kind
from models.book import import_book
from models.book_headers import parse_overrides
from models.book_read import BookError, decode, read_book

BOOKS = Path(__file__).parent / "data" / "books"
TZ = ZoneInfo("Asia/Shanghai")


def members(chat, *names: str) -> None:
    """Make the people known to the chat, as when they have spoken in it."""
    for name in names:
        chat.send("/帮助", as_=name)


def run_import(chat, path: Path, **kwargs):
    """Import ``path`` into the harness chat and commit; the report."""
    with chat.runtime.sessions() as session:
        target = chat_by_name(session, chat.name)
        report = import_book(
            session, target, read_book(path), chat.clock(), file=path.name, **kwargs
        )
        session.commit()
    return report


def by_name(chat) -> dict[str, Customer]:
    return {c.name: c for c in chat.customers()}


def test_crm_export_imports_with_a_correct_preview_and_book(chat):
    members(chat, "张三", "李四", "王五")
    report = run_import(chat, BOOKS / "crm_export.xlsx")
    assert (report.created, report.updated, report.unchanged, report.skipped) == (300, 0, 0, 0)
    assert report.header_row == 4
    assert report.unknown == ["序号", "联系电话", "所在城市"]
    assert report.other_sheets == ["说明"]
    assert report.problems[:4] == [
        "第 11 行 预计金额（万元）“约五万”：是约数，已跳过该字段",
        "第 25 行 客户等级“E”：等级只能是 A、B、C、D，已跳过该字段",
        "第 46 行 下次联系时间“2026/2/30”：2026年2月没有30日，已跳过该字段",
        "第 65 行 销售阶段“暂停”：看不懂的阶段，已跳过该字段",
    ]
    # 赵六 is not in the chat: five rows of a merged owner cell, each reported.
    assert [p[:7] for p in report.problems[4:]] == [f"第 {n} 行" for n in range(156, 161)]
    assert len(report.problems) == 9
    book = by_name(chat)
    first = book["北京华联科技有限公司"]
    assert first.owner.name == "张三" and first.stage == "跟进中"  # 意向
    assert first.amount == Decimal("50000.00")  # 5 in a 万元 column
    assert (first.grade, first.tags, first.aliases, first.source) == (
        "A",
        ["重点", "华东"],
        ["北京华联"],
        "展会",
    )
    assert first.next_follow_up_at == datetime(2026, 12, 1, 10, 0, tzinfo=TZ)
    assert first.next_follow_up_has_time
    assert first.last_activity_at == datetime(2026, 11, 1, 9, 30, tzinfo=TZ)
    second = book["上海华联科技有限公司"]  # merged owner cell, 12.5 万, a date cell
    assert second.owner.name == "张三" and second.amount == Decimal("125000.00")
    assert second.next_follow_up_at == datetime(2026, 12, 2, tzinfo=TZ)
    serial = book["广州华联科技有限公司"]  # an Excel serial number, 8万 as text
    assert serial.next_follow_up_at == datetime(2026, 12, 3, tzinfo=TZ)
    assert not serial.next_follow_up_has_time and serial.amount == Decimal("80000.00")
    text_time = book["苏州华联科技有限公司"]  # 2026年12月10日 14:30
    assert text_time.next_follow_up_at == datetime(2026, 12, 10, 14, 30, tzinfo=TZ)
    signed = book["深圳华联科技有限公司"]  # 成交
    assert (signed.stage, signed.status, signed.next_follow_up_at) == ("已签约", "won", None)
    paid = book["北京远航科技有限公司"]  # 已成交 with 5万 paid of 5万
    assert paid.stage == "已回款" and paid.paid_amount == Decimal("50000.00")
    assert book["成都华联科技有限公司"].amount is None  # 约五万
    assert book["北京安信科技有限公司"].owner is None  # 赵六
    assert book["北京安信科技有限公司"].stage == "跟进中"
    imports = chat.activities()
    assert {a.kind for a in imports if a.customer_id} == {Kind.IMPORT}
    assert imports[-1].text.startswith("第") and imports[-1].stage_to is None


def test_importing_the_same_book_twice_changes_nothing(chat):
    members(chat, "张三", "李四", "王五")
    run_import(chat, BOOKS / "crm_export.xlsx")
    rows = [(c.id, c.name, c.amount, c.stage, c.next_follow_up_at) for c in chat.customers()]
    activities = chat.count(Activity)
    again = run_import(chat, BOOKS / "crm_export.xlsx")
    assert (again.created, again.updated, again.unchanged, again.skipped) == (0, 0, 300, 0)
    assert [
        (c.id, c.name, c.amount, c.stage, c.next_follow_up_at) for c in chat.customers()
    ] == rows
    assert chat.count(Activity) == activities


def test_gbk_csv_hand_made_sheet_imports(chat):
    members(chat, "张三", "李四", "王五")
    assert decode((BOOKS / "handmade_gbk.csv").read_bytes()).startswith("2026年客户名单")
    report = run_import(chat, BOOKS / "handmade_gbk.csv")
    assert (report.created, report.skipped, report.header_row) == (38, 2, 3)
    assert report.unknown == ["联系人"]
    assert report.problems == [
        "第 10 行 公司名称：没有客户名称，已跳过该行",
        "第 11 行 合同金额“USD 500”：是美元，只能记人民币，已跳过该字段",
        "第 12 行 公司名称“杭州西湖茶业有限公司”：与第 4 行是同一个客户，已跳过该行",
    ]
    book = by_name(chat)
    tea = book["杭州西湖茶业有限公司"]
    assert (tea.amount, tea.owner.name, tea.grade, tea.aliases) == (
        Decimal("50000.00"),
        "张三",
        "A",
        ["西湖茶业"],
    )
    assert tea.next_follow_up_at == datetime(2026, 12, 5, tzinfo=TZ)  # 12/5
    assert book["温州鞋城贸易"].amount == Decimal("12000.50")
    assert book["温州鞋城贸易"].tags == ["华东", "鞋类"] and book["温州鞋城贸易"].grade == "C"
    wine = book["绍兴黄酒集团"]
    assert (wine.amount, wine.stage, wine.grade) == (Decimal("35000.00"), "已报价", "B")
    assert wine.next_follow_up_at == datetime(2026, 12, 4, tzinfo=TZ)  # serial 46360
    assert book["嘉兴电子科技有限公司"].stage == "已签约"
    assert book["嘉兴电子科技有限公司"].amount == Decimal("8800.00")
    assert book["湖州丝绸之家"].stage == "输单"
    assert book["金华火腿铺子"].amount is None
    notes = {a.customer_name: a.text for a in chat.activities() if a.text}
    assert notes["温州鞋城贸易"] == "需要样品"


def test_an_updated_file_updates_matching_customers_by_name_or_alias_and_logs(chat, tmp_path):
    members(chat, "张三", "李四")
    first = tmp_path / "v1.csv"
    first.write_text("客户,负责人,金额,阶段\n华为,张三,5万,跟进中\n腾讯,李四,,线索\n", "utf-8-sig")
    run_import(chat, first)
    chat.reply("/别名 华为 花花")
    second = tmp_path / "v2.csv"
    second.write_text(
        "客户,负责人,金额,阶段,备注\n花花,李四,8万,报价,报价已发\n腾讯,,,,\n", "utf-8"
    )
    report = run_import(chat, second)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    huawei = chat.customer("华为")
    assert (huawei.owner.name, huawei.amount, huawei.stage) == (
        "李四",
        Decimal("80000.00"),
        "已报价",
    )
    log = chat.activities()[-1]
    assert log.kind == Kind.IMPORT and log.customer_name == "华为" and log.text == "报价已发"
    assert log.changes["amount"] == ["50000.00", "80000.00"]
    assert log.changes["stage"] == ["跟进中", "已报价"]
    assert chat.customer("腾讯").owner.name == "李四"  # an empty cell changes nothing


def test_map_override_and_unknown_grade(chat, tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("客户抬头,档次\n华为,Z\n", "utf-8")
    with pytest.raises(BookError):
        run_import(chat, path)
    report = run_import(chat, path, overrides=parse_overrides(["客户抬头=name", "档次=等级"]))
    assert report.created == 1
    assert report.problems == ["第 2 行 档次“Z”：等级只能是 A、B、C、D，已跳过该字段"]


def test_a_failing_import_writes_nothing(chat, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("客户,金额\n华为,5万\n", "utf-8")
    with chat.runtime.sessions() as session:
        target = chat_by_name(session, "销售一组") or pytest.fail("no chat")
        import_book(session, target, read_book(path), chat.clock(), file="bad.csv")
        session.rollback()  # what --dry-run does, and what any error does
    assert chat.customer("华为") is None
    with chat.runtime.sessions() as session:
        assert session.scalars(select(Activity).where(Activity.kind == Kind.IMPORT)).all() == []


@pytest.fixture
def chat(chat):
    """The harness chat, created by a first message."""
    chat.send("/帮助", as_="老板")
    return chat


@pytest.mark.slow
def test_cli_dry_run_previews_and_writes_nothing_then_imports(tmp_path):
    db = f"sqlite:///{tmp_path}/cli.db"
    env = {**os.environ, "GENJIN_DATABASE_URL": db}
    env.pop("GENJIN_CONFIG", None)

    def genjin(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
        )

    for name in ("张三", "李四", "王五"):
        assert genjin("say", "--chat", "c", "--as", name, "/帮助").returncode == 0
    csv = str(BOOKS / "handmade_gbk.csv")
    dry = genjin("import", csv, "--chat", "c", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "客户：新建 38 个，更新 0 个，无变化 0 个，跳过 2 行" in dry.stdout
    assert "没有写入任何数据" in dry.stdout
    assert '"customers": []' in genjin("export", "--chat", "c").stdout
    done = genjin("import", csv, "--chat", "c", "--as", "张三")
    assert done.returncode == 0 and done.stdout.endswith("已导入\n"), done.stderr
    again = genjin("import", csv, "--chat", "c")
    assert "新建 0 个，更新 0 个，无变化 38 个" in again.stdout
    missing = genjin("import", "nope.xlsx", "--chat", "c")
    assert missing.returncode == 2 and missing.stderr.startswith("genjin: import: 找不到文件")
    nochat = genjin("import", csv, "--chat", "zz")
    assert nochat.returncode == 2 and "no chat named 'zz'" in nochat.stderr


def crm_book_with_a_log(path: Path) -> Path:
    """A CRM export: a 客户 sheet and a 跟进日志 sheet (客户, 跟进时间, 记录人, 跟进方式, …)."""
    from openpyxl import Workbook

    workbook = Workbook()
    customers = workbook.active
    customers.title = "客户"
    customers.append(["客户名称", "负责人", "阶段"])
    customers.append(["华为", "张三", "跟进中"])
    customers.append(["腾讯", "李四", "已报价"])
    log = workbook.create_sheet("跟进日志")
    log.append(["客户", "跟进时间", "记录人", "跟进方式", "跟进内容", "下次联系时间"])
    log.append(["华为", datetime(2026, 11, 2, 9, 30), "张三", "电话", "约了拜访", "2026/11/5"])
    log.append(["华为", "2026-11-05 15:00", "张三", "跟进", "拜访，报价已发", None])
    log.append(["腾讯", "2026年11月3日 10:00", "王五", "微信", "发了资料", None])
    log.append(["京东", "2026-11-04", "李四", None, "没有这个客户", None])
    log.append(["腾讯", "昨天的某个时候", "李四", None, "时间看不懂", None])
    workbook.save(path)
    return path


def test_a_crm_follow_up_log_sheet_imports_as_history_once(chat, tmp_path):
    members(chat, "张三", "李四")
    path = crm_book_with_a_log(tmp_path / "crm.xlsx")
    report = run_import(chat, path)
    assert report.created == 2 and report.history_sheet == "跟进日志"
    assert report.other_sheets == []
    assert report.history == {"rows": 5, "added": 3, "existing": 0, "skipped": 2}
    assert "跟进记录 5 条：新增 3，已有 0，跳过 2 条（工作表“跟进日志”）" in report.lines()
    assert report.problems == [
        "跟进日志表第 4 行 记录人“王五”：不是群里已知的成员（他在群里说过话后再导入一次即可补上），"
        "已跳过该字段",
        "跟进日志表第 5 行 客户“京东”：没有这个客户，已跳过该行",
        "跟进日志表第 6 行 跟进时间“昨天的某个时候”：看不懂的日期，已跳过该行",
    ]
    log = [a for a in chat.activities() if a.kind != Kind.IMPORT]
    assert [
        (a.customer_name, a.created_at, a.member.name if a.member else None, a.kind, a.text)
        for a in log
    ] == [
        ("华为", datetime(2026, 11, 2, 9, 30, tzinfo=TZ), "张三", Kind.FOLLOW_UP, "电话：约了拜访"),
        ("华为", datetime(2026, 11, 5, 15, 0, tzinfo=TZ), "张三", Kind.FOLLOW_UP, "拜访，报价已发"),
        ("腾讯", datetime(2026, 11, 3, 10, 0, tzinfo=TZ), None, Kind.FOLLOW_UP, "微信：发了资料"),
    ]
    assert log[0].next_follow_up_at == datetime(2026, 11, 5, tzinfo=TZ)
    assert chat.customer("华为").stage == "跟进中"  # the log never changes a customer
    again = run_import(chat, path)
    assert again.history == {"rows": 5, "added": 0, "existing": 3, "skipped": 2}
    assert [a.id for a in chat.activities() if a.kind != Kind.IMPORT] == [a.id for a in log]


def test_undo_never_picks_what_an_import_wrote(chat, tmp_path):
    """An import (made --as a member, with that member's copied history) is nobody's entry."""
    members(chat, "张三")
    chat.reply("/跟进 百度 初次拜访")
    with chat.runtime.sessions() as session:
        actor = chat.member("张三")
        target = chat_by_name(session, chat.name)
        path = tmp_path / "book.csv"
        path.write_text("客户,负责人,金额\n华为,张三,5万\n", "utf-8")
        import_book(session, target, read_book(path), chat.clock(), file="book.csv",
                    actor=session.merge(actor))  # fmt: skip
        session.commit()
    assert chat.customer("华为").amount == Decimal("50000.00")
    reply = chat.reply("/撤销")
    assert "百度" in reply  # the member's own last entry, not the import
    assert chat.customer("华为").amount == Decimal("50000.00")
