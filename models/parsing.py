"""Pure text parsing for chat commands: normalisation, arguments, amounts, dates, names.

No database, no I/O and no clock: every date function takes `now` (an aware datetime in the
chat's time zone). jionlp is imported lazily (see `_jio`) so importing this module stays cheap
and jionlp's import banner never reaches stdout.

Documented choices:
- Dates in free text are forward-looking: a bare weekday (周四), a bare day of month (5号), a
  month-day without a year (1月5日) or a bare clock time (下午3点) that already passed rolls to
  its next occurrence; explicit past expressions (昨天, 上周三, 春节后) are skipped.
- Parts of the day map to fixed times: 早上/上午/明早 09:00, 中午 12:00, 下午 14:00,
  傍晚 18:00, 晚上/今晚/明晚 19:00 (has_time True).
- 月底/月末 = last day of the month, 下月/下个月 = 1st of next month, 年底 = Dec 31,
  N周后 = now + 7N days, N个月后 = same day N months later, "X前" (deadline) = X.
- Amounts are yuan only; ranges (5-8万) and foreign currencies are rejected. Colloquial
  三万五 means 35000 (not 30005) and 5万5 means 55000.
"""

from __future__ import annotations

import calendar
import contextlib
import functools
import io
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

# ---------------------------------------------------------------------------------------------
# Lazy jionlp
# ---------------------------------------------------------------------------------------------

_JIO: Any = None


def _jio() -> Any:
    """Import jionlp once, silencing the banner it prints to stdout/stderr."""
    global _JIO
    if _JIO is None:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import jionlp

        _JIO = jionlp
    return _JIO


def _quiet(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a jionlp function with stdout/stderr silenced; any exception becomes None."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return func(*args, **kwargs)
    except Exception:  # jionlp raises many kinds of errors on odd input
        return None


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u180e"
_ZERO_WIDTH_RE = re.compile(f"[{_ZERO_WIDTH}]")
# Control characters never mean anything in chat, and PostgreSQL refuses NUL in text columns.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")  # keeps \t \n \f \r
# Length-preserving fold: full-width ASCII forms to ASCII, exotic spaces to " ".
# Chinese sentence punctuation is written full-width on purpose: it stays, so notes keep their
# look ("电话沟通，月底签"); split_first treats it as a separator like its ASCII twin.
_KEEP_FULL_WIDTH = set("，：；！？（）")
_WIDTH_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F) if chr(cp) not in _KEEP_FULL_WIDTH}
_WIDTH_TABLE.update({0x3000: 0x20, 0x00A0: 0x20, 0x202F: 0x20, 0x2007: 0x20})


def _fold_width(text: str) -> str:
    """Map full-width ASCII and odd spaces to ASCII one char for one char (offsets preserved)."""
    return text.translate(_WIDTH_TABLE)


def strip_control(text: str) -> str:
    """``text`` without control characters (tab, line breaks and form feed stay)."""
    return _CONTROL_RE.sub("", text)


