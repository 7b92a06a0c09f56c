"""Grades and tags of a customer: how chat text names them, and how replies show them.

Grades are the letters of ``[book] grades`` in the config (A 重点, B 普通, …); tags are free words
(``#老客户``). The card, /我的, /列表, /搜索 and the digest all show them through ``marks``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from models.parsing import sanitize_user_text

MAX_TAGS = 10
MAX_TAG_LEN = 10
SHOWN_TAGS = 3  # tags shown on one line of a list
_GRADE = re.compile(r"^([A-Za-z])\s*[级类]?$")
_TAG_FORBIDDEN = set("#＃@＠/<>|｜,，、;；:：\"“”'‘’()（）[]［］")


def grade_of(grades: Mapping[str, str], text: str) -> str | None:
    """The grade ``text`` names: a letter (``a``, ``A级``) or a meaning (``重点``); None if none."""
    word = unicodedata.normalize("NFKC", text).strip()
    match = _GRADE.match(word)
    if match:
        letter = match.group(1).upper()
        return letter if letter in grades else None
    for grade, meaning in grades.items():
        if word and word == meaning:
            return grade
    return None


def grade_label(grades: Mapping[str, str], grade: str) -> str:
    """'A（重点）', or just the letter when the config no longer names it."""
    meaning = grades.get(grade)
    return f"{grade}（{meaning}）" if meaning else grade


def grade_choices(grades: Mapping[str, str]) -> str:
    """'A 重点、B 普通、C 观望、D 低意向'."""
    return "、".join(f"{grade} {meaning}" for grade, meaning in grades.items())


def tag_key(tag: str) -> str:
    """A tag as compared: NFKC and casefolded (``VIP`` and ``vip`` are one tag)."""
    return unicodedata.normalize("NFKC", tag).casefold()


def tag_problem(tag: str) -> str | None:
    """Why ``tag`` cannot be a tag, or None when it can."""
    if not tag:
        return "标签不能为空"
    if len(tag) > MAX_TAG_LEN:
        return f"标签“{sanitize_user_text(tag, MAX_TAG_LEN)}”太长了（最多 {MAX_TAG_LEN} 个字）"
    if any(ch in _TAG_FORBIDDEN or ch.isspace() for ch in tag) or sanitize_user_text(tag) != tag:
        return f"标签“{sanitize_user_text(tag, 20)}”里有不能用的字符"
    return None


def tags_text(tags: Sequence[str]) -> str:
    """'老客户、重点' (safe to show)."""
    return "、".join(sanitize_user_text(t, MAX_TAG_LEN) for t in tags)


def marks(grade: str, tags: Sequence[str] | None) -> str:
    """What follows a customer's name in a list: '［A］ #老客户 #重点', '' when neither is set."""
    text = f"［{sanitize_user_text(grade, 4)}］" if grade else ""
    shown = list(tags or [])
    if shown:
        text += " " + " ".join(f"#{sanitize_user_text(t, MAX_TAG_LEN)}" for t in shown[:SHOWN_TAGS])
        if len(shown) > SHOWN_TAGS:
            text += " …"
    return text
