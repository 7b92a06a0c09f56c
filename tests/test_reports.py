"""Reports: the daily digest, the weekly review, /日报 /周报 /漏斗 /排行 and /目标."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

import handlers.reports  # noqa: F401  (registers the report commands)
import handlers.target  # noqa: F401  (registers /目标)
from bot.adapters.console import render_text
from bot.messages import Mention, OutgoingMessage
from handlers.reports import parse_past_day
from handlers.target import parse_month
from models import Activity, Chat, Customer, Member, Target
from tests.support.harness import TZ, ChatHarness
from tests.support.jobs import digest, section, weekly

EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=TZ)


def at(chat: ChatHarness, *args: int) -> None:
    """Set the chat clock to 2026-…-… hh:mm (Asia/Shanghai)."""
    chat.clock.now = datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def headings(message: OutgoingMessage) -> list[str]:
    """All section headings of the card."""
    assert message.card is not None
    return [s.heading for s in message.card.sections]


def lines(message: OutgoingMessage, heading: str) -> list[str]:
    """A section's lines with mention tokens rendered as @名字."""
    shown = OutgoingMessage("\n".join(section(message, heading).lines), message.mentions)
    return render_text(shown).split("\n")


# -- daily digest ----------------------------------------------------------------------------


def test_digest_figures_match_the_activity_log_without_undone_entries(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 26, 10, 0)
    chat.send("/跟进 vivo 初次沟通", as_="王五")
    at(chat, 2026, 11, 27, 10, 0)
    chat.send("/跟进 华为 报价已发", as_="张三")
    chat.send("/跟进 小米 初次沟通", as_="张三")
    chat.send("/跟进 OPPO 聊了聊", as_="李四")
    assert "撤销" in chat.reply("/撤销", as_="李四")
    chat.send("/签约 华为 30万", as_="张三")
    chat.send("/回款 华为 10万", as_="张三")

    message = digest(chat, EVENING)

    # A partial payment keeps the deal at 已签约 (no third stage move) and shows x / y.
    assert message.text == (
        "📊 11月27日(周五) 日报｜跟进 2 次｜新客户 2 个｜推进 2 次｜签约 1 单 30万｜回款 10万"
    )
    table = section(message, "各人今日").table
    assert table is not None
    assert table.columns == ["成员", "跟进", "新客户", "推进", "签约", "回款"]
    assert table.rows == [["张三", "2", "2", "2", "1 单 30万", "10万"]]
    assert lines(message, "签约与回款") == [
        "🎉 华为 签约 30万（张三）",
        "💰 华为 回款 10万，累计回款 10万 / 30万（张三）",
    ]
    assert lines(message, "阶段推进") == [
        "华为：跟进中 → 已报价（张三）",
        "华为：已报价 → 已签约（张三）",
    ]
    assert lines(message, "😶 没有记录（1 人）") == ["王五"]
    assert "逾期" not in render_text(message)


def test_daily_command_shows_the_same_digest(chat: ChatHarness) -> None:
    chat.send("/跟进 华为 报价已发", as_="张三")
    chat.clock.now = EVENING
    shown = chat.reply("/日报", as_="王五")
    assert shown.startswith("📊 11月27日(周五) 日报｜跟进 1 次｜新客户 1 个｜推进 1 次\n")
    assert "【📊 销售日报 11月27日(周五)】 销售一组" in shown
    assert "张三 | 1 | 1 | 1 | - | -" in shown
    assert chat.send("/rb 今天", as_="王五") == [shown]


def test_empty_day_is_one_line(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 26, 10, 0)
    chat.send("/跟进 华为 聊了 下周一回访", as_="张三")
    chat.clock.now = EVENING
    assert chat.send("/日报") == [
        "📊 11月27日(周五) 日报：没有新的记录，也没有逾期、停滞或久未跟进的客户"
    ]
    assert chat.last is not None and chat.last[0].card is None


