"""Dates and times in chat text: a small exact grammar, read against the message's own time.

Pure and bounded: no database, no clock (every function takes ``now``, aware, in the chat's time
zone), no statistical guessing. One compiled regular expression scans the text once; at most
``MAX_TOKENS`` expressions and the first ``MAX_CHARS`` characters are looked at, so any text
costs well under a few milliseconds (``bench/parse_cost.py``). The text is read through
``models.parsing.fold_for_parsing`` (full-width ASCII folded, traditional characters simplified,
one character for one), so spans index what the user typed.

An expression is understood exactly, asked about (``ask``) or refused (``refuse``) with a one-line
Chinese reason; nothing is guessed. The rules where Chinese usage is ambiguous:

- Forward-looking: a bare weekday (周四), day of month (5号) or clock time (三点) means its next
  occurrence, today included (a clock time only when still ahead). A day this month lacks is
  refused, not moved to another month (31号 in November).
- A month-day without a year (12月5日, 12/5, 12.5, 一月二十三) is the occurrence nearest to
  today: 1月5日 typed in December is next January, 11月20日 typed on 11-27 is a week ago.
  M月D without 日 is solar; lunar dates only when written as lunar (正月十五, 农历三月初三,
  腊月二十, 三月初三).
- Deadlines are the last day of the window counted from today: N天内/N日内/N日后 = today + N,
  两周内/两个礼拜内 = today + 14, 一个月之内 = the same day next month, N个工作日内 = N working
  days later, N小时内/后 = now + N hours; ``X前/之前/以前`` = X itself (周五前 = Friday, 5日前 =
  by the 5th; N天前 is history).
- Months: a bare month (3月, 下个月) is its 1st; 月初 = the 1st, 月中 = the 15th, 月底/月末 = the
  last day, 上旬/中旬/下旬 = the 1st/11th/21st; 本月/这个月 (bare) = 本月底. 3月 typed in
  November is next March (a month is its next occurrence up to six months ahead, else the past
  one); the current month alone (11月 in November) is asked. ``3月后`` is asked (3个月后?).
  A 月底/5号 after a different month in the same note (下个月再说 月底回访) is asked.
- Hours without 上午/下午: 1–6 are the afternoon (13–18), 7–12 as written, 0 and 13–23 as
  written. 左右/多/钟 keep the hour (十点左右 = 10:00). Parts of the day alone: 上午 09:00, 中午
  12:00, 下午 14:00, 傍晚 18:00, 晚上 19:00 (明早 09:00, 今晚 19:00).
- Weeks start on Monday; 下周 (bare) = next Monday, 本周/这周 (bare) = the last working day of
  this week, 周末 = Saturday.
- Festivals: their next occurrence (元旦 1-1, 五一 5-1, 国庆/十一 10-1, 春节/元宵/端午/中秋/重阳/
  七夕/腊八 lunar, 除夕 the eve of 春节, 清明/冬至 the solar term). ``X后`` = the first working day
  after the holiday block around X, ``X前`` = the last working day before it (年后/年前 = 春节),
  节后/节前 = the same for the next statutory holiday. A block in a year that neither
  chinesecalendar nor the config's ``[calendar]`` knows is refused, not guessed.
- A weekday next to a date that is not that weekday (周日，二月十号) is asked; an impossible date
  (2月30日, 2月29日 in a non-leap year, 上午15点) is refused. Recurring (每周三) and relative
  ordinals (第二天) are not dates. A number followed by 万/元/块/千/w/k/% is never part of a date;
  12.5 is month.day only when valid and not money, a score or a version (报价12.5, 4.5星, v1.5).
- Past: explicit past words (昨天, 上周三, 3天前) are history and never a next date; an explicit
  date or time that already passed (11月20日 on 11-27, 今早 at 10:00) is reported as ``past``.
"""

from __future__ import annotations

import calendar as _monthcal
import functools
import importlib.util
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from models.calendar import WorkCalendar
from models.memo import remembered
from models.parsing import fold_for_parsing

__all__ = [
    "DateHit",
    "DateProblem",
    "DateReading",
    "MAX_CHARS",
    "MAX_TOKENS",
    "find_when",
    "parse_when",
    "read_exact",
    "read_note",
]

MAX_TOKENS = 40  # date expressions looked at in one text
MAX_CHARS = 10_000  # characters of one text that are read for dates

_DEFAULT_CALENDAR = WorkCalendar()


@dataclass(frozen=True)
class DateHit:
    """A resolved time expression: aware ``when``, whether a clock time was given, source span."""

    when: datetime
    has_time: bool
    text: str
    span: tuple[int, int]


@dataclass(frozen=True)
class DateProblem:
    """A time expression that is refused (impossible) or asked about (ambiguous), with the reason."""

    kind: Literal["refuse", "ask"]
    reason: str
    text: str
    span: tuple[int, int]


@dataclass(frozen=True)
class DateReading:
    """What a text says about time: the first date from today on, else an explicit past one."""

    hit: DateHit | None = None
    past: DateHit | None = None
    problem: DateProblem | None = None


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------

_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}


def _num(text: str) -> int | None:
    """0–999 written in Arabic digits or Chinese numerals (十五, 二十三, 廿三, 一百); else None."""
    if not text:
        return None
    if text.isdigit():
        return int(text) if text.isascii() else None
    if text == "半":
        return None
    if "百" in text:
        head, _, rest = text.partition("百")
        hundreds = _CN_DIGITS.get(head, 1 if not head else -1)
        tail = _num(rest.lstrip("零〇")) if rest.strip("零〇") else 0
        if hundreds < 0 or tail is None or tail >= 100:
            return None
        return hundreds * 100 + tail
    text = text.replace("廿", "二十")
    if "十" in text:
        head, _, rest = text.partition("十")
        tens = _CN_DIGITS.get(head, -1) if head else 1
        ones = _CN_DIGITS.get(rest, -1) if rest else 0
        if tens < 0 or ones < 0 or "十" in rest:
            return None
        return tens * 10 + ones
    if len(text) == 1:
        return _CN_DIGITS.get(text)
    if len(text) == 2 and text[0] in "零〇":
        return _CN_DIGITS.get(text[1])
    return None


# ---------------------------------------------------------------------------------------------
# The grammar: one alternative per form, tried in this order at each position
# ---------------------------------------------------------------------------------------------

N2 = r"(?:\d{1,2}|[零〇一二两三四五六七八九十廿]{1,3})"  # day, month, hour, minute
N3 = r"(?:\d{1,3}|[零〇一二两三四五六七八九十百]{1,4})"  # durations
NOT_AFTER_NUM = r"(?<![\d.．零〇一二两三四五六七八九十百千万第每])"
MONEY_AFTER = r"(?!\s?(?:万|元|块|千|百|亿|[wWkK](?![A-Za-z])|%|‰|折|倍))"
MONTH = r"(?P<m>1[0-2]|0?[1-9]|1[3-9]|[2-9]\d|十[一二]?|[一二三四五六七八九十])"
DAY = (
    r"(?P<d>\d{1,2}|[一二三]?十[一二三四五六七八九]?|廿[一二三四五六七八九]?|[一二三四五六七八九])"
)
YEAR = r"(?:(?P<y>(?:19|20)\d\d)\s?年\s?|(?P<ry>今年|明年|后年|去年|前年|本年))?"
PART = r"凌晨|清晨|早上|早晨|上午|中午|午后|下午|傍晚|晚上|夜里|夜间|半夜"
PART_ALONE = r"上午|中午|下午|傍晚|晚上"  # not 早上 (早上好) nor 半夜 (a story) on their own
WEEK = r"(?:周|星期|礼拜)"
NOT_POINTS = r"(?!意见|建议|要求|问题|内容|需求|原因|共识|疑问|顾虑|反馈|看法|想法|结论|注意|改进|说明|要点|几|儿)"
HOLIDAY_TAIL = (
    r"假期后|假期前|长假后|长假前|放假前|放假后|收假后|节后|节前|假后|之前|以前|前|之后|以后|过后|后"
    r"|期间|假期|长假|当天"
)

