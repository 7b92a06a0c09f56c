"""Money as reps type it: an exact yuan amount, or the reason it is not one.

Pure text, no I/O, a small hand-written grammar (see bench/amount_libraries.py for why no library).
Every reading is one of four kinds, each with a one-line Chinese reason for the chat:

- ``Exact``: a positive yuan amount below ``MAX_MONEY`` with at most two decimals (fen).
- ``Approximate``: 十多万, 50万左右, 近700万, 三四万, 5-8万 ...: the bot asks for an exact figure.
- ``Foreign``: 美元, 港币, USD, $ ...: refused, the bot does not model currency.
- ``Unreadable``: looks like money but is not exactly readable (48万含税, 0元, 5万3万).

Documented choices (usage that is ambiguous elsewhere):
- A single digit right after a unit is the next lower unit (colloquial tail): 三万五 = 35,000,
  1万6 = 16,000, 一千陆 = 1,600, 千三 = 1,300, 3块5 = 3.50. With 零 it is literal: 一千零六 = 1,006.
  Arabic numbers of two or more digits after a unit are literal: 1万600 = 10,600, 1万60 = 10,060,
  3万4000 = 34,000. A tail after a bare leading 万/亿 (万五, 万一) and 两 as a tail are unreadable.
- Digits right after each other name a range: 三四万, 一两万, 三五千 are approximate.
- A comma between digits (ASCII or full width ，) is a thousands separator only when every group
  after it has exactly three digits (30,000 / 3，000 / 1,200,000.50); between other numbers it
  lists a range (5,6万 = 5到6万, approximate); anywhere else it separates words.
- ¥ is yuan (as in China); a bare $ is US dollars; 刀 and 美刀 are dollars.
- Decimals only on the leading number (5.5万, 1.5千万, 12,345.50); 5.5万3千 is unreadable.
- 角/毛/分 count after a yuan part (3元5角2分, 3块5毛) or alone (5角); more than two decimals
  (0.001元) are unreadable rather than rounded.
- In free text (``find_amounts``) only numbers with a unit or currency count as money (5万, 8千,
  30000元, ¥30,000; not 报价 30000), never a number followed by a counter (5万人, 3千台, 5号).

Cost is linear in the input: one left-to-right lexer over a fixed keyword table, no regex.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal

from models.memo import remembered

MAX_MONEY: Final = Decimal("1e12")  # models.customer.MONEY = Numeric(14, 2) holds < 10**12
MAX_TEXT: Final = 40  # a longer "amount" is not one; keeps the worst case small
_CENT: Final = Decimal("0.01")
_SHOWN: Final = 20  # characters of the typed text echoed in a reason

# ---------------------------------------------------------------------------------------------
# Readings
# ---------------------------------------------------------------------------------------------


def _shown(text: str) -> str:
    """The typed text, safe to echo inside a reason."""
    from models.parsing import sanitize_user_text  # parsing re-exports this module

    return sanitize_user_text(text, _SHOWN)


@dataclass(frozen=True)
class Exact:
    """An exact, positive yuan amount with at most two decimals."""

    value: Decimal
    text: str

    @property
    def reason(self) -> str:
        """Nothing is wrong with an exact amount."""
        return ""


@dataclass(frozen=True)
class Approximate:
    """A rough figure (十多万, 50万左右, 5-8万): never stored, the bot asks for an exact one."""

    text: str

    @property
    def reason(self) -> str:
        """The question to ask, in Chinese."""
        return f"金额“{_shown(self.text)}”是约数，请给出准确金额"


@dataclass(frozen=True)
class Foreign:
    """An amount in another currency: refused, amounts are yuan only."""

    text: str
    currency: str

    @property
    def reason(self) -> str:
        """Why it is refused, in Chinese."""
        return f"金额“{_shown(self.text)}”是{self.currency}，只能记人民币金额，请换算成人民币"


@dataclass(frozen=True)
class Unreadable:
    """Looks like money but cannot be read exactly."""

    text: str
    why: str = "请用数字或中文数字写清楚"

    @property
    def reason(self) -> str:
        """Why it is refused, in Chinese."""
        return f"看不懂金额“{_shown(self.text)}”，{self.why}"


Reading = Exact | Approximate | Foreign | Unreadable


@dataclass(frozen=True)
class Mention:
    """An amount found in free text, with its (start, end) span in the text."""

    reading: Reading
    span: tuple[int, int]


# ---------------------------------------------------------------------------------------------
# Characters and keywords
# ---------------------------------------------------------------------------------------------

# One character for one character, so spans in the folded text index the original.
_FOLD: Final = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {
    ord(a): ord(b)
    for a, b in zip(
        "￥\u3000\u00a0\u202f\u2007萬億貳參叄陸兩圓塊—–−─～〜",
        "¥    万亿贰叁叁陆两圆块----~~",
        strict=True,
    )
}

_ARABIC: Final = frozenset("0123456789")
_DIGITS: Final = (
    {c: i + 1 for i, c in enumerate("一二三四五六七八九")}
    | {c: i + 1 for i, c in enumerate("壹贰叁肆伍陆柒捌玖")}
    | {"两": 2}
)
_ZEROS: Final = frozenset("零〇")
_UNITS: Final = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG: Final = {"万": 10**4, "亿": 10**8}
_LETTER_UNITS: Final = {"w": 10**4, "k": 1000}
_COUNTERS: Final = frozenset(
    "个人次台套件名位米克天周月年号日点秒户家条张单份瓦卡吨斤箱辆部只支本层楼间岁倍字页行"
    "平亩升盒瓶包袋根把期批轮场节折%"
)
# After these a Chinese digit belongs to another word: 周三万达 is Wednesday, 第三 an ordinal.
_NOT_AFTER_CN: Final = ("周", "星期", "礼拜", "第", "初")
# The 块 of 3块屏 is a measure word; these may follow the 块 of money.
_AFTER_KUAI: Final = frozenset("钱的左上以之不整人多余出开起来吧啊呢了")

_FOREIGN: Final = {
    "美元": "美元", "美金": "美元", "美刀": "美元", "刀": "美元", "USD": "美元", "US$": "美元",
    "$": "美元", "欧元": "欧元", "EUR": "欧元", "€": "欧元", "日元": "日元", "日币": "日元",
    "日圆": "日元", "円": "日元", "JPY": "日元", "港币": "港币", "港元": "港币", "港纸": "港币",
    "HKD": "港币", "HK$": "港币", "英镑": "英镑", "镑": "英镑", "GBP": "英镑", "£": "英镑",
    "澳元": "澳元", "澳币": "澳元", "AUD": "澳元", "A$": "澳元", "加元": "加元", "加币": "加元",
    "CAD": "加元", "C$": "加元", "新台币": "新台币", "台币": "新台币", "TWD": "新台币",
    "NT$": "新台币", "新加坡元": "新加坡元", "新币": "新加坡元", "SGD": "新加坡元",
    "S$": "新加坡元", "韩元": "韩元", "韩币": "韩元", "KRW": "韩元", "₩": "韩元",
    "澳门币": "澳门元", "澳门元": "澳门元", "MOP": "澳门元", "卢布": "卢布", "RUB": "卢布",
    "₽": "卢布", "泰铢": "泰铢", "THB": "泰铢", "฿": "泰铢", "卢比": "卢比", "INR": "卢比",
    "₹": "卢比", "瑞郎": "瑞士法郎", "瑞士法郎": "瑞士法郎", "CHF": "瑞士法郎", "法郎": "法郎",
    "越南盾": "越南盾", "VND": "越南盾", "₫": "越南盾", "林吉特": "林吉特", "马币": "林吉特",
    "MYR": "林吉特", "新西兰元": "新西兰元", "纽币": "新西兰元", "NZD": "新西兰元", "比索": "比索",
}  # fmt: skip
_CNY: Final = ("人民币", "RMB", "CNY", "¥")
# Words that make a figure approximate. Free text uses the two narrower sets below.
_APPROX_PREFIX: Final = frozenset(
    "大约 大概 大致 大体 差不多 将近 接近 约莫 约合 估计 预估 估算 至少 最少 起码 最多 顶多 "
    "最高 最低 不到 不足 不超过 不少于 超过 超出 好几 大几 小几 几 数 约 近 超 小".split()
)
_APPROX_SUFFIX: Final = frozenset(
    "多 余 来 几 把 许 起 左右 上下 以上 以下 以内 之内 之上 之下 开外 出头 朝上 打底 不到 不足 +".split()
)
_APPROX_TOKEN_ONLY: Final = frozenset(("上", "过"))  # 上万, 过万: too common in prose
_RANGE: Final = frozenset("-~到至")
_LIST: Final = frozenset(",、")  # after folding, ， is ,
_WORD_SEPARATORS: Final = frozenset(" \t\n,、;；")

# The kinds of atom the lexer produces (see _atom).
_Kind = Literal[
    "num", "dig", "zero", "unit", "point", "yuan", "qian", "jiao", "fen", "zheng", "cny",
    "foreign", "approx", "range", "list", "space", "other",
]  # fmt: skip


# First character -> (keyword, kind, payload), longest first; ASCII matched case-insensitively.
_KEYWORDS: dict[str, list[tuple[str, _Kind, str]]] = {}


def _add_keywords(kind: _Kind, words: Sequence[str] | dict[str, str]) -> None:
    """Register keywords of one kind (payload: the currency name for Foreign)."""
    pairs = words.items() if isinstance(words, dict) else ((w, w) for w in words)
    for word, payload in pairs:
        key = word[0].upper()
        _KEYWORDS.setdefault(key, []).append((word.upper(), kind, payload))


_add_keywords("foreign", _FOREIGN)
_add_keywords("cny", _CNY)
_add_keywords("approx", sorted(_APPROX_PREFIX | _APPROX_SUFFIX | _APPROX_TOKEN_ONLY))
_add_keywords("yuan", ("元", "块", "圆"))
_add_keywords("qian", ("钱",))
_add_keywords("jiao", ("角", "毛"))
_add_keywords("fen", ("分",))
_add_keywords("zheng", ("整",))
for _options in _KEYWORDS.values():
    _options.sort(key=lambda item: -len(item[0]))

# ---------------------------------------------------------------------------------------------
# Lexer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Atom:
    """One lexical piece of money text: kind, span, and a value where it has one."""

    kind: _Kind
    start: int
    end: int
    text: str
    value: Decimal = Decimal(0)
    payload: str = ""  # currency name, or "letter" for w/k, or "liang" for 两

    @property
    def numeral(self) -> bool:
        """Part of a number (digit, zero, unit, Chinese decimal point)."""
        return self.kind in ("num", "dig", "zero", "unit", "point")


def fold(text: str) -> str:
    """The parsers' spelling (full width folded, traditional simplified) plus ￥, ，, dashes.

    One character for one, so spans in the result index the original text.
    """
    from models.parsing import fold_for_parsing  # parsing re-exports this module

    return fold_for_parsing(text).translate(_FOLD)


def _arabic(s: str, i: int, n: int) -> _Atom:
    """An Arabic number at ``i`` (up to ``n``): digits, thousands groups of 3 digits, decimals."""
    j = i
    while j < n and s[j] in _ARABIC:
        j += 1
    grouped = False
    if j - i <= 3:
        while (
            j + 3 < n
            and s[j] == ","
            and all(c in _ARABIC for c in s[j + 1 : j + 4])
            and (j + 4 == n or s[j + 4] not in _ARABIC)
        ):
            j += 4
            grouped = True
    if j + 1 < n and s[j] == "." and s[j + 1] in _ARABIC:
        j += 1
        while j < n and s[j] in _ARABIC:
            j += 1
    text = s[i:j]
    return _Atom("num", i, j, text, Decimal(text.replace(",", "")), "grouped" if grouped else "")


def _atom(s: str, i: int, stop: int) -> _Atom:
    """The atom starting at ``i``, not reaching past ``stop`` (``s`` already folded)."""
    c = s[i]
    if c in _ARABIC:
        return _arabic(s, i, stop)
    if c.isspace():
        j = i + 1
        while j < stop and s[j].isspace():
            j += 1
        # One plain space may sit inside an amount (人民币 8千元, 5 万); a line break never does.
        return _Atom("space" if s[i:j] == " " else "other", i, j, s[i:j])
    for word, kind, payload in _KEYWORDS.get(c.upper(), ()):
        end = i + len(word)
        if end <= stop and s[i:end].upper() == word:
            if word.isascii() and word.isalpha() and end < stop and s[end].isascii():
                if s[end].isalpha():
                    continue  # USDT, RMBX: not a currency code
            return _Atom(kind, i, end, s[i:end], payload=payload)
    if c in _DIGITS:
        return _Atom("dig", i, i + 1, c, Decimal(_DIGITS[c]), "liang" if c == "两" else "")
    if c in _ZEROS:
        return _Atom("zero", i, i + 1, c)
    if c in _UNITS:
        return _Atom("unit", i, i + 1, c, Decimal(_UNITS[c]))
    if c in _BIG:
        return _Atom("unit", i, i + 1, c, Decimal(_BIG[c]))
    if c.lower() in _LETTER_UNITS and not (
        i + 1 < stop and s[i + 1].isascii() and s[i + 1].isalpha()
    ):
        return _Atom("unit", i, i + 1, c, Decimal(_LETTER_UNITS[c.lower()]), "letter")
    if c == "点":
        return _Atom("point", i, i + 1, c)
    if c in _RANGE:
        return _Atom("range", i, i + 1, c)
    if c in _LIST:
        return _Atom("list", i, i + 1, c)
    return _Atom("other", i, i + 1, c)


def _lex(s: str, start: int = 0, stop: int | None = None) -> Iterator[_Atom]:
    """Atoms of ``s[start:stop]`` left to right."""
    end = len(s) if stop is None else stop
    i = start
    while i < end:
        atom = _atom(s, i, end)
        yield atom
        i = atom.end


# ---------------------------------------------------------------------------------------------
# Shape: prefix, number, yuan part, suffix
# ---------------------------------------------------------------------------------------------


@dataclass
class _Shape:
    """An amount's pieces in order; ``end`` is where the amount stops in the text."""

    prefix: list[_Atom] = field(default_factory=list)
    run: list[_Atom] = field(default_factory=list)
    fraction: list[_Atom] = field(default_factory=list)  # after the run: yuan, 角/分 digits
    suffix: list[_Atom] = field(default_factory=list)
    rest: list[_Atom] = field(default_factory=list)
    end: int = 0

    def atoms(self) -> list[_Atom]:
        """Every atom of the amount (without the rest)."""
        return [*self.prefix, *self.run, *self.fraction, *self.suffix]

    @property
    def has_unit(self) -> bool:
        """A 千/万/亿 (or k/w) in the number: enough for free text to call it money."""
        return any(a.kind == "unit" and a.value >= 1000 for a in self.run)

    @property
    def has_currency(self) -> bool:
        """A yuan mark or any currency word."""
        return any(a.kind in ("yuan", "cny", "foreign") for a in self.atoms())


