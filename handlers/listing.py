"""/列表 [阶段] [@负责人] [等级] [#标签] [逾期|今天|本周]: the team's whole book, filtered, paged.

Filters of one kind widen (``已报价 已签约``: either stage), kinds narrow each other, and every
``#标签`` must be on the customer. Without a stage, 输单 and 售后 are left out (``全部`` keeps them).
The order is /我的's: overdue first, then due soonest, then the rest longest silent first.

Paging: a list longer than a page leaves a cursor in ``member.pending`` (the filters as understood,
not the typed text, and the page shown); ``下一页`` (with or without the slash) shows the next one.
``handlers.router`` keeps the cursor across other messages; a new list or a numbered question
replaces it, and it expires after ``CURSOR_MINUTES``. /搜索 pages the same way (``pageable``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.messages import OutgoingMessage, Reply
from handlers.context import Context
from handlers.format import customer_name, member_label
from handlers.grade_tags import grade_label, grade_of, marks, tag_key, tag_problem
from handlers.mine import follow_up_text, urgency
from handlers.registry import CommandError, Group, UsageError, command
from handlers.reports import report_context
from models import reports
from models.parsing import sanitize_user_text
from models.stages import Stage, parse_stage_name

PAGE_SIZE = 10
CURSOR_MINUTES = 60
NEXT_WORDS = ("下一页", "下页", "next")
DUE_WORDS = {
    "逾期": "overdue",
    "已逾期": "overdue",
    "今天": "today",
    "今日": "today",
    "本周": "week",
    "这周": "week",
}
DUE_LABELS = {"overdue": "逾期", "today": "今天到期", "week": "本周到期"}
NO_OWNER = ("未分配", "无负责人")
ALL_WORDS = ("全部", "所有")
HIDDEN = (Stage.LOST, Stage.AFTER_SALES)
LIST_EXAMPLE = "/列表 已报价 @张三 A"


@dataclass
class Listed:
    """What a pageable command found: a title, every numbered line, and what to say if none."""

    title: str
    lines: list[str]
    empty: str


# A pageable command: its query as stored in the cursor (JSON) → what it lists.
Pager = Callable[[Context, dict[str, Any]], Listed]
_PAGERS: dict[str, Pager] = {}


def pageable(name: str) -> Callable[[Pager], Pager]:
    """Register the lister of the command ``name`` so ``下一页`` can continue its results."""

    def register(func: Pager) -> Pager:
        _PAGERS[name] = func
        return func

    return register


def is_cursor(pending: dict[str, Any] | None) -> bool:
    """Whether ``member.pending`` holds a list cursor (not a numbered question)."""
    return bool(pending) and "cursor" in (pending or {})


def asks_next_page(pending: dict[str, Any] | None, text: str) -> bool:
    """A bare ``下一页`` from a member with an open cursor is meant for the bot."""
    return is_cursor(pending) and text.strip().casefold() in NEXT_WORDS


def show(ctx: Context, name: str, query: dict[str, Any], page: int = 1) -> OutgoingMessage:
    """Page ``page`` of what command ``name`` lists for ``query``; keeps the cursor for the next."""
    listed = _PAGERS[name](ctx, query)
    if is_cursor(ctx.sender.pending):
        ctx.sender.pending = None
    if not listed.lines:
        return OutgoingMessage(listed.empty)
    pages = -(-len(listed.lines) // PAGE_SIZE)
    if page > pages:
        raise CommandError(f"ℹ️ 已经是最后一页了（共 {pages} 页）")
    reply = Reply().line(f"{listed.title}（共 {len(listed.lines)} 个）：")
    for line in listed.lines[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]:
        reply.line(line)
    if pages > 1:
        more = "回复 下一页 继续" if page < pages else "最后一页"
        reply.line(f"第 {page}/{pages} 页，{more}")
        expires = ctx.now + timedelta(minutes=CURSOR_MINUTES)
        ctx.sender.pending = {
            "cursor": name,
            "query": query,
            "page": page,
            "expires_at": expires.isoformat(),
        }
    return reply.build()


# -- /列表 -------------------------------------------------------------------------------------


def _filters(ctx: Context, args: str) -> dict[str, Any]:
    """The typed filters as understood (JSON, for the cursor); refuses a word it cannot read."""
    members, rest = ctx.people(args) if any(ch in args for ch in "@＠") else ([], args)
    query: dict[str, Any] = {
        "stages": [],
        "owners": [m.id for m in members],
        "no_owner": False,
        "grades": [],
        "tags": [],
        "due": "",
        "all": False,
    }
    grades = ctx.settings.book.grades
    for word in rest.replace("，", " ").replace("、", " ").split():
        stage = parse_stage_name(word)
        grade = grade_of(grades, word)
        if word[0] in "#＃":
            tag = word[1:]
            problem = tag_problem(tag)
            if problem:
                raise ctx.usage(problem)
            query["tags"].append(tag)
        elif stage is not None:
            query["stages"].append(str(stage))
        elif grade is not None:
            query["grades"].append(grade)
        elif word in DUE_WORDS:
            if query["due"] and query["due"] != DUE_WORDS[word]:
                raise ctx.usage("逾期、今天、本周 只能选一个")
            query["due"] = DUE_WORDS[word]
        elif word in NO_OWNER:
            query["no_owner"] = True
        elif word in ALL_WORDS:
            query["all"] = True
        else:
            raise ctx.usage(
                f"看不懂“{sanitize_user_text(word, 20)}”：可以写阶段、@负责人、等级（"
                f"{'/'.join(grades)}）、#标签、逾期/今天/本周"
            )
    return query


def _wanted(ctx: Context, query: dict[str, Any]) -> Callable[[reports.Deal], bool]:
    """Whether a deal passes every filter of ``query`` (the due filters are the caller's)."""
    stages = set(query["stages"])
    owners = set(query["owners"])
    grades = set(query["grades"])
    tags = {tag_key(t) for t in query["tags"]}

    def wanted(deal: reports.Deal) -> bool:
        if stages and deal.stage not in stages:
            return False
        if not stages and not query["all"] and deal.stage in HIDDEN:
            return False
        if (owners or query["no_owner"]) and not (
            deal.owner_id in owners or (query["no_owner"] and deal.owner_id is None)
        ):
            return False
        if grades and deal.grade not in grades:
            return False
        return tags <= {tag_key(t) for t in deal.tags or []}

    return wanted


def _due(query: dict[str, Any], deal: reports.Deal, state: str | None, now: datetime) -> bool:
    """The 逾期 / 今天 / 本周 filter: overdue; follow-up dated today; dated this week."""
    due = query["due"]
    if not due:
        return True
    if state is None or deal.next_follow_up_at is None:
        return False
    if due == "overdue":
        return state == "overdue"
    day = reports.local_date(deal.next_follow_up_at, now.tzinfo)
    if due == "today":
        return day == now.date()
    monday = reports.week_first(now.date())
    return monday <= day < monday + timedelta(days=7)


def _title(ctx: Context, query: dict[str, Any]) -> str:
    """'📋 客户列表｜已报价、@张三、A（重点）、#老客户、逾期': the filters as understood."""
    members = reports.members_by_id(report_context(ctx))
    parts = list(query["stages"])
    parts += [f"@{member_label(members.get(m))}" for m in query["owners"]]
    if query["no_owner"]:
        parts.append("未分配")
    parts += [grade_label(ctx.settings.book.grades, g) for g in query["grades"]]
    parts += [f"#{sanitize_user_text(t, 10)}" for t in query["tags"]]
    if query["due"]:
        parts.append(DUE_LABELS[query["due"]])
    if not query["stages"]:
        parts.append("含输单、售后" if query["all"] else "不含输单、售后")
    return "📋 客户列表｜" + "、".join(parts)


@pageable("列表")
def list_customers(ctx: Context, query: dict[str, Any]) -> Listed:
    """The chat's customers that pass ``query``, most urgent first, one numbered line each."""
    scope = report_context(ctx)
    wanted = _wanted(ctx, query)
    deals = [d for d in reports.deals(scope) if wanted(d)]
    late = {f.deal.id: f.days for f in reports.due_follow_ups(scope, deals)}
    rows = []
    for deal in deals:
        state = reports.follow_up_state(deal, scope.now)
        if _due(query, deal, state, scope.now):
            rows.append((urgency(deal, state), deal, state))
    rows.sort(key=lambda row: row[0])
    members = reports.members_by_id(scope)
    lines = []
    for i, (_, deal, state) in enumerate(rows, 1):
        owner = members.get(deal.owner_id) if deal.owner_id is not None else None
        when = follow_up_text(deal, state, late.get(deal.id, 0), scope.now)
        name = customer_name(deal.name) + marks(deal.grade, deal.tags)
        lines.append(f"{i}. {name}｜{deal.stage}｜{member_label(owner)}｜{when}")
    title = _title(ctx, query)
    return Listed(title, lines, f"{title}：没有符合条件的客户")


@command(
    "列表",
    aliases=("lb", "list", "客户列表"),
    usage="/列表 [阶段] [@负责人] [等级] [#标签] [逾期|今天|本周]",
    summary="全部客户按条件筛选，逾期和快到期的在前；每页 10 个，回复 下一页 翻页",
    example=LIST_EXAMPLE,
    group=Group.VIEW,
)
def list_(ctx: Context, args: str) -> OutgoingMessage:
    """List the chat's customers by the typed filters, first page."""
    return show(ctx, "列表", _filters(ctx, args))


@command(
    "下一页",
    aliases=("下页", "next"),
    usage="/下一页",
    summary="/列表 或 /搜索 的下一页（不带斜杠直接发 下一页 也可以）",
    example="/下一页",
    group=Group.VIEW,
)
def next_page(ctx: Context, args: str) -> OutgoingMessage:
    """The next page of the sender's last list or search."""
    cursor = ctx.sender.pending
    if not is_cursor(cursor) or cursor is None:
        raise UsageError("没有正在翻页的列表，请先发送 /列表 或 /搜索", LIST_EXAMPLE)
    if datetime.fromisoformat(cursor["expires_at"]) < ctx.now or cursor["cursor"] not in _PAGERS:
        ctx.sender.pending = None  # a reply, not an error: an error would keep the cursor
        return OutgoingMessage("⌛ 这个列表已过期，请重新发送 /列表 或 /搜索")
    return show(ctx, cursor["cursor"], cursor["query"], int(cursor["page"]) + 1)