_FORMS: tuple[tuple[str, str], ...] = (
    (
        "skip",
        r"每(?:个)?(?:天|日|晚|早|周[一二三四五六日天末1-7]?|星期[一二三四五六日天1-7]?"
        r"|礼拜[一二三四五六日天1-7]?|月(?:" + N2 + r"[号日])?|年|隔" + N2 + r"?个?(?:天|日|周|月))"
        r"|第"
        + N2
        + r"个?(?:天|日|周|星期|礼拜|月|年|季度|次|点)|天天|隔天|次日|改天|过几天|这几天",
    ),
    (
        "iso",
        r"(?<![\d.])(?P<y>(?:19|20)\d\d)\s?(?:[-/.]|年)\s?(?P<m>\d{1,2})\s?(?:[-/.]|月)\s?"
        r"(?P<d>\d{1,2})(?:\s?[日号])?(?![\d])",
    ),
    (
        "lunar",
        r"(?:(?P<pre>农历|阴历|旧历)\s?(?P<leap>闰)?(?P<lm>正|冬|腊|" + N2 + r")月"
        r"|(?P<lm2>正|冬|腊)月|(?<![\d零〇一二两三四五六七八九十])(?P<lm3>十[一二]?|[一二三四五六七八九十]|1[0-2]|[1-9])月"
        r"(?=初)|(?P<big>大年))"
        r"(?P<ld>初[一二三四五六七八九十]|[二三]十|廿[一二三四五六七八九]|十[一二三四五六七八九]?"
        r"|[一二三四五六七八九]|\d{1,2})(?:\s?[日号])?(?!\d)",
    ),
    (
        "md",
        YEAR + NOT_AFTER_NUM + MONTH + r"月份?\s?" + DAY + r"(?:(?P<unit>\s?[日号])|"
        r"(?![\d零〇一二两三四五六七八九十个人台次天周年点时分秒]))" + MONEY_AFTER,
    ),
    ("slash", r"(?<![\d/.\-:])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?![\d/])(?:\s?[日号])?" + MONEY_AFTER),
    (
        "dot",
        r"(?<![\d.A-Za-z¥￥$])(?P<m>\d{1,2})\.(?P<d>\d{1,2})(?![\d.])(?P<unit>\s?[日号])?"
        r"(?!\s?(?:万|元|块|千|百|亿|[wWkKmMgG]|%|‰|折|倍|米|斤|吨|克|个|人|台|套|件|次|小时|分|秒|度|岁|年|月|周|天|寸|升|星|级|代|版|期|成|亩|平))",
    ),
    (
        "duration",
        NOT_AFTER_NUM + r"(?P<n>" + N3 + r"|半)\s?(?P<ge>个)?(?P<half>半)?\s?"
        r"(?:(?P<unit>工作日|天|周|星期|礼拜|(?<=[个半])月|年|小时|钟头|分钟)"
        r"(?P<suf>之后|以后|后|之内|以内|内|之前|以前|前)|(?P<unit2>日)(?P<suf2>之后|以后|后|之内|以内|内))",
    ),
    (
        "relday",
        r"大后天|大前天|今天|今日|今儿个?|明天|明日|明儿个?|后天|后日|昨天|昨日|昨儿个?|前天",
    ),
    ("daypart", r"(?P<dd>今|明|昨)(?P<dp>早|晨|晚|夜)(?:上|里|间)?"),
    (
        "weekday",
        r"(?P<pre>下下个?|下个?|上上个?|上个?|本|这个?|今)?"
        + WEEK
        + r"(?P<wd>[一二三四五六日天末1-7])",
    ),
    (
        "week",
        r"(?<![\d零〇一二两三四五六七八九十每])(?P<pre>下下个?|下个?|上上个?|上个?|本|这个?)"
        + WEEK
        + r"(?P<suf>内|之内|以内)?",
    ),
    (
        "monthrel",
        r"(?P<pre>下下个?|下个?|上上个?|上个?|本|这个?|当)月(?P<part>初|上旬|中旬|下旬|中|底|末|内|份)?"
        r"(?:\s?" + DAY + r"\s?[号日])?",
    ),
    (
        "month",
        YEAR + NOT_AFTER_NUM + MONTH + r"月份?(?P<part>初|上旬|中旬|下旬|中|底|末|内)?"
        r"(?P<suf>以后|之后|后)?(?![\d零〇一二两三四五六七八九十个])",
    ),
    (
        "anchor",
        r"(?<![\d零〇一二两三四五六七八九十上下本这个当每])月(?P<part>初|上旬|中旬|下旬|中|底|末)",
    ),
    (
        "year",
        r"(?P<ry>今年|明年|后年|本年)(?P<part>年底|年末|年初|底|末|初|内)?"
        r"|(?<![去前明后今本\d零〇一二两三四五六七八九十])(?P<part2>年底|年末|年终)"
        r"|(?<!\d)(?P<y>(?:19|20)\d\d)\s?年(?P<part3>底|末|初|内)",
    ),
    (
        "festnum",
        r"(?<![\d零〇一二两三四五六七八九十百第每月周期拜双])(?P<f>十一|五一)"
        r"(?:(?P<rel>"
        + HOLIDAY_TAIL
        + r")|(?=\s|$|[,，。;；、!！?？)）]|假|黄金周|长假|放假|劳动节))",
    ),
    (
        "fest",
        r"(?P<f>大年三十|五一劳动节|元宵节|元宵|除夕|春节|过年|过完年|元旦|清明节|清明|劳动节|端午节|端午"
        r"|七夕|中秋节|中秋|国庆节|国庆|重阳节|重阳|腊八节|腊八|冬至|平安夜|圣诞节|圣诞|情人节|双十一|双11"
        r"|双十二|双12|年(?=之前|以前|前|之后|以后|过后|后))(?P<rel>" + HOLIDAY_TAIL + r")?",
    ),
    (
        "holiday",
        r"(?<![细环章季关调情礼音时小气名贞晚枝脱使])(?:节假日|节|假期|长假|放假|收假)"
        r"(?P<rel>之后|以后|过后|后|之前|以前|前)(?!天)",
    ),
    (
        "dom",
        NOT_AFTER_NUM + DAY + r"\s?[号日]"
        r"(?!楼|线|店|馆|门|厅|房|院|库|仓|口|位|机|座|台|车|箱|件|包|文|字|码|令|球|员|窗|桌|床|柜|井|站|厂"
        r"|区|路|街|巷|弄|栋|幢|单元|层|室|屋|品|选手|种|型|电池|地铁)",
    ),
    (
        "clock",
        r"(?:(?P<part>"
        + PART
        + r"|(?<![最较太很更稍偏过])[早晚])\s?)?(?<![\d.:：/第])(?P<h>\d{1,2}|[零〇一二两三四五六七八九十]{1,3})\s?"
        r"(?:(?:点|时)(?:钟)?\s?(?:(?P<mm>半|一刻|三刻|\d{1,2}|[零〇一二三四五六七八九十]{1,3})(?:分钟|分)?)?"
        + NOT_POINTS
        + r"|[:：](?P<mm2>\d{2})(?:[:：]\d{2})?(?!\d))",
    ),
    ("part", r"(?P<part>" + PART_ALONE + r")(?![\d零〇一二两三四五六七八九十])"),
)