def _next_solid(atoms: list[_Atom], k: int) -> _Atom | None:
    """The first atom at or after index ``k`` that is not a space."""
    while k < len(atoms) and atoms[k].kind == "space":
        k += 1
    return atoms[k] if k < len(atoms) else None


def _shape(atoms: list[_Atom], *, free: bool, start: int = 0) -> _Shape:
    """Split atoms into prefix, number run, yuan part and suffix.

    ``free`` (free text) starts at the number at ``atoms[start]`` and is strict about what may
    follow it (``rest`` stays empty); otherwise (a whole word) the prefix may hold currency and
    approximation words, and ``rest`` is whatever follows the amount.
    """
    shape = _Shape()
    k = _prefix(atoms, shape) if not free else start
    k = _run(atoms, k, shape, free)
    if shape.run:
        k = _fraction(atoms, k, shape, free)
        k = _suffix(atoms, k, shape, free)
        shape.end = shape.atoms()[-1].end
    if not free:
        shape.rest = atoms[k:]
    return shape


def _prefix(atoms: list[_Atom], shape: _Shape) -> int:
    """Currency and approximation words before a number (人民币, ¥, 大约, USD)."""
    k = 0
    while k < len(atoms) and atoms[k].kind in ("approx", "cny", "foreign", "space"):
        shape.prefix.append(atoms[k])
        k += 1
    return k