def test_past_days_and_bad_dates(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 26, 10, 0)
    chat.send("/跟进 华为 报价已发", as_="张三")
    chat.clock.now = EVENING
    yesterday = chat.reply("/日报 昨天")
    assert yesterday.startswith("📊 11月26日(周四) 日报｜跟进 1 次｜新客户 1 个｜推进 1 次")
    assert chat.reply("/日报 11月26日") == yesterday
    assert chat.reply("/daily 2026-11-26") == yesterday
    assert chat.reply("/日报 2026-12-30") == "❌ 不能查看未来的日报\n例如：/日报 昨天"
    assert chat.reply("/日报 随便") == "❌ 看不懂日期“随便”\n例如：/日报 昨天"


def test_parse_past_day_reads_back_into_the_past() -> None:
    now = datetime(2026, 1, 5, 10, tzinfo=TZ)
    assert parse_past_day("", now) == date(2026, 1, 5)
    assert parse_past_day("前天", now) == date(2026, 1, 3)
    assert parse_past_day("12月31日", now) == date(2025, 12, 31)
    assert parse_past_day("1月5号", now) == date(2026, 1, 5)
    assert parse_past_day("2026/1/2", now) == date(2026, 1, 2)
    assert parse_past_day("2月30日", now) is None


def test_overdue_counts_working_days_across_national_day(chat: ChatHarness) -> None:
    at(chat, 2026, 9, 29, 10, 0)
    chat.send("/跟进 华为 聊了 明天回访", as_="张三")
    chat.send("/跟进 小米 聊了", as_="李四")

    # 9-30: due today, not overdue before the day ends; nobody quiet yet.
    on_the_day = digest(chat, datetime(2026, 9, 30, 18, 0, tzinfo=TZ))
    assert on_the_day.card is None
    assert on_the_day.text.startswith("📊 9月30日(周三) 日报：没有新的记录")

    after = digest(chat, datetime(2026, 10, 8, 18, 0, tzinfo=TZ))
    assert lines(after, "⏰ 逾期未跟进（1 个）") == [
        "1. 华为｜跟进中｜逾期 1 个工作日（应跟进 9月30日(周三)）｜@张三"
    ]
    assert Mention("张三", "张三") in after.mentions
    # 小米 has been silent only two working days (9-30, 10-8), not nine calendar days.
    assert not any(h.startswith("💤") for h in headings(after))

    makeup = digest(chat, datetime(2026, 10, 10, 18, 0, tzinfo=TZ))
    assert lines(makeup, "⏰ 逾期未跟进") == [
        "1. 华为｜跟进中｜逾期 3 个工作日（应跟进 9月30日(周三)）｜@张三"
    ]
    assert lines(makeup, "💤 超过 3 个工作日没有跟进（1 个）") == [
        "1. 小米｜跟进中｜4 个工作日没有跟进｜@李四"
    ]
    assert after.mentions == [Mention("张三", "张三")]
    assert makeup.mentions == [Mention("张三", "张三"), Mention("李四", "李四")]


def test_a_timed_follow_up_is_overdue_once_its_time_passed(chat: ChatHarness) -> None:
    chat.send("/跟进 华为 聊了 今天下午3点回电话", as_="张三")
    chat.send("/跟进 小米 聊了", as_="张三")
    before = digest(chat, datetime(2026, 11, 27, 14, 0, tzinfo=TZ))
    assert not any(h.startswith("⏰") for h in headings(before))
    late = digest(chat, datetime(2026, 11, 27, 16, 0, tzinfo=TZ))
    assert lines(late, "⏰ 逾期未跟进") == [
        "1. 华为｜跟进中｜已逾期（应跟进 11月27日(周五) 15:00）｜@张三"
    ]


def test_stalled_deals_show_working_days_and_are_not_repeated_as_quiet(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 16, 10, 0)
    chat.send("/跟进 小米 初次沟通", as_="张三")
    at(chat, 2026, 11, 23, 10, 0)
    chat.send("/跟进 华为 初次沟通", as_="李四")
    message = digest(chat, EVENING)
    assert lines(message, "🐢 停滞的商机（1 个）") == [
        "1. 小米｜跟进中 9 个工作日没有进展（上限 7）｜@张三"
    ]
    assert lines(message, "💤 超过 3 个工作日没有跟进（1 个）") == [
        "1. 华为｜跟进中｜4 个工作日没有跟进｜@李四"
    ]
    assert lines(message, "😶 没有记录（2 人）") == ["张三、李四"]


