"""A scripted week through the CLI: `genjin say --script`, `genjin tick` and `genjin export`.

From the first lead to the full payment, what the bot posts and answers never shows a won, paid or
lost deal as due or overdue, and every report's numbers agree with `genjin export`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from models.calendar import calendar_from_settings
from models.stages import LADDER, LOST
from tests.support.cli import GenjinCli
from tests.support.harness import PG_URL, TZ
from tests.support.pgschema import pg_schema
from tests.test_one_truth import (
    REPS,
    Item,
    Truth,
    digest_overdue,
    headline,
    names_in,
    nudge_items,
    section,
    todo_items,
)

CHAT = "销售一组"


@pytest.fixture(params=["sqlite", "postgresql"] if PG_URL else ["sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for the CLI: a new SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/week.db"
        return
    with pg_schema(PG_URL, "genjin_week") as schema:
        yield schema.url


class Genjin(GenjinCli):
    """The `genjin` command line, run in this process on one database with 老板 as admin."""

    def __init__(self, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        super().__init__(db, tmp_path, capsys, '[bot]\nadmins = ["老板"]\n', CHAT)

    def tick(self, moment: str) -> dict[str, str]:
        """`genjin tick --at`: what each job posted, by job name."""
        out = self.run("tick", "--at", moment, "--json")
        posted = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert len({p["job"] for p in posted}) == len(posted)
        return {p["job"]: p["text"] for p in posted}

    def truth(self, moment: str) -> Truth:
        """The oracle at ``moment`` from `genjin export` only."""
        data = json.loads(self.run("export", "--chat", CHAT, "--format", "json"))
        s = Settings()
        now = datetime.fromisoformat(moment).replace(tzinfo=TZ)
        return Truth(
            data,
            now,
            calendar_from_settings(s.calendar),
            s.jobs.quiet_days,
            dict(s.stages),
            s.jobs.sla_hours,
        )


def closed(t: Truth) -> set[str]:
    """Won, paid and lost customers in the export."""
    return {c["name"] for c in t.data["customers"] if c["status"] != "open"}


def check_posts(cli: Genjin, moment: str, posted: dict[str, str]) -> Truth:
    """What a tick posted agrees with the export at that moment; no closed deal is due."""
    t = cli.truth(moment)
    due = t.due()
    shown: set[Item] = set()
    if "morning_nudges" in posted:
        shown |= nudge_items(posted["morning_nudges"])
        assert nudge_items(posted["morning_nudges"]) == {i for i in due if i.owner != "未分配"}
    if "daily_digest" in posted:
        digest = posted["daily_digest"]
        shown |= digest_overdue(digest)
        assert digest_overdue(digest) == {i for i in due if i.overdue}
        assert names_in(section(digest, "💤")) <= t.quiet()
        start = datetime.combine(t.now.date(), time(), TZ)
        assert headline(digest) == t.figures(start, start + timedelta(days=1))
    if "weekly_review" in posted:
        weekly = posted["weekly_review"]
        start = datetime.combine(t.now.date() - timedelta(days=t.now.weekday()), time(), TZ)
        end = datetime.combine(t.now.date() + timedelta(days=1), time(), TZ)
        assert headline(weekly) == t.figures(start, end)
        assert names_in(section(weekly, "🐢")) == t.stalled()
    assert not {i.name for i in shown} & closed(t)
    return t


@pytest.mark.slow
def test_a_week_from_first_lead_to_full_payment(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Genjin(db, tmp_path, capsys)
    posts: dict[str, dict[str, str]] = {}

    def day(date: str, *ticks: str) -> None:
        for hhmm in ticks:
            moment = f"{date}T{hhmm}"
            posts[moment] = cli.tick(moment)
            check_posts(cli, moment, posts[moment])

    # Monday: the lead arrives and is handed over; follow-ups are planned.
    replies = cli.say(
        "2026-11-23",
        ("09:00", "老板", "/设置 经理 @王经理"),
        ("09:05", "王经理", "/新客户 华为技术有限公司 50万 展会"),
        ("09:06", "王经理", "/分配 华为技术 @张三"),
        ("11:00", "张三", "/跟进 华为 电话沟通，约好拜访 11月25日"),
        ("14:00", "李四", "/跟进 小米 初次拜访 明天下午3点"),
        ("14:05", "李四", "/跟进 格力 聊了 明天"),
        ("14:06", "李四", "/跟进 格力 写错了"),
        ("14:07", "李四", "/撤销"),
    )
    assert replies[3] == "✅ 华为技术有限公司｜已分配 → 跟进中｜下次跟进 11月25日(周三)"
    assert replies[7].startswith("↩️ 已撤销对 格力 的记录：写错了")
    day("2026-11-23", "18:00")
    assert "跟进 3 次｜新客户 3 个" in posts["2026-11-23T18:00"]["daily_digest"]

    # Tuesday: 小米 quoted; 格力 forgotten.
    day("2026-11-24", "09:30", "10:00")
    assert (
        "📌 小米｜跟进中｜今天（11月24日(周二) 15:00）"
        in posts["2026-11-24T09:30"]["morning_nudges"]
    )
    cli.say("2026-11-24", ("16:00", "李四", "/跟进 小米 报价已发 11月30日回访"))
    day("2026-11-24", "18:00")

    # Wednesday: the visit; a quote and a follow-up on Friday.
    day("2026-11-25", "09:30")
    nudge = posts["2026-11-25T09:30"]["morning_nudges"]
    assert "📌 华为技术有限公司｜跟进中｜今天（11月25日(周三)）" in nudge
    assert "⚠️ 格力｜跟进中｜逾期 1 个工作日（11月24日(周二)）" in nudge
    cli.say("2026-11-25", ("11:00", "张三", "/报价 华为 48万"))
    cli.say("2026-11-25", ("11:01", "张三", "/提醒 华为 11月27日 回访"))
    day("2026-11-25", "18:00")

    # Thursday: signed (its Friday follow-up goes with it), 格力 lost, a first payment.
    replies = cli.say(
        "2026-11-26",
        ("10:00", "张三", "/签约 华为 48万"),
        ("11:00", "李四", "/输单 格力 价格太高"),
        ("15:00", "张三", "/回款 华为 20万 首付款"),
        ("15:05", "张三", "/我的"),
    )
    assert replies[0] == "✅ 华为技术有限公司｜已报价 → 已签约｜已清除下次跟进"
    assert replies[1] == "✅ 格力｜跟进中 → 输单｜已清除下次跟进\n原因：价格太高"
    assert replies[2] == ("✅ 华为技术有限公司｜已签约｜回款 20万\n累计回款 20万 / 48万，还差 28万")
    assert replies[3] == "你负责的客户（1 个）：\n1. 华为技术有限公司｜已签约｜回款 20万 / 48万"
    day("2026-11-26", "18:00")
    digest = posts["2026-11-26T18:00"]["daily_digest"]
    assert "签约 1 单 48万｜输单 1 单｜回款 20万" in digest.split("\n")[0]
    assert "💰 华为技术有限公司 回款 20万，累计回款 20万 / 48万（张三）" in digest

    # Friday: nothing due on the won or lost deals; the rest is paid; the weekly review.
    day("2026-11-27", "09:30")
    assert "morning_nudges" not in posts["2026-11-27T09:30"]  # 华为 and 格力 are closed
    replies = cli.say("2026-11-27", ("14:00", "张三", "/回款 华为 28万 尾款"))
    assert replies[0] == (
        "✅ 华为技术有限公司｜已签约 → 已回款｜回款 28万\n累计回款 48万 / 48万，已全部回款"
    )
    day("2026-11-27", "17:00", "18:00")
    weekly = posts["2026-11-27T17:00"]["weekly_review"]
    assert weekly.startswith("📈 周报 本周 11月23日(周一)—11月27日(周五)｜跟进 4 次｜新客户 3 个")
    assert "签约 1 单 48万｜输单 1 单｜回款 48万" in weekly
    asked = cli.say(
        "2026-11-27",
        ("18:05", "张三", "/待办"),
        ("18:05", "李四", "/待办"),
        ("18:05", "王经理", "/漏斗"),
        ("18:05", "王经理", "/周报"),
        ("18:05", "王经理", "/排行"),
        ("18:05", "张三", "/我的"),
    )
    t = cli.truth("2026-11-27T18:05")
    todo = todo_items(asked[0], "张三") | todo_items(asked[1], "李四")
    assert todo == {i for i in t.due() if i.owner in REPS}
    assert asked[0] == "🎉 今天没有到期或逾期的客户"
    stages = Counter(c["stage"] for c in t.data["customers"])
    rows = [line.split(" | ") for line in asked[2].split("\n") if " | " in line][1:]
    assert {row[0]: int(row[1]) for row in rows} == {s: stages.get(s, 0) for s in (*LADDER, LOST)}
    assert stages == {"已回款": 1, "已报价": 1, "输单": 1}
    monday = datetime(2026, 11, 23, tzinfo=TZ)
    assert headline(asked[3]) == t.figures(monday, monday + timedelta(days=5))
    assert asked[3] == weekly  # /周报 and the Friday job cover the same days, the same way
    ranked = [line.split(" | ")[1] for line in asked[4].split("\n") if " | " in line][1:]
    assert ranked == ["张三", "李四"]  # 王经理 logged entries but owns no customer
    assert asked[5] == "你负责的客户（1 个）：\n1. 华为技术有限公司｜已回款｜回款 48万 / 48万"

    # Next Monday: only the open deal is due; nothing closed is overdue anywhere.
    day("2026-11-30", "09:30", "10:00", "18:00")
    nudge = posts["2026-11-30T09:30"]["morning_nudges"]
    assert "📌 小米｜已报价｜今天（11月30日(周一)）" in nudge
    assert "华为" not in nudge and "格力" not in nudge
    assert "华为" not in "".join(section(posts["2026-11-30T18:00"]["daily_digest"], "⏰"))
    final = cli.truth("2026-11-30T18:00")
    huawei = next(c for c in final.data["customers"] if c["name"] == "华为技术有限公司")
    assert (huawei["stage"], huawei["amount"], huawei["paid_amount"]) == (
        "已回款",
        480000.0,
        480000.0,
    )
    assert huawei["next_follow_up"] is None