def _run(atoms: list[_Atom], k: int, shape: _Shape, free: bool) -> int:
    """The number: digits, units, 零, 点, inner approximations (十多万), ranges (5-8万)."""
    run = shape.run
    unit_seen = False
    while k < len(atoms):
        a = atoms[k]
        prev = run[-1] if run else None
        nxt = _next_solid(atoms, k + 1)
        if a.kind in ("num", "dig", "zero", "unit"):
            if a.payload == "letter" and (prev is None or prev.kind not in ("num", "dig")):
                break
            if free and prev is not None and {a.kind, prev.kind} == {"num", "dig"}:
                break  # 统一5万: the 一 belongs to a word
        elif a.kind == "point":
            if prev is None or nxt is None or nxt.kind not in ("dig", "num", "zero"):
                break
        elif a.kind in ("range", "list"):
            if prev is None or nxt is None or nxt.kind not in ("num", "dig", "zero", "unit"):
                break
            if free and a.kind == "list" and unit_seen:
                break  # 报价5万，6月签: a list of words, not 5、6万
        elif a.kind == "space":
            if prev is None or nxt is None or nxt.kind != "unit" or nxt.payload == "letter":
                break
        elif a.kind == "approx" and prev is not None and a.text in ("多", "余", "来", "几", "把"):
            if free and not _inner_ok(a, nxt):
                break
        else:
            break
        run.append(a)
        unit_seen = unit_seen or a.kind == "unit"
        k += 1
    if free:
        # 回款5万到3月底: a range only when its second number is money too (5万到8万, 5-8千).
        cut = max((j for j, x in enumerate(run) if x.kind in ("range", "list")), default=None)
        if cut is not None and not any(x.kind == "unit" and x.value >= 1000 for x in run[cut:]):
            follow = atoms[k] if k < len(atoms) else None
            if follow is None or follow.kind not in ("yuan", "cny", "foreign"):
                k -= len(run) - cut
                del run[cut:]
    while run and run[-1].kind == "space":
        run.pop()
        k -= 1
    return k


