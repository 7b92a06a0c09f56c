"""The board's data (models/board.py): the same numbers as `genjin export` and models/reports.py.

A small book is written through the chat (two reps, a manager, wins, a payment, a loss, targets,
overdue, due-today and stalled customers, a deleted one) next to a second team's chat.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.export import export
from handlers.jobs.base import JobContext, job_context
from handlers.jobs.stalled import build_stalled
from models import Chat, Customer, Member, board, reports
from tests.support.harness import START, TZ, ChatHarness

# (month, day, hour, minute), who, what — all in 2026, before the fixed clock (Fri 11-27 10:00).
BOOK: list[tuple[tuple[int, int, int, int], str, str]] = [
    ((10, 12, 10, 0), "张三", "/跟进 华为 初次沟通"),
    ((10, 12, 11, 0), "李四", "/跟进 小米 初次沟通"),
    ((10, 20, 10, 0), "张三", "/报价 华为 50万"),
    ((10, 28, 10, 0), "张三", "/签约 华为 48万"),
    ((11, 2, 9, 0), "老板", "/设置 经理 @王经理"),
    ((11, 3, 10, 0), "王经理", "/新客户 腾讯 @李四 30万 展会"),
    ((11, 5, 10, 0), "张三", "/回款 华为 20万 首付款"),
    ((11, 9, 10, 0), "李四", "/跟进 小米 报价已发"),
    ((11, 10, 10, 0), "张三", "/跟进 vivo 聊了聊 下周一回访"),
    ((11, 16, 10, 0), "张三", "/等级 vivo A"),
    ((11, 16, 10, 5), "张三", "/标签 vivo +重点"),
    ((11, 18, 10, 0), "李四", "/跟进 OPPO 初次沟通"),
    ((11, 20, 10, 0), "李四", "/输单 OPPO 价格太高"),
    ((11, 23, 10, 0), "王经理", "/目标 @张三 100万"),
    ((11, 23, 10, 1), "王经理", "/目标 @李四 50万"),
    ((11, 24, 10, 0), "张三", "/签约 vivo 20万"),
    ((11, 25, 10, 0), "张三", "/跟进 京东 明天回访"),
    ((11, 25, 11, 0), "张三", "/别名 华为 HW"),
    ((11, 25, 11, 5), "张三", "/等级 京东 B"),
    ((11, 25, 11, 6), "张三", "/标签 京东 +重点 +老客户"),
    ((11, 26, 11, 0), "张三", "/跟进 测试客户 录错了"),
    ((11, 26, 11, 5), "王经理", "/删除 测试客户 录入错误"),
    ((11, 27, 9, 30), "李四", "/跟进 百度 今天下午3点回访"),
]
OTHER_CHAT = "销售二组"


def seed_book(chat: ChatHarness) -> ChatHarness:
    """Write BOOK into ``chat`` and one customer (阿里) into a second team; the clock ends at START."""
    for (month, day, hour, minute), who, text in BOOK:
        chat.clock.now = datetime(2026, month, day, hour, minute, tzinfo=TZ)
        replies = chat.send(text, as_=who)
        assert replies and not replies[0].startswith("❌"), (text, replies)
    other = ChatHarness(chat.runtime, chat.clock, name=OTHER_CHAT)
    chat.clock.now = datetime(2026, 11, 27, 9, 40, tzinfo=TZ)
    assert "阿里" in other.reply("/跟进 阿里 初次沟通", as_="赵六")
    chat.clock.now = START
    return other


def scope_of(session: Session, chat: ChatHarness, name: str = "销售一组") -> JobContext:
    """The report scope of the named chat at the harness clock."""
    row = session.scalars(select(Chat).where(Chat.external_id == name)).one()
    return job_context(session, row, chat.clock.now, chat.runtime.settings)


def member_id(session: Session, name: str, chat: str = "销售一组") -> int:
    """The id of a member of a chat by name."""
    return session.scalars(
        select(Member.id)
        .join(Chat, Chat.id == Member.chat_id)
        .where(Member.name == name, Chat.external_id == chat)
    ).one()


def customer_id(session: Session, name: str) -> int:
    """The id of a customer by name."""
    return session.scalars(select(Customer.id).where(Customer.name == name)).one()


def test_pipeline_agrees_with_the_export(chat: ChatHarness) -> None:
    seed_book(chat)
    with chat.runtime.sessions() as session:
        book = export(session, "销售一组")
        assert book is not None
        live = [c for c in book["customers"] if c["deleted_at"] is None]
        page = board.pipeline(scope_of(session, chat), None, every_card=True)
    by_stage = Counter(c["stage"] for c in live)
    assert {c.stage: c.count for c in page.columns if c.count} == dict(by_stage)
    assert [c.stage for c in page.columns] == [
        "线索",
        "已分配",
        "跟进中",
        "已报价",
        "已签约",
        "已回款",
        "售后",
        "输单",
    ]
    for column in page.columns:
        amounts = [
            Decimal(str(c["amount"])) for c in live if c["stage"] == column.stage and c["amount"]
        ]
        assert column.amount == sum(amounts, Decimal(0))
    assert page.count == len(live) == 7
    assert page.amount == Decimal("980000")  # 华为 48万 + vivo 20万 + 腾讯 30万
    owners = {c.name: c.owner for c in page.cards}
    assert owners == {c["name"]: c["owner"] for c in live}
    assert "测试客户" not in owners and "阿里" not in owners


def test_pipeline_marks_are_the_reports_definitions(chat: ChatHarness) -> None:
    seed_book(chat)
    with chat.runtime.sessions() as session:
        scope = scope_of(session, chat)
        page = board.pipeline(scope, None, every_card=True)
        deals = reports.deals(scope)
        overdue = {f.deal.name: f.days for f in reports.overdue(scope, deals)}
        stalled = {s.deal.name: s.days for s in reports.stalled(scope, deals)}
    cards = {c.name: c for c in page.cards}
    assert {n: c.late_days for n, c in cards.items() if c.overdue} == overdue
    assert set(overdue) == {"京东"}  # vivo's Monday follow-up was cleared when it was won
    assert cards["京东"].late_days == 1  # due Thursday 11-26, today is Friday
    assert cards["百度"].due_today and not cards["百度"].overdue
    assert cards["百度"].next_at == datetime(2026, 11, 27, 15, 0, tzinfo=TZ)
    assert {n: c.stalled_days for n, c in cards.items() if c.stalled} == stalled
    assert {"腾讯", "小米"} <= set(stalled)
    assert cards["京东"].grade == "B" and cards["京东"].tags == ["重点", "老客户"]
    assert cards["小米"].days_in_stage == 14  # 已报价 since Monday 11-09: 14 working days
    column = next(c for c in page.columns if c.stage == "跟进中")
    assert [c.name for c in column.cards][0] == "京东"  # the overdue card leads its column
    assert column.overdue == 1


def test_filters_narrow_the_pipeline(chat: ChatHarness) -> None:
    seed_book(chat)
    with chat.runtime.sessions() as session:
        scope = scope_of(session, chat)
        li = member_id(session, "李四")
        by_rep = board.pipeline(scope, None, board.Filters(rep=li), every_card=True)
        by_grade = board.pipeline(scope, None, board.Filters(grade="B"), every_card=True)
        by_tag = board.pipeline(scope, None, board.Filters(tag="重点"), every_card=True)
        by_stage = board.pipeline(scope, None, board.Filters(stage="已签约"), every_card=True)
        late = board.pipeline(scope, None, board.Filters(overdue=True), every_card=True)
        options = board.filter_options(scope, None)
    assert sorted(c.name for c in by_rep.cards) == ["OPPO", "小米", "百度", "腾讯"]
    assert [c.name for c in by_grade.cards] == ["京东"]
    assert sorted(c.name for c in by_tag.cards) == ["vivo", "京东"]
    assert sorted(c.name for c in by_stage.cards) == ["vivo", "华为"]
    assert [c.stage for c in by_stage.columns] == ["已签约"]
    assert [c.name for c in late.cards] == ["京东"]
    assert [o.label for o in options.reps] == ["张三", "李四"]
    assert options.grades == ["A", "B"] and options.tags == ["老客户", "重点"]


def test_a_rep_sees_only_their_own_customers(chat: ChatHarness) -> None:
    seed_book(chat)
    with chat.runtime.sessions() as session:
        scope = scope_of(session, chat)
        zhang, li = member_id(session, "张三"), member_id(session, "李四")
        mine = board.pipeline(
            scope, zhang, board.Filters(rep=li), every_card=True
        )  # rep filter ignored
        options = board.filter_options(scope, zhang)
        funnel = board.funnel(scope, zhang)
        late = board.late(scope, zhang).rows
        xiaomi = customer_id(session, "小米")
        assert board.customer(scope, zhang, xiaomi) is None
        assert board.customer(scope, li, xiaomi) is not None
    assert sorted(c.name for c in mine.cards) == ["vivo", "京东", "华为"]
    assert options.reps == []
    assert funnel.total == 3
    assert [r.name for r in funnel.reps] == ["张三"]
    assert {r.card.name for r in late} <= {"vivo", "京东", "华为"}
    assert all(r.card.owner == "张三" for r in late)


def test_another_chats_customer_is_none(chat: ChatHarness) -> None:
    seed_book(chat)
    with chat.runtime.sessions() as session:
        ours, theirs = scope_of(session, chat), scope_of(session, chat, OTHER_CHAT)
        ali, huawei = customer_id(session, "阿里"), customer_id(session, "华为")
        deleted = customer_id(session, "测试客户")
        assert board.customer(ours, None, ali) is None
        assert board.customer(theirs, None, huawei) is None
        assert board.customer(ours, None, deleted) is None
        assert board.customer(theirs, None, ali) is not None
        assert [c.name for c in board.pipeline(theirs, None, every_card=True).cards] == ["阿里"]
        assert board.funnel(theirs, None).total == 1


def test_funnel_is_the_funnel_command_and_the_ranking(chat: ChatHarness) -> None:
    seed_book(chat)
    funnel_reply = chat.reply("/漏斗", as_="王经理")
    with chat.runtime.sessions() as session:
        page = board.funnel(scope_of(session, chat), None)
    rows = {r.stage: r for r in page.rows}
    # /漏斗 prints "阶段 | 客户 | 金额 | 到达 | 转化率" per stage.
    for line in funnel_reply.split("\n"):
        cells = line.split(" | ")
        if len(cells) == 5 and cells[0] in rows:
            row = rows[cells[0]]
            assert str(row.count) == cells[1], line
            if row.reached is not None:
                assert str(row.reached) == cells[3], line
    assert page.total == 7
    assert rows["已报价"].conversion == Decimal(3) / Decimal(6)
    # At the end of October: 华为 signed, 小米 following; everything else came in November.
    assert {r.stage: r.last_month for r in page.rows if r.last_month} == {"跟进中": 1, "已签约": 1}
    assert page.last_month_total == 2
    this, last = page.this_month, page.last_month
    assert (this.won_count, this.won_amount) == (1, Decimal("200000"))
    assert (last.won_count, last.won_amount) == (1, Decimal("480000"))
    assert this.paid_amount == Decimal("200000") and last.paid_amount == 0
    assert this.lost_count == 1 and this.new_customers == 5  # 腾讯 vivo OPPO 京东 百度
    ranking = chat.reply("/排行", as_="王经理")
    reps = {r.name: r for r in page.reps}
    assert "张三 | 20万（1 单） | 20万 | 2 | 20%（目标 100万）" in ranking
    assert reps["张三"].figures.won_amount == Decimal("200000")
    assert reps["张三"].figures.paid_amount == Decimal("200000")
    assert reps["张三"].figures.follow_ups == 2
    assert reps["张三"].progress == Decimal("0.2")
    assert reps["李四"].target == Decimal("500000") and reps["李四"].progress == 0
    assert len(page.weeks) == 8 and page.weeks[-1].first == datetime(2026, 11, 23).date()
    assert page.weeks[-1].won_count == 1  # vivo on Tuesday 11-24
    assert sum(w.won_count for w in page.weeks) == 2  # 华为 on 10-28 is inside 8 weeks
    assert sum(w.paid_amount for w in page.weeks) == Decimal("200000")


def test_new_customers_per_week_are_the_activity_counts(chat: ChatHarness) -> None:
    """The trend's one query per page counts what reports.activity_counts counts, week by week."""
    seed_book(chat)
    chat.clock.now = START
    assert "撤销" in chat.reply("/撤销", as_="李四")  # 百度's creation is undone: not new
    with chat.runtime.sessions() as session:
        scope = scope_of(session, chat)
        zhang = member_id(session, "张三")
        for owner in (None, zhang):
            page = board.funnel(scope, owner)
            for week in page.weeks:
                start = reports.day_start(scope, week.first)
                stop = min(reports.day_start(scope, week.first + timedelta(weeks=1)), scope.now)
                counts = reports.activity_counts(scope, start, stop)
                expected = sum(
                    r.new_customers for m, r in counts.items() if owner is None or m == owner
                )
                assert week.new_customers == expected, (owner, week.first)
            month = reports.day_start(scope, datetime(2026, 11, 1).date())
            last = reports.day_start(scope, datetime(2026, 10, 1).date())
            for period, start, stop in (
                (page.this_month, month, scope.now),
                (page.last_month, last, month),
            ):
                counts = reports.activity_counts(scope, start, stop)
                expected = sum(
                    r.new_customers for m, r in counts.items() if owner is None or m == owner
                )
                assert period.new_customers == expected, (owner, start)
        weeks = {w.first.isoformat(): w.new_customers for w in board.funnel(scope, None).weeks}
    # 华为 and 小米 on 10-12, 腾讯, vivo, OPPO, 京东; 测试客户 is deleted and 百度 undone.
    assert weeks == {
        "2026-10-05": 0,
        "2026-10-12": 2,
        "2026-10-19": 0,
        "2026-10-26": 0,
        "2026-11-02": 1,
        "2026-11-09": 1,
        "2026-11-16": 1,
        "2026-11-23": 1,
    }


