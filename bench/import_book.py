"""Benchmark: `genjin import` of a 20,000-row customer book into SQLite, and the .xlsx readers.

Writes a CRM-like .xlsx (the same columns as tests/data/books/crm_export.xlsx, a 万元 amount
column, mixed date forms), imports it into a fresh SQLite database (first import: every customer
created; second: nothing changes), and times python-calamine against openpyxl on reading it
(calamine only when installed: it is not a dependency).

Reproduce:  .venv/bin/python -m bench.import_book [--rows 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.runtime import Runtime
from bot.scheduler import chat_by_name
from models.book import import_book
from models.book_read import read_book
from models.db import make_engine, upgrade
from tests.support.harness import START, ChatHarness, Clock

HEADER = [
    "序号", "客户名称", "客户简称", "负责人", "销售阶段", "客户等级", "标签", "线索来源",
    "预计金额（万元）", "回款金额", "下次联系时间", "最近跟进时间", "跟进记录", "联系电话",
]  # fmt: skip
STAGES = ["意向", "洽谈", "报价", "跟进中", "线索", "成交"]


def write_book(path: Path, rows: int) -> None:
    """A CRM-like book of ``rows`` customers."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("客户")
    ws.append(["客户台账"])
    ws.append(HEADER)
    for i in range(rows):
        day = date(2026, 12, 1) + timedelta(days=i % 60)
        when = [datetime.combine(day, datetime.min.time()), f"{day:%Y/%m/%d}", day][i % 3]
        stage = STAGES[i % len(STAGES)]
        ws.append(
            [
                i + 1,
                f"客户{i:05d}科技有限公司",
                f"客户{i:05d}" if i % 4 == 0 else None,
                ["张三", "李四", "王五"][i % 3],
                stage,
                "ABCD"[i % 4],
                "重点,华东" if i % 2 else None,
                "展会",
                [5, 12.5, "8万", 20][i % 4],
                None,
                None if stage == "成交" else when,
                datetime(2026, 11, 1, 9, 30) + timedelta(hours=i % 500),
                f"第{i}次沟通",
                f"138{i:08d}",
            ]
        )
    wb.save(path)


def timed_import(runtime: Runtime, path: Path) -> tuple[float, float, str]:
    """(seconds reading, seconds importing and committing, the counts line)."""
    start = time.perf_counter()
    sheets = read_book(path)
    read = time.perf_counter() - start
    start = time.perf_counter()
    with runtime.sessions() as session:
        chat = chat_by_name(session, "销售一组")
        assert chat is not None
        report = import_book(session, chat, sheets, runtime.clock(), file=path.name)
        session.commit()
    return read, time.perf_counter() - start, report.lines()[1]


def readers(path: Path) -> None:
    """Seconds to read every row with openpyxl (read-only and full) and python-calamine."""
    from openpyxl import load_workbook

    for read_only in (True, False):
        start = time.perf_counter()
        wb = load_workbook(path, read_only=read_only, data_only=True)
        count = sum(1 for _ in wb["客户"].iter_rows(values_only=True))
        mode = "read_only" if read_only else "full (merged cells)"
        print(f"  openpyxl {mode}: {time.perf_counter() - start:.2f} s ({count} rows)")
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:
        print("  python-calamine: not installed (pip install python-calamine to compare)")
        return
    start = time.perf_counter()
    count = len(CalamineWorkbook.from_path(str(path)).get_sheet_by_name("客户").to_python())
    print(f"  python-calamine: {time.perf_counter() - start:.2f} s ({count} rows)")


def main() -> None:
    """Run and print figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    path = folder / "book.xlsx"
    write_book(path, args.rows)
    engine = make_engine(f"sqlite:///{folder}/bench.db")
    upgrade(engine)
    runtime = Runtime(Settings(), engine=engine, clock=Clock(START))
    chat = ChatHarness(runtime, runtime.clock)
    for name in ("张三", "李四", "王五"):
        chat.send("/帮助", as_=name)
    print(f"{args.rows} rows, {path.stat().st_size // 1024} KiB .xlsx, SQLite")
    for label in ("first import", "second import"):
        read, applied, counts = timed_import(runtime, path)
        total = read + applied
        print(f"{label}: read {read:.2f} s + import {applied:.2f} s = {total:.2f} s｜{counts}")
    print("readers:")
    readers(path)
    print(f"reproduce: .venv/bin/python -m bench.import_book --rows {args.rows}")


if __name__ == "__main__":
    main()