def normalize_text(text: str) -> str:
    """Undo chat-client mangling: full-width ASCII, odd spaces, zero-width chars; keep newlines.

    Full-width Chinese sentence punctuation (，：；！？（）) is kept as typed. Other control
    characters (NUL and friends, which PostgreSQL refuses in text) are dropped.
    """
    if not text:
        return ""
    text = _fold_width(text).replace("\r\n", "\n").replace("\r", "\n")
    text = _ZERO_WIDTH_RE.sub("", text)
    text = strip_control(text)
    lines = (re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(lines).strip("\n")


_SEPARATORS = " \t\n,:;、，：；"
_QUOTES = {'"': '"', "“": "”", "「": "」", "'": "'", "‘": "’", "『": "』"}


def split_first(text: str) -> tuple[str, str]:
    """Split off the first argument (quoted or up to a separator) and return (token, rest)."""
    text = normalize_text(text).lstrip(_SEPARATORS)
    if not text:
        return "", ""
    opening = text[0]
    if opening in _QUOTES:
        close = text.find(_QUOTES[opening], 1)
        if close > 0:
            token = text[1:close].strip()
            return token, text[close + 1 :].lstrip(_SEPARATORS).strip()
        text = text[1:]  # unbalanced quote: ignore it
    end = 0
    while end < len(text) and text[end] not in _SEPARATORS:
        end += 1
    return text[:end], text[end:].lstrip(_SEPARATORS).strip()


# ---------------------------------------------------------------------------------------------
# Amounts
# ---------------------------------------------------------------------------------------------

_CN_DIGIT = "零〇一二两三四五六七八九"
_CN_NUM_CHARS = _CN_DIGIT + "十百千万亿"
_NEXT_UNIT = {"亿": "千万", "万": "千", "千": "百", "百": "十"}
_CN_VALUE = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
# Counters after which a number is a quantity, not money ("5万人", "3千台", "2万个").
_NOT_MONEY_AFTER = "个人次台套件名位米克天周月年号日点分秒户家条张单份瓦"

_AMOUNT_RE = re.compile(
    r"(?P<cur>[¥￥]\s*)?"
    r"(?:"
    r"(?P<ar>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?P<arunit>\s?万|\s?亿|千(?![米克瓦卡])|[wWkK](?![A-Za-z]))?"
    r"(?:(?<=[万亿千wWkK])(?P<artail>\d)(?![\d.,:/号日月点天个次周年时分]))?"
    r"|"
    r"(?P<cn>[" + _CN_DIGIT + "十][" + _CN_NUM_CHARS + r"]*)"
    r")"
    r"(?P<suf>\s?(?:元|块钱|块|圆))?"
)


def _prepare_amount(token: str) -> str:
    """Rewrite an amount token into a form jionlp's parse_money accepts."""
    s = _fold_width(token).strip()
    s = re.sub(r"\s+", "", s)
    s = s.lstrip("¥￥")
    s = re.sub(r"(?<=\d),(?=\d{3}(?:\D|$))", "", s)
    s = s.replace("W", "w").replace("K", "k")
    s = re.sub(r"(块钱|块|圆|元整|整)$", "元", s)
    # Colloquial trailing digit: 三万五 -> 三万五千, 5万5 -> 5万5千.
    m = re.search(r"([亿万千百])([" + _CN_DIGIT[2:] + r"1-9])(元?)$", s)
    if m and not re.search(r"[亿万千百十]", s[m.end(1) + 1 :]):
        s = s[: m.start()] + m.group(1) + m.group(2) + _NEXT_UNIT[m.group(1)] + m.group(3)
    # jionlp reads 5万5千 wrongly; expand a mixed Arabic form ourselves.
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([万亿])(\d)千(元?)", s)
    if m:
        base = Decimal(m.group(1)) * (10**4 if m.group(2) == "万" else 10**8)
        tail = Decimal(m.group(3)) * (10**3 if m.group(2) == "万" else 10**7)
        s = f"{base + tail}元"
    return s


MAX_MONEY = Decimal("1e12")  # models.customer.MONEY = Numeric(14, 2) holds < 10**12


def parse_amount(text: str) -> Decimal | None:
    """Parse one amount token (5万, ¥30,000, 三万五, 1.2亿, 5k) to yuan; None if not a positive amount."""
    if not text or len(text) > 40:
        return None
    prepared = _prepare_amount(text)
    if not prepared or not re.match(r"\d|[" + _CN_DIGIT + "十]", prepared):
        return None
    try:
        if re.fullmatch(r"\d+(?:\.\d+)?元?", prepared):
            value = Decimal(prepared.rstrip("元"))
        else:
            res = _quiet(_jio().parse_money, prepared)
            if not isinstance(res, dict) or res.get("case") != "元":
                return None
            if res.get("definition") != "accurate" or not isinstance(res.get("num"), str):
                return None
            value = Decimal(res["num"])
    except (InvalidOperation, ValueError):
        return None
    # Bounded by the MONEY column, Numeric(14, 2); beyond 28 digits quantize() itself raises.
    if not value.is_finite() or value <= 0 or value >= MAX_MONEY:
        return None
    value = value.quantize(Decimal("0.01"))
    return value if Decimal(0) < value < MAX_MONEY else None


def find_amount(text: str) -> tuple[Decimal, tuple[int, int]] | None:
    """First amount with a unit or currency sign in free text, with its (start, end) span."""
    if not text:
        return None
    folded = _fold_width(text)
    for m in _AMOUNT_RE.finditer(folded):
        cur, suf = m.group("cur"), m.group("suf")
        if m.group("ar") is not None:
            has_unit = bool(m.group("arunit"))
            if m.start("ar") > 0 and folded[m.start("ar") - 1] in "-/.:":
                continue  # part of a date, time or version number
        else:
            has_unit = bool(re.search(r"[千万亿]", m.group("cn")))
        if not (cur or suf or has_unit):
            continue
        end = m.end()
        if not suf and end < len(folded) and folded[end] in _NOT_MONEY_AFTER:
            continue
        start = m.start() if cur else (m.start("ar") if m.group("ar") else m.start("cn"))
        value = parse_amount(folded[start:end])
        if value is not None:
            return value, (start, end)
    return None


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateHit:
    """A resolved time expression: aware `when`, whether a clock time was given, source span."""

    when: datetime
    has_time: bool
    text: str
    span: tuple[int, int]


_CN_SMALL = re.compile(r"^(?:(?P<tens>[一二两三四五六七八九])?十(?P<ones>[一二三四五六七八九])?)$")


def _small_int(text: str) -> int | None:
    """Parse 1-99 written as Arabic digits or simple Chinese numerals."""
    if text.isdigit():
        return int(text)
    if len(text) == 1 and text in _CN_VALUE:
        return _CN_VALUE[text]
    m = _CN_SMALL.match(text)
    if m:
        tens = _CN_VALUE[m.group("tens")] if m.group("tens") else 1
        ones = _CN_VALUE[m.group("ones")] if m.group("ones") else 0
        return tens * 10 + ones
    return None


def _add_months(day: date, months: int, day_of_month: int | None = None) -> date | None:
    """`day` moved by whole months, keeping (or setting) the day of month; None if invalid."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    dom = day.day if day_of_month is None else day_of_month
    last = calendar.monthrange(year, month + 1)[1]
    if day_of_month is None:
        dom = min(dom, last)
    if dom > last:
        return None
    return date(year, month + 1, dom)


def _month_end(day: date) -> date:
    """Last day of `day`'s month."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


_PART_OF_DAY: tuple[tuple[str, time], ...] = (
    ("中午", time(12, 0)),
    ("下午", time(14, 0)),
    ("傍晚", time(18, 0)),
    ("晚", time(19, 0)),
    ("夜", time(19, 0)),
    ("早", time(9, 0)),
    ("上午", time(9, 0)),
    ("晨", time(9, 0)),
)
_NUM = r"\d{1,2}|[一二两三四五六七八九十]{1,3}"
_NO_CLOCK = r"(?![\d一二两三四五六七八九十点:])"

# Rule-based expressions jionlp misses or resolves differently from our policy.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("year_n_end", re.compile(r"(?P<y>20\d\d)年(?:年底|年末|底|末)")),
    (
        "month_n_end",
        re.compile(
            r"(?<![\d.\-/])(?P<m>1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])月(?:份)?[底末]"
        ),
    ),
    ("next_month_end", re.compile(r"下个?月(?:月?底|月?末)")),
    ("next_month_mid", re.compile(r"下个?月中")),
    ("month_end", re.compile(r"(?<![\d一二两三四五六七八九十上下])(?:本|这个?|当)?月[底末]")),
    ("month_mid", re.compile(r"(?<![\d一二两三四五六七八九十上下])(?:本|这个?)?月中")),
    ("next_month", re.compile(r"下个?月(?![初中底末\d一二两三四五六七八九十份])")),
    ("next_year_end", re.compile(r"明年(?:年底|年末|底)")),
    (
        "year_end",
        re.compile(
            r"(?<![去前明后年\d一二两三四五六七八九十〇零])(?:今年|本年)?(?:年底|年末|年终)"
        ),
    ),
    ("weeks_later", re.compile(r"(?P<n>" + _NUM + r")个?(?:周|星期|礼拜)(?:后|之后|以后)")),
    ("months_later", re.compile(r"(?P<n>" + _NUM + r")个月(?:后|之后|以后)")),
    ("half_month_later", re.compile(r"半个月(?:后|之后|以后)")),
    (
        "day_of_month",
        re.compile(
            r"(?<![\d./\-月一二两三四五六七八九十第])(?P<d>[12]\d|3[01]|0?[1-9]|[一二三]?十[一二三四五六七八九]?"
            r"|[一二三四五六七八九])[号日](?![\d])(?!\s*(?:早|上午|中午|下午|晚|凌晨|傍晚|\d|[一二三四五六七八九十]+点))"
        ),
    ),
    (
        "part_of_day",
        re.compile(r"(?P<day>今|明|后)(?P<part>早|晨|晚)(?:上)?" + _NO_CLOCK),
    ),
)


