"""Pure text parsing: normalisation, first argument, amounts, dates, names, echo sanitising."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from models.dates import read_note
from models.parsing import (
    Candidate,
    DateHit,
    core_name,
    find_amount,
    find_when,
    match_name,
    normalize_name,
    normalize_text,
    parse_amount,
    parse_when,
    sanitize_user_text,
    split_first,
    split_known_prefix,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)  # a Friday
MONTH_END = datetime(2026, 11, 30, 16, 0, tzinfo=TZ)  # a Monday, last day of the month
YEAR_END = datetime(2026, 12, 30, 9, 0, tzinfo=TZ)  # a Wednesday


def _d(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


# --- normalize_text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("／跟进　华为，报价已发", "/跟进 华为，报价已发"),
        ("＠小王 ：１２万", "@小王 ：12万"),
        ("a\u00a0b", "a b"),
        ("华\u200b为\ufeff", "华为"),
        ("  a  \t b  ", "a b"),
        ("第一行  \n   第二行 \n", "第一行\n第二行"),
        ("客户、报价。好", "客户、报价。好"),
        ("", ""),
    ],
)
def test_normalize_text_undoes_chat_client_mangling(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


# --- split_first --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("华为 报价已发 下周三回访", ("华为", "报价已发 下周三回访")),
        ("华为，报价已发", ("华为", "报价已发")),
        ("华为：已报价", ("华为", "已报价")),
        ("华为;已报价", ("华为", "已报价")),
        ("华为、已报价", ("华为", "已报价")),
        ("华为\n报价已发\n下周三回访", ("华为", "报价已发\n下周三回访")),
        ('"华为 技术" 报价已发', ("华为 技术", "报价已发")),
        ("“华为 技术” 报价已发", ("华为 技术", "报价已发")),
        ("「华为 技术」报价已发", ("华为 技术", "报价已发")),
        ("『华为』：已报价", ("华为", "已报价")),
        ("'Acme Corp' quoted", ("Acme Corp", "quoted")),
        ("华为", ("华为", "")),
        ("　华为　　报价", ("华为", "报价")),
        ("", ("", "")),
        ("   ", ("", "")),
    ],
)
def test_split_first_takes_the_customer_name(text: str, expected: tuple[str, str]) -> None:
    assert split_first(text) == expected


# --- amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "yuan"),
    [
        ("5万", "50000.00"),
        ("5.5w", "55000.00"),
        ("5.5W", "55000.00"),
        ("¥30,000", "30000.00"),
        ("￥30000", "30000.00"),
        ("30000元", "30000.00"),
        ("3万元", "30000.00"),
        ("三万", "30000.00"),
        ("三万五", "35000.00"),
        ("一万二", "12000.00"),
        ("两千五", "2500.00"),
        ("十二万", "120000.00"),
        ("十二万五", "125000.00"),
        ("两百万", "2000000.00"),
        ("1.2亿", "120000000.00"),
        ("5k", "5000.00"),
        ("5K", "5000.00"),
        ("8千", "8000.00"),
        ("30000", "30000.00"),
        ("30,000.50", "30000.50"),
        ("2块", "2.00"),
        ("3万块钱", "30000.00"),
        ("5万5", "55000.00"),
        ("１２万", "120000.00"),
    ],
)
def test_parse_amount_returns_yuan(token: str, yuan: str) -> None:
    assert parse_amount(token) == Decimal(yuan)


@pytest.mark.parametrize(
    "token", ["", "abc", "-5万", "0元", "0", "五六万", "5-8万", "万", "下周三", "x" * 100]
)
def test_parse_amount_rejects_garbage_zero_negative_and_ranges(token: str) -> None:
    assert parse_amount(token) is None


@pytest.mark.parametrize(
    ("text", "yuan", "span"),
    [
        ("报价5.5万 下周三回访", "55000.00", (2, 6)),
        ("合同金额 12.8万", "128000.00", (5, 10)),
        ("收到 ¥30,000", "30000.00", (3, 10)),
        ("回款三万", "30000.00", (2, 4)),
        ("回款三万五 5号到账", "35000.00", (2, 5)),
        ("报价30000元", "30000.00", (2, 8)),
        ("价格 5w 含税", "50000.00", (3, 5)),
        ("3天后 回款 8千", "8000.00", (7, 9)),
        ("首付 2块", "2.00", (3, 5)),
    ],
)
def test_find_amount_finds_the_first_amount_with_unit(
    text: str, yuan: str, span: tuple[int, int]
) -> None:
    found = find_amount(text)
    assert found == (Decimal(yuan), span)
    assert parse_amount(text[span[0] : span[1]]) == Decimal(yuan)


@pytest.mark.parametrize(
    "text",
    [
        "",
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
    ],
)
def test_find_amount_ignores_bare_numbers_dates_and_counts(text: str) -> None:
    assert find_amount(text) is None


# --- dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "when", "has_time"),
    [
        ("今天", _d(2026, 11, 27), False),
        ("明天", _d(2026, 11, 28), False),
        ("后天", _d(2026, 11, 29), False),
        ("大后天", _d(2026, 11, 30), False),
        ("下周三", _d(2026, 12, 2), False),
        ("周五", _d(2026, 11, 27), False),
        ("星期五", _d(2026, 11, 27), False),
        ("礼拜五", _d(2026, 11, 27), False),
        ("周四", _d(2026, 12, 3), False),
        ("周一", _d(2026, 11, 30), False),
        ("星期天", _d(2026, 11, 29), False),
        ("本周五", _d(2026, 11, 27), False),
        ("下下周一", _d(2026, 12, 7), False),
        ("3天后", _d(2026, 11, 30), False),
        ("三天后", _d(2026, 11, 30), False),
        ("一周后", _d(2026, 12, 4), False),
        ("两周后", _d(2026, 12, 11), False),
        ("12月5日", _d(2026, 12, 5), False),
        ("12月5号", _d(2026, 12, 5), False),
        ("12/5", _d(2026, 12, 5), False),
        ("2026-12-05", _d(2026, 12, 5), False),
        ("5号", _d(2026, 12, 5), False),
        ("30号", _d(2026, 11, 30), False),
        ("1月5日", _d(2027, 1, 5), False),
        ("月底", _d(2026, 11, 30), False),
        ("本月底", _d(2026, 11, 30), False),
        ("月末", _d(2026, 11, 30), False),
        ("12月底", _d(2026, 12, 31), False),
        ("下月初", _d(2026, 12, 1), False),
        ("下个月初", _d(2026, 12, 1), False),
        ("下个月", _d(2026, 12, 1), False),
        ("下月", _d(2026, 12, 1), False),
        ("下个月15号", _d(2026, 12, 15), False),
        ("年底", _d(2026, 12, 31), False),
        ("明年年底", _d(2027, 12, 31), False),
        ("明天下午3点", _d(2026, 11, 28, 15), True),
        ("明天下午三点", _d(2026, 11, 28, 15), True),
        ("下周一上午10点", _d(2026, 11, 30, 10), True),
        ("下周三 下午3点", _d(2026, 12, 2, 15), True),
        ("明早", _d(2026, 11, 28, 9), True),
        ("明天上午", _d(2026, 11, 28, 9), True),
        ("今晚", _d(2026, 11, 27, 19), True),
        ("今晚8点", _d(2026, 11, 27, 20), True),
        ("下午3点", _d(2026, 11, 27, 15), True),
        ("上午9点", _d(2026, 11, 28, 9), True),
        ("周五前", _d(2026, 11, 27), False),
        ("5号前", _d(2026, 12, 5), False),
        ("  明天  ", _d(2026, 11, 28), False),
    ],
)
def test_parse_when_resolves_forward_looking_expressions(
    expr: str, when: datetime, has_time: bool
) -> None:
    hit = parse_when(expr, NOW)
    assert hit is not None
    assert (hit.when, hit.has_time) == (when, has_time)
    assert hit.when.tzinfo is TZ


@pytest.mark.parametrize(
    "expr",
    ["", "   ", "昨天", "上周三", "春节后", "今天上午9点", "5万", "3", "abc", "下周三回访", "华为"],
)
def test_parse_when_rejects_past_garbage_and_extra_words(expr: str) -> None:
    assert parse_when(expr, NOW) is None


@pytest.mark.parametrize(
    ("now", "expr", "when"),
    [
        (MONTH_END, "月底", _d(2026, 11, 30)),
        (MONTH_END, "周一", _d(2026, 11, 30)),
        (MONTH_END, "下周三", _d(2026, 12, 9)),
        (MONTH_END, "下个月", _d(2026, 12, 1)),
        (MONTH_END, "5号", _d(2026, 12, 5)),
        (MONTH_END, "明天", _d(2026, 12, 1)),
        (YEAR_END, "月底", _d(2026, 12, 31)),
        (YEAR_END, "年底", _d(2026, 12, 31)),
        (YEAR_END, "下月初", _d(2027, 1, 1)),
        (YEAR_END, "下个月", _d(2027, 1, 1)),
        (YEAR_END, "下周三", _d(2027, 1, 6)),
        (YEAR_END, "5号", _d(2027, 1, 5)),
        (YEAR_END, "1月5日", _d(2027, 1, 5)),
        (YEAR_END, "1/5", _d(2027, 1, 5)),
        (YEAR_END, "两周后", _d(2027, 1, 13)),
        (YEAR_END, "1个月后", _d(2027, 1, 30)),
        (YEAR_END, "后天", _d(2027, 1, 1)),
    ],
)
def test_parse_when_at_month_and_year_end(now: datetime, expr: str, when: datetime) -> None:
    hit = parse_when(expr, now)
    assert hit is not None and hit.when == when and hit.has_time is False


def test_a_missing_day_of_month_is_refused_and_a_recent_month_day_is_past() -> None:
    assert parse_when("31号", MONTH_END) is None  # November has no 31st: not silently December
    problem = read_note("31号", MONTH_END).problem
    assert problem is not None and (problem.kind, problem.reason) == ("refuse", "11月没有31号")
    assert parse_when("12/5", YEAR_END) is None  # 25 days ago, not next December
    past = read_note("12/5", YEAR_END).past
    assert past is not None and past.when == _d(2026, 12, 5)


def test_parse_when_rolls_a_passed_clock_time_to_tomorrow() -> None:
    hit = parse_when("下午3点", MONTH_END)
    assert hit is not None and (hit.when, hit.has_time) == (_d(2026, 12, 1, 15), True)


@pytest.mark.parametrize(
    ("note", "when", "has_time", "text", "span"),
    [
        ("报价已发 下周三回访", _d(2026, 12, 2), False, "下周三", (5, 8)),
        ("报价已发下周三回访", _d(2026, 12, 2), False, "下周三", (4, 7)),
        ("报价5.5万 下周三回访", _d(2026, 12, 2), False, "下周三", (7, 10)),
        ("合同金额 12.8万，月底签", _d(2026, 11, 30), False, "月底", (11, 13)),
        ("昨天见了客户，明天下午3点再去", _d(2026, 11, 28, 15), True, "明天下午3点", (7, 13)),
        ("上周三见过 下周三回访", _d(2026, 12, 2), False, "下周三", (6, 9)),
        ("回款三万 5号前到账", _d(2026, 12, 5), False, "5号", (5, 7)),
        ("约了12/5", _d(2026, 12, 5), False, "12/5", (2, 6)),
        ("3天后再联系", _d(2026, 11, 30), False, "3天后", (0, 3)),
        ("明早打电话", _d(2026, 11, 28, 9), True, "明早", (0, 2)),
        ("今晚发方案", _d(2026, 11, 27, 19), True, "今晚", (0, 2)),
        ("下月初上门", _d(2026, 12, 1), False, "下月初", (0, 3)),
        ("下个月再谈", _d(2026, 12, 1), False, "下个月", (0, 3)),
        ("月末前回款", _d(2026, 11, 30), False, "月末", (0, 2)),
        ("两周后复盘", _d(2026, 12, 11), False, "两周后", (0, 3)),
        ("年底前签约", _d(2026, 12, 31), False, "年底", (0, 2)),
        ("周五给答复", _d(2026, 11, 27), False, "周五", (0, 2)),
        ("客户说周四再聊", _d(2026, 12, 3), False, "周四", (3, 5)),
        ("演示改到下周一上午10点", _d(2026, 11, 30, 10), True, "下周一上午10点", (4, 12)),
        ("已报价\n下周三回访", _d(2026, 12, 2), False, "下周三", (4, 7)),
        ("报价已发　下周三回访", _d(2026, 12, 2), False, "下周三", (5, 8)),
    ],
)
def test_find_when_finds_the_first_future_expression(
    note: str, when: datetime, has_time: bool, text: str, span: tuple[int, int]
) -> None:
    assert find_when(note, NOW) == DateHit(when, has_time, text, span)
    assert note[span[0] : span[1]] == text


@pytest.mark.parametrize(
    "note",
    [
        "",
        "报价已发",
        "客户说春节后再说",
        "昨天拜访了",
        "上周三见过客户",
        "收款5万",
        "报价 30000",
        "2个人参加，第2次拜访",
        "每周三回访",
        "\x00\x01@@<<>>",
        "万" * 500,
    ],
)
def test_find_when_returns_none_without_a_future_date(note: str) -> None:
    assert find_when(note, NOW) is None


def test_find_when_at_year_end_rolls_into_next_year() -> None:
    hit = find_when("报价已发 5号前回款", YEAR_END)
    assert hit is not None and hit.when == _d(2027, 1, 5)


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("华为", "华为"),
        (" 华为 ", "华为"),
        ("ＡＢＣ 公司", "abc公司"),
        ("Apple Inc.", "appleinc"),
        ("阿里巴巴（中国）有限公司", "阿里巴巴中国有限公司"),
        ("华为·技术", "华为技术"),
        ("", ""),
    ],
)
def test_normalize_name_builds_the_unique_key(name: str, key: str) -> None:
    assert normalize_name(name) == key


@pytest.mark.parametrize(
    ("name", "core"),
    [
        ("华为技术有限公司", "华为"),
        ("腾讯控股有限公司", "腾讯"),
        ("阿里巴巴集团", "阿里巴巴"),
        ("阿里巴巴（中国）有限公司", "阿里巴巴"),
        ("中国平安保险(集团)股份有限公司", "中国平安保险"),
        ("北京字节跳动科技有限公司", "北京字节跳动"),
        ("万科企业股份有限公司", "万科企业"),
        ("小米科技", "小米科技"),
        ("Huawei Technologies Co., Ltd.", "huaweitechnologies"),
        ("Apple Inc.", "apple"),
        ("Costco", "costco"),
        ("公司", "公司"),
        ("科技有限公司", "科技"),
    ],
)
def test_core_name_strips_legal_suffixes_only(name: str, core: str) -> None:
    assert core_name(name) == core


CANDIDATES = [
    Candidate(1, "华为技术有限公司"),
    Candidate(2, "腾讯"),
    Candidate(3, "阿里巴巴集团", ("阿里",)),
    Candidate(4, "北京字节跳动科技有限公司", ("字节", "抖音")),
    Candidate(5, "华润置地"),
    Candidate(6, "Apple Inc."),
    Candidate(7, "小鹏汽车"),
]


@pytest.mark.parametrize(
    ("query", "kind", "key"),
    [
        ("华为技术有限公司", "exact", 1),
        (" 华为技术有限公司 ", "exact", 1),
        ("腾讯", "exact", 2),
        ("APPLE INC", "exact", 6),
        ("抖音", "alias", 4),
        ("阿里", "alias", 3),
        ("华为", "core", 1),
        ("华为技术", "fuzzy", 1),
        ("华为有限公司", "core", 1),
        ("apple", "core", 6),
        ("阿里巴巴", "core", 3),
        ("腾迅", "fuzzy", 2),
        ("字节跳动", "fuzzy", 4),
        ("华润", "fuzzy", 5),
        ("小鹏", "fuzzy", 7),
    ],
)
def test_match_name_ladder(query: str, kind: str, key: int) -> None:
    found = match_name(query, CANDIDATES)
    assert (found.kind, found.key) == (kind, key)
    assert found.name == next(c.name for c in CANDIDATES if c.key == key)


def test_match_name_prefix_of_core_name_is_a_fuzzy_match() -> None:
    found = match_name("阿里", [Candidate(3, "阿里巴巴集团")])
    assert (found.kind, found.key) == ("fuzzy", 3)


@pytest.mark.parametrize("query", ["小米", "华", "鹏", "", "   ", "京东", "百度"])
def test_match_name_finds_nothing_for_unrelated_or_single_char(query: str) -> None:
    found = match_name(query, CANDIDATES)
    assert (found.kind, found.key, found.options) == ("none", None, [])


def test_match_name_with_no_candidates_is_none() -> None:
    assert match_name("华为", []).kind == "none"


def test_match_name_two_fuzzy_near_matches_are_ambiguous() -> None:
    cands = [
        Candidate(1, "华为终端有限公司"),
        Candidate(2, "华为云计算有限公司"),
        Candidate(3, "小米"),
    ]
    found = match_name("华为", cands)
    assert found.kind == "ambiguous" and found.key is None
    assert {c.key for c in found.options} == {1, 2}


def test_match_name_tie_on_core_name_is_ambiguous() -> None:
    cands = [Candidate(1, "华为技术有限公司"), Candidate(2, "华为集团"), Candidate(3, "腾讯")]
    found = match_name("华为", cands)
    assert found.kind == "ambiguous"
    assert [c.key for c in found.options] == [1, 2]


def test_match_name_ambiguous_options_are_capped_at_five() -> None:
    cands = [Candidate(i, f"华为{x}有限公司") for i, x in enumerate("一二三四五六七")]
    found = match_name("华为", cands)
    assert found.kind == "ambiguous" and len(found.options) == 5


@pytest.mark.parametrize(
    ("token", "key", "rest"),
    [
        ("华为报价已发", 1, "报价已发"),
        ("华为技术有限公司已报价", 1, "已报价"),
        ("抖音，签约了", 4, "签约了"),
        ("腾讯下周三回访", 2, "下周三回访"),
        ("Apple报价5万", 6, "报价5万"),
    ],
)
def test_split_known_prefix_recovers_a_missing_space(token: str, key: int, rest: str) -> None:
    found = split_known_prefix(token, CANDIDATES)
    assert found is not None
    assert (found[0].key, found[1]) == (key, rest)


@pytest.mark.parametrize("token", ["小米报价", "华", "", "报价已发华为"])
def test_split_known_prefix_needs_a_known_prefix(token: str) -> None:
    assert split_known_prefix(token, CANDIDATES) is None


# --- sanitize_user_text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("@所有人 看这里", "＠所有人 看这里"),
        ("＠小王", "＠小王"),
        ('<at user_id="all">x</at>', '＜at user_id="all"＞x＜/at＞'),
        ("a\x00b\x07c\x1b", "abc"),
        ("第一行\n第二行", "第一行\n第二行"),
        ("华\u200b为\u202e", "华为"),
        ("私\ue000有", "私有"),
        ("  华为  ", "华为"),
    ],
)
def test_sanitize_user_text_defuses_mentions_markup_and_control_chars(raw: str, clean: str) -> None:
    assert sanitize_user_text(raw) == clean


def test_sanitize_user_text_caps_length_with_ellipsis() -> None:
    assert sanitize_user_text("a" * 300) == "a" * 199 + "…"
    assert sanitize_user_text("华为报价已发", limit=4) == "华为报…"
    assert sanitize_user_text("短", limit=4) == "短"


# --- import cost --------------------------------------------------------------------------------


def test_importing_parsing_does_not_import_jionlp() -> None:
    code = "import sys, models.parsing; print('jionlp' in sys.modules)"
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == "False"


def test_jionlp_banner_never_reaches_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    parse_amount("三万")
    find_when("明天", NOW)
    assert capsys.readouterr().out == ""
