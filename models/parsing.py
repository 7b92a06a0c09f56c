"""Pure text parsing for chat commands: normalisation, arguments, amounts, names.

No database, no I/O and no clock. Dates and times are read by ``models.dates`` (its docstring
has the rules); ``DateHit``, ``find_when`` and ``parse_when`` stay importable from here.
jionlp is imported lazily (see `_jio`) so importing this module stays cheap and jionlp's import
banner never reaches stdout.

Documented choices:
- Amounts are read by ``models.money`` (its docstring has the rules); ``parse_amount``,
  ``find_amount`` and ``MAX_MONEY`` stay importable from here.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.dates import DateHit as DateHit
    from models.dates import DateProblem as DateProblem
    from models.dates import DateReading as DateReading
    from models.dates import find_when as find_when
    from models.dates import parse_when as parse_when

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


_OPENCC: Any = None


def _simplify(text: str) -> str:
    """Traditional characters as simplified (OpenCC t2s), one character for one."""
    global _OPENCC
    if _OPENCC is None:
        import opencc

        _OPENCC = opencc.OpenCC("t2s")
    converted: str = _OPENCC.convert(text)
    if len(converted) == len(text):
        return converted
    # A phrase rule changed the length: convert character by character so offsets still hold.
    return "".join(_simplify_char(ch) for ch in text)


@functools.lru_cache(maxsize=4096)
def _simplify_char(ch: str) -> str:
    """One character converted on its own (kept when OpenCC would make it longer or shorter)."""
    converted: str = _OPENCC.convert(ch)
    return converted if len(converted) == 1 else ch


def fold_for_parsing(text: str) -> str:
    """``text`` as the parsers read it: full-width ASCII folded, traditional characters simplified.

    One character for one, so a span found in the result indexes the original text. Only the
    parsers see this form: names and notes are stored as typed (臺積電 stays 臺積電).
    """
    folded = _fold_width(text)
    return folded if folded.isascii() else _simplify(folded)


def strip_control(text: str) -> str:
    """``text`` without control characters (tab, line breaks and form feed stay)."""
    return _CONTROL_RE.sub("", text)


def normalize_text(text: str) -> str:
    """Undo chat-client mangling: full-width ASCII, odd spaces, zero-width chars; keep newlines.

    Full-width Chinese sentence punctuation (，：；！？（）) is kept as typed. Other control
    characters (NUL and friends, which PostgreSQL refuses in text) are dropped. Traditional
    characters are kept too: what is stored (a customer's name) stays as typed; the parsers
    read through ``fold_for_parsing``, which simplifies them.
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
# Amounts: the grammar is models.money; parse_amount, find_amount and MAX_MONEY stay importable.
# ---------------------------------------------------------------------------------------------

from models.money import MAX_MONEY as MAX_MONEY  # noqa: E402
from models.money import find_amount as find_amount  # noqa: E402
from models.money import parse_amount as parse_amount  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

# The date grammar lives in models.dates; DateHit, find_when and parse_when stay importable from
# here for callers (resolved lazily: models.dates imports this module for fold_for_parsing).
_DATE_NAMES = frozenset({"DateHit", "DateProblem", "DateReading", "find_when", "parse_when"})


def __getattr__(name: str) -> Any:
    """``from models.parsing import find_when`` keeps working; the code is in models.dates."""
    if name in _DATE_NAMES:
        from models import dates

        return getattr(dates, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------
# Names: the rules are models.names; these stay importable from here.
# ---------------------------------------------------------------------------------------------

from models.names import Candidate as Candidate  # noqa: E402
from models.names import NameMatch as NameMatch  # noqa: E402
from models.names import _pinyin  # noqa: E402
from models.names import close_names as close_names  # noqa: E402
from models.names import core_name as core_name  # noqa: E402
from models.names import match_name as match_name  # noqa: E402
from models.names import normalize_name as normalize_name  # noqa: E402
from models.names import split_known_prefix as split_known_prefix  # noqa: E402

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
    from models.dates import read_note

    read_note("明天下午3点 正月十五", datetime(2026, 1, 5, 9, 0).astimezone())
    parse_amount("三万五")
    _pinyin("华为")
