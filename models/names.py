"""Customer names: the unique key, the core name, the matching ladder and typo suspicion.

Pure functions: no database, no I/O, no clock. ``models.parsing`` re-exports the public names.

Documented choices:
- A name is any mix of scripts, digits and company punctuation (1号店, 58同城, A&B 科技, 3M中国,
  7-Eleven, (上海)). The key keeps letters and digits only, so ``7-Eleven`` and ``7eleven`` are one.
- Digits are identity: 客户1/客户10, 1号店/2号店, 客户08号00/客户08号01 never match each other.
- The ladder (``match_name``): exact key, alias, core name (legal suffixes dropped), then fuzzy.
  A core-name hit is only taken alone when no other customer contains the typed name too
  (华为 with 华为技术有限公司 and 华为终端有限公司 is a question, not a pick).
- A fuzzy match is *sure* (used, and named in the reply) only when the typed name is a
  shortening of one known name (华为技术 → 华为技术有限公司) or a whole-name homophone in Chinese
  characters (腾迅 → 腾讯). Anything less sure is a question.
- ``close_names``: for a name that matched nothing surely, the known customers it may be a slip
  for. Close means one of: the same pinyin as the whole or a part of a known name (海康卫视,
  华wei, huawei; a two-syllable part only at the start of the name); one character left out,
  added or swapped with its neighbour (海康视, 海威康视; names of three characters or more);
  a known core name inside the typed one (华为云 next to 华为, 深圳华为); or the same brand at
  the start once a region and a leading 中国/中华 are dropped (上海字节跳动 next to
  北京字节跳动科技有限公司; three Chinese characters, or five latin letters). One character
  *replaced* by another that sounds different is not close, and letters in common alone never
  make a sure match: 中石化/中石油, 中国人寿/中国人保, 中国人民保险/中国人寿保险 are different
  companies (a new customer, with a hint line naming the similar one).
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

# ---------------------------------------------------------------------------------------------
# Key and core name
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


_REGIONS = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 "
    "广东 海南 四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 深圳 广州 "
    "杭州 南京 苏州 成都 武汉 西安 长沙 郑州 青岛 宁波 厦门 大连 沈阳 济南 合肥 福州 无锡 东莞 "
    "佛山 珠海 昆明 南昌 南宁 贵阳 太原 石家庄 哈尔滨 长春 呼和浩特 乌鲁木齐 兰州 海口 温州 "
    "常州 南通 徐州 烟台 嘉兴 绍兴 金华 台州 泉州 惠州 中山"
).split()
_REGION_PREFIX = re.compile("^(?:" + "|".join(_REGIONS) + ")[市省]?")
# Words that say nothing about which company it is: never a "shared core" on their own.
_GENERIC = frozenset(
    {
        *_REGIONS,
        *_DESCRIPTORS,
        *_LEGAL_SUFFIXES,
        "中国",
        "中华",
        "国际",
        "环球",
        "全球",
        "亚洲",
        "东方",
        "华夏",
        "客户",
        "工厂",
        "商贸",
        "工程",
        "建设",
        "银行",
        "证券",
        "保险",
    }
)


def strip_region(core: str) -> str:
    """``core`` without a leading province or city name (北京字节跳动 → 字节跳动), if more is left."""
    match = _REGION_PREFIX.match(core)
    if match and len(core) - match.end() >= 2:
        return core[match.end() :]
    return core


def _numbers(text: str) -> list[str]:
    """The runs of digits in ``text`` (what makes 客户1 another customer than 客户10)."""
    return re.findall(r"\d+", text)


def _digits_clash(one: str, other: str) -> bool:
    """Both names carry numbers and they differ: never the same customer."""
    a, b = _numbers(one), _numbers(other)
    return bool(a and b and a != b)


# ---------------------------------------------------------------------------------------------
# The matching ladder
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A customer that a typed name may refer to."""

    key: int
    name: str
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The name and the aliases."""
        return (self.name, *self.aliases)


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
MAX_OPTIONS = 5


def _unique(cands: Iterable[Candidate]) -> list[Candidate]:
    """Candidates deduplicated by key, order kept."""
    seen: set[int] = set()
    out = []
    for cand in cands:
        if cand.key not in seen:
            seen.add(cand.key)
            out.append(cand)
    return out


def _rung(kind: Literal["exact", "alias", "core"], hits: list[Candidate]) -> NameMatch | None:
    """A NameMatch for one ladder rung: one hit wins, several are ambiguous, none continues."""
    hits = _unique(hits)
    if len(hits) == 1:
        return NameMatch(kind, hits[0].key, hits[0].name)
    if len(hits) > 1:
        return NameMatch("ambiguous", options=hits[:MAX_OPTIONS])
    return None


def _pinyin_table() -> dict[int, str]:
    """pypinyin's single-character table (code point → readings), loaded once.

    Only single characters are needed to tell an IME slip (腾迅/腾讯); pypinyin's phrase table
    would add ~50 MB for nothing, so it is switched off before the first import.
    """
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
    os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")
    from pypinyin.pinyin_dict import pinyin_dict

    table: dict[int, str] = pinyin_dict
    return table


def _is_cjk(ch: str) -> bool:
    """A CJK unified ideograph (the characters pinyin exists for)."""
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


@functools.lru_cache(maxsize=65536)
def _reading(ch: str) -> str:
    """The first toneless pinyin reading of one character ('' when it has none)."""
    readings = _pinyin_table().get(ord(ch))
    if not readings:
        return ""
    first = unicodedata.normalize("NFD", readings.split(",")[0])
    return "".join(c for c in first if not unicodedata.combining(c))


@functools.lru_cache(maxsize=8192)
def _pinyin(text: str) -> str:
    """Toneless pinyin of the CJK characters of text, syllables space-separated."""
    return " ".join(filter(None, (_reading(ch) for ch in text)))


def _non_cjk(text: str) -> str:
    """The characters of ``text`` that pinyin conversion would drop."""
    return "".join(ch for ch in text if not _is_cjk(ch))


def _similarity(query: str, other: str, pinyin_cache: dict[str, str]) -> float:
    """Score 0-100 for how likely `other` is the customer meant by `query` (both core names)."""
    from rapidfuzz import fuzz

    if not query or not other:
        return 0.0
    if query == other:
        return 100.0
    if _digits_clash(query, other):
        return 0.0  # 客户004 and 客户000, 二号店 and 三号店 are not typos of each other
    shorter, longer = sorted((query, other), key=len)
    if len(shorter) >= 2 and shorter in longer:
        share = len(shorter) / len(longer)
        if query == shorter:  # an abbreviation of a known name (华为 → 华为技术有限公司): sure
            return 90.0 + 9.0 * share
        # The query says more than a known name (客户10 vs 客户1, 华为云 vs 华为): similar, not sure.
        return min(80.0 + 9.0 * share, _SURE_FUZZY - 1)
    # Letters in common alone never make a sure match: 中国人民保险/中国人寿保险 share 83%.
    score = min(fuzz.ratio(query, other), _SURE_FUZZY - 1)
    has_cjk = any(_is_cjk(ch) for ch in query + other)
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


def _contains(query_core: str, cand: Candidate) -> bool:
    """The typed core name is part of one of the candidate's names (a shortening of it)."""
    if len(query_core) < 2:
        return False
    for name in cand.names:
        for form in (core_name(name), normalize_name(name)):
            if query_core in form and not _digits_clash(query_core, form):
                return True
    return False


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
    core = [c for c in candidates if any(core_name(n) == qcore for n in c.names)]
    found = _rung("core", core)
    if found is not None and found.kind == "core":
        # 华为 is 华为技术有限公司's core name, but it is just as much part of 华为终端有限公司.
        hit = core[0]
        rivals = [c for c in _unique(candidates) if c.key != hit.key and _contains(qcore, c)]
        if rivals:
            return NameMatch("ambiguous", options=[hit, *rivals][:MAX_OPTIONS])
    if found:
        return found
    if len(q) < 2:
        return NameMatch("none")
    cache: dict[str, str] = {}
    scored: list[tuple[float, Candidate]] = []
    for cand in _unique(candidates):
        best = max(_similarity(qcore, core_name(n), cache) for n in cand.names)
        full = normalize_name(cand.name)
        if len(q) >= 2 and q in full:  # 华为技术 is part of 华为技术有限公司 (its core is 华为)
            best = max(best, _similarity(q, full, cache))
        if best >= _FUZZY_THRESHOLD:
            scored.append((best, cand))
    if not scored:
        return NameMatch("none")
    scored.sort(key=lambda item: -item[0])
    top_score, top = scored[0]
    # Every sure candidate is plausible, and so is anything within the margin of the best.
    close = [c for s, c in scored if top_score - s < _FUZZY_MARGIN or s >= _SURE_FUZZY]
    if len(close) == 1:
        return NameMatch("fuzzy", top.key, top.name, score=top_score)
    return NameMatch("ambiguous", options=close[:MAX_OPTIONS], score=top_score)