def test_long_lists_are_cut_with_a_count_of_the_rest(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 24, 10, 0)
    for i in range(1, 13):
        chat.send(f"/跟进 客户{i:02d} 聊了 明天回访", as_="张三")
    message = digest(chat, EVENING)
    shown = lines(message, "⏰ 逾期未跟进（12 个）")
    assert len(shown) == 11
    assert shown[0] == "1. 客户01｜跟进中｜逾期 2 个工作日（应跟进 11月25日(周三)）｜@张三"
    assert shown[-1] == "还有 2 个…"
    assert message.mentions == [Mention("张三", "张三")]


def test_digest_escapes_customer_names(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 20, 10, 0)
    chat.send("/跟进 华为@all 聊了", as_="张三")
    message = digest(chat, EVENING)
    assert lines(message, "💤") == ["1. 华为＠all｜跟进中｜5 个工作日没有跟进｜@张三"]
    assert message.mentions == [Mention("张三", "张三")]


def test_digest_shows_month_to_date_against_targets(chat: ChatHarness) -> None:
    chat.make_manager()
    at(chat, 2026, 10, 30, 10, 0)
    chat.send("/跟进 老客户 聊了", as_="张三")
    chat.send("/签约 老客户 20万", as_="张三")  # October: not this month
    at(chat, 2026, 11, 3, 10, 0)
    chat.send("/跟进 华为 聊了", as_="张三")
    chat.send("/签约 华为 40万", as_="张三")
    chat.send("/回款 华为 5万", as_="王经理")  # booked by the manager, credited to the owner
    chat.clock.now = EVENING
    assert chat.reply("/目标 @张三 100万", as_="王经理") == (
        "🎯 @张三 11月目标 100万\n11月已签约 40万（40%）｜已回款 5万"
    )
    message = digest(chat, EVENING)
    table = section(message, "11月目标（截至 11月27日）").table
    assert table is not None
    assert table.columns == ["成员", "目标", "已签约", "完成", "已回款"]
    assert table.rows == [["张三", "100万", "40万", "40%", "5万"]]


# -- weekly review ---------------------------------------------------------------------------


def test_weekly_review_compares_the_funnel_with_monday(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 18, 10, 0)
    chat.send("/跟进 甲公司 聊了", as_="张三")
    chat.send("/跟进 乙公司 聊了", as_="张三")
    at(chat, 2026, 11, 24, 10, 0)
    chat.send("/报价 甲公司 10万", as_="张三")
    chat.send("/阶段 乙公司 输单 价格太高", as_="张三")
    at(chat, 2026, 11, 25, 10, 0)
    chat.send("/跟进 丙公司 聊了", as_="李四")

    message = weekly(chat, datetime(2026, 11, 27, 17, 0, tzinfo=TZ))

    assert message.text == (
        "📈 周报 本周 11月23日(周一)—11月27日(周五)｜跟进 1 次｜新客户 1 个｜推进 2 次｜输单 1 单"
    )
    funnel = section(message, "漏斗：周一 → 现在").table
    assert funnel is not None
    rows = {row[0]: row[1:] for row in funnel.rows}
    assert rows["跟进中"] == ["2", "1", "-1", "-"]
    assert rows["已报价"] == ["0", "1", "+1", "10万"]
    assert rows["输单"] == ["0", "1", "+1", "-"]
    assert lines(message, "签约与输单") == [
        "签约 0 单 0元｜输单 1 单",
        "❌ 乙公司 输单：价格太高（张三）",
    ]
    per_rep = section(message, "各人本周").table
    assert per_rep is not None
    assert per_rep.rows == [
        ["张三", "-", "-", "2", "-", "-"],
        ["李四", "1", "1", "-", "-", "-"],
    ]


def test_weekly_review_lists_the_longest_stalled_deals_first(chat: ChatHarness) -> None:
    at(chat, 2026, 11, 2, 10, 0)
    chat.send("/跟进 老客户 聊了", as_="张三")
    at(chat, 2026, 11, 16, 10, 0)
    chat.send("/跟进 新客户甲 聊了", as_="李四")
    message = weekly(chat, datetime(2026, 11, 27, 17, 0, tzinfo=TZ))
    assert lines(message, "🐢 停滞最久的商机（共 2 个）") == [
        "1. 老客户｜跟进中 19 个工作日没有进展（上限 7）｜@张三",
        "2. 新客户甲｜跟进中 9 个工作日没有进展（上限 7）｜@李四",
    ]
    assert message.mentions == [Mention("张三", "张三"), Mention("李四", "李四")]