def _resolve_rule(kind: str, m: re.Match[str], today: date) -> tuple[datetime, bool] | None:
    """Resolve a rule match to (naive datetime, has_time)."""
    midnight = time(0, 0)
    if kind == "month_end":
        return datetime.combine(_month_end(today), midnight), False
    if kind in ("next_month", "next_month_end", "next_month_mid"):
        first = _add_months(today.replace(day=1), 1)
        assert first is not None
        if kind == "next_month_end":
            first = _month_end(first)
        elif kind == "next_month_mid":
            first = first.replace(day=15)
        return datetime.combine(first, midnight), False
    if kind == "month_mid":
        mid = today.replace(day=15)
        if mid < today:
            mid = (_add_months(today.replace(day=1), 1) or mid).replace(day=15)
        return datetime.combine(mid, midnight), False
    if kind == "year_n_end":
        return datetime.combine(date(int(m.group("y")), 12, 31), midnight), False
    if kind == "month_n_end":
        month = _small_int(m.group("m"))
        if not month or month > 12:
            return None
        end = _month_end(date(today.year, month, 1))
        if end < today:
            end = _month_end(date(today.year + 1, month, 1))
        return datetime.combine(end, midnight), False
    if kind == "day_of_month":
        dom = _small_int(m.group("d"))
        if not dom or dom > 31:
            return None
        for months in range(0, 13):
            target = _add_months(today.replace(day=1), months, dom)
            if target and target >= today:
                return datetime.combine(target, midnight), False
        return None
    if kind == "year_end":
        return datetime.combine(date(today.year, 12, 31), midnight), False
    if kind == "next_year_end":
        return datetime.combine(date(today.year + 1, 12, 31), midnight), False
    if kind == "weeks_later":
        n = _small_int(m.group("n"))
        if not n:
            return None
        return datetime.combine(today + timedelta(days=7 * n), midnight), False
    if kind == "months_later":
        n = _small_int(m.group("n"))
        target = _add_months(today, n) if n else None
        return (datetime.combine(target, midnight), False) if target else None
    if kind == "half_month_later":
        return datetime.combine(today + timedelta(days=15), midnight), False
    if kind == "part_of_day":
        offset = {"今": 0, "明": 1, "后": 2}[m.group("day")]
        clock = time(19, 0) if m.group("part") == "晚" else time(9, 0)
        return datetime.combine(today + timedelta(days=offset), clock), True
    return None