def _fraction(atoms: list[_Atom], k: int, shape: _Shape, free: bool) -> int:
    """元/块 (with 钱) and the 角/分 after it: 3元5角2分, 3块5; 角/分 alone only in a word."""
    n = len(atoms)
    j = k + 1 if k < n and atoms[k].kind == "space" else k
    if j < n and atoms[j].kind == "yuan" and not (free and _measure_kuai(atoms, j)):
        shape.fraction.extend(atoms[k : j + 1])
        k = j + 1
        if k < n and atoms[k].kind == "qian":
            shape.fraction.append(atoms[k])
            k += 1
    elif free or not (k < n and atoms[k].kind in ("jiao", "fen")):
        return k
    while k < n and atoms[k].kind in ("dig", "num", "zero", "jiao", "fen"):
        if atoms[k].kind == "num" and len(atoms[k].text) != 1:
            break
        if free and atoms[k].kind != "jiao" and atoms[k].kind != "fen" and not _fen_digit(atoms, k):
            break  # 5万元3月签: the 3 is a month
        shape.fraction.append(atoms[k])
        k += 1
    return k


def _fen_digit(atoms: list[_Atom], k: int) -> bool:
    """In free text, a digit after 元 is 角 or 分 when marked (3元5角) or at a word's end (3块5)."""
    if k + 1 >= len(atoms):
        return True
    nxt = atoms[k + 1]
    ch = nxt.text[:1]
    return nxt.kind in ("jiao", "fen", "space") or not ("\u4e00" <= ch <= "\u9fff" or ch in _ARABIC)


