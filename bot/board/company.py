"""/board/company: every team chat side by side for an admin; a manager sees their own team.

The figures come from models/reports.py (one definition of overdue, stalled, won and paid),
through the same job context the scheduled reports use, so a team's row agrees with its digest
and with `genjin export`. A rep has no company view: they are sent to their own board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from flask import current_app, g, make_response, redirect, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from bot.board import blueprint, team_chats
from bot.board.access import Viewer, now
from bot.config import Settings
from handlers.jobs.base import job_context
from models.activity import Kind
from models.book_export import xlsx_bytes
from models.chat import Chat
from models.db import read_only_sessions
from models.member import ROLE_ADMIN
from models.reports import (
    ZERO,
    day_start,
    deal_events,
    deals,
    funnel_now,
    is_open,
    month_first,
    overdue,
    stalled,
)
from models.stages import LADDER, LOST

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class TeamRow:
    """One team's figures on the company page."""

    chat_id: int
    name: str
    stages: list[tuple[str, int]] = field(default_factory=list)  # ladder stages and 输单
    customers: int = 0
    open_count: int = 0
    open_amount: Decimal = ZERO
    won_count: int = 0
    won_amount: Decimal = ZERO
    paid_amount: Decimal = ZERO
    overdue: int = 0
    stalled: int = 0

    @property
    def chart_series(self) -> dict[str, Any]:
        """This team's stage counts as one bar series of the company chart."""
        return {"name": self.name, "type": "bar", "data": [count for _stage, count in self.stages]}

    def cells(self) -> list[Any]:
        """The row of the .xlsx table (same order as ``HEADERS``)."""
        money = [self.open_amount, self.won_amount, self.paid_amount]
        head = [self.name, self.customers, self.open_count, money[0], self.won_count]
        return [*head, money[1], money[2], self.overdue, self.stalled, *dict(self.stages).values()]


HEADERS = ["团队", "客户", "进行中", "进行中金额", "本月签约数", "本月签约金额", "本月回款"]
HEADERS += ["逾期", "停滞", *LADDER, LOST]


def team_row(session: Session, chat: Chat, settings: Settings, at: datetime) -> TeamRow:
    """A team's funnel, totals, won/paid this month and late counts (models/reports.py)."""
    scope = job_context(session, chat, at, settings)
    book = deals(scope)
    funnel = funnel_now(book)
    row = TeamRow(chat.id, chat.name or chat.external_id)
    row.stages = [(stage, funnel.stages[stage].count) for stage in (*LADDER, LOST)]
    row.customers = len(book)
    open_deals = [deal for deal in book if is_open(deal)]
    row.open_count = len(open_deals)
    row.open_amount = sum((deal.amount or ZERO for deal in open_deals), ZERO)
    start = day_start(scope, month_first(scope.now.date()))
    for event in deal_events(scope, start, scope.now):
        if event.kind is Kind.WON:
            row.won_count += 1
            row.won_amount += event.amount or ZERO
        elif event.kind is Kind.PAYMENT:
            row.paid_amount += event.amount or ZERO
    row.overdue = len(overdue(scope, book))
    row.stalled = len(stalled(scope, book))
    return row


def visible_teams(session: Session, viewer: Viewer) -> list[Chat]:
    """An admin sees every team chat; a manager only their own."""
    chats = team_chats(session)
    if viewer.role == ROLE_ADMIN:
        return chats
    return [chat for chat in chats if chat.id == viewer.chat_id]


def company_rows(viewer: Viewer, at: datetime) -> list[TeamRow]:
    """The rows the viewer may see, oldest team first."""
    runtime: Any = current_app.extensions["genjin"]
    with read_only_sessions(runtime.engine)() as session:
        teams = visible_teams(session, viewer)
        return [team_row(session, chat, runtime.settings, at) for chat in teams]


@blueprint.get("/company.xlsx")
def company_xlsx() -> ResponseReturnValue:
    """The company table as .xlsx, written like /导出."""
    viewer: Viewer = g.board_viewer
    if not viewer.sees_all:
        return redirect(f"/board/t/{viewer.chat_id}/", 303)
    at = now()
    sheet = [HEADERS, *(row.cells() for row in company_rows(viewer, at))]
    name = f"公司总览-{at.astimezone(current_app.extensions['genjin'].settings.tz):%Y%m%d}.xlsx"
    response = make_response(xlsx_bytes({"公司总览": sheet}))
    response.headers["Content-Type"] = XLSX
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


@blueprint.get("/company")
def company() -> ResponseReturnValue:
    """The company overview (admin: all teams; manager: theirs; rep: their own board)."""
    viewer: Viewer = g.board_viewer
    if not viewer.sees_all:
        return redirect(f"/board/t/{viewer.chat_id}/", 303)
    runtime: Any = current_app.extensions["genjin"]
    at = now()
    rows = company_rows(viewer, at)
    totals = TeamRow(0, "合计")
    for row in rows:
        for name in ("customers", "open_count", "won_count", "overdue", "stalled"):
            setattr(totals, name, getattr(totals, name) + getattr(row, name))
        totals.open_amount += row.open_amount
        totals.won_amount += row.won_amount
        totals.paid_amount += row.paid_amount
    stage_names = [*LADDER, LOST]
    totals.stages = [(stage, sum(dict(r.stages)[stage] for r in rows)) for stage in stage_names]
    return render_template(
        "board/company.html",
        rows=rows,
        totals=totals,
        stage_names=stage_names,
        month=at.astimezone(runtime.settings.tz).strftime("%Y年%m月").replace("年0", "年"),
    )
