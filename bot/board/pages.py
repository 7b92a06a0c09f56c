"""The team board's pages: pipeline, funnel and trends, late and stalled, a customer; each as .xlsx.

Routes live under ``/board/t/<chat_id>/`` on the board blueprint; the guard (bot/board/__init__.py)
has already checked the session may see that team, and ``require_viewer`` gives who is looking.
Every query goes through models/board.py with the viewer's chat and, for a rep, their own id as
owner, so a page can only show that team's book (a rep: their own customers). Filters are plain
query parameters of a GET form; a value that is not a choice is named on the page and ignored.
Downloads are the page's tables written by the /导出 writer (models/book_export.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from flask import abort, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue

from bot.board import blueprint
from bot.board.access import Viewer, now, require_viewer
from handlers.jobs.base import JobContext, job_context
from handlers.jobs.stalled import HEADINGS
from models import board
from models.book_export import When, xlsx_bytes
from models.chat import Chat
from models.db import read_only_sessions
from models.stages import ALL_STAGES

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SLA_HEADINGS = {1: "已提醒负责人", 2: "已升级给经理"}
CARD_HEADERS = [
    "客户名称",
    "阶段",
    "等级",
    "负责人",
    "金额",
    "已回款",
    "在本阶段（工作日）",
    "下次跟进",
    "逾期（工作日）",
    "停滞（工作日）",
    "标签",
]


# -- the request's scope ---------------------------------------------------------------------


@contextmanager
def scope_of(viewer: Viewer) -> Iterator[JobContext]:
    """The report scope of the viewer's team at the runtime's clock, in one read session."""
    runtime: Any = current_app.extensions["genjin"]
    with read_only_sessions(runtime.engine)() as session:
        chat = session.get(Chat, viewer.chat_id)
        if chat is None:
            abort(404)
        yield job_context(session, chat, now(), runtime.settings)


def owner_of(viewer: Viewer) -> int | None:
    """None for a manager or an admin (the whole book); a rep's own member id."""
    return None if viewer.sees_all else viewer.member_id


def read_filters(viewer: Viewer) -> tuple[board.Filters, list[str]]:
    """The filters in the query string, and a Chinese reason for each value that was ignored."""
    args = request.args
    problems: list[str] = []
    rep: int | None = None
    raw_rep = args.get("rep", "").strip()
    if raw_rep and viewer.sees_all:
        if raw_rep.isdigit() and len(raw_rep) < 19:
            rep = int(raw_rep)
        else:
            problems.append(f"负责人“{raw_rep[:20]}”不是有效的选项，例如 ?rep=3（请从下拉框选择）")
    stage = args.get("stage", "").strip()
    if stage and stage not in {s.value for s in ALL_STAGES}:
        problems.append(f"阶段“{stage[:20]}”不存在，例如 ?stage=已报价")
        stage = ""
    filters = board.Filters(
        rep=rep,
        grade=args.get("grade", "").strip()[:16],
        tag=args.get("tag", "").strip()[:50],
        stage=stage,
        overdue=args.get("overdue", "") in ("1", "on", "true"),
        stalled=args.get("stalled", "") in ("1", "on", "true"),
    )
    return filters, problems


def query_string(filters: board.Filters) -> str:
    """The filters back as a query string (for the .xlsx link), '' when none."""
    pairs: list[tuple[str, str]] = []
    if filters.rep is not None:
        pairs.append(("rep", str(filters.rep)))
    for key in ("grade", "tag", "stage"):
        value = getattr(filters, key)
        if value:
            pairs.append((key, value))
    if filters.overdue:
        pairs.append(("overdue", "1"))
    if filters.stalled:
        pairs.append(("stalled", "1"))
    return "?" + urlencode(pairs) if pairs else ""


def download(sheets: dict[str, list[list[Any]]], title: str, at: datetime) -> ResponseReturnValue:
    """The sheets as an .xlsx attachment named '<title>-<date>.xlsx'."""
    response = make_response(xlsx_bytes(sheets))
    response.headers["Content-Type"] = XLSX
    name = f"{title}-{at:%Y%m%d}.xlsx"
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
    response.headers["Cache-Control"] = "no-store"
    return response