def test_late_list_is_sorted_by_lateness_with_the_escalation_reached(chat: ChatHarness) -> None:
    seed_book(chat)
    with chat.runtime.sessions() as session:
        scope = scope_of(session, chat)
        before = board.late(scope, None).rows
        build_stalled(
            job_context(session, scope.chat, scope.now, chat.runtime.settings, "stalled_deals")
        )
        session.flush()
        after = board.late(scope, None).rows
        first = board.late(scope, None, limit=1)
        deals = reports.deals(scope)
        expected = {s.deal.name for s in reports.stalled(scope, deals)} | {
            f.deal.name for f in reports.overdue(scope, deals)
        }
    assert {r.card.name for r in before} == expected
    assert all(r.level == 0 for r in before)
    assert first.total == len(after) and [r.card.name for r in first.rows] == ["腾讯"]
    lateness = [r.lateness for r in after]
    assert lateness == sorted(lateness, reverse=True)
    levels = {r.card.name: r.level for r in after}
    # 腾讯: 已分配 (limit 2) since 11-03 → 18 working days, 5+ past: level 3 (the whole group).
    assert levels["腾讯"] == 3
    # 京东 is only overdue: the stalled alert does not concern it.
    assert levels["京东"] == 0
    assert all(levels[n] >= 1 for n in expected if n != "京东")