def test_weekly_command(chat: ChatHarness) -> None:
    chat.send("/跟进 华为 聊了", as_="张三")
    shown = chat.reply("/周报")
    assert shown.startswith(
        "📈 周报 本周 11月23日(周一)—11月27日(周五)｜跟进 1 次｜新客户 1 个｜推进 0 次\n"
    )
    assert chat.send("/zb") == [shown]


# -- funnel and ranking ----------------------------------------------------------------------


def test_funnel_counts_amounts_and_conversion(chat: ChatHarness) -> None:
    chat.make_manager()
    chat.send("/跟进 甲 聊了", as_="张三")
    chat.send("/跟进 乙 报价已发", as_="张三")
    chat.send("/跟进 丙 聊了", as_="张三")
    chat.send("/签约 丙 30万", as_="张三")
    chat.send("/新客户 丁", as_="王经理")
    chat.send("/跟进 戊 聊了", as_="张三")
    chat.send("/阶段 戊 输单 预算没了", as_="张三")

    shown = chat.reply("/漏斗")

    assert shown.split("\n")[0] == "🔻 销售漏斗｜共 5 个客户｜签约 1 个（20%）｜输单 1 个"
    assert chat.last is not None and chat.last[0].card is not None
    table = chat.last[0].card.sections[0].table
    assert table is not None
    assert table.columns == ["阶段", "客户", "金额", "到达", "转化率"]
    assert table.rows == [
        ["线索", "1", "-", "5", "-"],
        ["已分配", "0", "-", "4", "80%"],
        ["跟进中", "1", "-", "4", "100%"],
        ["已报价", "1", "-", "2", "50%"],
        ["已签约", "1", "30万", "1", "50%"],
        ["已回款", "0", "-", "0", "0%"],
        ["售后", "0", "-", "0", "-"],
        ["输单", "1", "-", "-", "-"],
    ]


def test_funnel_of_an_empty_chat(chat: ChatHarness) -> None:
    assert chat.send("/ld") == ["🔻 还没有客户。用 /新客户 或 /跟进 记录第一个客户吧"]


def test_ranking_orders_by_won_amount_then_payments_then_follow_ups(chat: ChatHarness) -> None:
    assert chat.send("/排行") == ["🏆 11月还没有任何记录，排行榜是空的"]
    chat.make_manager()
    chat.send("/跟进 甲 聊了", as_="张三")
    chat.send("/签约 甲 30万", as_="张三")
    chat.send("/跟进 乙 聊了", as_="李四")
    chat.send("/签约 乙 50万", as_="李四")
    chat.send("/跟进 丙 聊了", as_="王五")
    chat.send("/跟进 丁 聊了", as_="王五")
    chat.send("/目标 @张三 60万", as_="王经理")

    shown = chat.reply("/排行")

    assert shown.split("\n")[0] == "🏆 11月排行（截至 11月27日）｜第一名 李四"
    assert chat.last is not None and chat.last[0].card is not None
    table = chat.last[0].card.sections[0].table
    assert table is not None
    assert table.rows == [
        ["🥇", "李四", "50万（1 单）", "-", "1", "-"],
        ["🥈", "张三", "30万（1 单）", "-", "1", "50%（目标 60万）"],
        ["🥉", "王五", "-", "-", "2", "-"],
    ]


# -- /目标 -------------------------------------------------------------------------------------


def test_target_is_refused_to_reps_and_nothing_is_stored(chat: ChatHarness) -> None:
    chat.make_manager()
    assert chat.reply("/目标 @李四 50万", as_="张三") == (
        "⛔ 只有经理或管理员可以设目标（本群经理：王经理）"
    )
    assert chat.count(Target) == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/目标 @李四", "请写上目标金额"),
        ("/目标 50万", "请 @ 要设目标的人"),
        ("/目标 @李四 50万 明年吧", "看不懂“明年吧”"),
        ("/目标 @李四 50万 60万", "只能写一个金额"),
        ("/目标 @李四 @张三 50万", "一次只能给一个人设目标"),
        ("/目标 @李四 50万 12月 1月", "只能写一个月份"),
    ],
)
def test_target_usage_errors_store_nothing(chat: ChatHarness, text: str, reason: str) -> None:
    chat.make_manager()
    assert chat.reply(text, as_="王经理") == f"❌ {reason}\n例如：/目标 @李四 50万 12月"
    assert chat.count(Target) == 0


