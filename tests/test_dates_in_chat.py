"""Dates through the chat: the reply shows the date as understood; refusals and questions save nothing."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.adapters.console import parse_console, render_text
from bot.app import create_app
from bot.messages import OutgoingMessage
from models import Inbox, Outbox
from tests.support.chat_rows import assert_nothing_saved, stored
from tests.support.harness import ChatHarness

TZ = ZoneInfo("Asia/Shanghai")
FOLLOW_UP = "例如：/跟进 华为 报价已发 下周三回访"
REMIND = "例如：/提醒 华为 下周三下午3点 送样品"


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A local moment in the chat's time zone."""
    return datetime(year, month, day, hour, tzinfo=TZ)


@pytest.fixture
def known(chat: ChatHarness) -> ChatHarness:
    """A chat where 张三 already follows 华为 (no next follow-up yet)."""
    chat.reply("/跟进 华为 初次拜访")
    return chat


# -- the reply shows what was understood ----------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "note", "shown", "stored_at", "has_time"),
    [
        (at(2026, 11, 27, 10), "报价已发 五日内回访", "12月2日(周三)", at(2026, 12, 2), False),
        (at(2026, 11, 27, 10), "十日内给答复", "12月7日(周一)", at(2026, 12, 7), False),
        (at(2026, 11, 27, 10), "两个礼拜内出方案", "12月11日(周五)", at(2026, 12, 11), False),
        (at(2026, 11, 27, 10), "1个月之内签", "12月27日(周日)", at(2026, 12, 27), False),
        (at(2026, 11, 27, 10), "一月二十三再联系", "1月23日(周六)", at(2027, 1, 23), False),
        (
            at(2026, 11, 27, 9),
            "早上十点左右电话",
            "11月27日(周五) 10:00",
            at(2026, 11, 27, 10),
            True,
        ),
        (at(2026, 11, 27, 22), "三点开会", "11月28日(周六) 15:00", at(2026, 11, 28, 15), True),
        (at(2026, 11, 27, 10), "3月再谈", "3月1日(周一)", at(2027, 3, 1), False),
        (at(2026, 11, 27, 10), "下个月再谈", "12月1日(周二)", at(2026, 12, 1), False),
        (at(2026, 11, 27, 10), "12.5约见面", "12月5日(周六)", at(2026, 12, 5), False),
        (
            at(2026, 11, 27, 10),
            "週一下午三點回訪",
            "11月30日(周一) 15:00",
            at(2026, 11, 30, 15),
            True,
        ),
        (at(2026, 11, 27, 10), "正月十五前后再聊", "2月20日(周六)", at(2027, 2, 20), False),
        (at(2026, 9, 20, 10), "客户放假，节后再联系", "9月28日(周一)", at(2026, 9, 28), False),
        (at(2026, 11, 27, 10), "报价12.5万 下周三回访", "12月2日(周三)", at(2026, 12, 2), False),
    ],
)
def test_a_follow_up_shows_the_date_as_understood(
    chat: ChatHarness, now: datetime, note: str, shown: str, stored_at: datetime, has_time: bool
) -> None:
    chat.clock.now = now
    chat.reply("/跟进 华为 初次拜访")
    reply = chat.reply(f"/跟进 华为 {note}")
    assert reply.startswith("✅ 华为｜跟进中")
    assert f"｜下次跟进 {shown}" in reply.split("\n")[0]
    customer = chat.customer("华为")
    assert customer is not None
    assert (customer.next_follow_up_at, customer.next_follow_up_has_time) == (stored_at, has_time)
    assert chat.activities()[-1].next_follow_up_at == stored_at


def test_a_message_handled_late_is_read_at_the_time_it_was_sent(chat: ChatHarness) -> None:
    chat.reply("/跟进 华为 初次拜访")
    sent = at(2026, 11, 27, 22).replace(minute=30)
    chat.clock.now = at(2026, 11, 28, 1)  # the worker gets to it after midnight
    message = parse_console(chat.name, "张三", "/跟进 华为 明天三点开会", "late", sent.isoformat())
    chat.runtime.receive(message)
    chat.runtime.dispatch()
    assert _replies(chat, "late") == ["✅ 华为｜跟进中｜下次跟进 11月28日(周六) 15:00"]