def _strip_names(pattern: str) -> str:
    """The pattern with its named groups made anonymous (names are unique per form only)."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


class _Unknown(Exception):
    """A pattern construct whose first characters are not worked out here."""


def _first_chars(pattern: str) -> set[str]:
    """Every character a match of ``pattern`` can start with (raises _Unknown when unsure)."""
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    digits, spaces = set("0123456789"), set(" \t\n\r\f\v")

    def seq(items: Any) -> tuple[set[str], bool]:
        """First characters of a sequence, and whether it can match nothing."""
        found: set[str] = set()
        for op, av in items:
            chars, nullable = item(op, av)
            found |= chars
            if not nullable:
                return found, False
        return found, True

    def item(op: Any, av: Any) -> tuple[set[str], bool]:
        """First characters of one node, and whether it can match nothing."""
        if op is sre.LITERAL:
            return {chr(av)}, False
        if op is sre.IN:
            chars: set[str] = set()
            for sub, arg in av:
                if sub is sre.LITERAL:
                    chars.add(chr(arg))
                elif sub is sre.RANGE and arg[1] - arg[0] < 256:
                    chars |= {chr(c) for c in range(arg[0], arg[1] + 1)}
                elif sub is sre.CATEGORY and arg in (sre.CATEGORY_DIGIT, sre.CATEGORY_SPACE):
                    chars |= digits if arg is sre.CATEGORY_DIGIT else spaces
                else:
                    raise _Unknown(op)
            return chars, False
        if op is sre.BRANCH:
            found: set[str] = set()
            nullable = False
            for branch in av[1]:
                chars, empty = seq(branch)
                found |= chars
                nullable = nullable or empty
            return found, nullable
        if op is sre.SUBPATTERN:
            return seq(av[-1])
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            chars, empty = seq(av[2])
            return chars, empty or av[0] == 0
        if op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            return set(), True
        raise _Unknown(op)

    chars, nullable = seq(_parser.parse(pattern, re.ASCII))
    if nullable:
        raise _Unknown("a form can match the empty string")
    return chars


@functools.cache
def _grammar() -> tuple[dict[str, re.Pattern[str]], re.Pattern[str]]:
    """Each form compiled, and all of them as one alternation (compiled on first use, ~0.1 s).

    The alternation starts with a look-ahead for the characters a form can start with, so the
    engine skips the other positions in one step (5,000 plain characters: 25 ms → 0.1 ms).
    """
    patterns = {kind: re.compile(pattern, re.ASCII) for kind, pattern in _FORMS}
    alternation = "|".join(f"(?P<{kind}>{_strip_names(p)})" for kind, p in _FORMS)
    try:
        first = set().union(*(_first_chars(p) for _, p in _FORMS))
        alternation = f"(?=[{re.escape(''.join(sorted(first)))}])(?:{alternation})"
    except _Unknown:  # pragma: no cover - a new construct: correct, only slower
        pass
    return patterns, re.compile(alternation, re.ASCII)


_TIME_GAP = re.compile(r"[\s的,，]{0,2}")
_WEEKDAY_GAP = re.compile(r"[\s,，、(（]{0,3}")
_CLOSE = re.compile(r"\s?[)）]")
_WEEKDAYS = {c: i for i, c in enumerate("一二三四五六日")} | {"天": 6, "末": 5}
_WEEKDAYS |= {str(i + 1): i for i in range(7)}
_WEEKDAY_NAMES = "一二三四五六日"
_PART_TIMES = {
    "凌晨": time(5, 0),
    "清晨": time(7, 0),
    "早上": time(9, 0),
    "早晨": time(9, 0),
    "早": time(9, 0),
    "晨": time(9, 0),
    "上午": time(9, 0),
    "中午": time(12, 0),
    "午后": time(14, 0),
    "下午": time(14, 0),
    "傍晚": time(18, 0),
    "晚上": time(19, 0),
    "晚": time(19, 0),
    "夜里": time(19, 0),
    "夜间": time(19, 0),
    "夜": time(19, 0),
    "半夜": time(23, 0),
}


# ---------------------------------------------------------------------------------------------
# Pieces: what one expression means before the note-level decision
# ---------------------------------------------------------------------------------------------

PieceKind = Literal["day", "time", "problem", "history", "skip"]


@dataclass(frozen=True)
class _Piece:
    """One expression: a day (maybe with a time), a bare time, a problem, history or skipped."""

    kind: PieceKind
    start: int
    end: int
    day: date | None = None
    clock: time | None = None
    marked: bool = True  # False: an hour without 上午/下午 (the 1–6 → afternoon rule applied)
    weak: bool = False  # a part of the day alone (下午): history when already past
    explicit: bool = False  # a written calendar date or a clock time (reported when past)
    absolute: bool = False  # month-day or full date: checked against an adjacent weekday
    weekday: int | None = None  # a bare weekday as written (周日 → 6)
    relative: bool = False  # 今天/明天/下周三: compared with an adjacent date
    period: date | None = None  # a month as a period (下个月, 3月): its first day
    anchor: str | None = None  # 月底/月初/月中/上旬…/"d<N>": relative to "the month"
    problem: DateProblem | None = None


@dataclass(frozen=True)
class _Ctx:
    """What resolution needs: the text, the moment, the calendar and the direction."""

    text: str
    now: datetime
    cal: WorkCalendar
    past: bool  # True for report dates: bare forms mean their latest occurrence

    @property
    def today(self) -> date:
        """The message's date in the chat's time zone."""
        return self.now.date()


def _fmt(day: date) -> str:
    """2月10日(周三) for reasons."""
    return f"{day.month}月{day.day}日(周{_WEEKDAY_NAMES[day.weekday()]})"


def _problem(
    ctx: _Ctx, start: int, end: int, kind: Literal["refuse", "ask"], reason: str
) -> _Piece:
    """A problem piece over ``text[start:end]``."""
    found = DateProblem(kind, reason, ctx.text[start:end], (start, end))
    return _Piece("problem", start, end, problem=found)


def _last_day(year: int, month: int) -> int:
    """Days in the month."""
    return _monthcal.monthrange(year, month)[1]


def _add_months(day: date, months: int, dom: int | None = None) -> date:
    """``day`` moved by whole months; the day of month is kept (or ``dom``), capped at month end."""
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    wanted = day.day if dom is None else dom
    return date(year, month + 1, min(wanted, _last_day(year, month + 1)))


def _month_days(year: int, month: int, part: str | None) -> int:
    """The day a month part means: 初/上旬 1st, 中 15th, 中旬 11th, 下旬 21st, 底/末/内 last."""
    if part in (None, "份", "初", "上旬"):
        return 1
    if part == "中":
        return 15
    if part == "中旬":
        return 11
    if part == "下旬":
        return 21
    return _last_day(year, month)


def _nearest_year(ctx: _Ctx, month: int, day: int) -> int:
    """The year whose ``month``/``day`` (capped at month end) is nearest to today; ties ahead."""
    today = ctx.today
    best: tuple[int, int] | None = None
    for year in (today.year - 1, today.year, today.year + 1):
        candidate = date(year, month, min(day, _last_day(year, month)))
        distance = abs((candidate - today).days)
        if ctx.past and candidate > today:
            continue
        if best is None or distance < best[0] or (distance == best[0] and candidate > today):
            best = (distance, year)
    assert best is not None
    return best[1]


def _day_piece(ctx: _Ctx, start: int, end: int, day: date, **flags: Any) -> _Piece:
    """A day piece; explicit past days stay days (the note decides), relative ones become history."""
    if day < ctx.today and not ctx.past and not flags.get("explicit"):
        return _Piece("history", start, end, day=day)
    return _Piece("day", start, end, day=day, **flags)


# ---------------------------------------------------------------------------------------------
# Resolving one form
# ---------------------------------------------------------------------------------------------


def _full_date(ctx: _Ctx, m: re.Match[str], start: int, end: int, year: int | None) -> _Piece:
    """A month-day (with or without a year): checked, and placed by the nearest-year rule."""
    month, dom = _num(m.group("m")), _num(m.group("d"))
    if month is None or dom is None:
        return _Piece("skip", start, end)
    if not 1 <= month <= 12:
        return _problem(ctx, start, end, "refuse", f"没有{month}月")
    if dom < 1:
        return _problem(ctx, start, end, "refuse", f"没有{month}月{dom}日")
    year = year if year is not None else _nearest_year(ctx, month, dom)
    if dom > _last_day(year, month):
        leap = "（不是闰年）" if month == 2 and dom == 29 else ""
        return _problem(ctx, start, end, "refuse", f"{year}年{month}月没有{dom}日{leap}")
    return _day_piece(ctx, start, end, date(year, month, dom), explicit=True, absolute=True)


def _year_of(ctx: _Ctx, m: re.Match[str]) -> int | None:
    """The year written before a month (2027年, 明年), or None."""
    if m.group("y"):
        return int(m.group("y"))
    offsets = {"今年": 0, "本年": 0, "明年": 1, "后年": 2, "去年": -1, "前年": -2}
    return ctx.today.year + offsets[m.group("ry")] if m.group("ry") else None


def _form_md(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """12月5日, 一月二十三, 2027年2月10号."""
    return _full_date(ctx, m, s, e, _year_of(ctx, m))


def _form_iso(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """2026-12-05, 2026/12/5, 2026.12.05, 2026年12月5日."""
    return _full_date(ctx, m, s, e, int(m.group("y")))


def _form_slash(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """12/5 or 12.5 (month.day): a date only when it is a valid one, else just numbers."""
    month, dom = int(m.group("m")), int(m.group("d"))
    if not (1 <= month <= 12 and 1 <= dom <= 31) or dom > _last_day(2000, month):
        return _Piece("skip", s, e)
    return _full_date(ctx, m, s, e, None)


_MONEY_WORDS = re.compile(
    r"(?:报价|价格|价钱|金额|预算|单价|总价|合同额|合同|回款|收款|付款|首付|尾款|评分|分数|打分|版本|版|涨|降|约合|共|计|¥|￥|\$)\s?$"
)


def _form_dot(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """12.5: month.day unless it reads as money, a score or a version (报价12.5, v1.5)."""
    if _MONEY_WORDS.search(ctx.text[max(0, s - 4) : s]):
        return _Piece("skip", s, e)
    return _form_slash(ctx, m, s, e)


def _form_lunar(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """正月十五, 农历三月初三, 腊月二十, 大年初一: the nearest solar date of that lunar day."""
    if m.group("leap"):
        return _problem(ctx, s, e, "refuse", "暂不支持农历闰月，请写公历日期")
    name = m.group("lm") or m.group("lm2") or m.group("lm3") or ("正" if m.group("big") else "")
    month = {"正": 1, "冬": 11, "腊": 12}.get(name) or _num(name)
    raw = m.group("ld")
    dom = _num(raw[1:]) if raw.startswith("初") else _num(raw)
    if month is None or dom is None or not 1 <= month <= 12 or not 1 <= dom <= 30:
        return _problem(ctx, s, e, "refuse", f"没有农历{name}月{raw}")
    today = ctx.today
    lunar_year = _lunar_year(today)
    # The lunar year is chosen on the 1st of that lunar month (it always exists), so a 30th that a
    # short month lacks is refused rather than moved to another year.
    firsts = [
        (y, _lunar_to_solar(y, month, 1)) for y in (lunar_year - 1, lunar_year, lunar_year + 1)
    ]
    options = [(first + timedelta(days=dom - 1), y) for y, first in firsts if first is not None]
    if ctx.past:
        options = [o for o in options if o[0] <= today] or options
    if not options:
        return _Piece("skip", s, e)
    _, year = min(options, key=lambda o: (abs((o[0] - today).days), o[0] < today))
    solar = _lunar_to_solar(year, month, dom)
    if solar is None:
        return _problem(ctx, s, e, "refuse", f"{year}年农历{name}月没有{raw}")
    return _day_piece(ctx, s, e, solar, explicit=True)


@functools.cache
def _lunar_table() -> Any:
    """jionlp's lunar calendar (1900–2100), loaded from its one module: all of jionlp takes 2 s."""
    spec = importlib.util.find_spec("jionlp")  # finds the package without importing it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "gadget" / "lunar_solar_date.py"
        module_spec = importlib.util.spec_from_file_location("_jionlp_lunar", path)
        if path.is_file() and module_spec is not None and module_spec.loader is not None:
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            return module.LunarSolarDate()
    from models.parsing import _jio  # pragma: no cover - a jionlp laid out differently

    return _jio().gadget.lunar_solar_date.LunarSolarDate()  # pragma: no cover