# -- formatting ------------------------------------------------------------------------------


@blueprint.app_template_filter("board_when")
def when(moment: datetime | date | None, has_time: bool = True) -> str:
    """'11月26日(周四)' or '11月26日 15:00'; a year only when it is not this year's."""
    if moment is None:
        return "-"
    day = moment.date() if isinstance(moment, datetime) else moment
    text = f"{day.month}月{day.day}日"
    if day.year != now().year:
        text = f"{day.year}年{text}"
    if isinstance(moment, datetime) and has_time:
        text += f" {moment:%H:%M}"
    return text


@blueprint.app_template_filter("board_percent")
def percent(ratio: Decimal | None) -> str:
    """0.5 → '50%'; '-' when there is no ratio."""
    if ratio is None:
        return "-"
    return f"{(ratio * 100).quantize(Decimal('1'))}%"


def _local(moment: datetime | None, has_time: bool = True) -> When | None:
    """A chat-local time as a sheet cell."""
    if moment is None:
        return None
    return When(moment.replace(tzinfo=None), has_time)


def card_cells(card: board.CustomerCard) -> list[Any]:
    """One customer's row of the .xlsx (CARD_HEADERS)."""
    return [
        card.name,
        card.stage,
        card.grade or None,
        card.owner or None,
        card.amount,
        card.paid_amount or None,
        card.days_in_stage,
        _local(card.next_at, card.next_has_time),
        card.late_days,
        card.stalled_days,
        "、".join(card.tags) or None,
    ]


def late_words(row: board.LateRow) -> str:
    """The escalation reached, in words: '升级给经理', '已提醒负责人', '未提醒'."""
    words = []
    if row.level:
        words.append(HEADINGS.get(row.level, f"第 {row.level} 级"))
    if row.sla_level:
        words.append(SLA_HEADINGS.get(row.sla_level, f"第 {row.sla_level} 级"))
    return "、".join(words) or "未提醒"


# -- pipeline --------------------------------------------------------------------------------


@blueprint.get("/t/<int:chat_id>/")
def pipeline_page(chat_id: int) -> ResponseReturnValue:
    """Columns by stage with customer cards and totals; filters by rep, grade, tag, stage, late."""
    viewer = require_viewer()
    filters, problems = read_filters(viewer)
    with scope_of(viewer) as scope:
        page = board.pipeline(scope, owner_of(viewer), filters)
    return render_template(
        "board/pipeline.html",
        page=page,
        filters=filters,
        problems=problems,
        base=f"/board/t/{chat_id}/",
        xlsx=f"/board/t/{chat_id}/pipeline.xlsx{query_string(filters)}",
        per_column=board.CARDS_PER_COLUMN,
    )


@blueprint.get("/t/<int:chat_id>/pipeline.xlsx")
def pipeline_xlsx(chat_id: int) -> ResponseReturnValue:
    """The pipeline's cards (every one, not only those shown) and the totals per stage."""
    viewer = require_viewer()
    filters, _problems = read_filters(viewer)
    with scope_of(viewer) as scope:
        page = board.pipeline(scope, owner_of(viewer), filters, every_card=True)
        at = scope.now
    totals: list[list[Any]] = [["阶段", "客户数", "金额", "逾期", "停滞"]]
    totals += [[c.stage, c.count, c.amount, c.overdue, c.stalled] for c in page.columns]
    totals.append(["合计", page.count, page.amount, page.overdue, page.stalled])
    sheets = {"客户": [CARD_HEADERS, *(card_cells(c) for c in page.cards)], "各阶段合计": totals}
    return download(sheets, "管道", at)


# -- funnel and trends -----------------------------------------------------------------------