# ---------------------------------------------------------------------------------------------
# Typo suspicion for names that matched nothing surely
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    """One sound of a name: a CJK character with its pinyin, or a run of latin letters or digits."""

    text: str
    sound: str


@functools.lru_cache(maxsize=65536)
def _chunks(key: str) -> tuple[_Chunk, ...]:
    """The sounds of a normalised name: 华wei → (华 hua, wei wei); 3m → (3, m)."""
    out: list[_Chunk] = []
    for run in re.finditer(r"[a-z]+|\d+|.", key):
        text = run.group()
        if len(text) == 1 and _is_cjk(text):
            out.append(_Chunk(text, _reading(text) or text))
        elif text.isascii():
            out.append(_Chunk(text, text))
        else:
            out.append(_Chunk(text, text))  # another script: compared as written
    return tuple(out)


_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"))
_FUZZY_FINALS = (("ing", "in"), ("eng", "en"), ("ang", "an"))


@functools.lru_cache(maxsize=16384)
def _blurred(sound: str) -> str:
    """A syllable with the usual accent slips folded (zh/z, ch/c, sh/s, n/l, ing/in, eng/en, ang/an)."""
    for long, short in _FUZZY_INITIALS:
        if sound.startswith(long):
            sound = short + sound[len(long) :]
            break
    for long, short in _FUZZY_FINALS:
        if sound.endswith(long):
            sound = sound[: -len(long)] + short
            break
    return sound