_WEEKDAY_BARE = re.compile(r"^(?:周|星期|礼拜)[一二三四五六日天末]")
_DAY_BARE = re.compile(r"^(?:" + _NUM + r")[号日]")
_MONTH_DAY = re.compile(r"^(?:(?:" + _NUM + r")月(?:" + _NUM + r")[号日]?|\d{1,2}/\d{1,2}(?!/))")
_CLOCK_BARE = re.compile(r"^(?:早上|上午|中午|下午|晚上|傍晚|凌晨)?(?:" + _NUM + r")(?:点|时|:\d)")
_DEADLINE_SUFFIX = re.compile(r"(?:之前|以前|前)$")


def _parse_dt(value: str) -> datetime | None:
    """Parse jionlp's 'YYYY-mm-dd HH:MM:SS' (None for ±inf)."""
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None


def _roll(core: str, when: datetime, today: date) -> datetime | None:
    """Move an underspecified past expression to its next occurrence; None if not rollable."""
    if _WEEKDAY_BARE.match(core):
        while when.date() < today:
            when += timedelta(days=7)
        return when
    if _MONTH_DAY.match(core):
        for years in range(1, 5):
            try:
                moved = when.replace(year=when.year + years)
            except ValueError:
                continue
            if moved.date() >= today:
                return moved
        return None
    if _DAY_BARE.match(core):
        for months in range(1, 13):
            target = _add_months(when.date().replace(day=1), months, when.day)
            if target and target >= today:
                return datetime.combine(target, when.time())
        return None
    if _CLOCK_BARE.match(core):
        return when + timedelta(days=1)
    return None