# -- refused: a reason, an example, nothing saved -------------------------------------------------


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        ("2月30日回访", "2027年2月没有30日"),
        ("2月29日回访", "2027年2月没有29日（不是闰年）"),
        ("31号签约", "11月没有31号"),
        ("上午15点开会", "上午没有15点"),
        ("报价已发 下周三回访，2月30日前付款", "2027年2月没有30日"),
        ("客户说春节后再说", "2027年春节的放假安排日历里还没有，请直接写日期"),
        ("农历闰四月初五见面", "暂不支持农历闰月，请写公历日期"),
    ],
)
def test_an_impossible_date_is_refused_and_nothing_is_saved(
    known: ChatHarness, note: str, reason: str
) -> None:
    before = stored(known)
    assert known.reply(f"/跟进 华为 {note}") == f"❌ {reason}\n{FOLLOW_UP}"
    assert_nothing_saved(known, before)


def test_a_refused_date_creates_no_customer(chat: ChatHarness) -> None:
    before = stored(chat)
    assert chat.reply("/跟进 小米 2月30日回访") == f"❌ 2027年2月没有30日\n{FOLLOW_UP}"
    assert_nothing_saved(chat, before)
    assert chat.customers() == []


# -- asked: a question, an example, nothing saved -------------------------------------------------


@pytest.mark.parametrize(
    ("now", "note", "question"),
    [
        (
            at(2026, 11, 27, 10),
            "周日，二月十号签约",
            "2027年2月10日是周三，不是周日；是哪一天？请只写一个日期",
        ),
        (
            at(2026, 12, 3, 10),
            "下个月再说 月底回访",
            "“月底”是指12月的（12月31日(周四)），还是前面说的1月的？请写清楚，例如“1月底”",
        ),
        (
            at(2026, 11, 27, 10),
            "3月后再联系",
            "“3月后”是指3月份以后，还是3个月后？请写“3月”或“3个月后”",
        ),
    ],
)
def test_an_ambiguous_date_is_asked_and_nothing_is_saved(
    known: ChatHarness, now: datetime, note: str, question: str
) -> None:
    known.clock.now = now
    before = stored(known)
    assert known.reply(f"/跟进 华为 {note}") == f"🤔 {question}\n{FOLLOW_UP}"
    assert_nothing_saved(known, before)


# -- past dates are never stored ------------------------------------------------------------------


def test_a_passed_date_in_a_note_is_logged_but_not_set(known: ChatHarness) -> None:
    reply = known.reply("/跟进 华为 11月20日回访")
    assert reply == "✅ 华为｜跟进中\nℹ️ 11月20日(周五) 已经过去，没有设为下次跟进"
    customer = known.customer("华为")
    assert customer is not None and customer.next_follow_up_at is None
    last = known.activities()[-1]
    assert (last.text, last.next_follow_up_at) == ("11月20日回访", None)


def test_history_words_do_not_warn(known: ChatHarness) -> None:
    assert known.reply("/跟进 华为 昨天发的资料客户收到了") == "✅ 华为｜跟进中"


@pytest.mark.parametrize("when", ["11月20日", "今天上午9点", "12/5"])
def test_a_passed_reminder_is_refused(known: ChatHarness, when: str) -> None:
    known.clock.now = at(2026, 12, 30, 10) if when == "12/5" else known.clock.now
    before = stored(known)
    assert known.reply(f"/提醒 华为 {when} 送样品") == (
        f"❌ 这个时间已经过去了，请写一个以后的时间\n{REMIND}"
    )
    assert_nothing_saved(known, before)


def test_a_reminder_shows_the_time_and_keeps_the_matter(known: ChatHarness) -> None:
    reply = known.reply("/提醒 华为 2月10日(周三) 送样品")
    assert reply == "⏰ 华为｜跟进中｜下次跟进 2月10日(周三)\n事项：送样品"
    assert known.activities()[-1].text == "送样品"