def _suffix(atoms: list[_Atom], k: int, shape: _Shape, free: bool) -> int:
    """Currency words, approximation words (左右, 以上, 多) and 整 after the amount."""
    start = k
    while k < len(atoms):
        a = atoms[k]
        nxt = _next_solid(atoms, k + 1)
        if a.kind in ("cny", "foreign", "zheng"):
            pass
        elif a.kind == "approx":
            if free and (a.text not in _APPROX_SUFFIX or not _inner_ok(a, nxt)):
                break
        elif a.kind == "qian" and shape.fraction:
            pass
        elif a.kind == "yuan" and not shape.fraction and k > start:
            shape.fraction.append(a)  # 十来万 块, 5万左右元
            k += 1
            continue
        elif a.kind == "space":
            allowed = ("cny", "foreign") if free else ("cny", "foreign", "approx")
            if nxt is None or nxt.kind not in allowed or k > start:
                break
        else:
            break
        shape.suffix.append(a)
        k += 1
    return k


def _inner_ok(a: _Atom, nxt: _Atom | None) -> bool:
    """In free text, whether an approximation word after a number belongs to the amount."""
    follow = nxt.kind if nxt is not None else ""
    if a.text == "来":  # 十来万, 一百来块; not 5万来自
        return follow in ("unit", "yuan")
    if a.text == "把":  # 万把块; not 一万把椅子
        return follow in ("yuan", "qian")
    if a.text == "余":  # 5万余; not 5万余款
        return not (nxt is not None and nxt.text[:1] in "款额数下")
    return True


def _measure_kuai(atoms: list[_Atom], k: int) -> bool:
    """The 块 of 3块屏 (a measure word) rather than of 3块钱."""
    if atoms[k].text != "块" or k + 1 >= len(atoms):
        return False
    nxt = atoms[k + 1]
    ch = nxt.text[:1]
    return "\u4e00" <= ch <= "\u9fff" and ch not in _AFTER_KUAI and nxt.kind != "yuan"


# ---------------------------------------------------------------------------------------------
# Reading a whole word
# ---------------------------------------------------------------------------------------------


class _NotExact(Exception):
    """Raised inside evaluation; carries the reading to return."""

    def __init__(self, reading: Reading) -> None:
        super().__init__(reading)
        self.reading = reading


def read_amount(text: str) -> Reading:
    """Read ``text`` as one amount in yuan: exact, approximate, foreign or unreadable."""
    raw = text.strip() if text else ""
    s = fold(raw)
    if not s:
        return Unreadable(raw, "请写上金额")
    if len(s) > MAX_TEXT:
        return Unreadable(raw, "太长了，请只写金额")
    atoms = list(_lex(s))
    shape = _shape(atoms, free=False)
    every = [*shape.atoms(), *shape.rest]
    foreign = next((a for a in every if a.kind == "foreign"), None)
    if foreign is not None and any(a.kind in ("num", "dig", "zero", "unit") for a in every):
        return Foreign(raw, foreign.payload)
    if s[0] in "-负" and len(s) > 1 and (s[1] in _ARABIC or s[1] in _DIGITS):
        return Unreadable(raw, "金额要大于零")
    if not shape.run:
        return Unreadable(raw)
    if _approximate(shape):
        return Approximate(raw)
    if shape.rest:
        return Unreadable(raw, "请只写金额，例如：5万")
    lone = shape.run[0] if len(shape.run) == 1 else None
    if lone is not None and lone.kind == "unit" and lone.value > 10 and not shape.fraction:
        return Unreadable(raw)  # 万, 千: a unit is not an amount (万元 is; 十 is ten)
    try:
        value = _integer_part(_numbers(shape.run, raw), raw)
        value += _fraction_part(shape, value, raw)
    except _NotExact as problem:
        return problem.reading
    return _checked(value, raw)


def _checked(value: Decimal, raw: str) -> Reading:
    """An Exact reading if ``value`` fits the money column, else why not."""
    if not value.is_finite() or value <= 0:
        return Unreadable(raw, "金额要大于零")
    if value >= MAX_MONEY:
        return Unreadable(raw, "金额太大了")
    if value != value.quantize(_CENT):
        return Unreadable(raw, "金额最多精确到分")
    return Exact(value.quantize(_CENT), raw)


def _approximate(shape: _Shape) -> bool:
    """Approximation words, ranges, or rising neighbouring digits (三四万, 一两万) in the amount.

    A list comma is a range only before a unit (5,6万); 30,00 is a typo, not a range.
    """
    atoms = shape.atoms()
    if any(a.kind in ("approx", "range") for a in atoms):
        return True
    for k, a in enumerate(shape.run):
        if a.kind == "list" and any(b.kind == "unit" for b in shape.run[k:]):
            return True
    return any(
        a.kind == "dig" and b.kind == "dig" and b.value > a.value
        for a, b in zip(shape.run, shape.run[1:], strict=False)
    )


@dataclass
class _Num:
    """A number waiting for its unit."""

    value: Decimal
    single: bool  # one digit 1-9: after a unit it is a colloquial tail (三万五)
    decimal: bool
    liang: bool = False