def funnel_charts(page: board.FunnelPage) -> dict[str, dict[str, Any]]:
    """ECharts options: the funnel, the weekly bars, the reps against their targets."""
    ladder = [r for r in page.rows if r.reached is not None]
    funnel = {
        "tooltip": {"trigger": "item"},
        "series": [
            {
                "type": "funnel",
                "name": "到达",
                "sort": "none",
                "left": "8%",
                "width": "84%",
                "minSize": "8%",
                "label": {"position": "inside", "formatter": "{b}：{c}"},
                "data": [{"name": r.stage, "value": r.reached} for r in ladder],
            }
        ],
    }
    labels = [f"{w.first.month}/{w.first.day}" for w in page.weeks]
    weekly = {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 36, "containLabel": True},
        "xAxis": {"type": "category", "data": labels},
        "yAxis": [
            {"type": "value", "minInterval": 1, "name": "个"},
            {"type": "value", "name": "回款", "splitLine": {"show": False}},
        ],
        "series": [
            {
                "name": "新客户",
                "type": "bar",
                "data": [w.new_customers for w in page.weeks],
            },
            {"name": "签约", "type": "bar", "data": [w.won_count for w in page.weeks]},
            {"name": "输单", "type": "bar", "data": [w.lost_count for w in page.weeks]},
            {
                "name": "回款",
                "type": "line",
                "yAxisIndex": 1,
                "data": [float(w.paid_amount) for w in page.weeks],
            },
        ],
    }
    reps = {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 8, "bottom": 8, "top": 36, "containLabel": True},
        "xAxis": {"type": "value"},
        "yAxis": {"type": "category", "inverse": True, "data": [r.name for r in page.reps]},
        "series": [
            {
                "name": "本月签约",
                "type": "bar",
                "data": [float(r.figures.won_amount) for r in page.reps],
            },
            {
                "name": "目标",
                "type": "bar",
                "data": [float(r.target) if r.target else 0 for r in page.reps],
            },
        ],
    }
    return {"funnel": funnel, "weekly": weekly, "reps": reps}


@blueprint.get("/t/<int:chat_id>/funnel")
def funnel_page(chat_id: int) -> ResponseReturnValue:
    """The funnel now vs the end of last month, 8 weeks of trend, each member this month."""
    viewer = require_viewer()
    with scope_of(viewer) as scope:
        page = board.funnel(scope, owner_of(viewer))
    return render_template(
        "board/funnel.html",
        page=page,
        charts=funnel_charts(page),
        xlsx=f"/board/t/{chat_id}/funnel.xlsx",
    )


@blueprint.get("/t/<int:chat_id>/funnel.xlsx")
def funnel_xlsx(chat_id: int) -> ResponseReturnValue:
    """The funnel, the month comparison, the weeks and the members as sheets."""
    viewer = require_viewer()
    with scope_of(viewer) as scope:
        page = board.funnel(scope, owner_of(viewer))
        at = scope.now
    funnel: list[list[Any]] = [["阶段", "上月底", "现在", "变化", "金额", "到达", "转化率"]]
    for r in page.rows:
        funnel.append(
            [r.stage, r.last_month, r.count, r.change, r.amount, r.reached, percent(r.conversion)]
        )
    months: list[list[Any]] = [["", f"本月（{page.month}）", f"上月（{page.previous_month}）"]]
    for label, key in PERIOD_ROWS:
        months.append([label, getattr(page.this_month, key), getattr(page.last_month, key)])
    weeks: list[list[Any]] = [["周（周一）", *(label for label, _ in PERIOD_ROWS)]]
    for w in page.weeks:
        monday = When(datetime.combine(w.first, datetime.min.time()), False)
        weeks.append([monday, *(getattr(w, key) for _, key in PERIOD_ROWS)])
    reps: list[list[Any]] = [REP_HEADERS]
    reps += [rep_cells(r) for r in page.reps]
    sheets = {"漏斗": funnel, "本月与上月": months, "每周趋势": weeks, "成员本月": reps}
    return download(sheets, "漏斗与趋势", at)


PERIOD_ROWS = [
    ("新客户", "new_customers"),
    ("签约数", "won_count"),
    ("签约金额", "won_amount"),
    ("输单", "lost_count"),
    ("回款", "paid_amount"),
]
REP_HEADERS = ["成员", "记录", "跟进", "新客户", "推进阶段", "签约数", "签约金额", "回款", "输单"]
REP_HEADERS += ["目标", "目标完成"]


