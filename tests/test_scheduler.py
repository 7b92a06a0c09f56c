"""The scheduler: due on working days at the chat's times, exactly once, caught up within grace."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from bot.scheduler import tick
from models import JobRun, Outbox
from tests.support.harness import TZ


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def runs(runtime: Runtime, job: str | None = None) -> list[JobRun]:
    with runtime.sessions() as session:
        query = select(JobRun).where(~JobRun.job.contains("#")).order_by(JobRun.id)
        if job:
            query = query.where(JobRun.job == job)
        return list(session.scalars(query))


def outbox(runtime: Runtime, job: str) -> list[Outbox]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Outbox).where(Outbox.job == job).order_by(Outbox.id)))


def texts(runtime: Runtime, job: str) -> list[str]:
    from bot.adapters.console import render_text
    from bot.messages import OutgoingMessage

    return [render_text(OutgoingMessage.from_payload(r.payload)) for r in outbox(runtime, job)]


def seed(chat) -> None:
    """A small team with activity."""
    chat.make_manager("王经理")
    chat.send("/跟进 华为 报价已发 明天回访", as_="张三")
    chat.send("/跟进 小米 拜访了采购", as_="李四")


def test_digest_runs_on_working_days_across_national_day_once_each(chat, clock):
    clock.now = at(2026, 9, 25, 10)
    seed(chat)
    day = date(2026, 9, 26)
    while day <= date(2026, 10, 12):
        for hh, mm in ((9, 30), (10, 0), (10, 15), (17, 0), (18, 0), (18, 1), (19, 59), (23, 0)):
            clock.now = at(day.year, day.month, day.day, hh, mm)
            tick(chat.runtime, clock.now)
        day += timedelta(days=1)
    digest_days = [r.period for r in runs(chat.runtime, "daily_digest")]
    assert digest_days == [
        "2026-09-28",
        "2026-09-29",
        "2026-09-30",
        "2026-10-08",
        "2026-10-09",
        "2026-10-10",
        "2026-10-12",
    ]
    assert len(outbox(chat.runtime, "daily_digest")) == len(digest_days)
    assert "2026-09-27" not in digest_days  # an ordinary Sunday
    weekly = [r.period for r in runs(chat.runtime, "weekly_review")]
    assert weekly == ["2026-W40", "2026-W41"]  # Wednesday 9-30 and the make-up Saturday 10-10


def test_ticking_twice_at_the_same_moment_posts_once(chat, clock):
    seed(chat)
    clock.now = at(2026, 11, 27, 18)
    first = tick(chat.runtime, clock.now)
    second = tick(chat.runtime, clock.now)
    assert [p.job for p in first] == ["weekly_review", "daily_digest"]  # Friday: both due
    assert second == []
    assert len(outbox(chat.runtime, "daily_digest")) == 1


def test_concurrent_ticks_post_one_digest_per_chat(chat, clock, engine, settings):
    seed(chat)
    chat.runtime.say("销售二组", "赵六", "/跟进 格力 拜访")
    now = at(2026, 11, 27, 18, 0)
    runtimes = [Runtime(settings, engine=engine, clock=lambda: now) for _ in range(4)]
    barrier = threading.Barrier(len(runtimes))
    results: list[list] = []

    def go(runtime: Runtime) -> None:
        barrier.wait()
        results.append(tick(runtime, now))

    threads = [threading.Thread(target=go, args=(r,)) for r in runtimes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posted = [p for result in results for p in result if p.job == "daily_digest"]
    assert sorted(p.chat for p in posted) == ["销售一组", "销售二组"]
    assert len(outbox(chat.runtime, "daily_digest")) == 2


def test_missed_run_is_caught_up_within_grace_then_skipped(chat, clock, caplog):
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    seed(chat)
    tick(chat.runtime, at(2026, 11, 27, 19, 59))  # bot was down at 18:00, back within 2 h
    assert len(outbox(chat.runtime, "daily_digest")) == 1
    tick(chat.runtime, at(2026, 11, 30, 20, 1))  # Monday: down from 18:00 until after 20:00
    (late,) = [r for r in runs(chat.runtime, "daily_digest") if r.period == "2026-11-30"]
    assert late.status == "skipped"
    assert len(outbox(chat.runtime, "daily_digest")) == 1
    skipped = [
        r
        for r in caplog.records
        if "daily_digest" in r.getMessage() and "skipped" in r.getMessage()
    ]
    assert len(skipped) == 1
    tick(chat.runtime, at(2026, 11, 30, 21, 0))
    skipped = [
        r
        for r in caplog.records
        if "daily_digest" in r.getMessage() and "skipped" in r.getMessage()
    ]
    assert len(skipped) == 1  # logged once


def test_nothing_due_before_the_time_or_on_a_weekend(chat, clock):
    seed(chat)
    assert [p.job for p in tick(chat.runtime, at(2026, 11, 26, 17, 59))] == []  # Thursday
    assert tick(chat.runtime, at(2026, 11, 28, 18, 0)) == []  # Saturday


def test_a_turned_off_job_does_not_run(chat, clock):
    seed(chat)
    assert chat.reply("/设置 关闭 日报", as_="王经理") == "✅ 已关闭日报"
    assert tick(chat.runtime, at(2026, 11, 26, 18, 0)) == []
    assert chat.reply("/设置 开启 日报", as_="王经理") == "✅ 已开启日报"
    assert [p.job for p in tick(chat.runtime, at(2026, 11, 26, 18, 5))] == ["daily_digest"]


def test_chat_digest_time_override(chat, clock):
    seed(chat)
    assert chat.reply("/设置 日报时间 17:30", as_="王经理") == "✅ 日报时间改为 17:30"
    assert [p.job for p in tick(chat.runtime, at(2026, 11, 26, 17, 30))] == ["daily_digest"]


def test_rep_cannot_change_the_schedule(chat):
    seed(chat)
    assert chat.reply("/设置 日报时间 17:30", as_="张三").startswith(
        "⛔ 只有经理或管理员可以修改日程和时限"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/设置 日报时间 25:00", "时间“25:00”看不懂，请写成 18:00 这样"),
        (
            "/设置 阶段时限 谈判 3",
            "请写阶段和天数，阶段可选：线索、已分配、跟进中、已报价、已签约、已回款",
        ),
        ("/设置 阶段时限 已报价 0", "天数请写 1 到 365 之间的整数"),
        ("/设置 上班时间 18:00-09:00", "上班时间的开始要早于结束，例如 09:00-18:00"),
        (
            "/设置 关闭 午饭",
            "请写要开启或关闭的功能：日报、周五盘点、早间提醒、公海回收、响应提醒、停滞预警、定时提醒、周报",
        ),
    ],
)
def test_bad_schedule_settings_explain_and_change_nothing(chat, text, reason):
    from models import Chat

    seed(chat)
    assert chat.reply(text, as_="王经理") == f"❌ {reason}\n例如：/设置 经理 @王经理"
    with chat.runtime.sessions() as session:
        assert session.scalars(select(Chat.settings)).first() == {}


def test_morning_nudge_mentions_each_rep_once_with_overdue_in_working_days(chat, clock):
    clock.now = at(2026, 9, 29, 10)
    chat.send("/跟进 华为 报价已发 9月30日回访", as_="张三")
    chat.send("/跟进 小米 拜访 10月8日再联系", as_="张三")
    chat.send("/跟进 格力 拜访 10月9日", as_="李四")
    tick(chat.runtime, at(2026, 10, 8, 9, 30))
    tick(chat.runtime, at(2026, 10, 8, 9, 45))
    (text,) = texts(chat.runtime, "morning_nudges")
    assert "@张三 今天要跟进 2 个客户，其中 1 个已逾期" in text
    assert "⚠️ 华为｜已报价｜逾期 1 个工作日（9月30日(周三)）" in text
    assert "📌 小米｜跟进中｜今天（10月8日(周四)）" in text
    assert "李四" not in text  # nothing due for 李四 today
    (row,) = outbox(chat.runtime, "morning_nudges")
    assert [m["name"] for m in row.payload["mentions"]] == ["张三"]


def test_response_sla_nudges_owner_then_assigning_manager_once_each(chat, clock):
    chat.make_manager("王经理")
    chat.send("/新客户 格力", as_="王经理")
    clock.now = at(2026, 11, 27, 10, 0)
    chat.send("/分配 格力 @李四", as_="王经理")
    tick(chat.runtime, at(2026, 11, 27, 11, 45))
    assert texts(chat.runtime, "response_sla") == []
    tick(chat.runtime, at(2026, 11, 27, 12, 0))
    (first,) = texts(chat.runtime, "response_sla")
    assert "@李四 格力 分配给你已超过 2 个工作小时，请尽快联系并用 /跟进 记录" in first
    tick(chat.runtime, at(2026, 11, 27, 12, 15))
    tick(chat.runtime, at(2026, 11, 27, 14, 0))
    second = texts(chat.runtime, "response_sla")[1]
    assert "@王经理 你分配给 李四 的 格力 已 4 个工作小时没有跟进" in second
    for hh in (15, 16, 17):
        tick(chat.runtime, at(2026, 11, 27, hh, 0))
    assert len(texts(chat.runtime, "response_sla")) == 2


def test_response_sla_seen_late_tells_owner_and_manager_at_once(chat, clock):
    chat.make_manager("王经理")
    chat.send("/新客户 格力", as_="王经理")
    clock.now = at(2026, 11, 26, 11, 30)
    chat.send("/分配 格力 @李四", as_="王经理")
    tick(chat.runtime, at(2026, 11, 27, 9, 30))  # first look after 6.5 working hours
    (text,) = texts(chat.runtime, "response_sla")
    assert "@李四 格力 分配给你已超过 2 个工作小时" in text
    assert "@王经理 你分配给 李四 的 格力 已 4 个工作小时没有跟进" in text


def test_response_sla_counts_working_hours_over_the_weekend(chat, clock):
    chat.make_manager("王经理")
    chat.send("/新客户 格力", as_="王经理")
    clock.now = at(2026, 11, 27, 17, 0)  # Friday 17:00: one office hour left this week
    chat.send("/分配 格力 @李四", as_="王经理")
    tick(chat.runtime, at(2026, 11, 30, 9, 45))
    assert texts(chat.runtime, "response_sla") == []
    tick(chat.runtime, at(2026, 11, 30, 10, 0))  # 1 h Friday + 1 h Monday
    assert len(texts(chat.runtime, "response_sla")) == 1


def test_owner_follow_up_stops_the_sla_clock(chat, clock):
    chat.make_manager("王经理")
    chat.send("/新客户 格力", as_="王经理")
    clock.now = at(2026, 11, 27, 10, 0)
    chat.send("/分配 格力 @李四", as_="王经理")
    clock.now = at(2026, 11, 27, 11, 0)
    chat.send("/跟进 格力 电话联系了", as_="李四")
    for hh in (12, 14, 16):
        tick(chat.runtime, at(2026, 11, 27, hh, 0))
    assert texts(chat.runtime, "response_sla") == []


def test_stalled_deal_escalates_owner_managers_group_once_per_level(chat, clock):
    chat.make_manager("王经理")
    clock.now = at(2026, 11, 2, 9, 0)  # Monday
    chat.send("/跟进 华为 报价已发", as_="张三")  # 已报价, limit 10 working days
    day = date(2026, 11, 3)
    while day <= date(2026, 11, 27):
        tick(chat.runtime, at(day.year, day.month, day.day, 10, 0))
        tick(chat.runtime, at(day.year, day.month, day.day, 10, 30))
        day += timedelta(days=1)
    sent = texts(chat.runtime, "stalled_deals")
    assert len(sent) == 3
    assert (
        "■ 提醒负责人" in sent[0]
        and "@张三 华为｜已报价 10 个工作日没有进展（时限 10 天）" in sent[0]
    )
    assert "■ 升级给经理" in sent[1] and "12 个工作日" in sent[1] and "@王经理" in sent[1]
    assert "■ 全员关注" in sent[2] and "@所有人" in sent[2] and "15 个工作日" in sent[2]
    periods = [r.period for r in runs(chat.runtime, "stalled_deals")]
    assert periods[0] == "2026-11-03" and len(periods) == len(set(periods))


def test_any_activity_resets_the_stalled_clock(chat, clock):
    clock.now = at(2026, 11, 2, 9, 0)
    chat.send("/跟进 华为 报价已发", as_="张三")
    clock.now = at(2026, 11, 13, 9, 0)  # 9 working days later: a follow-up
    chat.send("/跟进 华为 客户还在比价", as_="张三")
    for d in range(13, 21):
        tick(chat.runtime, at(2026, 11, d, 10, 0))
    assert texts(chat.runtime, "stalled_deals") == []


def test_weekly_review_moves_to_thursday_when_friday_is_a_holiday(chat, clock):
    clock.now = at(2026, 6, 15, 10)
    seed(chat)
    tick(chat.runtime, at(2026, 6, 18, 17, 0))  # Thursday; Friday 6-19 is Dragon Boat Festival
    tick(chat.runtime, at(2026, 6, 19, 17, 0))
    assert [r.period for r in runs(chat.runtime, "weekly_review")] == ["2026-W25"]


def test_year_without_holiday_data_falls_back_to_weekdays(chat, clock):
    clock.now = at(2099, 3, 2, 9, 0)
    seed(chat)
    tick(chat.runtime, at(2099, 3, 6, 18, 0))  # a Friday
    tick(chat.runtime, at(2099, 3, 7, 18, 0))  # a Saturday
    assert [r.period for r in runs(chat.runtime, "daily_digest")] == ["2099-03-06"]