def _lunar_year(day: date) -> int:
    """The lunar year that ``day`` falls in."""
    return int(_lunar_table().to_lunar_date(datetime.combine(day, time()))[0])


@functools.lru_cache(maxsize=4096)
def _lunar_to_solar(year: int, month: int, dom: int) -> date | None:
    """The solar date of a (non-leap) lunar date, or None when that lunar day does not exist."""
    if not 1901 <= year <= 2099:
        return None
    try:
        solar: datetime = _lunar_table().to_solar_date(year, month, dom, False)
    except ValueError:
        return None
    return solar.date()


def _form_duration(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """3天后, 五日内, 两个礼拜内, 一个月之内, 3个工作日内, 2小时后, 3天前 (history)."""
    unit = m.group("unit") or m.group("unit2")
    suffix = m.group("suf") or m.group("suf2")
    raw = m.group("n")
    half = raw == "半" or bool(m.group("half"))
    n = 0 if raw == "半" else _num(raw)
    if n is None:
        return _Piece("skip", s, e)
    back = suffix in ("前", "之前", "以前")
    sign = -1 if back else 1
    if unit in ("小时", "钟头", "分钟"):
        minutes = n * 60 + (30 if half else 0) if unit != "分钟" else n
        moment = ctx.now.replace(second=0, microsecond=0) + sign * timedelta(minutes=minutes)
        if back:
            return _Piece("history", s, e, day=moment.date())
        return _Piece("day", s, e, day=moment.date(), clock=moment.time().replace(tzinfo=None))
    today = ctx.today
    if unit == "工作日":
        day = ctx.cal.add_workdays(today, sign * n)
    elif unit in ("天", "日"):
        day = today + timedelta(days=sign * n)
    elif unit in ("周", "星期", "礼拜"):
        day = today + timedelta(days=sign * (7 * n + (3 if half else 0)))
    elif unit == "月":
        day = _add_months(today, sign * n) + timedelta(days=sign * (15 if half else 0))
    else:  # 年
        day = _add_months(today, sign * (12 * n + (6 if half else 0)))
    if back:
        return _Piece("history", s, e, day=day)
    if n == 0 and not half:
        return _Piece("skip", s, e)
    return _Piece("day", s, e, day=day)


_RELDAYS = {
    "大后天": 3,
    "后天": 2,
    "后日": 2,
    "明天": 1,
    "明日": 1,
    "明儿": 1,
    "明儿个": 1,
    "今天": 0,
    "今日": 0,
    "今儿": 0,
    "今儿个": 0,
    "昨天": -1,
    "昨日": -1,
    "昨儿": -1,
    "昨儿个": -1,
    "前天": -2,
    "大前天": -3,
}


def _form_relday(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """今天, 明天, 后天, 大后天 (昨天/前天 are history)."""
    return _day_piece(ctx, s, e, ctx.today + timedelta(days=_RELDAYS[m.group()]), relative=True)


def _form_daypart(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """今早, 明早, 今晚, 明晚, 昨晚: a day with its part-of-day time."""
    offset = {"今": 0, "明": 1, "昨": -1}[m.group("dd")]
    day = ctx.today + timedelta(days=offset)
    clock = _PART_TIMES[m.group("dp")]
    if offset < 0:
        return _Piece("history", s, e, day=day)
    return _Piece("day", s, e, day=day, clock=clock, explicit=True, relative=True)


def _week_monday(day: date, weeks: int) -> date:
    """Monday of ``day``'s week moved by ``weeks`` weeks."""
    return day - timedelta(days=day.weekday()) + timedelta(weeks=weeks)


_WEEK_OFFSETS = {
    "": 0,
    "本": 0,
    "这": 0,
    "这个": 0,
    "今": 0,
    "下": 1,
    "下个": 1,
    "下下": 2,
    "下下个": 2,
    "上": -1,
    "上个": -1,
    "上上": -2,
    "上上个": -2,
}


def _form_weekday(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """周三, 星期五, 礼拜天, 下周一, 下下周三, 这周五, 周末 (Saturday); 上周三 is history."""
    pre = m.group("pre") or ""
    wd = _WEEKDAYS[m.group("wd")]
    today = ctx.today
    day = _week_monday(today, _WEEK_OFFSETS[pre]) + timedelta(days=wd)
    if not pre:
        if ctx.past and day > today:
            day -= timedelta(weeks=1)
        elif not ctx.past and day < today:
            day += timedelta(weeks=1)
        return _Piece("day", s, e, day=day, weekday=wd)
    return _day_piece(ctx, s, e, day, relative=True)


def _form_week(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """下周 (next Monday), 下下周, 本周/这周/本周内 (this week's last working day)."""
    offset = _WEEK_OFFSETS[m.group("pre")]
    today = ctx.today
    if offset > 0:
        return _Piece("day", s, e, day=_week_monday(today, offset))
    if offset < 0:
        return _day_piece(ctx, s, e, _week_monday(today, offset))
    last = ctx.cal.last_workday_of_week(today)
    sunday = _week_monday(today, 0) + timedelta(days=6)
    return _Piece("day", s, e, day=last if last is not None and last >= today else sunday)


def _part_of_month(
    ctx: _Ctx, s: int, e: int, first: date, part: str | None, raw_day: str | None
) -> _Piece:
    """A day inside the month starting at ``first``: a written day of month, or a part."""
    if raw_day is not None:
        dom = _num(raw_day)
        if dom is None or dom < 1 or dom > _last_day(first.year, first.month):
            return _problem(ctx, s, e, "refuse", f"{first.month}月没有{raw_day}号")
        return _day_piece(ctx, s, e, first.replace(day=dom), explicit=True)
    return _day_piece(ctx, s, e, first.replace(day=_month_days(first.year, first.month, part)))


def _form_monthrel(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """下个月 (its 1st), 下月初/中/底, 下个月15号, 本月底, 这个月 (= 本月底), 上个月 (history)."""
    offset = _WEEK_OFFSETS[m.group("pre")] if m.group("pre") != "当" else 0
    first = _add_months(ctx.today.replace(day=1), offset)
    part, raw_day = m.group("part"), m.group("d")
    if offset == 0 and part in (None, "份"):
        part = "底"  # 本月/这个月 alone: a deadline, the end of this month
    piece = _part_of_month(ctx, s, e, first, part, raw_day)
    if offset < 0 and piece.kind == "day" and not ctx.past:
        return _Piece("history", s, e, day=piece.day)
    if offset > 0 and part in (None, "份") and raw_day is None:
        return replace(piece, period=first)
    return piece


def _form_month(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """3月, 3月份, 3月底, 明年3月, 2027年3月中旬; 3月后 is asked; the current month alone too."""
    month = _num(m.group("m"))
    if month is None:
        return _Piece("skip", s, e)
    if not 1 <= month <= 12:
        return _problem(ctx, s, e, "refuse", f"没有{month}月")
    year = _year_of(ctx, m)
    part = m.group("part")
    today = ctx.today
    if year is None and m.group("suf") and part is None:
        return _problem(
            ctx,
            s,
            e,
            "ask",
            f"“{ctx.text[s:e]}”是指{month}月份以后，还是{month}个月后？请写“{month}月”或“{month}个月后”",
        )
    if year is None:
        ahead = (month - today.month) % 12
        if ahead == 0 and part is None and not ctx.past:
            return _problem(
                ctx,
                s,
                e,
                "ask",
                f"{month}月就是本月，哪一天？请写具体日期，例如 月底、{month}月{_last_day(today.year, month)}日",
            )
        if part is not None:
            year = _nearest_year(ctx, month, _month_days(today.year, month, part))
        elif ctx.past:
            year = today.year if month <= today.month else today.year - 1
        else:
            year = today.year + (1 if month < today.month else 0)
            if ahead > 6:
                year = today.year - (0 if month < today.month else 1)
    first = date(year, month, 1)
    piece = _part_of_month(ctx, s, e, first, part, None)
    if piece.kind == "day":
        piece = replace(piece, explicit=True)
    elif piece.kind == "history":
        piece = _Piece("day", s, e, day=piece.day, explicit=True)
    return replace(piece, period=first) if part is None else piece


def _form_anchor(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """月底/月末 (this month's last day), 月初 (the next 1st), 月中 (the next 15th), 上中下旬."""
    part = m.group("part")
    today = ctx.today
    first = today.replace(day=1)
    day = first.replace(day=_month_days(today.year, today.month, part))
    if day < today and not ctx.past:
        nxt = _add_months(first, 1)
        day = nxt.replace(day=_month_days(nxt.year, nxt.month, part))
    return _Piece("day", s, e, day=day, anchor=part)


def _form_year(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """年底/今年底 (Dec 31), 明年 (its Jan 1), 明年初, 明年底, 2027年底; 今年 alone is no date."""
    offset = {"今年": 0, "本年": 0, "明年": 1, "后年": 2, None: 0}[m.group("ry")]
    part = m.group("part") or m.group("part2") or m.group("part3")
    year = ctx.today.year + offset
    if m.group("y"):  # 2027年底: a written year, reported when past
        year = int(m.group("y"))
        day = date(year, 1, 1) if part == "初" else date(year, 12, 31)
        return _day_piece(ctx, s, e, day, explicit=True)
    if part is None:
        return _Piece("skip", s, e) if offset == 0 else _Piece("day", s, e, day=date(year, 1, 1))
    if part in ("初", "年初"):
        return _day_piece(ctx, s, e, date(year, 1, 1))
    return _Piece("day", s, e, day=date(year, 12, 31))


# -- festivals and holiday blocks ---------------------------------------------------------------

_FIXED_FESTIVALS = {
    "元旦": (1, 1),
    "五一": (5, 1),
    "劳动节": (5, 1),
    "五一劳动节": (5, 1),
    "国庆": (10, 1),
    "国庆节": (10, 1),
    "十一": (10, 1),
    "情人节": (2, 14),
    "双十一": (11, 11),
    "双11": (11, 11),
    "双十二": (12, 12),
    "双12": (12, 12),
    "平安夜": (12, 24),
    "圣诞": (12, 25),
    "圣诞节": (12, 25),
}
_LUNAR_FESTIVALS = {
    "春节": (1, 1),
    "过年": (1, 1),
    "过完年": (1, 1),
    "年": (1, 1),
    "元宵": (1, 15),
    "元宵节": (1, 15),
    "端午": (5, 5),
    "端午节": (5, 5),
    "七夕": (7, 7),
    "中秋": (8, 15),
    "中秋节": (8, 15),
    "重阳": (9, 9),
    "重阳节": (9, 9),
    "腊八": (12, 8),
    "腊八节": (12, 8),
}
_TERMS = {"清明": 4, "清明节": 4, "冬至": 12}  # solar terms, by their month
# The statutory holidays (their blocks are looked up in the calendar); the rest are one day.
_STATUTORY = ("元旦", "春节", "清明", "五一", "端午", "中秋", "国庆")
_CANONICAL = {
    "过年": "春节",
    "过完年": "春节",
    "年": "春节",
    "除夕": "春节",
    "大年三十": "春节",
    "清明节": "清明",
    "劳动节": "五一",
    "五一劳动节": "五一",
    "端午节": "端午",
    "中秋节": "中秋",
    "国庆节": "国庆",
    "十一": "国庆",
}


def _festival_day(name: str, year: int) -> date | None:
    """The festival's date in solar ``year`` (lunar ones: of the lunar year starting in it)."""
    if name in ("除夕", "大年三十"):
        new_year = _lunar_to_solar(year + 1, 1, 1)
        return new_year - timedelta(days=1) if new_year else None
    if name in _FIXED_FESTIVALS:
        month, dom = _FIXED_FESTIVALS[name]
        return date(year, month, dom)
    if name in _LUNAR_FESTIVALS:
        month, dom = _LUNAR_FESTIVALS[name]
        return _lunar_to_solar(year, month, dom)
    if name in _TERMS:
        return _solar_term(year, _TERMS[name])
    return None


@functools.lru_cache(maxsize=256)
def _solar_term(year: int, month: int) -> date | None:
    """清明 (April) or 冬至 (December) of ``year`` from chinesecalendar's solar terms."""
    import chinese_calendar

    wanted = "清明" if month == 4 else "冬至"
    try:
        terms = chinese_calendar.get_solar_terms(date(year, month, 1), date(year, month, 28))
    except Exception:  # outside the package's range
        return None
    return next((day for day, term in terms if term == wanted), None)


def _form_festival(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """元旦, 春节前, 国庆后, 中秋, 清明, 五一假期后, 年后: the next occurrence."""
    name = m.group("f")
    rel = m.group("rel") or ""
    if name == "过完年":
        rel = rel or "后"
    return _holiday(ctx, s, e, name, rel)


def _form_holiday(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """节后, 节前, 假期后, 放假前, 收假后: around the next statutory holiday."""
    return _holiday(ctx, s, e, None, m.group("rel"))


def _holiday(ctx: _Ctx, s: int, e: int, name: str | None, rel: str) -> _Piece:
    """Resolve a festival (``name``) or the next statutory holiday (None) with 前/后 or alone."""
    after = rel.endswith("后") or rel == "过后"
    before = rel.endswith("前")
    today = ctx.today
    canonical = _CANONICAL.get(name or "", name)
    names = [name] if name else list(_STATUTORY)
    candidates: list[tuple[date, str]] = []
    for year in (today.year - 1, today.year, today.year + 1):
        for each in names:
            assert each is not None
            day = _festival_day(each, year)
            if day is not None:
                candidates.append((day, each))
    candidates.sort()
    if not (after or before):  # the festival day itself: the next one (for reports the last one)
        days = [d for d, _ in candidates if (d <= today if ctx.past else d >= today)]
        if not days:
            return _Piece("skip", s, e)
        return _Piece("day", s, e, day=days[-1] if ctx.past else days[0], explicit=True)
    statutory = (canonical in _STATUTORY) or name is None
    for day, each in candidates:
        key = _CANONICAL.get(each, each)
        if statutory and key in _STATUTORY:
            if not _covered(ctx, day):
                return _problem(
                    ctx,
                    s,
                    e,
                    "refuse",
                    f"{day.year}年{key}的放假安排日历里还没有，请直接写日期",
                )
            block = ctx.cal.days_off_around(day) or (day, day)
            target = ctx.cal.next_workday(block[1]) if after else ctx.cal.previous_workday(block[0])
        else:
            target = day + timedelta(days=1 if after else -1)
        if target >= today:
            return _Piece("day", s, e, day=target)
    return _Piece("skip", s, e)


def _covered(ctx: _Ctx, day: date) -> bool:
    """True when the calendar knows the days off around ``day`` (a block may cross a year)."""
    return all(ctx.cal.covers(d.year) for d in (day - timedelta(days=10), day + timedelta(days=10)))


def _form_dom(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """5号, 30日: this month's if still ahead, else next month's; a missing day is refused."""
    dom = _num(m.group("d"))
    if dom is None:
        return _Piece("skip", s, e)
    today = ctx.today
    first = today.replace(day=1)
    if ctx.past and dom > today.day:
        first = _add_months(first, -1)
    elif not ctx.past and dom < today.day:
        first = _add_months(first, 1)
    if not 1 <= dom <= _last_day(first.year, first.month):
        return _problem(ctx, s, e, "refuse", f"{first.month}月没有{dom}号")
    return _Piece("day", s, e, day=first.replace(day=dom), explicit=True, anchor=f"d{dom}")


def _hour(part: str | None, h: int) -> tuple[int, bool] | str:
    """The 24-hour hour for ``h`` said with ``part`` (or none) and whether it was marked; or why not.

    No marker: 1–6 are the afternoon. A reason starting with ``ask:`` is a question.
    """
    if part is None:
        if h > 23:
            return ""
        return (h + 12 if 1 <= h <= 6 else h), False
    if part in ("上午", "早上", "早晨", "早", "清晨", "晨"):
        if 5 <= h <= 12:
            return h, True
        if 1 <= h <= 4:
            return f"ask:{part}{h}点是凌晨{h}点吗？凌晨请写“凌晨{h}点”，下午请写“下午{h}点”"
        return f"{part}没有{h}点"
    if part == "中午":
        if h in (11, 12, 13, 14):
            return h, True
        if h in (1, 2):
            return h + 12, True
        return f"中午没有{h}点"
    if part in ("下午", "午后"):
        if 1 <= h <= 11:
            return h + 12, True
        if 12 <= h <= 23:
            return h, True
        return f"下午没有{h}点"
    if part == "傍晚":
        if 5 <= h <= 7:
            return h + 12, True
        if 17 <= h <= 19:
            return h, True
        return f"傍晚没有{h}点"
    if part in ("晚上", "晚", "夜里", "夜间", "夜"):
        if 6 <= h <= 11:
            return h + 12, True
        if 18 <= h <= 23:
            return h, True
        if h in (12, 0, 1, 2, 3, 4, 5):
            return f"ask:{part}{h}点已经是第二天了，请写“明天凌晨{h % 12}点”或“今晚11点”"
        return f"{part}没有{h}点"
    if part == "半夜":
        if h in (11, 23):
            return 23, True
        if h in (12, 0, 1, 2, 3):
            return f"ask:半夜{h}点已经是第二天了，请写“明天凌晨{h % 12}点”"
        return f"半夜没有{h}点"
    if part == "凌晨":
        if 0 <= h <= 6:
            return h, True
        return f"凌晨没有{h}点"
    return ""


def _form_clock(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """3点, 下午3点, 十点半, 10:30, 早上十点左右 (an hour is kept whatever fuzzy word follows)."""
    raw_h = m.group("h")
    h = _num(raw_h)
    raw_mm = m.group("mm") or m.group("mm2")
    part = m.group("part")
    if h is None:
        return _Piece("skip", s, e)
    if raw_mm is None:
        minute = 0
    elif raw_mm in ("半", "一刻", "三刻"):
        minute = {"半": 30, "一刻": 15, "三刻": 45}[raw_mm]
    else:
        found = _num(raw_mm)
        if found is None or found > 59:
            return (
                _Piece("skip", s, e)
                if part is None
                else _problem(ctx, s, e, "refuse", f"没有{raw_mm}分")
            )
        minute = found
    # 一点 alone is "a little" (便宜一点); 一点 as a time needs a part of the day or minutes.
    if raw_h == "一" and part is None and raw_mm is None:
        return _Piece("time", s, e, clock=None, weak=True, marked=False, anchor=f"h{raw_h}")
    hour = _hour(part, h)
    if isinstance(hour, str):
        if not hour:
            return _Piece("skip", s, e)
        kind: Literal["refuse", "ask"] = "ask" if hour.startswith("ask:") else "refuse"
        return _problem(ctx, s, e, kind, hour.removeprefix("ask:"))
    value, marked = hour
    return _Piece(
        "time", s, e, clock=time(value, minute), marked=marked, explicit=True, anchor=f"raw{h}"
    )


def _form_part(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """上午, 下午, 晚上 alone: that part of today at its usual time (history once past)."""
    part = m.group("part")
    return _Piece(
        "time", s, e, clock=_PART_TIMES[part], weak=True, marked=True, anchor=f"part{part}"
    )


def _form_skip(ctx: _Ctx, m: re.Match[str], s: int, e: int) -> _Piece:
    """每周三, 第二天, 改天: not a date."""
    return _Piece("skip", s, e)


_RESOLVERS = {
    "skip": _form_skip,
    "iso": _form_iso,
    "lunar": _form_lunar,
    "md": _form_md,
    "slash": _form_slash,
    "dot": _form_dot,
    "duration": _form_duration,
    "relday": _form_relday,
    "daypart": _form_daypart,
    "weekday": _form_weekday,
    "week": _form_week,
    "monthrel": _form_monthrel,
    "month": _form_month,
    "anchor": _form_anchor,
    "year": _form_year,
    "festnum": _form_festival,
    "fest": _form_festival,
    "holiday": _form_holiday,
    "dom": _form_dom,
    "clock": _form_clock,
    "part": _form_part,
}


# ---------------------------------------------------------------------------------------------
# Scanning and combining
# ---------------------------------------------------------------------------------------------


def _scan(ctx: _Ctx) -> list[_Piece]:
    """Every expression in the text, in order, at most MAX_TOKENS of them."""
    patterns, master = _grammar()
    pieces: list[_Piece] = []
    for found in master.finditer(ctx.text):
        kind = found.lastgroup
        assert kind is not None
        match = patterns[kind].match(ctx.text, found.start())
        if match is None or match.end() != found.end():  # pragma: no cover - same pattern
            continue
        pieces.append(_RESOLVERS[kind](ctx, match, found.start(), found.end()))
        if len(pieces) >= MAX_TOKENS:
            break
    return pieces


def _gap(ctx: _Ctx, left: _Piece, right: _Piece, pattern: re.Pattern[str]) -> bool:
    """True when only ``pattern`` (spaces, commas…) lies between two pieces."""
    return pattern.fullmatch(ctx.text, left.end, right.start) is not None


def _with_time(ctx: _Ctx, day: _Piece, clock: _Piece) -> _Piece:
    """A day and the time said after it (明天下午3点, 周三 15:00, 今晚8点)."""
    assert day.day is not None
    value = clock.clock
    if value is None:  # 明天一点: a time after a day is a time
        h = _num((clock.anchor or "h").removeprefix("h")) or 0
        value = time(h + 12 if 1 <= h <= 6 else h)
    elif day.clock is not None and not clock.marked:
        # 今晚8点, 明早8点: the day's part marks the hour.
        raw = _num((clock.anchor or "raw").removeprefix("raw"))
        part = "晚" if day.clock >= time(18) else "早"
        hour = _hour(part, raw if raw is not None else value.hour)
        if isinstance(hour, str):
            if not hour:
                return _Piece("skip", day.start, clock.end)
            kind: Literal["refuse", "ask"] = "ask" if hour.startswith("ask:") else "refuse"
            return _problem(ctx, day.start, clock.end, kind, hour.removeprefix("ask:"))
        value = time(hour[0], value.minute)
    return replace(
        day, end=clock.end, clock=value, explicit=True, weak=False, period=None, anchor=None
    )


def _weekday_clash(ctx: _Ctx, dated: _Piece, other: _Piece, start: int, end: int) -> _Piece:
    """A date next to a weekday or a relative day: merged when they agree, asked when not."""
    assert dated.day is not None and other.day is not None
    day = dated.day
    if other.weekday is not None:
        if day.weekday() == other.weekday:
            return replace(dated, start=start, end=end)
        said = f"周{_WEEKDAY_NAMES[other.weekday]}"
        reason = (
            f"{day.year}年{day.month}月{day.day}日是周{_WEEKDAY_NAMES[day.weekday()]}，不是{said}"
        )
    else:
        if day == other.day:
            return replace(dated, start=start, end=end)
        said = ctx.text[other.start : other.end]
        reason = f"{said}是{_fmt(other.day)}，不是{_fmt(day)}"
    return _problem(ctx, start, end, "ask", f"{reason}；是哪一天？请只写一个日期")


def _combine(ctx: _Ctx, pieces: list[_Piece]) -> list[_Piece]:
    """Join a day with its time, a date with its weekday, a month with its 月底/5号."""
    pieces = list(pieces)
    out: list[_Piece] = []
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        nxt = pieces[i + 1] if i + 1 < len(pieces) else None
        if piece.kind == "day" and nxt is not None:
            # A month as a period followed by a part of "the month": that month's.
            if (
                piece.period is not None
                and nxt.kind == "day"
                and nxt.anchor
                and _gap(ctx, piece, nxt, _TIME_GAP)
            ):
                raw = nxt.anchor[1:] if nxt.anchor.startswith("d") else None
                part = None if raw is not None else nxt.anchor
                merged = _part_of_month(ctx, piece.start, nxt.end, piece.period, part, raw)
                pieces[i + 1] = replace(merged, explicit=True) if merged.kind == "day" else merged
                i += 1
                continue
            # A date next to a weekday or a relative day: 周日，二月十号 / 2月10日(周三) / 明天(11月28日).
            if nxt.kind == "day" and _gap(ctx, piece, nxt, _WEEKDAY_GAP) and nxt.day is not None:
                pair = (piece, nxt) if piece.absolute else (nxt, piece)
                first, second = pair
                if first.absolute and (second.weekday is not None or second.relative):
                    end = nxt.end
                    if any(b in ctx.text[piece.end : nxt.start] for b in "(（"):
                        close = _CLOSE.match(ctx.text, nxt.end)
                        end = close.end() if close else end
                    pieces[i + 1] = _weekday_clash(ctx, first, second, piece.start, end)
                    i += 1
                    continue
        if piece.kind in ("day", "history") and nxt is not None and nxt.kind == "time":
            if _gap(ctx, piece, nxt, _TIME_GAP) and (piece.clock is None or not nxt.weak):
                if piece.kind == "history":
                    pieces[i + 1] = _Piece("history", piece.start, nxt.end, day=piece.day)
                else:
                    pieces[i + 1] = _with_time(ctx, piece, nxt)
                i += 1
                continue
        out.append(piece)
        i += 1
    return out


def _finish(
    ctx: _Ctx, piece: _Piece
) -> tuple[Literal["date", "past", "history", "skip"], DateHit | None]:
    """The piece as a hit and whether it is ahead, explicitly past, history or nothing."""
    if piece.kind in ("skip", "problem"):
        return "skip", None
    if piece.kind == "time":
        if piece.clock is None:
            return "skip", None  # 一点 alone: "a little"
        moment = datetime.combine(ctx.today, piece.clock)
        base = ctx.now.replace(tzinfo=None, second=0, microsecond=0)
        if moment <= base and not ctx.past:
            if piece.weak:
                return "history", None
            moment += timedelta(days=1)
        hit = DateHit(moment.replace(tzinfo=ctx.now.tzinfo), True, "", (piece.start, piece.end))
        return "date", hit
    assert piece.day is not None
    has_time = piece.clock is not None
    moment = datetime.combine(piece.day, piece.clock or time(0, 0))
    hit = DateHit(moment.replace(tzinfo=ctx.now.tzinfo), has_time, "", (piece.start, piece.end))
    if ctx.past:
        return "date", hit
    if piece.kind == "history":
        return "history", hit
    base = ctx.now.replace(tzinfo=None)
    ahead = moment > base if has_time else piece.day >= ctx.today
    if ahead:
        return "date", hit
    return ("past" if piece.explicit else "history"), hit


def _month_context(ctx: _Ctx, pieces: list[_Piece]) -> list[_Piece]:
    """A later 月底/5号 in that month wins over a month's 1st; in another month it is asked."""
    out = list(pieces)
    period_at: int | None = None
    for i, piece in enumerate(out):
        if piece.kind == "day" and piece.period is not None:
            period_at = i
            continue
        if period_at is None or piece.kind != "day" or not piece.anchor or piece.day is None:
            continue
        period = out[period_at].period
        assert period is not None
        if (piece.day.year, piece.day.month) == (period.year, period.month):
            out[period_at] = replace(out[period_at], kind="skip")
        else:
            said = ctx.text[piece.start : piece.end]
            reason = (
                f"“{said}”是指{piece.day.month}月的（{_fmt(piece.day)}），还是前面说的"
                f"{period.month}月的？请写清楚，例如“{period.month}月{said.removeprefix('月')}”"
            )
            out[i] = _problem(ctx, piece.start, piece.end, "ask", reason)
        period_at = None
    return out


def _context(text: str, now: datetime, cal: WorkCalendar | None, past: bool) -> _Ctx:
    """The resolution context for ``text`` (folded, capped) at ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime in the chat's time zone")
    folded = fold_for_parsing(text[:MAX_CHARS])
    return _Ctx(folded, now, cal or _DEFAULT_CALENDAR, past)


def _read(ctx: _Ctx, original: str) -> tuple[DateReading, list[_Piece]]:
    """The reading of a whole text plus its final pieces."""
    pieces = _month_context(ctx, _combine(ctx, _scan(ctx)))
    problem = next((p.problem for p in pieces if p.problem is not None), None)
    if problem is not None:
        start, end = problem.span
        return DateReading(problem=replace(problem, text=original[start:end])), pieces
    first_past: DateHit | None = None
    for piece in pieces:
        status, hit = _finish(ctx, piece)
        if hit is None:
            continue
        start, end = hit.span
        hit = replace(hit, text=original[start:end])
        if status == "date":
            return DateReading(hit=hit), pieces
        if status == "past" and first_past is None:
            first_past = hit
    return DateReading(past=first_past), pieces


@remembered
def read_note(text: str, now: datetime, cal: WorkCalendar | None = None) -> DateReading:
    """What a free-text note says about its next date (the first one from today on).

    A problem anywhere in the note (an impossible date, an ambiguity) wins: nothing is guessed.
    ``cal`` (the chat's working days) is used by 节后, N个工作日内 and 本周.
    """
    if not text or not text.strip():
        return DateReading()
    return _read(_context(text, now, cal, past=False), text)[0]


_FILLER = re.compile(r"[\s前左右的之内后以为止]*")


@remembered
def read_exact(
    text: str, now: datetime, cal: WorkCalendar | None = None, *, past: bool = False
) -> DateReading:
    """Read a text that must be one time expression (a /提醒 time, a /日报 date) and nothing else.

    With ``past``, bare forms (周三, 5号, 12月5日) mean their latest occurrence up to today, and
    past words (昨天, 上周三) are dates too; a future date is returned for the caller to refuse.
    """
    if not text or not text.strip():
        return DateReading()
    ctx = _context(text, now, cal, past)
    reading, pieces = _read(ctx, text)
    if reading.problem is not None:
        return reading
    kept = [p for p in pieces if p.kind != "skip"]
    if len(kept) != 1 or len(pieces) != 1:
        return DateReading()
    piece = kept[0]
    if not (_FILLER.fullmatch(ctx.text, 0, piece.start) and _FILLER.fullmatch(ctx.text, piece.end)):
        return DateReading()
    status, hit = _finish(ctx, piece)
    if hit is None:
        return DateReading()
    lead = len(text) - len(text.lstrip())
    span = (lead, len(text.rstrip()))
    hit = DateHit(hit.when, hit.has_time, text[span[0] : span[1]], span)
    if status == "date":
        return DateReading(hit=hit)
    return DateReading(past=hit)


def find_when(text: str, now: datetime) -> DateHit | None:
    """First today-or-future time expression in a free-text note (None if none, or if asked/refused)."""
    return read_note(text, now).hit


def parse_when(text: str, now: datetime) -> DateHit | None:
    """Parse a string that is entirely one today-or-future time expression (e.g. the time in /提醒)."""
    return read_exact(text, now).hit