def test_target_months_upsert_and_listing(chat: ChatHarness) -> None:
    chat.make_manager()
    assert chat.reply("/目标 @李四 50万 12月", as_="王经理") == "🎯 @李四 12月目标 50万"
    assert chat.reply("/mb @李四 60万 下个月", as_="王经理") == "🎯 @李四 12月目标 60万（原 50万）"
    assert chat.mentions() == ["李四"]
    assert chat.reply("/目标 @李四 8万 2027-01", as_="老板") == "🎯 @李四 2027年1月目标 8万"
    chat.reply("/目标 @张三 30万", as_="王经理")
    with chat.runtime.sessions() as session:
        stored = sorted((t.month, t.amount) for t in session.scalars(select(Target)))
    assert stored == [
        ("2026-11", Decimal("300000.00")),
        ("2026-12", Decimal("600000.00")),
        ("2027-01", Decimal("80000.00")),
    ]
    assert chat.reply("/目标", as_="张三") == (
        "🎯 11月目标：\n1. 张三｜目标 30万｜已签约 0元（0%）｜已回款 0元"
    )
    assert chat.reply("/目标 12月", as_="张三") == "🎯 12月目标：\n1. 李四｜目标 60万"
    assert chat.reply("/目标 10月", as_="张三") == (
        "🎯 2027年10月还没有设目标。经理可用 /目标 @某人 金额 设置"
    )


def test_parse_month() -> None:
    today = date(2026, 11, 27)
    assert parse_month("12月", today) == "2026-12"
    assert parse_month("十二月", today) == "2026-12"
    assert parse_month("3月份", today) == "2027-03"
    assert parse_month("2026-12", today) == "2026-12"
    assert parse_month("2027年1月", today) == "2027-01"
    assert parse_month("下个月", today) == "2026-12"
    assert parse_month("本月", today) == "2026-11"
    assert parse_month("13月", today) is None
    assert parse_month("50万", today) is None


# -- cost --------------------------------------------------------------------------------------


def _add_customers(chat: ChatHarness, count: int) -> None:
    """Store ``count`` more customers, each with a few activities, straight into the database."""
    with chat.runtime.sessions() as session, session.begin():
        row = session.scalars(select(Chat)).one()
        owner = session.scalars(select(Member).where(Member.user_id == "张三")).one()
        for _ in range(count):
            n = session.scalar(select(func.count()).select_from(Customer)) or 0
            when = datetime(2026, 11, 1 + n % 27, 10, tzinfo=TZ)
            customer = Customer(
                chat_id=row.id,
                name=f"批量客户{n}",
                key=f"批量客户{n}",
                aliases=[],
                owner_id=owner.id,
                stage="已报价",
                status="open",
                created_at=when,
                stage_entered_at=when,
                last_activity_at=EVENING,
                next_follow_up_at=when,
            )
            session.add(customer)
            session.flush()
            for kind, stage_from, stage_to in (
                ("create", None, "跟进中"),
                ("follow_up", "跟进中", "已报价"),
                ("payment", None, None),
            ):
                session.add(
                    Activity(
                        chat_id=row.id,
                        customer_id=customer.id,
                        customer_name=customer.name,
                        member_id=owner.id,
                        kind=kind,
                        stage_from=stage_from,
                        stage_to=stage_to,
                        amount=Decimal("1000") if kind == "payment" else None,
                        changes={},
                        entry_key=f"bulk-{n}",
                        created_at=EVENING,
                    )
                )


def test_digest_query_count_does_not_grow_with_the_chat(chat: ChatHarness) -> None:
    chat.send("/跟进 甲 聊了", as_="张三")
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    counts = []
    engine = chat.runtime.engine
    for more in (2, 40):
        _add_customers(chat, more)
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            message = digest(chat, EVENING)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert message.card is not None
        counts.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
    # One query finds the chat (the test's own), six build the digest.
    assert counts == [7, 7]