def _numbers(run: list[_Atom], raw: str) -> list[_Num | _Atom]:
    """The run as numbers, units and zeros; decimals with 点 (三点五) merged into one number."""
    bad = _NotExact(Unreadable(raw))
    atoms = [a for a in run if a.kind != "space"]
    for a, b in zip(atoms, atoms[1:], strict=False):
        if a.kind in ("num", "dig") and b.kind in ("num", "dig"):
            raise bad  # 五三万, 5三万, 3 4万
    items: list[_Num | _Atom] = []
    k = 0
    while k < len(atoms):
        a = atoms[k]
        if k + 1 < len(atoms) and atoms[k + 1].kind == "point":
            if a.kind not in ("num", "dig", "zero") or (a.kind == "num" and not a.text.isdigit()):
                raise bad
            digits = [_digit_text(a)]
            k += 2
            decimals = []
            while k < len(atoms) and atoms[k].kind in ("dig", "zero", "num"):
                if not _digit_text(atoms[k]).isdigit():
                    raise bad
                decimals.append(_digit_text(atoms[k]))
                k += 1
            items.append(_Num(Decimal(f"{digits[0]}.{''.join(decimals)}"), False, True))
            continue
        if a.kind in ("point", "list", "range"):
            raise bad
        if a.kind == "num":
            items.append(_Num(a.value, len(a.text) == 1 and a.text != "0", "." in a.text))
        elif a.kind == "dig":
            items.append(_Num(a.value, True, False, a.payload == "liang"))
        else:
            items.append(a)
        k += 1
    return items


def _digit_text(a: _Atom) -> str:
    """The digits an atom stands for after 点 (五 → 5, 零 → 0, 25 → 25)."""
    if a.kind == "zero":
        return "0"
    if a.kind == "dig":
        return str(int(a.value))
    return a.text


def _integer_part(items: list[_Num | _Atom], raw: str) -> Decimal:
    """Sections of 亿 and 万, each of 千百十, with implied 一 and colloquial tails."""
    bad = _NotExact(Unreadable(raw))
    total = Decimal(0)
    section = Decimal(0)
    pending: _Num | None = None
    small_prev: Decimal | None = None  # last 千/百/十 in this section
    big_prev: Decimal | None = None  # last 万/亿
    big_max = Decimal(0)
    last_unit: _Atom | None = None  # the unit right before the pending number
    implied_lead = False  # 万五: a tail after a bare leading 万 is not a thing

    def settle(closing_big: bool) -> Decimal:
        """The pending number's value: a colloquial tail (三万五) or literal (1万600)."""
        assert pending is not None
        unit = last_unit.value if last_unit is not None else Decimal(0)
        tail = pending.single and not pending.decimal and unit > 10
        if tail and closing_big and unit >= 10**4:
            tail = False  # 1亿5万: the 5 is the 万 section's number
        if tail and last_unit is not None:
            if pending.liang or (implied_lead and last_unit is items[0]):
                raise bad  # 三千两, 万五
            return pending.value * unit / 10
        slot = small_prev if small_prev is not None else (None if closing_big else big_prev)
        if slot is not None and (pending.value >= slot or pending.decimal):
            raise bad  # 3万40000, 2千3000万
        return pending.value

    decimal_lead = bool(items) and isinstance(items[0], _Num) and items[0].decimal
    for index, item in enumerate(items):
        if isinstance(item, _Num):
            if index and (item.decimal or decimal_lead):
                raise bad  # 5.5万3千
            pending = item
            continue
        if item.kind == "zero":
            if pending is not None:
                raise bad  # 一〇: positional digits
            last_unit = None
            continue
        unit = item.value
        letter = item.payload == "letter"
        if unit < 10**4:  # 十 百 千 k
            if pending is not None:
                if pending.value >= 10 and not (section == 0 and small_prev is None):
                    raise bad  # 2千15百
                number = pending.value
            elif letter or not (unit == 10 or index == 0):
                raise bad  # 一万千; 十 may stand alone (一百十一), 百/千 only first (千三)
            else:
                number = Decimal(1)
            if small_prev is not None and unit >= small_prev:
                raise bad  # 一百二百, 5百3千
            section += number * unit
            small_prev = unit
        else:  # 万 亿 w
            if pending is not None:
                value = section + settle(closing_big=True)
            elif section:
                value = section  # 3千万
            elif index == 0 and not letter:
                value = Decimal(1)  # 万元, 亿元
                implied_lead = True
            else:
                raise bad  # 亿万, 5万万
            if big_prev is None or unit > big_max:
                total = (total + value) * unit
                big_max = unit
            elif unit < big_prev and value * unit < big_prev:
                total += value * unit
            else:
                raise bad  # 5万3万, 1亿20000万
            big_prev = unit
            section = Decimal(0)
            small_prev = None
        pending = None
        last_unit = item
    if pending is not None:
        section += settle(closing_big=False)
    if big_prev is not None and section >= big_prev:
        raise bad  # 1万15千
    return total + section