def _resolve_jio(etext: str, detail: dict[str, Any] | None, now: datetime) -> DateHit | None:
    """Resolve one jionlp time entity into an aware hit (span filled in by the caller)."""
    base = now.replace(tzinfo=None)
    today = base.date()
    core = etext.strip()
    deadline = _DEADLINE_SUFFIX.search(core)
    if deadline and len(core) > len(deadline.group()):
        core = core[: deadline.start()]
        detail = _quiet(_jio().parse_time, core, time_base=base)
    if not isinstance(detail, dict) or detail.get("type") not in ("time_point", "time_span"):
        return None
    times = detail.get("time")
    if not isinstance(times, list) or len(times) != 2:
        return None
    start, end = _parse_dt(times[0]), _parse_dt(times[1])
    if start is None and end is None:
        return None
    if start is None:
        start = end.replace(hour=0, minute=0, second=0) if end else None
    assert start is not None
    if end is None:
        end = start.replace(hour=23, minute=59, second=59)
    whole_days = start.time() == time(0, 0) and end.time() == time(23, 59, 59)
    has_time = start.date() == end.date() and not whole_days
    when = start
    if has_time and detail.get("definition") == "blur":
        for word, clock in _PART_OF_DAY:
            if word in core:
                when = datetime.combine(start.date(), clock)
                break
    if end <= base:  # entirely in the past
        rolled = _roll(core, when, today)
        if rolled is None:
            return None
        when = rolled
        if has_time and when <= base:
            when += timedelta(days=1)
    elif not has_time and when.date() < today:
        when = datetime.combine(today, time(0, 0))  # a range that is still running
    if not has_time:
        when = datetime.combine(when.date(), time(0, 0))
    return DateHit(when.replace(tzinfo=now.tzinfo), has_time, etext, (0, 0))


def _candidates(text: str, now: datetime) -> list[tuple[int, int, DateHit | None]]:
    """All time expressions in text as (start, end, hit-or-None), rules first, sorted by start."""
    base = now.replace(tzinfo=None)
    today = base.date()
    found: list[tuple[int, int, DateHit | None]] = []
    for kind, pattern in _RULES:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _ in found):
                continue
            res = _resolve_rule(kind, m, today)
            hit = None
            if res is not None:
                when, has_time = res
                span = (m.start(), m.end())
                hit = DateHit(when.replace(tzinfo=now.tzinfo), has_time, m.group(), span)
            found.append((m.start(), m.end(), hit))
    amount_spans = []
    pos = 0
    while pos < len(text):
        am = find_amount(text[pos:])
        if am is None:
            break
        amount_spans.append((pos + am[1][0], pos + am[1][1]))
        pos += am[1][1]
    entities = _quiet(_jio().ner.extract_time, text, time_base=base) or []
    for ent in entities:
        try:
            s, e = int(ent["offset"][0]), int(ent["offset"][1])
            etext, detail = ent["text"], ent.get("detail")
        except (KeyError, TypeError, ValueError, IndexError):
            continue
        if any(fs < e and s < fe for fs, fe, _ in found):
            continue
        if any(a < e and s < b for a, b in amount_spans):
            continue
        if re.fullmatch(r"\d+", etext.strip()):
            continue  # a bare number is never a date
        hit = _resolve_jio(etext, detail, now)
        if hit is not None:
            hit = DateHit(hit.when, hit.has_time, etext, (s, e))
        found.append((s, e, hit))
    found.sort(key=lambda item: item[0])
    return found


def _is_future(hit: DateHit, now: datetime) -> bool:
    """True when the hit is today or later."""
    return hit.when.date() >= now.date()