def _pinyin_run(query: str, name: str) -> bool:
    """The typed name sounds like the whole or a part of ``name`` (both normalised keys).

    Latin letters in the typed name are read as pinyin (华wei, huawei). Two syllables only count
    at the start of the name (after a region); three or more anywhere; accent slips (zh/z, n/l,
    ing/in …) only for four syllables or more, all in Chinese characters.
    """
    q, n = _chunks(query), _chunks(name)
    if not q or not n or query == name:
        return False
    sound = "".join(c.sound for c in q)
    all_cjk = all(_is_cjk(c.text) for c in q)
    blurred = [_blurred(c.sound) for c in q] if all_cjk and len(q) >= 4 else None
    if sound not in _sounds(name) and (blurred is None or "".join(blurred) not in _blurs(name)):
        return False  # the common case, decided without walking the syllables
    region = len(name) - len(strip_region(name))
    for i in range(len(n)):
        start = sum(len(c.text) for c in n[:i])
        acc = ""
        for j in range(i, len(n)):
            acc += n[j].sound
            if len(acc) > len(sound):
                break
            count = j - i + 1
            if acc == sound and (count >= 3 or (count == 2 and start in (0, region))):
                return True
        if blurred is not None and i + len(q) <= len(n):
            window = n[i : i + len(q)]
            if (
                all(_is_cjk(c.text) for c in window)
                and [_blurred(c.sound) for c in window] == blurred
            ):
                return True
    return False


@functools.lru_cache(maxsize=65536)
def _sounds(name: str) -> str:
    """The sounds of a normalised name run together (a fast substring pre-check)."""
    return "".join(c.sound for c in _chunks(name))


@functools.lru_cache(maxsize=65536)
def _blurs(name: str) -> str:
    """The accent-folded sounds of a normalised name run together."""
    return "".join(_blurred(c.sound) for c in _chunks(name))


def _one_slip(one: str, other: str, inner: bool = False) -> bool:
    """``one`` and ``other`` differ by one character left out/added or two neighbours swapped.

    ``inner``: the character left out or added is not the first or last one (a part of a name
    plus one more character, 中国人+保, is another name, not a slip).
    """
    if one == other or min(len(one), len(other)) < 3:
        return False
    if len(one) == len(other):
        diff = [i for i in range(len(one)) if one[i] != other[i]]
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and one[diff[0]] == other[diff[1]]
            and one[diff[1]] == other[diff[0]]
        )
    shorter, longer = sorted((one, other), key=len)
    if len(longer) - len(shorter) != 1:
        return False
    spots = range(1, len(longer) - 1) if inner else range(len(longer))
    return any(longer[:i] + longer[i + 1 :] == shorter for i in spots)


def _slip_in(query: str, name: str) -> bool:
    """One slip away from the whole of ``name`` or from a part of it.

    A part counts from three typed characters when it starts the name (region dropped: 海康视
    for 杭州海康威视), from four anywhere; the slip must then be inside the part.
    """
    if _one_slip(query, name):
        return True
    if len(query) < 3 or sum(ch in name for ch in set(query)) < len(set(query)) - 1:
        return False  # a slip keeps all the characters but one
    starts = {0, len(name) - len(strip_region(name))} if len(query) < 4 else None
    for size in (len(query), len(query) + 1):  # a part swapped, or missing one character
        for i in range(0, len(name) - size + 1):
            if (starts is None or i in starts) and _one_slip(query, name[i : i + size], True):
                return True
    return False