def rep_cells(row: board.RepRow) -> list[Any]:
    """One member's row of the .xlsx (REP_HEADERS)."""
    f = row.figures
    return [
        row.name,
        f.entries,
        f.follow_ups,
        f.new_customers,
        f.stage_moves,
        f.won_count,
        f.won_amount,
        f.paid_amount,
        f.lost_count,
        row.target,
        percent(row.progress) if row.progress is not None else None,
    ]


# -- late and stalled ------------------------------------------------------------------------


@blueprint.get("/t/<int:chat_id>/late")
def late_page(chat_id: int) -> ResponseReturnValue:
    """Overdue and stalled customers, the latest first, with the escalation reached."""
    viewer = require_viewer()
    filters, problems = read_filters(viewer)
    with scope_of(viewer) as scope:
        found = board.late(scope, owner_of(viewer), filters, limit=board.LATE_ROWS)
    return render_template(
        "board/late.html",
        rows=found.rows,
        total=found.total,
        options=found.options,
        filters=filters,
        problems=problems,
        late_words=late_words,
        base=f"/board/t/{chat_id}/",
        xlsx=f"/board/t/{chat_id}/late.xlsx{query_string(filters)}",
    )


@blueprint.get("/t/<int:chat_id>/late.xlsx")
def late_xlsx(chat_id: int) -> ResponseReturnValue:
    """The late list as a sheet."""
    viewer = require_viewer()
    filters, _problems = read_filters(viewer)
    with scope_of(viewer) as scope:
        rows = board.late(scope, owner_of(viewer), filters).rows
        at = scope.now
    sheet: list[list[Any]] = [[*CARD_HEADERS, "停滞时限（工作日）", "已升级到"]]
    sheet += [[*card_cells(r.card), r.card.stage_limit, late_words(r)] for r in rows]
    return download({"逾期与停滞": sheet}, "逾期与停滞", at)


# -- customer --------------------------------------------------------------------------------


def _customer(chat_id: int, customer_id: int) -> tuple[board.CustomerDetail, datetime]:
    """The customer in the viewer's scope, or 404 (another team's, another rep's, deleted)."""
    viewer = require_viewer()
    with scope_of(viewer) as scope:
        page = board.customer(scope, owner_of(viewer), customer_id)
        at = scope.now
    if page is None:
        abort(404)
    return page, at


@blueprint.get("/t/<int:chat_id>/customer/<int:customer_id>")
def customer_page(chat_id: int, customer_id: int) -> ResponseReturnValue:
    """The customer's card, names, grade, tags and full timeline."""
    page, _at = _customer(chat_id, customer_id)
    return render_template(
        "board/customer.html",
        page=page,
        base=f"/board/t/{chat_id}/",
        xlsx=f"/board/t/{chat_id}/customer/{customer_id}.xlsx",
    )


@blueprint.get("/t/<int:chat_id>/customer/<int:customer_id>.xlsx")
def customer_xlsx(chat_id: int, customer_id: int) -> ResponseReturnValue:
    """The customer's card and timeline as two sheets."""
    page, at = _customer(chat_id, customer_id)
    card: list[list[Any]] = [[*CARD_HEADERS, "别名", "来源", "输单原因", "建档时间"]]
    card.append(
        [
            *card_cells(page.card),
            "、".join(page.aliases) or None,
            page.source or None,
            page.lost_reason or None,
            _local(page.created_at),
        ]
    )
    timeline: list[list[Any]] = [["时间", "成员", "类型", "内容", "阶段变化", "金额"]]
    timeline[0] += ["下次跟进", "改动", "已撤销"]
    for e in page.timeline:
        moved = f"{e.stage_from}→{e.stage_to}" if e.stage_from and e.stage_to else None
        changes = "；".join(f"{c.label}：{c.old} → {c.new}" for c in e.changes) or None
        timeline.append(
            [
                _local(e.at),
                e.who or None,
                e.kind,
                e.text or None,
                moved,
                e.amount,
                _local(e.next_at),
                changes,
                "是" if e.undone else None,
            ]
        )
    return download({"客户": card, "跟进记录": timeline}, page.card.name, at)