def find_when(text: str, now: datetime) -> DateHit | None:
    """First today-or-future time expression inside a free-text note (None if there is none)."""
    if not text or not text.strip():
        return None
    try:
        for start, end, hit in _candidates(_fold_width(text), now):
            if hit is not None and _is_future(hit, now):
                return DateHit(hit.when, hit.has_time, text[start:end], (start, end))
    except Exception:  # never let a parsing bug break a handler
        return None
    return None


def parse_when(text: str, now: datetime) -> DateHit | None:
    """Parse a string that is entirely one time expression (e.g. the time in /提醒)."""
    if not text or not text.strip():
        return None
    folded = _fold_width(text)
    stripped = folded.strip()
    lead = len(folded) - len(folded.lstrip())
    variants = [stripped]
    if " " in stripped:
        variants.append(re.sub(r"(?<=[^\d]) +|(?<=\d) +(?=[^\d])", "", stripped))
    try:
        for variant in variants:
            cands = _candidates(variant, now)
            if len(cands) != 1:
                continue
            s, e, hit = cands[0]
            rest = (variant[:s] + variant[e:]).strip()
            if hit is None or (rest and not re.fullmatch(r"[前左右的之]+", rest)):
                continue
            if not _is_future(hit, now):
                return None
            span = (lead, lead + len(stripped))
            return DateHit(hit.when, hit.has_time, text[span[0] : span[1]], span)
    except Exception:
        return None
    return None


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def normalize_name(name: str) -> str:
    """Customer key: NFKC, casefold, keep only letters and digits (CJK included)."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


_LEGAL_SUFFIXES = (
    "集团股份有限公司",
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "集团公司",
    "分公司",
    "公司",
    "集团",
)
# Business descriptors, stripped only when they directly precede a legal suffix.
_DESCRIPTORS = (
    "网络科技",
    "信息技术",
    "信息科技",
    "电子商务",
    "科技",
    "技术",
    "网络",
    "信息",
    "软件",
    "电子",
    "贸易",
    "实业",
    "控股",
    "发展",
    "咨询",
    "服务",
    "智能",
    "通信",
    "传媒",
    "文化",
    "教育",
    "医疗",
    "投资",
    "管理",
)
_LATIN_SUFFIX = re.compile(
    r"(?:[\s,.]*\b(?:co\.?,?\s*ltd|ltd|limited|inc|incorporated|corp|corporation|"
    r"company|co|gmbh|llc|plc)\b\.?)+\s*$"
)
_REGION_PAREN = re.compile(r"[(（][^()（）]{1,6}[)）]")


@functools.lru_cache(maxsize=65536)
def core_name(name: str) -> str:
    """normalize_name without legal suffixes (有限公司, 集团, Ltd, Inc ...) and region brackets."""
    full = normalize_name(name)
    if not full:
        return ""
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    text = _LATIN_SUFFIX.sub("", text)
    stripped = _REGION_PAREN.sub("", text)
    core = normalize_name(stripped) or normalize_name(text)
    changed = True
    had_legal = False
    while changed:
        changed = False
        for suffix in _LEGAL_SUFFIXES:
            if core.endswith(suffix) and len(core) > len(suffix):
                core = core[: -len(suffix)]
                changed = had_legal = True
                break
    if had_legal:
        for word in _DESCRIPTORS:
            if core.endswith(word) and len(core) >= len(word) + 2:
                core = core[: -len(word)]
                break
    return core or full


@dataclass(frozen=True)
class Candidate:
    """A customer that a typed name may refer to."""

    key: int
    name: str
    aliases: tuple[str, ...] = ()


@dataclass
class NameMatch:
    """Outcome of match_name: kind, the matched customer (if one) and options (if ambiguous)."""

    kind: Literal["exact", "alias", "core", "fuzzy", "ambiguous", "none"]
    key: int | None = None
    name: str | None = None
    options: list[Candidate] = field(default_factory=list)
    score: float = 100.0

    @property
    def sure(self) -> bool:
        """False for a fuzzy (or fuzzily ambiguous) match that is neither containment nor a homophone.

        中石化 ~ 中石油 or 客户B ~ 客户A score in the 70s: similar, but most likely another company.
        """
        return self.kind not in ("fuzzy", "ambiguous") or self.score >= _SURE_FUZZY


_FUZZY_THRESHOLD = 70.0
_SURE_FUZZY = 80.0
_FUZZY_MARGIN = 10.0
_MAX_OPTIONS = 5


def _unique(cands: Sequence[Candidate]) -> list[Candidate]:
    """Candidates deduplicated by key, order kept."""
    seen: set[int] = set()
    out = []
    for cand in cands:
        if cand.key not in seen:
            seen.add(cand.key)
            out.append(cand)
    return out


def _rung(kind: Any, hits: list[Candidate]) -> NameMatch | None:
    """A NameMatch for one ladder rung: one hit wins, several are ambiguous, none continues."""
    hits = _unique(hits)
    if len(hits) == 1:
        return NameMatch(kind, hits[0].key, hits[0].name)
    if len(hits) > 1:
        return NameMatch("ambiguous", options=hits[:_MAX_OPTIONS])
    return None


def _pinyin_table() -> dict[int, str]:
    """pypinyin's single-character table (code point → readings), loaded once.

    Only single characters are needed to tell an IME slip (腾迅/腾讯); pypinyin's phrase table
    would add ~50 MB for nothing, so it is switched off before the first import.
    """
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
    os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")
    from pypinyin.pinyin_dict import pinyin_dict

    return pinyin_dict


@functools.lru_cache(maxsize=8192)
def _pinyin(text: str) -> str:
    """Toneless pinyin of the CJK characters of text, syllables space-separated."""
    table = _pinyin_table()
    syllables = []
    for ch in text:
        readings = table.get(ord(ch))
        if readings:
            first = unicodedata.normalize("NFD", readings.split(",")[0])
            syllables.append("".join(c for c in first if not unicodedata.combining(c)))
    return " ".join(syllables)


def _non_cjk(text: str) -> str:
    """The characters of ``text`` that pinyin conversion would drop."""
    return "".join(ch for ch in text if not "\u4e00" <= ch <= "\u9fff")


def _similarity(query: str, other: str, pinyin_cache: dict[str, str]) -> float:
    """Score 0-100 for how likely `other` is the customer meant by `query` (both core names)."""
    from rapidfuzz import fuzz

    if not query or not other:
        return 0.0
    if query == other:
        return 100.0
    numbers, other_numbers = re.findall(r"\d+", query), re.findall(r"\d+", other)
    if numbers and other_numbers and numbers != other_numbers:
        return 0.0  # 客户004 and 客户000, 二号店 and 三号店 are not typos of each other
    shorter, longer = sorted((query, other), key=len)
    if len(shorter) >= 2 and shorter in longer:
        share = len(shorter) / len(longer)
        if query == shorter:  # an abbreviation of a known name (华为 → 华为技术有限公司): sure
            return 90.0 + 9.0 * share
        # The query says more than a known name (客户10 vs 客户1, 华为云 vs 华为): similar, not sure.
        return min(80.0 + 9.0 * share, _SURE_FUZZY - 1)
    score = fuzz.ratio(query, other)
    has_cjk = any("\u4e00" <= ch <= "\u9fff" for ch in query + other)
    if has_cjk and abs(len(query) - len(other)) <= 1 and score >= 30:
        for s in (query, other):
            if s not in pinyin_cache:
                pinyin_cache[s] = _pinyin(s)
        pq, po = pinyin_cache[query], pinyin_cache[other]
        if pq and po:
            # Same toneless pinyin is the classic IME slip (腾迅/腾讯): sure. Merely similar
            # pinyin (中石化/中石油, 客户B/客户A) stays below the sure mark.
            same_rest = _non_cjk(query) == _non_cjk(other)  # pinyin drops 客户B's "b"
            homophone = pq == po and same_rest
            similar = 90.0 if homophone else min(0.9 * fuzz.ratio(pq, po), _SURE_FUZZY - 1)
            score = max(score, similar)
    return float(score)


def match_name(query: str, candidates: Sequence[Candidate]) -> NameMatch:
    """Find the customer a typed name means: exact > alias > core name > fuzzy (or ambiguous)."""
    q = normalize_name(query)
    if not q or not candidates:
        return NameMatch("none")
    exact = [c for c in candidates if normalize_name(c.name) == q]
    found = _rung("exact", exact)
    if found:
        return found
    alias = [c for c in candidates if any(normalize_name(a) == q for a in c.aliases)]
    found = _rung("alias", alias)
    if found:
        return found
    qcore = core_name(query)
    core = [c for c in candidates if any(core_name(n) == qcore for n in (c.name, *c.aliases))]
    found = _rung("core", core)
    if found:
        return found
    if len(q) < 2:
        return NameMatch("none")
    cache: dict[str, str] = {}
    scored: list[tuple[float, Candidate]] = []
    for cand in _unique(candidates):
        best = max(_similarity(qcore, core_name(n), cache) for n in (cand.name, *cand.aliases))
        best = max(best, _similarity(q, normalize_name(cand.name), cache))
        if best >= _FUZZY_THRESHOLD:
            scored.append((best, cand))
    if not scored:
        return NameMatch("none")
    scored.sort(key=lambda item: -item[0])
    top_score, top = scored[0]
    close = [c for s, c in scored if top_score - s < _FUZZY_MARGIN]
    if len(close) == 1:
        return NameMatch("fuzzy", top.key, top.name, score=top_score)
    return NameMatch("ambiguous", options=close[:_MAX_OPTIONS], score=top_score)


def _prefix_end(token: str, norm_len: int) -> int:
    """Index in `token` after which its normalised form has `norm_len` characters."""
    count = 0
    for i, ch in enumerate(token):
        if count >= norm_len:
            return i
        count += len(normalize_name(ch))
    return len(token)


def _word_break(text: str, at: int) -> bool:
    """Whether ``text`` may be split at ``at``: not inside a run of latin letters or digits.

    客户1|0 or ABC|D are one name (客户10, ABCD), 华为|报价 can be two words.
    """
    if at >= len(text):
        return True
    before, after = text[at - 1], text[at]
    return not (before.isascii() and before.isalnum() and after.isascii() and after.isalnum())


def split_known_prefix(token: str, candidates: Sequence[Candidate]) -> tuple[Candidate, str] | None:
    """Longest known name/alias/core name (>= 2 chars) that prefixes token, and the remainder."""
    norm = normalize_name(token)
    if len(norm) < 2:
        return None
    best_len = 0
    best: list[Candidate] = []
    for cand in candidates:
        names = {normalize_name(n) for n in (cand.name, *cand.aliases)}
        names |= {core_name(n) for n in (cand.name, *cand.aliases)}
        length = max(
            (
                len(n)
                for n in names
                if len(n) >= 2 and norm.startswith(n) and _word_break(norm, len(n))
            ),
            default=0,
        )
        if length > best_len:
            best_len, best = length, [cand]
        elif length and length == best_len:
            best.append(cand)
    best = _unique(best)
    if len(best) != 1:
        return None  # nothing known, or two different customers share the prefix
    end = _prefix_end(token, best_len)
    return best[0], token[end:].lstrip(_SEPARATORS + "，：；").strip()


# ---------------------------------------------------------------------------------------------
# Echoing user text
# ---------------------------------------------------------------------------------------------


def sanitize_user_text(text: str, limit: int = 200) -> str:
    """Make user text safe to echo: no control/zero-width/private chars, mentions or markup."""
    if not text:
        return ""
    out = []
    for ch in text:
        if ch == "\n":
            out.append(ch)
            continue
        if ch == "\t":
            out.append(" ")
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Co", "Cs") or "\ue000" <= ch <= "\uf8ff":
            continue
        out.append({"@": "＠", "<": "＜", ">": "＞"}.get(ch, ch))
    clean = "".join(out).strip()
    if limit > 0 and len(clean) > limit:
        clean = clean[: max(limit - 1, 0)].rstrip() + "…"
    return clean


def warm_up() -> None:
    """Load the lazy parsers now, so that a server's first command does not pay for it."""
    find_when("明天下午3点", datetime(2026, 1, 5, 9, 0))
    _pinyin("华为")