def test_a_reminder_with_a_clashing_weekday_is_asked(known: ChatHarness) -> None:
    before = stored(known)
    assert known.reply("/提醒 华为 2月10日(周日) 送样品") == (
        f"🤔 2027年2月10日是周三，不是周日；是哪一天？请只写一个日期\n{REMIND}"
    )
    assert_nothing_saved(known, before)


# -- traditional characters: read as simplified, stored as typed ----------------------------------


def test_traditional_text_is_understood_and_the_name_is_kept(chat: ChatHarness) -> None:
    reply = chat.reply("/跟进 臺積電 拜訪採購 下週三下午三點回訪")
    assert reply == (
        "🆕 新客户 臺積電 已建档，负责人 @张三\n✅ 臺積電｜跟进中｜下次跟进 12月2日(周三) 15:00"
    )
    [customer] = chat.customers()
    assert (customer.name, customer.key) == ("臺積電", "臺積電")
    assert chat.activities()[-1].text == "拜訪採購 下週三下午三點回訪"
    assert chat.reply("/提醒 臺積電 後天") == "⏰ 臺積電｜跟进中｜下次跟进 11月29日(周日)"


# -- /日报 [日期] ----------------------------------------------------------------------------------


def test_report_dates(chat: ChatHarness) -> None:
    assert chat.reply("/日报 周三").startswith("📊 11月25日(周三) 日报")
    assert chat.reply("/日报 上周五").startswith("📊 11月20日(周五) 日报")
    assert chat.reply("/日报 2月30日") == "❌ 2026年2月没有30日\n例如：/日报 昨天"
    long = "昨天 11月26日 " * 30
    assert chat.reply(f"/日报 {long}").startswith("❌ 看不懂日期“昨天 11月26日 昨天")


# -- nothing waits behind a parse ------------------------------------------------------------------


def _replies(chat: ChatHarness, message_id: str) -> list[str]:
    """The replies written for one console message (sent or not)."""
    with chat.runtime.sessions() as session:
        inbox_id = session.scalar(select(Inbox.id).where(Inbox.message_id == message_id))
        rows = session.scalars(
            select(Outbox).where(Outbox.inbox_id == inbox_id).order_by(Outbox.id)
        ).all()
        return [render_text(OutgoingMessage.from_payload(r.payload)) for r in rows]


def test_healthz_and_other_chats_are_answered_while_long_dated_notes_are_handled(
    chat: ChatHarness,
) -> None:
    """Each 5,000-character date-heavy note costs milliseconds, so the one writer is never held long.

    With the old parser one such note took over a minute inside the dispatcher's write
    transaction, and /healthz and every other chat waited behind it; the timeouts below fail then.
    """
    runtime = chat.runtime
    client = create_app(runtime=runtime).test_client()
    words = "明天回访 下周三开会 12月5日签约 下午3点到 五日内答复 十点左右电话 正月十五前后 "
    note = "/跟进 华为 " + (words + "明天 " * 2000)[:5000]
    for i in range(6):
        runtime.receive(parse_console("销售一组", "张三", note, f"heavy-{i}"))
    worker = threading.Thread(target=runtime.dispatch, daemon=True)
    worker.start()
    runtime.receive(parse_console("销售二组", "李四", "/跟进 腾讯 报价已发 明天回访", "other"))
    health: list[int] = []
    prober = threading.Thread(target=lambda: health.append(client.get("/healthz").status_code))
    prober.start()
    prober.join(timeout=20)
    worker.join(timeout=20)
    assert not prober.is_alive() and health == [200]
    assert not worker.is_alive(), "the dispatcher is still busy with six notes"
    assert _replies(chat, "other") == [
        "🆕 新客户 腾讯 已建档，负责人 @李四\n✅ 腾讯｜跟进中 → 已报价｜下次跟进 11月28日(周六)"
    ]
    assert _replies(chat, "heavy-0") == [
        "🆕 新客户 华为 已建档，负责人 @张三\n✅ 华为｜跟进中｜下次跟进 11月28日(周六)"
    ]
    assert _replies(chat, "heavy-5") == ["✅ 华为｜跟进中"]  # the date was already set
