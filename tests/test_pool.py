"""The lead pool (公海): listing, claiming with a cap, and reclaiming neglected customers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select

from bot.config import ConfigError, load_settings
from bot.runtime import Runtime
from bot.scheduler import tick
from models import Activity, JobRun
from tests.support.harness import TZ
from tests.test_scheduler import texts


def at(m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(2026, m, d, hh, mm, tzinfo=TZ)


def test_pool_lists_unowned_open_customers_furthest_stage_and_largest_first(chat):
    chat.make_manager("王经理")
    chat.send("/新客户 小米 5万", as_="王经理")
    chat.send("/新客户 格力 50万", as_="王经理")
    chat.send("/新客户 腾讯", as_="王经理")
    chat.send("/跟进 华为 拜访了", as_="张三")  # owned: not in the pool
    chat.send("/新客户 京东", as_="王经理")
    chat.send("/输单 京东 价格太高", as_="王经理")  # closed: not in the pool
    chat.send("/阶段 腾讯 跟进中", as_="王经理")
    assert chat.reply("/公海") == (
        "🌊 公海客户（3 个），用 /领取 客户 领走：\n"
        "1. 腾讯｜跟进中｜11月27日(周五) 建档\n"
        "2. 格力｜线索｜50万｜11月27日(周五) 建档\n"
        "3. 小米｜线索｜5万｜11月27日(周五) 建档"
    )


def test_pool_list_is_capped_with_a_count_of_the_rest(chat):
    chat.make_manager("王经理")
    for name in "华为 小米 格力 腾讯 京东 美团 百度 阿里 网易 字节 海尔 联想 比亚迪 蔚来 理想 小鹏 顺丰".split():
        chat.send(f"/新客户 {name}", as_="王经理")
    lines = chat.reply("/公海").splitlines()
    assert lines[0] == "🌊 公海客户（17 个），用 /领取 客户 领走："
    assert len(lines) == 1 + 15 + 1 and lines[-1] == "还有 2 个…"


def test_empty_pool_says_so(chat):
    assert chat.reply("/公海") == "🌊 公海里没有客户：每个进行中的客户都有负责人"


def test_claim_takes_a_lead_and_undo_gives_it_back(chat):
    chat.make_manager("王经理")
    chat.send("/新客户 格力", as_="王经理")
    chat.clock.advance(hours=1)
    reply = chat.reply("/领取 格力", as_="李四")
    assert reply == (
        "✅ 你领取了 格力｜线索 → 已分配｜你现在有 1 个进行中的客户\n请尽快用 /跟进 记录"
    )
    customer = chat.customer("格力")
    assert (customer.owner.user_id, customer.stage) == ("李四", "已分配")
    claim = chat.activities()[-1]
    assert claim.kind == "claim" and claim.member.user_id == "李四"
    assert set(claim.changes) >= {"owner_id", "stage", "last_activity_at"}
    assert chat.reply("/公海") == "🌊 公海里没有客户：每个进行中的客户都有负责人"
    assert chat.reply("/撤销", as_="李四").startswith("↩️ 已撤销对 格力 的记录")
    customer = chat.customer("格力")
    assert (customer.owner_id, customer.stage) == (None, "线索")


def test_claim_refuses_an_owned_or_closed_customer_with_a_reason_and_example(chat):
    chat.make_manager("王经理")
    chat.send("/跟进 华为 拜访了", as_="张三")
    assert chat.reply("/领取 华为", as_="李四") == (
        "❌ 华为 的负责人是 张三，不在公海；需要的话请经理用 /分配 转给你\n例如：/领取 华为"
    )
    assert chat.reply("/领取 华为", as_="张三") == "ℹ️ 华为 已经是你负责的客户"
    chat.send("/新客户 京东", as_="王经理")
    chat.send("/输单 京东 价格太高", as_="王经理")
    assert chat.reply("/领取 京东", as_="李四").startswith("❌ 京东 已是输单，不在公海")
    assert chat.reply("/领取", as_="李四") == "❌ 请写上要领取的客户名称\n例如：/领取 华为"
    chat.send("/新客户 格力", as_="王经理")
    assert chat.reply("/领取 格力 @张三", as_="李四").startswith("❌ 只能领取给自己")
    assert chat.customer("格力").owner_id is None


def test_claim_cap_names_the_cap_and_how_many_they_have(chat, settings):
    settings.pool.max_open_per_rep = 2
    chat.make_manager("王经理")
    chat.send("/跟进 华为 拜访了", as_="李四")
    chat.send("/新客户 格力", as_="王经理")
    chat.send("/新客户 小米", as_="王经理")
    assert "你现在有 2 个进行中的客户（上限 2 个）" in chat.reply("/领取 格力", as_="李四")
    before = len(chat.activities())
    assert chat.reply("/领取 小米", as_="李四") == (
        "❌ 你已有 2 个进行中的客户，达到每人上限 2 个；请先推进、签约或交还一些再领取\n"
        "例如：/领取 华为"
    )
    assert chat.reply("/跟进 小米 电话沟通", as_="李四").startswith("❌ 你已有 2 个进行中的客户")
    assert chat.customer("小米").owner_id is None and len(chat.activities()) == before
    chat.send("/签约 华为 10万", as_="李四")  # a won deal is no longer open
    assert chat.reply("/领取 小米", as_="李四").startswith("✅ 你领取了 小米")


def test_reclaim_warns_releases_and_blocks_over_a_fortnight_exactly_once(
    chat, clock, settings, engine
):
    settings.pool.reclaim_days = {"跟进中": 5}
    settings.pool.block_days = 3
    clock.now = at(11, 30, 10)  # Monday
    chat.send("/跟进 华为 拜访了", as_="张三")  # 跟进中, owner 张三
    chat.send("/跟进 小米 拜访了", as_="李四")
    day = date(2026, 12, 1)
    claims: dict[date, str] = {}
    while day <= date(2026, 12, 14):
        for hh, mm in ((9, 0), (9, 30)):
            clock.now = at(day.month, day.day, hh, mm)
            tick(chat.runtime, clock.now)
        clock.now = at(day.month, day.day, 11, 0)
        if day in (date(2026, 12, 4), date(2026, 12, 10)):
            chat.send("/跟进 小米 还在比价", as_="李四")  # resets 小米's clock after a warning
        if day in (date(2026, 12, 8), date(2026, 12, 10)):
            claims[day] = chat.reply("/领取 华为", as_="张三")
        clock.now = at(day.month, day.day, 18, 0)
        tick(chat.runtime, clock.now)
        day += timedelta(days=1)
    sent = texts(chat.runtime, "pool_reclaim")
    assert len(sent) == 3, sent
    assert "■ 即将退回公海" in sent[0]
    assert "@张三 华为｜跟进中｜3 个工作日没有跟进，12月7日(周一) 将退回公海" in sent[0]
    assert "@李四 小米｜跟进中｜3 个工作日没有跟进" in sent[0]
    assert "■ 已退回公海（1 个）" in sent[1] and "@" not in sent[1]
    assert "华为｜跟进中｜5 个工作日没有跟进（跟进中 时限 5 天），原负责人 张三" in sent[1]
    assert "@李四 小米｜跟进中｜3 个工作日没有跟进，12月11日(周五) 将退回公海" in sent[2]
    with chat.runtime.sessions() as session:
        runs = session.scalars(
            select(JobRun.period).where(JobRun.job == "pool_reclaim").order_by(JobRun.id)
        ).all()
    assert runs[:2] == ["2026-12-01", "2026-12-02"] and len(runs) == 10  # every working day
    assert claims[date(2026, 12, 8)] == (
        "❌ 华为 是因为久未跟进从你这里收回的，12月10日(周四) 起才能再领取"
        "（收回后 3 个工作日内原负责人不能领回）\n例如：/领取 华为"
    )
    assert claims[date(2026, 12, 10)].startswith("✅ 你领取了 华为｜跟进中")
    (release,) = [a for a in chat.activities() if a.kind == "release"]
    assert release.member_id is None and release.customer_name == "华为"
    assert release.created_at == at(12, 7, 9, 0)
    assert set(release.changes) == {"owner_id", "released_at", "released_by_id"}
    assert release.changes["owner_id"][1] is None
    # a restart (a new runtime on the same database) posts nothing again
    again = Runtime(settings, engine=engine, clock=clock)
    for moment in (at(12, 7, 9, 0), at(12, 14, 9, 0), at(12, 14, 9, 30)):
        assert [p for p in tick(again, moment) if p.job == "pool_reclaim"] == []
    assert len(texts(chat.runtime, "pool_reclaim")) == 3


def test_reclaim_switched_on_late_still_warns_two_working_days_ahead(chat, clock, settings):
    clock.now = at(11, 2, 10)
    chat.send("/跟进 华为 拜访了", as_="张三")
    settings.pool.reclaim_days = {"跟进中": 5}
    tick(chat.runtime, at(11, 30, 9, 0))  # 20 working days idle: warned, not released
    (warning,) = texts(chat.runtime, "pool_reclaim")
    assert "12月2日(周三) 将退回公海" in warning
    tick(chat.runtime, at(12, 1, 9, 0))
    assert chat.customer("华为").owner_id is not None
    tick(chat.runtime, at(12, 2, 9, 0))
    assert chat.customer("华为").owner_id is None


def test_reclaim_is_off_by_default(chat, clock):
    clock.now = at(11, 2, 10)
    chat.send("/跟进 华为 拜访了", as_="张三")
    tick(chat.runtime, at(11, 30, 9, 0))
    assert texts(chat.runtime, "pool_reclaim") == []
    assert chat.customer("华为").owner_id is not None


def test_pool_settings_are_validated():
    settings = load_settings(env={})
    assert settings.pool.reclaim_days == {} and settings.pool.max_open_per_rep == 0
    for bad, message in (
        ({"已签约": 10}, "not an open stage"),
        ({"跟进中": 2}, "≥ 3"),
        ({"跟进中": "10"}, "≥ 3"),
    ):
        try:
            load_settings_with_pool(bad)
        except ConfigError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(bad)


def load_settings_with_pool(reclaim_days: dict[str, object]) -> None:
    """Load a config file whose [pool] has these reclaim days."""
    import tempfile
    from pathlib import Path

    body = ", ".join(
        f'"{stage}" = {value!r}'.replace("'", '"') for stage, value in reclaim_days.items()
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(f"[pool]\nreclaim_days = {{{body}}}\n", encoding="utf-8")
        load_settings(path, env={})


def test_release_is_not_counted_as_anyones_entry(chat, clock, settings):
    settings.pool.reclaim_days = {"跟进中": 3}
    clock.now = at(11, 30, 10)
    chat.send("/跟进 华为 拜访了", as_="张三")
    for d in (3, 4, 7):
        tick(chat.runtime, at(12, d, 9, 0))
    assert chat.customer("华为").owner_id is None
    with chat.runtime.sessions() as session:
        kinds = list(session.scalars(select(Activity.kind).where(Activity.member_id.is_(None))))
    assert kinds == ["release"]
    clock.now = at(12, 7, 18, 30)
    assert "各人今日" not in chat.reply("/日报")  # nobody logged anything today
