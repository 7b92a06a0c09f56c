"""models.money: every way reps write yuan is read exactly, rough figures are asked about,
foreign currencies and garbage are refused. The table is tests/data/amounts.tsv."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from models.money import (
    MAX_MONEY,
    Approximate,
    Exact,
    Foreign,
    Unreadable,
    find_amount,
    find_amounts,
    leading_amount,
    parse_amount,
    read_amount,
    split_words,
    word_reading,
)

TABLE = Path(__file__).parent / "data" / "amounts.tsv"


def _rows() -> list[tuple[str, str, str]]:
    """(input, expected, note) from the table, comments skipped."""
    with TABLE.open(encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    return [(row["input"], row["expected"], row["note"]) for row in reader]


ROWS = _rows()


def test_the_table_covers_every_kind_of_case() -> None:
    expected = [row[1] for row in ROWS]
    assert len(ROWS) >= 120
    assert expected.count("ASK") >= 30
    assert expected.count("REFUSE") >= 30
    assert sum(1 for e in expected if e not in ("ASK", "REFUSE")) >= 60
    assert len({row[0] for row in ROWS}) == len(ROWS), "duplicate inputs"


@pytest.mark.parametrize(("text", "expected", "note"), ROWS, ids=[row[0] for row in ROWS])
def test_amount_table(text: str, expected: str, note: str) -> None:
    reading = read_amount(text)
    if expected == "ASK":
        assert isinstance(reading, Approximate), (reading, note)
    elif expected == "REFUSE":
        kind = Foreign if note.startswith("foreign") else Unreadable
        assert isinstance(reading, kind), (reading, note)
    else:
        assert reading == Exact(Decimal(expected), text.strip()), note
    assert parse_amount(text) == (Decimal(expected) if isinstance(reading, Exact) else None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("十多万", "金额“十多万”是约数，请给出准确金额"),
        ("5万美元", "金额“5万美元”是美元，只能记人民币金额，请换算成人民币"),
        ("HKD 5000", "金额“HKD 5000”是港币，只能记人民币金额，请换算成人民币"),
        ("48万含税", "看不懂金额“48万含税”，请只写金额，例如：5万"),
        ("0.001元", "看不懂金额“0.001元”，金额最多精确到分"),
        ("1万亿", "看不懂金额“1万亿”，请用数字或中文数字写清楚"),
        ("99999999999999999999万", "看不懂金额“9999999999999999999…”，金额太大了"),
        ("5万左右@所有人", "金额“5万左右＠所有人”是约数，请给出准确金额"),
    ],
)
def test_every_reading_that_is_not_exact_has_a_one_line_chinese_reason(
    text: str, reason: str
) -> None:
    reading = read_amount(text)
    assert not isinstance(reading, Exact)
    assert reading.reason == reason


def test_exact_amounts_are_cents_and_below_the_money_column() -> None:
    assert read_amount("999,999,999,999.99") == Exact(
        Decimal("999999999999.99"), "999,999,999,999.99"
    )
    assert isinstance(read_amount("1万2345.5"), Unreadable)  # decimals only on the leading number
    assert read_amount("1,000,000,000,000") == Unreadable("1,000,000,000,000", "金额太大了")
    assert MAX_MONEY == Decimal("1e12")
    assert read_amount("3块5").value == Decimal("3.50")  # type: ignore[union-attr]


# --- words in commands ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word",
    ["展会", "百度", "百度推广", "万达", "十堰", "5G", "2024展会", "一带一路", "三一重工", "5万人工厂",
     "钱总介绍", "好多", "上海", "小米", "A轮", "v2", "人民币"],
)  # fmt: skip
def test_ordinary_words_are_not_money(word: str) -> None:
    assert word_reading(word) is None


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("3万4000", Exact),
        ("千三", Exact),
        ("十万", Exact),
        ("很多钱", Unreadable),
        ("48万含税", Unreadable),
        ("5万/年", Unreadable),
        ("万一", Unreadable),
        ("大概5万", Approximate),
        ("上万", Approximate),
        ("5万美元", Foreign),
        ("$500", Foreign),
    ],
)
def test_money_like_words_are_read(word: str, kind: type) -> None:
    assert isinstance(word_reading(word), kind)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("华为 30万 展会", ["华为", "30万", "展会"]),
        ("30,000，展会、朋友介绍", ["30,000", "展会", "朋友介绍"]),
        ("30，000 展会", ["30，000", "展会"]),
        ("人民币 8千元 展会", ["人民币 8千元", "展会"]),
        ("人民币 8000 元", ["人民币 8000 元"]),
        ("USD 500", ["USD 500"]),
        ("8000 元", ["8000 元"]),
        ("5万 左右", ["5万 左右"]),
        ("大概 5万", ["大概 5万"]),
        ("5、6万 展会", ["5、6万", "展会"]),
        ("展会 人民币", ["展会", "人民币"]),
        ("", []),
    ],
)
def test_split_words_keeps_amounts_whole(text: str, words: list[str]) -> None:
    assert [text[s:e] for s, e in split_words(text)] == words


@pytest.mark.parametrize(
    ("text", "reading", "rest"),
    [
        ("5万 首付款", Exact(Decimal("50000.00"), "5万"), "首付款"),
        ("¥30,000，尾款", Exact(Decimal("30000.00"), "¥30,000"), "尾款"),
        ("人民币 8千元 首付", Exact(Decimal("8000.00"), "人民币 8千元"), "首付"),
        ("很多钱", Unreadable("很多钱"), ""),
        ("年框合同 48万", None, "年框合同 48万"),
        ("", None, ""),
    ],
)
def test_leading_amount(text: str, reading: object, rest: str) -> None:
    assert leading_amount(text) == (reading, rest)


# --- free text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("报价5.5万 下周三回访", [("5.5万", "55000")]),
        ("收到 ¥30,000", [("¥30,000", "30000")]),
        ("回款三万五 5号到账", [("三万五", "35000")]),
        ("价格 5w 含税", [("5w", "50000")]),
        ("花了3块5", [("3块5", "3.5")]),
        ("报价5万分3期付款", [("5万", "50000")]),
        ("5万元3月签", [("5万元", "50000")]),
        ("签约5万 合约3万", [("5万", "50000"), ("3万", "30000")]),
        ("最近5万的单", [("5万", "50000")]),
        ("收到5万来自华为", [("5万", "50000")]),
        ("报价5万,6月签", [("5万", "50000")]),
        ("回款5万到3月底", [("5万", "50000")]),
        ("统一5万", [("5万", "50000")]),
        ("报价5万美元", [("5万美元", "Foreign")]),
        ("US$ 500的订单", [("US$ 500", "Foreign")]),
        ("报价十多万", [("十多万", "Approximate")]),
        ("大约5万", [("大约5万", "Approximate")]),
        ("几十万的单子", [("几十万", "Approximate")]),
        ("预算五六万", [("五六万", "Approximate")]),
        ("预算5-8万", [("5-8万", "Approximate")]),
        ("5万余款下月", [("5万", "50000")]),
        ("二期三万 第三期5万", [("三万", "30000"), ("5万", "50000")]),
        ("3000多元", [("3000多元", "Approximate")]),
        ("预算1-2万", [("1-2万", "Approximate")]),
    ],
)
def test_find_amounts_in_free_text(text: str, found: list[tuple[str, str]]) -> None:
    mentions = find_amounts(text)
    got = []
    for mention in mentions:
        reading = mention.reading
        shown = reading.value if isinstance(reading, Exact) else type(reading).__name__
        got.append((text[mention.span[0] : mention.span[1]], shown))
    assert got == [(t, Decimal(v) if v[0].isdigit() else v) for t, v in found]


@pytest.mark.parametrize(
    "text",
    [
        "3天后再联系",
        "12月5日拜访",
        "下午3点开会",
        "2个人参加",
        "第2次拜访",
        "报价 30000",
        "2026-12-05 交付",
        "万一客户不签",
        "5万人的工厂",
        "采购3千台",
        "v1.5 版本",
        "周三万达广场见",
        "需要3块屏",
        "十分满意",
        "一万把椅子",
        "三万多家门店",
        "约了明天下午3点见面",
        "10:30 到",
        "需要3万块屏",
        "星期三万达见",
        "世界500强",
        "1万平米的厂房",
    ],
)
def test_free_text_without_money_has_no_amount(text: str) -> None:
    assert find_amounts(text) == []
    assert find_amount(text) is None


# --- properties ----------------------------------------------------------------------------------

_NUMERALS = set(
    "0123456789０１２３４５６７８９零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟"
    "萬億貳參叄陸兩㈠㈡㈢㈣㈤㈥㈦㈧㈨㈩"
)
no_numerals = st.text(
    st.characters(exclude_categories=["Cs"]).filter(lambda c: c not in _NUMERALS)
    | st.sampled_from(list("元块钱美多约近¥$,，.-~到 wWkK角分毛整人民币RMB")),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(no_numerals)
@example("元")
@example("很多钱")
@example("wk元")
@example("¥.,-")
def test_no_amount_from_text_without_digits_or_numerals(text: str) -> None:
    assert not set(text) & _NUMERALS  # the strategy's promise
    assert not isinstance(read_amount(text), Exact)
    assert find_amount(text) is None
    assert all(not isinstance(m.reading, Exact) for m in find_amounts(text))
    assert not isinstance(word_reading(text), Exact)


_CN = "零一二三四五六七八九"


def _section(n: int) -> str:
    """1-9999 in standard Chinese numerals (一千零一十)."""
    out, gap = "", False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // unit % 10
        if digit == 0:
            gap = gap or bool(out)
            continue
        out += ("零" if gap else "") + _CN[digit] + name
        gap = False
    return out


def _chinese(n: int) -> str:
    """1 ≤ n < 10**12 in standard Chinese numerals (十万零五十六, 一亿零一万)."""
    out, gap = "", False
    for unit, name in ((10**8, "亿"), (10**4, "万"), (1, "")):
        part = n // unit % 10**4
        if part == 0:
            gap = gap or bool(out)
            continue
        if out and (gap or part < 1000):
            out += "零"
        out += _section(part) + name
        gap = False
    return out[1:] if out.startswith("一十") else out


def _wan(n: int) -> str:
    """n as Arabic with 万 (3万4000, 1万零6): digits after 万 are literal, a lone digit needs 零."""
    high, low = divmod(n, 10**4)
    if not high:
        return str(n)
    return f"{high}万" + ("" if not low else f"零{low}" if low < 10 else str(low))


yuan = st.integers(min_value=1, max_value=10**12 - 1)


@settings(max_examples=400, deadline=None)
@given(yuan, st.sampled_from(["{}", "{}元", "¥{}", "人民币{}元", "{}块钱"]))
@example(100056, "{}")
@example(1010, "{}")
@example(10**8 + 10**4, "{}")
def test_every_integer_written_any_standard_way_reads_back_exactly(n: int, template: str) -> None:
    for written in (str(n), f"{n:,}", _chinese(n), _wan(n)):
        text = template.format(written)
        assert read_amount(text) == Exact(Decimal(n), text), text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=10**14 - 1))
def test_cents_read_back_exactly(cents: int) -> None:
    text = f"{Decimal(cents) / 100:.2f}元"
    assert parse_amount(text) == Decimal(cents) / 100


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet="0123456789.,，万亿千百十元块¥$kKwW三五两一零多约近-~到 美元左右人台号",
        max_size=40,
    )
)
@example("报价5万5千，回款3万，约5万美元")
def test_mentions_index_the_text_in_order_and_agree_with_read_amount(text: str) -> None:
    end = 0
    for mention in find_amounts(text):
        start, stop = mention.span
        assert end <= start < stop <= len(text)
        assert mention.reading == read_amount(text[start:stop])
        end = stop
