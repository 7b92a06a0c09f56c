"""The date grammar (models.dates): the table in tests/data/dates.tsv, properties, the cost cap."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import dates
from models.calendar import WorkCalendar
from models.dates import MAX_TOKENS, DateReading, read_exact, read_note
from models.parsing import fold_for_parsing

TZ = ZoneInfo("Asia/Shanghai")
TABLE = Path(__file__).parent / "data" / "dates.tsv"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)  # a Friday


def _rows() -> list[Any]:
    """(now, input, expected, note) for every data line of the table."""
    rows = []
    for number, line in enumerate(TABLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#") or line.startswith("now\t"):
            continue
        now, text, expected, note = line.split("\t")
        rows.append(pytest.param(now, text, expected, note, id=f"{number}:{text}"))
    return rows


ROWS = _rows()


def test_the_table_covers_enough_cases() -> None:
    kinds = {
        row.values[2].split(":")[0] if not row.values[2][:1].isdigit() else "DATE" for row in ROWS
    }
    assert len(ROWS) >= 150
    assert kinds == {"DATE", "PAST", "ASK", "REFUSE", "NONE"}


def _when(value: str) -> tuple[datetime, bool]:
    """An expected ISO value as (aware moment, has_time)."""
    has_time = "T" in value
    moment = datetime.fromisoformat(value if has_time else f"{value}T00:00")
    return moment.replace(tzinfo=TZ), has_time


@pytest.mark.parametrize(("now", "text", "expected", "note"), ROWS)
def test_dates_table(now: str, text: str, expected: str, note: str) -> None:
    at = datetime.fromisoformat(now).replace(tzinfo=TZ)
    reading = read_note(text, at)
    if expected == "NONE":
        assert reading == DateReading(), note
    elif expected in ("ASK", "REFUSE"):
        assert reading.problem is not None, (note, reading)
        assert reading.problem.kind == expected.lower(), (note, reading.problem)
        assert reading.hit is None and reading.past is None
        start, end = reading.problem.span
        assert text[start:end] == reading.problem.text
        assert re.search(r"[\u4e00-\u9fff]", reading.problem.reason)
        assert "\n" not in reading.problem.reason
    elif expected.startswith("PAST:"):
        assert reading.hit is None and reading.problem is None, (note, reading)
        assert reading.past is not None, note
        assert (reading.past.when, reading.past.has_time) == _when(expected[5:]), note
    else:
        assert reading.problem is None and reading.hit is not None, (note, reading)
        assert (reading.hit.when, reading.hit.has_time) == _when(expected), note
        assert reading.hit.when.tzinfo is TZ
        start, end = reading.hit.span
        assert text[start:end] == reading.hit.text and reading.hit.text


# -- exact expressions: /提醒 and /日报 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("", None),
        ("今天", date(2026, 11, 27)),
        ("昨天", date(2026, 11, 26)),
        ("前天", date(2026, 11, 25)),
        ("周三", date(2026, 11, 25)),  # this week's, not next week's
        ("上周三", date(2026, 11, 18)),
        ("5号", date(2026, 11, 5)),
        ("11月26日", date(2026, 11, 26)),
        ("12月31日", date(2025, 12, 31)),
        ("2026-11-20", date(2026, 11, 20)),
        ("２０２６／１１／２０", date(2026, 11, 20)),
        ("3天前", date(2026, 11, 24)),
    ],
)
def test_report_days_read_backwards(text: str, day: date | None) -> None:
    reading = read_exact(text or "今天", NOW, past=True)
    hit = reading.hit
    assert hit is not None and hit.when.date() == (day or NOW.date())


@pytest.mark.parametrize("text", ["随便", "昨天和今天", "下周三回访", "昨天 " * 60, "5万"])
def test_report_days_must_be_one_date(text: str) -> None:
    assert read_exact(text, NOW, past=True) == DateReading()


def test_a_report_day_that_cannot_exist_is_refused() -> None:
    problem = read_exact("2月30日", NOW, past=True).problem
    assert problem is not None and problem.reason == "2026年2月没有30日"


# -- the calendar the chat uses ------------------------------------------------------------------


def test_holidays_from_the_config_let_next_years_blocks_be_read() -> None:
    holidays = [date(2027, 2, 5) + (date(2027, 1, 2) - date(2027, 1, 1)) * i for i in range(9)]
    cal = WorkCalendar(holidays=holidays, workdays=[date(2027, 2, 20)])
    hit = read_note("春节后回访", NOW, cal).hit
    assert hit is not None and hit.when.date() == date(2027, 2, 15)  # 2-05..2-13 off, 2-14 Sunday
    assert read_note("春节后回访", NOW).problem is not None  # without them: refused


def test_working_days_come_from_the_chats_calendar() -> None:
    cal = WorkCalendar(holidays=[date(2026, 11, 30)])
    hit = read_note("3个工作日内", NOW, cal).hit
    assert hit is not None and hit.when.date() == date(2026, 12, 3)


# -- properties ----------------------------------------------------------------------------------

# Every character the grammar mentions (digits, numerals, 周/月/号/点, festival names …), read
# through the same fold as the parser: text made only of other characters is never a date.
_DATE_CHARS = set("".join(p for _, p in dates._FORMS)) | set("0123456789")
_PLAIN_CJK = [
    ch
    for ch in map(chr, range(0x4E00, 0x9FA6))
    if ch not in _DATE_CHARS and fold_for_parsing(ch) not in _DATE_CHARS
]
_PLAIN = st.sampled_from(_PLAIN_CJK + list("abcxyzABC ,，。、！？（）:;-/+*@#\n"))


def test_the_plain_alphabet_is_large_and_free_of_date_words() -> None:
    assert len(_PLAIN_CJK) > 15000
    assert not {"周", "週", "月", "号", "號", "点", "點", "天", "日", "后", "後", "一", "五"} & set(
        _PLAIN_CJK
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(_PLAIN, max_size=300).map("".join))
def test_text_without_numerals_or_date_words_is_never_a_date(text: str) -> None:
    assert read_note(text, NOW) == DateReading()
    assert read_exact(text, NOW) == DateReading()


_WORDS = st.sampled_from(
    [
        "明天",
        "下周三",
        "三点",
        "12.5",
        "五日内",
        "2月30日",
        "周日，二月十号",
        "正月十五",
        "節後",
        "万",
        "5号",
        "月底",
        "下个月",
        " ",
        "，",
        "客户",
        "报价",
        "3月后",
        "昨天",
        "11月20日",
        "晚上12点",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(_WORDS, max_size=12).map("".join),
    st.sampled_from([NOW, NOW.replace(hour=23, minute=59), datetime(2026, 12, 31, 8, tzinfo=TZ)]),
)
def test_readings_are_consistent(text: str, now: datetime) -> None:
    reading = read_note(text, now)
    assert sum(x is not None for x in (reading.hit, reading.problem)) <= 1
    for hit in (reading.hit, reading.past):
        if hit is None:
            continue
        assert hit.when.tzinfo is TZ
        assert text[hit.span[0] : hit.span[1]] == hit.text
    if reading.hit is not None:
        ahead = (
            reading.hit.when > now
            if reading.hit.has_time
            else reading.hit.when.date() >= now.date()
        )
        assert ahead
    if reading.past is not None:
        assert reading.past.when.date() <= now.date()


# -- bounded cost --------------------------------------------------------------------------------


def test_at_most_max_tokens_expressions_are_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = dates._RESOLVERS["relday"]

    def counting(*args: object) -> object:
        calls.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setitem(dates._RESOLVERS, "relday", counting)
    hit = read_note("明天 " * 1000, NOW).hit
    assert hit is not None and hit.text == "明天"
    assert len(calls) == MAX_TOKENS


def test_only_the_first_max_chars_are_read() -> None:
    assert read_note("报" * dates.MAX_CHARS + "明天", NOW) == DateReading()
    assert read_note("报" * (dates.MAX_CHARS - 2) + "明天", NOW).hit is not None


def test_a_naive_now_is_a_bug() -> None:
    with pytest.raises(ValueError):
        read_note("明天", datetime(2026, 11, 27, 10))


_UNFILTERED = re.compile(
    "|".join(f"(?P<{kind}>{dates._strip_names(p)})" for kind, p in dates._FORMS), re.ASCII
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        _WORDS | st.text(max_size=3) | st.sampled_from(list("十一月号点周天年后前内半.:/-万元")),
        max_size=20,
    ).map("".join)
)
def test_the_first_character_filter_finds_the_same_expressions(text: str) -> None:
    """The look-ahead that skips hopeless positions (bounded cost) never changes what is found."""
    _, master = dates._grammar()
    assert master.pattern.startswith("(?=[")
    folded = fold_for_parsing(text)
    fast = [(m.lastgroup, m.span()) for m in master.finditer(folded)]
    slow = [(m.lastgroup, m.span()) for m in _UNFILTERED.finditer(folded)]
    assert fast == slow


def test_reading_dates_never_imports_all_of_jionlp() -> None:
    """jionlp takes two seconds to import; only its lunar table is loaded, on first use."""
    code = (
        "import sys; from datetime import datetime; from zoneinfo import ZoneInfo;"
        "from models.dates import read_note;"
        "print('jionlp' in sys.modules, 'opencc' in sys.modules);"
        "read_note('正月十五 週一', datetime(2026, 11, 27, tzinfo=ZoneInfo('Asia/Shanghai')));"
        "print('jionlp' in sys.modules, 'opencc' in sys.modules)"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.split("\n")[:2] == ["False False", "False True"]