def _common_prefix(one: str, other: str) -> int:
    """How many leading characters two strings share."""
    size = 0
    for a, b in zip(one, other, strict=False):
        if a != b:
            break
        size += 1
    return size


def _shared_core(query_core: str, core: str) -> bool:
    """A known core name inside the typed one, or the same brand at the start (regions dropped)."""
    if len(core) >= 2 and core not in _GENERIC and core in query_core:
        return True
    known, typed = _brand(core), _brand(query_core)
    stem = _common_prefix(typed, known)
    if typed[:stem].isascii():
        return stem >= 5
    return stem >= 3


def _brand(core: str) -> str:
    """A core name without a leading region or 中国/中华 (中国石油化工 → 石油化工)."""
    core = strip_region(core)
    for word in ("中国", "中华"):
        if core.startswith(word) and len(core) - len(word) >= 2:
            return core[len(word) :]
    return core


def _closeness(query: str, query_core: str, name: str) -> int:
    """How strongly the typed name looks like a slip for ``name``: 0 (not at all) to 3."""
    key, core = normalize_name(name), core_name(name)
    if not key or _digits_clash(query, key):
        return 0
    if _pinyin_run(query, core) or _pinyin_run(query, key):
        return 3
    if _slip_in(query_core, core) or _slip_in(query, key):
        return 2
    if _shared_core(query_core, core):
        return 1
    return 0


def close_names(query: str, candidates: Sequence[Candidate]) -> list[Candidate]:
    """Known customers an unknown typed name may be a slip for, closest first (at most five)."""
    q, qcore = normalize_name(query), core_name(query)
    if len(q) < 2:
        return []
    from rapidfuzz import fuzz

    scored: list[tuple[int, float, Candidate]] = []
    for cand in _unique(candidates):
        strength = max(_closeness(q, qcore, n) for n in cand.names)
        if strength:
            scored.append((strength, fuzz.ratio(qcore, core_name(cand.name)), cand))
    scored.sort(key=lambda item: (-item[0], -item[1]))
    return [cand for _, _, cand in scored[:MAX_OPTIONS]]


# ---------------------------------------------------------------------------------------------
# What to do with a typed name
# ---------------------------------------------------------------------------------------------

Mode = Literal["find", "follow", "create"]


@dataclass
class Verdict:
    """What a typed name means for a command (see ``judge``).

    ``match``: that customer, certainly. ``near``: that customer, a sure near match to be named
    in the reply. ``ask``: a numbered question over ``options`` (``several``: they all fit;
    ``close``: the name is not known but close to them; ``unsure``: only similar), with a last
    "新建客户" choice when ``offer_new``. ``new``: a new customer (``options``: similar names worth
    a hint). ``none``: nothing found where the command needs an existing customer.
    """

    kind: Literal["match", "near", "ask", "new", "none"]
    key: int | None = None
    options: list[Candidate] = field(default_factory=list)
    offer_new: bool = False
    reason: Literal["several", "close", "unsure", ""] = ""


def judge(
    query: str, candidates: Sequence[Candidate], mode: Mode, match: NameMatch | None = None
) -> Verdict:
    """Decide for a typed name: ``find`` needs a known customer, ``follow`` may create one,
    ``create`` is asked to create one (so even a sure near match is a question)."""
    match = match if match is not None else match_name(query, candidates)
    creating = mode == "create"
    if match.kind in ("exact", "alias", "core"):
        return Verdict("match", match.key)
    if match.kind == "ambiguous" and match.sure:
        return Verdict("ask", options=match.options, offer_new=creating, reason="several")
    if match.kind == "fuzzy" and match.sure:
        if creating:
            top = [c for c in candidates if c.key == match.key][:1]
            return Verdict("ask", options=top, offer_new=True, reason="close")
        return Verdict("near", match.key)
    close = close_names(query, candidates)
    similar = match.options or [c for c in candidates if c.key == match.key][:1]
    if mode != "find":
        if close:
            return Verdict("ask", options=close, offer_new=True, reason="close")
        return Verdict("new", options=[] if creating else similar)
    near = _unique([*close, *similar])[:MAX_OPTIONS]
    if near:
        return Verdict("ask", options=near, reason="unsure")
    return Verdict("none")


# ---------------------------------------------------------------------------------------------
# A known name glued to the note
# ---------------------------------------------------------------------------------------------

_SEPARATORS = " \t\n,:;、，：；"


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
        names = {normalize_name(n) for n in cand.names}
        names |= {core_name(n) for n in cand.names}
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
    return best[0], token[end:].lstrip(_SEPARATORS).strip()


def warm_up() -> None:
    """Load the pinyin table now, so that a server's first command does not pay for it."""
    _pinyin("华为")
