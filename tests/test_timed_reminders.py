"""Timed reminders: a follow-up set for a time of day pings its owner once, a lead time before."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import select

from bot.messages import OutgoingMessage
from bot.runtime import Runtime
from bot.scheduler import tick
from models import JobRun, Outbox
from tests.support.harness import TZ

JOB = "timed_reminders"
REMINDER = "⏰ @张三 今天 15:00 跟进 客户A：送样品"


def at(d: int, hh: int, mm: int = 0, m: int = 11) -> datetime:
    return datetime(2026, m, d, hh, mm, tzinfo=TZ)


def reminders(runtime: Runtime) -> list[tuple[datetime, str, list[str]]]:
    """Every reminder enqueued: when, its console text, who it mentions."""
    from bot.adapters.console import render_text

    with runtime.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.job == JOB).order_by(Outbox.id)).all()
        messages = [(r.created_at, OutgoingMessage.from_payload(r.payload)) for r in rows]
    return [
        (created.astimezone(TZ), render_text(m), [x.user_id for x in m.mentions])
        for created, m in messages
    ]


def tick_at(chat, clock, *moments: datetime) -> list[str]:
    """Tick at each moment; the console texts of the reminders posted."""
    texts = []
    for moment in moments:
        clock.now = moment
        before = len(reminders(chat.runtime))
        tick(chat.runtime, moment)
        texts += [text for _, text, _ in reminders(chat.runtime)[before:]]
    return texts


def remind_today_at_3pm(chat, clock) -> None:
    """At 09:00 on Friday 11-27: 客户A (owned by 张三) is to get its samples at 15:00."""
    clock.now = at(27, 9)
    chat.send("/跟进 客户A 初次拜访", as_="张三")
    chat.send("/提醒 客户A 今天下午3点 送样品", as_="张三")


def test_a_timed_follow_up_is_reminded_once_fifteen_minutes_before(chat, clock):
    remind_today_at_3pm(chat, clock)
    assert tick_at(chat, clock, at(27, 9, 30), at(27, 14, 44)) == []
    assert tick_at(chat, clock, at(27, 14, 45)) == [REMINDER]
    assert tick_at(chat, clock, at(27, 14, 45), at(27, 14, 46), at(27, 15), at(27, 16)) == []
    ((created, _, mentioned),) = reminders(chat.runtime)
    assert created == at(27, 14, 45)
    assert mentioned == [chat.member("张三").user_id]
    with chat.runtime.sessions() as session:
        claims = session.scalars(select(JobRun.period).where(JobRun.job == f"{JOB}#item")).all()
    assert claims == [f"c{chat.customer('客户A').id}:202611270700"]  # customer + due time (UTC)


def test_only_the_minute_that_reminds_claims_a_run(chat, clock):
    """Looked at every minute, the job leaves a run row only when it had something to send."""
    remind_today_at_3pm(chat, clock)
    minutes = [at(27, 14, m) for m in range(40, 60)]
    assert tick_at(chat, clock, *minutes) == [REMINDER]
    with chat.runtime.sessions() as session:
        runs = session.scalars(select(JobRun.period).where(JobRun.job == JOB)).all()
    assert runs == ["2026-11-27T14:45"]


def test_a_follow_up_after_the_reminder_was_set_cancels_it(chat, clock):
    remind_today_at_3pm(chat, clock)
    clock.now = at(27, 14)
    chat.send("/跟进 客户A 样品已经送到", as_="张三")
    assert tick_at(chat, clock, at(27, 14, 45), at(27, 15)) == []


def test_a_follow_up_on_an_earlier_day_cancels_a_later_reminder(chat, clock):
    clock.now = at(27, 9)
    chat.send("/跟进 客户A 初次拜访", as_="张三")
    chat.send("/提醒 客户A 下周一下午3点 送样品", as_="张三")
    clock.now = at(27, 16)
    chat.send("/跟进 客户A 提前把样品送过去了", as_="张三")  # keeps Monday's date, answers it
    assert chat.customer("客户A").next_follow_up_at == at(30, 15)
    assert tick_at(chat, clock, at(30, 14, 45), at(30, 15)) == []


def test_two_workers_on_one_database_send_it_once(chat, clock, engine, settings):
    remind_today_at_3pm(chat, clock)
    now = at(27, 14, 45)
    runtimes = [Runtime(settings, engine=engine, clock=lambda: now) for _ in range(3)]
    barrier = threading.Barrier(len(runtimes))

    def go(runtime: Runtime) -> None:
        barrier.wait()
        tick(runtime, now)
        tick(runtime, now)

    threads = [threading.Thread(target=go, args=(r,)) for r in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [text for _, text, _ in reminders(chat.runtime)] == [REMINDER]


def test_the_chat_sets_the_lead_time_and_settings_show_it(chat, clock):
    chat.make_manager("王经理")
    remind_today_at_3pm(chat, clock)
    assert chat.reply("/设置 提前提醒 30", as_="张三").startswith("⛔")
    assert chat.reply("/设置 提前提醒 300", as_="王经理").startswith(
        "❌ 提前提醒请写 0 到 240 之间的分钟数"
    )
    assert chat.reply("/设置 提前提醒 30分钟", as_="王经理") == (
        "✅ 约了具体时间的跟进提前 30 分钟提醒负责人"
    )
    assert "提前提醒 30 分钟" in chat.reply("/设置")
    assert tick_at(chat, clock, at(27, 14, 29)) == []
    assert tick_at(chat, clock, at(27, 14, 30), at(27, 14, 45)) == [REMINDER]


def test_a_time_after_office_hours_is_reminded_at_the_next_working_days_start(chat, clock):
    clock.now = at(27, 9)
    chat.send("/跟进 客户A 初次拜访", as_="张三")
    chat.send("/提醒 客户A 今天晚上8点 送样品", as_="张三")
    assert chat.customer("客户A").next_follow_up_has_time
    quiet = tick_at(chat, clock, at(27, 17, 59), at(27, 19, 45), at(28, 9), at(30, 8, 59))
    assert quiet == []  # not at 19:45 (after hours), not on Saturday
    assert tick_at(chat, clock, at(30, 9), at(30, 9, 1)) == [
        "⏰ @张三 11月27日(周五) 20:00 跟进 客户A：送样品"
    ]


def test_nobody_is_pinged_for_an_away_owner(chat, clock):
    remind_today_at_3pm(chat, clock)
    chat.send("/请假 到明天", as_="张三")
    assert tick_at(chat, clock, at(27, 14, 45), at(27, 15)) == []


def test_a_closed_or_deleted_customer_is_not_reminded(chat, clock):
    chat.make_manager("王经理")
    remind_today_at_3pm(chat, clock)
    chat.send("/跟进 客户B 初次拜访", as_="张三")
    chat.send("/提醒 客户B 今天下午3点 送样品", as_="张三")
    chat.send("/签约 客户A 10万", as_="张三")
    chat.send("/删除 客户B 录入错误", as_="王经理")
    assert tick_at(chat, clock, at(27, 14, 45), at(27, 15)) == []


def test_moving_the_time_rearms_the_reminder_with_the_new_matter(chat, clock):
    remind_today_at_3pm(chat, clock)
    assert tick_at(chat, clock, at(27, 14, 45)) == [REMINDER]
    clock.now = at(27, 15, 5)
    chat.send("/提醒 客户A 今天下午5点 再确认样品", as_="张三")
    assert tick_at(chat, clock, at(27, 16, 44), at(27, 16, 45), at(27, 16, 46)) == [
        "⏰ @张三 今天 17:00 跟进 客户A：再确认样品"
    ]


def test_a_reminder_missed_while_down_is_sent_within_grace_then_dropped(chat, clock):
    remind_today_at_3pm(chat, clock)
    chat.send("/跟进 客户B 初次拜访", as_="张三")
    chat.send("/提醒 客户B 今天下午2点 确认报价", as_="张三")
    # down from 13:00: 客户B (13:45) is 2 h 1 min late at 15:46, 客户A (14:45) is 1 h 1 min late
    assert tick_at(chat, clock, at(27, 15, 46), at(27, 15, 47)) == [REMINDER]


def test_a_date_without_a_time_gets_only_the_morning_list(chat, clock):
    clock.now = at(27, 9)
    chat.send("/跟进 客户A 初次拜访", as_="张三")
    chat.send("/提醒 客户A 下周一 送样品", as_="张三")
    assert tick_at(chat, clock, at(30, 9), at(30, 14, 45), at(30, 23, 45)) == []