def _fraction_part(shape: _Shape, whole: Decimal, raw: str) -> Decimal:
    """角 and 分: 3元5角2分, 3块5, 5毛, 3元零5分; 0 when there are none."""
    bad = _NotExact(Unreadable(raw))
    parts = [a for a in shape.fraction if a.kind not in ("yuan", "qian", "space")]
    has_yuan = any(a.kind == "yuan" for a in shape.fraction)
    if not parts:
        return Decimal(0)
    if not has_yuan:
        # 5角 / 5毛5 / 5分: the run is the 角 (or 分) digit itself.
        if whole >= 10 or whole != whole.to_integral_value():
            raise bad
        parts = [_Atom("dig", 0, 0, "", whole), *parts]
        whole_taken = whole
    else:
        whole_taken = Decimal(0)
    value = Decimal(0)
    scale = Decimal("0.1")
    k = 0
    if parts and parts[0].kind == "zero":
        scale = _CENT  # 3元零5分
        k = 1
    seen_fen = False
    while k < len(parts):
        a = parts[k]
        if a.kind not in ("dig", "num") or seen_fen:
            raise bad
        marker = parts[k + 1] if k + 1 < len(parts) else None
        if marker is not None and marker.kind == "fen":
            scale = _CENT
        elif marker is not None and marker.kind == "jiao":
            if scale != Decimal("0.1"):
                raise bad
        elif marker is not None:
            raise bad
        value += a.value * scale
        seen_fen = scale == _CENT
        scale = _CENT
        k += 2 if marker is not None else 1
    return value - whole_taken


# ---------------------------------------------------------------------------------------------
# Words in commands and mentions in free text
# ---------------------------------------------------------------------------------------------


def word_reading(word: str) -> Reading | None:
    """The reading of a command word that looks like money, or None for an ordinary word.

    Money-like: it starts (after currency or approximation words) with a number that is the
    whole word, or is followed by a currency, 元, an approximation or (after 万/千/…) other text
    (48万含税); or it names money vaguely (很多钱). Not money: 展会, 百度, 5G, 2024展会, 5万人.
    """
    s = fold(word.strip()) if word else ""
    if not s or len(s) > 4 * MAX_TEXT:
        return None
    atoms = list(_lex(s))
    shape = _shape(atoms, free=False)
    if not shape.run:
        vague = any(a.kind == "approx" or a.text in ("少", "笔") for a in atoms)
        moneyish = any(a.kind in ("yuan", "qian", "cny", "foreign") for a in atoms)
        return read_amount(word) if vague and moneyish else None
    digits = any(a.kind in ("num", "dig") for a in shape.run)
    units = sum(1 for a in shape.run if a.kind == "unit")
    if not shape.rest:
        if digits or units >= 2 or shape.fraction or shape.suffix or shape.prefix:
            return read_amount(word)
        return None
    if shape.fraction or shape.suffix or shape.prefix:
        return read_amount(word)
    follow = shape.rest[0]
    if follow.text[:1] in _COUNTERS:
        return None
    if digits and (units or any(a.payload == "grouped" for a in shape.run)):
        return read_amount(word)
    return None


