"""/搜索 关键词: this chat's customers whose name, alias, tag or notes contain the words.

Each hit says why it matched (名称, 别名 HW, #标签, or the latest note with the words, and how many
notes have them). Names come first, then aliases, tags and notes; within each, the most recently
active first. Paged like /列表 (``下一页``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.messages import OutgoingMessage
from handlers.context import Context
from handlers.format import customer_label, fmt_date, member_label
from handlers.grade_tags import marks, tag_key
from handlers.listing import Listed, pageable, show
from handlers.registry import Group, command
from models.activity import Activity, Kind
from models.customer import Customer, live
from models.parsing import normalize_text, sanitize_user_text

MAX_WORDS = 30
SNIPPET = 12  # characters shown either side of a hit in a note
# Entries whose text is not a note (and the grade/tag changes, which the fields already show).
NOT_NOTES = (Kind.UNDO, Kind.GRADE, Kind.TAGS)


def _like(word: str) -> str:
    """A LIKE pattern matching ``word`` anywhere, its own % _ and \\ taken literally."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _snippet(text: str, word: str) -> str:
    """'…已发报价单，等回复…': the note around the first hit, on one line, safe to show."""
    flat = " ".join(text.split())
    at = flat.casefold().find(word.casefold())
    if at < 0:
        return sanitize_user_text(flat, SNIPPET * 2)
    start, end = max(at - SNIPPET, 0), at + len(word) + SNIPPET
    cut = flat[start:end]
    return ("…" if start else "") + sanitize_user_text(cut, 0) + ("…" if end < len(flat) else "")


def _notes(ctx: Context, word: str) -> dict[int, tuple[int, Activity]]:
    """Per live customer: how many live notes contain ``word``, and the latest of them."""
    rows = ctx.session.scalars(
        select(Activity)
        .join(Customer, Customer.id == Activity.customer_id)
        .where(
            Activity.chat_id == ctx.chat.id,
            Customer.chat_id == ctx.chat.id,
            live(),
            Activity.undone_at.is_(None),
            Activity.kind.not_in([str(k) for k in NOT_NOTES]),
            func.lower(Activity.text).like(func.lower(_like(word)), escape="\\"),
        )
        .order_by(Activity.id.desc())
    )
    found: dict[int, tuple[int, Activity]] = {}
    for activity in rows:
        assert activity.customer_id is not None  # joined to a customer
        count, latest = found.get(activity.customer_id, (0, activity))
        found[activity.customer_id] = (count + 1, latest)
    return found


def _why(ctx: Context, customer: Customer, word: str, note: tuple[int, Activity] | None) -> str:
    """Why ``customer`` matched: '名称', '别名 HW', '标签 #老客户' or '记录：日期 …snippet…'."""
    key = word.casefold()
    if key in customer.name.casefold():
        return "名称"
    for alias in customer.aliases or []:
        if key in alias.casefold():
            return f"别名 {sanitize_user_text(alias, 40)}"
    for tag in customer.tags or []:
        if tag_key(word) in tag_key(tag):
            return f"标签 #{sanitize_user_text(tag, 10)}"
    assert note is not None
    count, latest = note
    when = fmt_date(latest.created_at.astimezone(ctx.now.tzinfo))
    more = f"（共 {count} 条）" if count > 1 else ""
    return f"记录{more}：{when} {_snippet(latest.text, word)}"


@pageable("搜索")
def search_customers(ctx: Context, query: dict[str, Any]) -> Listed:
    """Every live customer of the chat matching ``query["word"]``, with why."""
    word: str = query["word"]
    key = word.casefold()
    notes = _notes(ctx, word)
    customers = ctx.session.scalars(
        select(Customer).where(Customer.chat_id == ctx.chat.id, live()).order_by(Customer.id)
    )
    hits = []
    for customer in customers:
        found = (
            key in customer.name.casefold(),
            any(key in alias.casefold() for alias in customer.aliases or []),
            any(tag_key(word) in tag_key(tag) for tag in customer.tags or []),
            customer.id in notes,
        )
        if not any(found):
            continue
        rank = found.index(True)
        last = customer.last_activity_at or customer.created_at
        hits.append((rank, -last.timestamp(), customer.id, customer))
    hits.sort(key=lambda hit: hit[:3])
    lines = []
    for i, (_, _, _, customer) in enumerate(hits, 1):
        name = customer_label(customer) + marks(customer.grade, customer.tags)
        why = _why(ctx, customer, word, notes.get(customer.id))
        lines.append(f"{i}. {name}｜{customer.stage}｜{member_label(customer.owner)}｜{why}")
    shown = sanitize_user_text(word, MAX_WORDS)
    return Listed(
        f"🔎 搜索“{shown}”",
        lines,
        f"🔎 没有找到含“{shown}”的客户（搜索了名称、别名、标签和跟进记录）",
    )


@command(
    "搜索",
    aliases=("ss", "search", "查找"),
    usage="/搜索 关键词",
    summary="在本群客户的名称、别名、标签和跟进记录里找关键词，每条结果说明在哪里找到",
    example="/搜索 报价单",
    group=Group.VIEW,
)
def search(ctx: Context, args: str) -> OutgoingMessage:
    """Search the chat's customers (names, aliases, tags, notes)."""
    word = " ".join(normalize_text(args).split())
    if not word:
        raise ctx.usage("请写要找的关键词")
    if len(word) > MAX_WORDS:
        raise ctx.usage(f"关键词太长了（最多 {MAX_WORDS} 个字）")
    return show(ctx, "搜索", {"word": word})