def test_customer_page_has_the_full_timeline(chat: ChatHarness) -> None:
    seed_book(chat)
    with chat.runtime.sessions() as session:
        book = export(session, "销售一组")
        assert book is not None
        page = board.customer(scope_of(session, chat), None, customer_id(session, "华为"))
    assert page is not None
    history = [a for a in book["activities"] if a["customer"] == "华为"]
    assert len(page.timeline) == len(history) == 6
    assert [e.kind for e in page.timeline] == ["加别名", "回款", "签约", "改阶段", "跟进", "建档"]
    assert page.timeline[0].at > page.timeline[-1].at  # newest first
    assert page.aliases == ["HW"]
    assert page.card.amount == Decimal("480000") and page.card.paid_amount == Decimal("200000")
    signed = next(e for e in page.timeline if e.stage_to == "已签约")
    assert signed.who == "张三"
    labels = {c.label: (c.old, c.new) for c in signed.changes}
    assert labels["阶段"] == ("已报价", "已签约")
    assert labels["金额"] == ("500,000", "480,000")
    assert all(not e.undone for e in page.timeline)


def test_a_column_shows_its_most_urgent_cards_and_counts_them_all(
    chat: ChatHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_book(chat)
    monkeypatch.setattr(board, "CARDS_PER_COLUMN", 1)
    with chat.runtime.sessions() as session:
        scope = scope_of(session, chat)
        shown = board.pipeline(scope, None)
        every = board.pipeline(scope, None, every_card=True)
    following = next(c for c in shown.columns if c.stage == "跟进中")
    assert [c.name for c in following.cards] == ["京东"]  # overdue beats due today (百度)
    assert (following.count, following.hidden, following.overdue) == (2, 1, 1)
    assert sorted(c.name for c in shown.cards) == sorted(
        c.cards[0].name for c in shown.columns if c.cards
    )
    assert len(every.cards) == every.count == shown.count == 7