def split_words(text: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text``, amounts kept whole.

    Words end at spaces and , ， 、 ; ；, except a comma or 、 between digits (30,000 or 5、6万),
    and a currency word is joined to the number after it (人民币 8千元, USD 500), a number to
    the currency or 元 after it (8000 元, 500 USD).
    """
    s = fold(text)
    spans: list[tuple[int, int]] = []
    i, n = 0, len(s)
    while i < n:
        if s[i] in _WORD_SEPARATORS:
            i += 1
            continue
        j = i
        while j < n:
            c = s[j]
            if c in _WORD_SEPARATORS:
                between = c in _LIST and j > i and _is_digit_char(s[j - 1])
                if between and j + 1 < n and _is_digit_char(s[j + 1]):
                    j += 1
                    continue
                break
            j += 1
        spans.append((i, j))
        i = j
    merged: list[tuple[int, int]] = []
    for span in spans:
        if merged and merged[-1][1] - merged[-1][0] <= MAX_TEXT and _joins(s, merged[-1], span):
            merged[-1] = (merged[-1][0], span[1])
        else:
            merged.append(span)
    return merged


def _is_digit_char(c: str) -> bool:
    """An Arabic or Chinese digit (the ends of 30,000 and 5、6万)."""
    return c in _ARABIC or c in _DIGITS or c in _ZEROS


def _joins(s: str, left: tuple[int, int], right: tuple[int, int]) -> bool:
    """Whether two words separated by one space are one amount (人民币 8千元, 8000 元)."""
    gap = s[left[1] : right[0]]
    if not gap.isspace() or len(gap) > 1:
        return False
    first = list(_lex(s, *left))
    second = list(_lex(s, *right))
    prefix = all(
        a.kind in ("cny", "foreign") or (a.kind == "approx" and a.text in _APPROX_PREFIX)
        for a in first
    )
    if prefix and second[0].numeral:
        return True  # 人民币 8千元, 大概 5万
    amount_kinds = (
        "num",
        "dig",
        "zero",
        "unit",
        "point",
        "yuan",
        "qian",
        "cny",
        "range",
        "list",
        "space",
    )
    if not all(a.kind in amount_kinds for a in first):
        return False  # @李四 人民币: 四 ends a name, not an amount
    return first[-1].kind in ("num", "dig", "unit", "yuan") and all(
        a.kind in ("cny", "foreign", "yuan", "zheng", "qian")
        or (a.kind == "unit" and a.value >= 10**4)
        or (a.kind == "approx" and a.text in _APPROX_SUFFIX)
        for a in second
    )  # 8000 元, 500 USD, 5万 左右


@remembered
def leading_amount(text: str) -> tuple[Reading | None, str]:
    """The amount that starts ``text`` (None if its first word is not money) and the rest."""
    spans = split_words(text)
    if not spans:
        return None, ""
    start, end = spans[0]
    reading = word_reading(text[start:end])
    if reading is None:
        return None, text.strip()
    return reading, text[end:].lstrip(" \t\n,，、;；:：").strip()


@remembered
def find_amounts(text: str) -> list[Mention]:
    """Every amount in free text (numbers with a unit or currency), exact or not, in order."""
    if not text:
        return []
    s = fold(text)
    atoms = list(_lex(s))  # lexed once: a candidate's shape reads on from its own atom
    found: list[Mention] = []
    k, floor = 0, 0
    while k < len(atoms):
        atom = atoms[k]
        i = atom.start
        starts = atom.kind in ("num", "dig") or atom.text in ("十", "拾")
        if not starts or _excluded_start(s, i):
            k += 1
            continue
        shape = _shape(atoms, free=True, start=k)
        k += max(len(shape.atoms()), 1)
        end = max(shape.end, atom.end)
        start = _prefix_start(s, i, floor)
        if _is_money(s, shape, start, i, end):
            found.append(Mention(read_amount(text[start:end]), (start, end)))
            floor = end
    return found


def _excluded_start(s: str, i: int) -> bool:
    """A digit that continues another word: v1.5, 10:30, 2026-12-05, 周三, 第三, 万一."""
    if i == 0:
        return False
    before = s[i - 1]
    if before.isascii() and before.isalnum():
        return True
    if before in "-/.:" and i >= 2 and s[i - 2] in _ARABIC:
        return True
    if s[i] not in _ARABIC and s[max(0, i - 2) : i].endswith(_NOT_AFTER_CN):
        return True
    return before in _BIG or before in _UNITS or before in _ZEROS or before == "点"


def _prefix_start(s: str, i: int, floor: int) -> int:
    """Where currency and approximation words just before a number begin (¥, 大约, US$ )."""
    start = i
    for _ in range(3):
        j = start - 1 if start > floor and s[start - 1] == " " else start
        best = start
        for length in (5, 4, 3, 2, 1):
            k = j - length
            if k < floor:
                continue
            word = s[k:j]
            upper = word.upper()
            if upper in _FOREIGN or upper in _CNY:
                if (
                    word.isascii()
                    and word[0].isalpha()
                    and k > 0
                    and s[k - 1].isascii()
                    and s[k - 1].isalpha()
                ):
                    continue
                best = k
                break
            if j == start and word in _APPROX_PREFIX and _approx_prefix_ok(s, k, word):
                best = k
                break
        if best == start:
            break
        start = best
    return start


def _approx_prefix_ok(s: str, k: int, word: str) -> bool:
    """签约5万 is a signing, 最近5万 recent: 约 and 近 there are parts of other words."""
    before = s[k - 1] if k > 0 else ""
    if word == "约":
        return before not in "签合预邀违契履解续赴失守爽条公节制缔誓特婚践"
    if word == "近":
        return before not in "最附将接靠亲"
    if word == "小":
        return k + 1 < len(s) and s[k + 1] not in _ARABIC
    return True


def _is_money(s: str, shape: _Shape, start: int, i: int, end: int) -> bool:
    """Whether a number found in free text is an amount (unit or currency, not a count)."""
    if not shape.run:
        return False
    prefix_currency = any(a.kind in ("cny", "foreign") for a in _lex(s, start, i))
    if not (shape.has_unit or shape.has_currency or prefix_currency):
        return False
    if end < len(s) and s[end] in _COUNTERS and not shape.has_currency and not prefix_currency:
        return False
    if end < len(s) and s[end] == "块":
        return False  # 3万块屏: 块 counts screens here (the 块 of money is part of the amount)
    return True


def find_amount(text: str) -> tuple[Decimal, tuple[int, int]] | None:
    """First exact yuan amount in free text with its (start, end) span; None if there is none."""
    for mention in find_amounts(text):
        if isinstance(mention.reading, Exact):
            return mention.reading.value, mention.span
    return None


def parse_amount(text: str) -> Decimal | None:
    """One amount token (5万, ¥30,000, 三万五, 1.2亿, 5k) in yuan; None unless exact."""
    reading = read_amount(text)
    return reading.value if isinstance(reading, Exact) else None
