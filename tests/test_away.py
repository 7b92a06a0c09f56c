"""/请假 and /销假: while away, reminders skip the person and escalations go to the managers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from bot.scheduler import tick
from tests.support.harness import TZ
from tests.test_scheduler import texts

RULE = "请假期间：早间提醒不列出、到点提醒不发、新分配的客户不催、停滞客户直接提醒经理、不回收到公海；提前回来用 /销假"


def at(m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(2026, m, d, hh, mm, tzinfo=TZ)


def test_away_until_a_day_is_stored_and_shown_as_understood(chat):
    assert chat.reply("/请假 到 12月5日") == (
        f"🏖 你请假到 12月5日(周六)，12月6日(周日) 起自动销假\n{RULE}"
    )
    assert chat.member("张三").away_until == at(12, 6)


@pytest.mark.parametrize(
    ("text", "until"),
    [
        ("/请假 12月5日", at(12, 6)),
        ("/请假 3天", at(11, 30)),  # Friday, Saturday, Sunday: back on Monday
        ("/请假 5个工作日", at(12, 4)),
        ("/请假 到明天", at(11, 29)),
        ("/请假 到12月1日下午3点", at(12, 1, 15)),
        ("/请假 下周五为止", at(12, 5)),
    ],
)
def test_away_reads_dates_and_lengths(chat, text, until):
    assert chat.reply(text).startswith("🏖 你请假到")
    assert chat.member("张三").away_until == until


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/请假", "❌ 请写上请假到哪天，或请几天"),
        ("/请假 到 昨天", "❌ “昨天”已经过去了，请写今天或以后的日期"),
        ("/请假 好几天", "❌ 没看懂“好几天”，可以写 到 12月5日、12月5日、3天 或 下周五"),
        ("/请假 2月30日", "❌ 2027年2月没有30日"),
        ("/请假 到 2028年1月1日", "❌ 请假最长一年，请写一年以内的日期"),
    ],
)
def test_away_refuses_what_it_cannot_read_with_an_example(chat, text, reason):
    assert chat.reply(text) == f"{reason}\n例如：/请假 到 12月5日"
    assert chat.member("张三").away_until is None


def test_a_manager_sets_away_for_someone_a_rep_cannot(chat):
    chat.make_manager("王经理")
    chat.send("/我是 李四", as_="李四")
    assert chat.reply("/请假 @李四 到 12月5日", as_="张三").startswith(
        "⛔ 只有经理或管理员可以替别人登记请假"
    )
    assert chat.member("李四").away_until is None
    assert chat.reply("/请假 @李四 到 12月5日", as_="王经理").startswith(
        "🏖 李四请假到 12月5日(周六)"
    )
    assert chat.member("李四").away_until == at(12, 6)
    assert chat.reply("/销假 @李四", as_="张三").startswith("⛔ 只有经理或管理员可以替别人销假")
    assert chat.reply("/销假", as_="李四") == "✅ 你已销假，早间提醒和各项提醒恢复"
    assert chat.member("李四").away_until is None
    assert chat.reply("/销假", as_="李四") == "ℹ️ 你现在没有请假"


def test_morning_nudge_skips_the_away_rep_until_the_leave_ends_by_itself(chat, clock):
    chat.send("/跟进 华为 拜访 11月30日回访", as_="张三")
    chat.send("/跟进 小米 拜访 11月30日回访", as_="李四")
    chat.send("/请假 到 11月30日", as_="张三")
    tick(chat.runtime, at(11, 30, 9, 30))
    (monday,) = texts(chat.runtime, "morning_nudges")
    assert "@李四 今天要跟进 1 个客户" in monday and "张三" not in monday
    tick(chat.runtime, at(12, 1, 9, 30))  # back on Tuesday without /销假
    tuesday = texts(chat.runtime, "morning_nudges")[1]
    assert "@张三 今天要跟进 1 个客户，其中 1 个已逾期" in tuesday


def test_assigning_to_someone_away_warns_and_the_sla_reminds_only_the_manager(chat, clock):
    chat.make_manager("王经理")
    chat.send("/新客户 格力", as_="王经理")
    chat.send("/我是 李四", as_="李四")
    chat.send("/请假 到 12月1日", as_="李四")
    reply = chat.reply("/分配 格力 @李四", as_="王经理")
    assert reply.startswith("✅ 格力 已分配给 @李四")
    assert reply.endswith("⚠️ 李四 请假到 12月1日(周二)，期间不会提醒 TA 跟进")
    assert chat.customer("格力").owner.user_id == "李四"
    for hh in (12, 14, 16):
        tick(chat.runtime, at(11, 27, hh, 0))
    (sent,) = texts(chat.runtime, "response_sla")
    assert "@王经理 你分配给 李四 的 格力 已 4 个工作小时没有跟进" in sent
    assert "@李四" not in sent


def test_stalled_level_one_passes_over_to_the_managers_while_the_owner_is_away(chat, clock):
    chat.make_manager("王经理")
    clock.now = at(11, 2, 9, 0)
    chat.send("/跟进 华为 报价已发", as_="张三")  # 已报价, limit 10 working days
    clock.now = at(11, 13, 9, 0)
    chat.send("/请假 到 11月30日", as_="张三")
    day = date(2026, 11, 16)
    while day <= date(2026, 11, 27):
        tick(chat.runtime, at(day.month, day.day, 10, 0))
        day += timedelta(days=1)
    sent = texts(chat.runtime, "stalled_deals")
    assert len(sent) == 2, sent  # level 1 went to the managers; level 2 is not sent again
    assert "■ 升级给经理" in sent[0] and "@王经理" in sent[0]
    assert "张三（请假到 11月30日(周一)） 华为｜已报价 10 个工作日没有进展" in sent[0]
    assert "@张三" not in sent[0]
    assert "■ 全员关注" in sent[1]


def test_digest_lists_who_is_away_and_leaves_them_out_of_the_silent(chat, clock):
    clock.now = at(11, 26, 10)
    chat.send("/跟进 华为 拜访了", as_="张三")
    chat.send("/跟进 小米 拜访了", as_="李四")
    chat.send("/跟进 格力 拜访了", as_="王五")
    clock.now = at(11, 27, 10)
    chat.send("/请假 到 12月5日", as_="张三")
    chat.send("/跟进 格力 回访", as_="王五")
    tick(chat.runtime, at(11, 27, 18, 0))
    (digest,) = texts(chat.runtime, "daily_digest")
    assert "■ 🏖 请假（1 人）\n张三 到 12月5日(周六)" in digest
    assert "■ 😶 没有记录（1 人）\n李四" in digest


def test_the_pool_reclaim_leaves_an_away_owners_customers_alone(chat, clock, settings):
    settings.pool.reclaim_days = {"跟进中": 3}
    clock.now = at(11, 30, 10)
    chat.send("/跟进 华为 拜访了", as_="张三")
    chat.send("/请假 到 12月8日", as_="张三")
    for d in (3, 4, 7, 8):
        tick(chat.runtime, at(12, d, 9, 0))
    assert texts(chat.runtime, "pool_reclaim") == []
    tick(chat.runtime, at(12, 9, 9, 0))  # back: warned first, never released unannounced
    (warning,) = texts(chat.runtime, "pool_reclaim")
    assert "@张三 华为｜跟进中｜7 个工作日没有跟进，12月11日(周五) 将退回公海" in warning
    assert chat.customer("华为").owner.user_id == "张三"
