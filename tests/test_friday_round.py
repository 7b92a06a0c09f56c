"""The Friday round: before the weekly review, reps answer for stalled and overdue customers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.runtime import Runtime
from bot.scheduler import tick
from models import JobRun
from tests.support.harness import TZ, ChatHarness
from tests.test_scheduler import texts


def at(d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, d, hh, mm, tzinfo=TZ)


def seed(chat: ChatHarness) -> None:
    """张三: 华为 overdue, 小米 stalled (报价 long ago); 李四: 格力 due later; 王五: nothing."""
    chat.make_manager("王经理")
    chat.clock.now = at(2, 10)  # Monday of the week before last
    chat.send("/跟进 小米 报价已发", as_="张三")
    chat.clock.now = at(20, 10)
    chat.send("/跟进 华为 拜访了采购 下周一回访", as_="张三")
    chat.clock.now = at(27, 10)
    chat.send("/跟进 格力 拜访 下周三回访", as_="李四")


def test_round_asks_each_rep_once_and_answers_are_logged(chat, clock, engine, settings):
    seed(chat)
    assert tick(chat.runtime, at(27, 14, 59)) == []
    posted = [p.job for p in tick(chat.runtime, at(27, 15))]
    assert posted == ["friday_round"]
    (message,) = texts(chat.runtime, "friday_round")
    assert "@张三" in message and "李四" not in message
    assert "1. 华为｜逾期" in message and "2. 小米｜停滞：已报价" in message
    assert "例如：1 已发合同 下周二签约" in message

    # A restart (a new Runtime on the same database) sends nothing twice.
    again = Runtime(settings, engine=engine, clock=lambda: at(27, 15, 30))
    assert tick(again, at(27, 15, 30)) == []
    chat.runtime = again

    reply = chat.reply("1 已发合同 下周二签约\n小米 客户在比价 下周一再谈\n你好", as_="张三")
    lines = reply.splitlines()
    assert lines[0] == "📋 周五盘点：已记录 2 条，1 行没有记录"
    assert lines[1].startswith("1. ") and "华为" in lines[1]
    assert any(line.startswith("2. ") and "小米" in line for line in lines)
    assert "❌ 第 3 行“你好”：没看懂是哪个客户" in reply
    huawei = chat.customer("华为")
    assert huawei is not None and huawei.next_follow_up_at is not None
    assert huawei.next_follow_up_at.astimezone(TZ).date().isoformat() == "2026-12-01"
    logged = [a.text for a in chat.activities() if a.kind == "follow_up"]
    assert logged[-2:] == ["已发合同 下周二签约", "客户在比价 下周一再谈"]
    assert "已发合同" in chat.reply("/客户 华为", as_="张三")
    assert chat.member("张三").pending is None  # every customer answered: the round is closed

    posted = tick(chat.runtime, at(27, 17))
    assert [p.job for p in posted] == ["weekly_review"]
    (review,) = texts(chat.runtime, "weekly_review")
    assert "周五盘点" in review
    assert "✅ 张三" in review and "华为 已发合同 下周二签约" in review
    rep = chat.member("张三")
    assert rep is not None
    with chat.runtime.sessions() as session:
        claims = session.scalars(select(JobRun.period).where(JobRun.job == "friday_round#item"))
        assert list(claims) == [f"2026-W48:m{rep.id}"]


def test_silent_rep_is_listed_and_a_bad_line_is_refused(chat, clock):
    seed(chat)
    tick(chat.runtime, at(27, 15))
    clock.now = at(27, 15, 5)
    assert "没有第 5 个客户（共 2 个）" in chat.reply("5 已发合同", as_="张三")
    assert "请写上进展" in chat.reply("1", as_="张三")
    assert chat.member("张三").pending is not None  # still open: nothing was answered
    assert "📋 周五盘点" in chat.reply("/帮助", as_="张三")
    tick(chat.runtime, at(27, 17))
    (review,) = texts(chat.runtime, "weekly_review")
    assert "⏳ 未回复：张三" in review


def test_commands_still_work_and_the_round_stays_open(chat, clock):
    seed(chat)
    tick(chat.runtime, at(27, 15))
    clock.now = at(27, 15, 5)
    assert "格力" in chat.reply("/跟进 格力 电话沟通", as_="张三")  # a command, not an answer
    reply = chat.reply("华为已发合同 下周二签约", as_="张三")
    assert reply.startswith("📋 周五盘点：已记录 1 条")
    assert "还没回复：2. 小米" in reply
    pending = chat.member("张三").pending
    assert pending is not None and "friday_round" in pending


def test_round_expires_at_the_end_of_the_review_day(chat, clock):
    seed(chat)
    tick(chat.runtime, at(27, 15))
    clock.now = at(27, 15, 5)
    clock.now = at(30, 9)
    assert chat.reply("1 已发合同 下周二签约", as_="张三").startswith("🤔 没看懂")  # no round
    assert chat.member("张三").pending is None
