"""The team's whole book over a simulated fortnight, through the CLI as a team would use it.

`genjin say --script` for the chat, `genjin tick --at` for the scheduled jobs (the pool reclaim
switched on in config.toml), `genjin export` (xlsx: the 客户 sheet as the team opens it; json:
the history) after each step: rename, merge, delete/restore, hand-over, grades, tags, lists and
search, the pool's reclaim and claim, and leave — each undoable one undone by /撤销 and redone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.book_read import read_book
from tests.support.cli import GenjinCli

CHAT = "销售一组"
CONFIG = """\
[bot]
admins = ["老板"]
[pool]
reclaim_days = {"已分配" = 3, "跟进中" = 3}
block_days = 5
"""
LEADS = ["比亚迪", "宁德时代", "格力电器", "美的集团", "海尔智家"]
LEADS += ["联想集团", "中兴通讯", "大疆创新", "顺丰速运", "京东方"]


class Team(GenjinCli):
    """`genjin` on one SQLite file, run in this process, with 老板 as admin."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        super().__init__(f"sqlite:///{tmp_path}/fortnight.db", tmp_path, capsys, CONFIG, CHAT)

    def one(self, day: str, hhmm: str, who: str, text: str) -> str:
        """One message's reply."""
        return self.say(day, (hhmm, who, text))[0]

    def tick(self, moment: str) -> dict[str, str]:
        """`genjin tick --at`: what each job posted, by job name."""
        out = self.run("tick", "--at", moment, "--json")
        return {p["job"]: p["text"] for p in map(json.loads, out.splitlines()) if p}

    def book(self) -> dict[str, dict[str, Any]]:
        """The 客户 sheet of `genjin export --format xlsx`, by name (deleted customers absent)."""
        path = self.tmp_path / "book.xlsx"
        self.run("export", "--chat", CHAT, "--format", "xlsx", "--output", str(path))
        header, *rows = read_book(path)[0].rows
        return {row[0]: dict(zip(header, row, strict=True)) for row in rows}

    def history(self) -> list[dict[str, Any]]:
        """The activities of `genjin export --format json`."""
        return json.loads(self.run("export", "--chat", CHAT, "--format", "json"))["activities"]


def owners(book: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """name → 负责人 of the customers someone owns (the pool's are None)."""
    return {name: row["负责人"] for name, row in book.items()}


@pytest.mark.slow
def test_a_fortnight_of_the_teams_book(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    team = Team(tmp_path, capsys)
    mon = "2026-11-16"

    # Monday, week 1: the book is set up (a duplicate 腾讯科技 on purpose).
    team.say(
        mon,
        ("09:00", "老板", "/设置 经理 @王经理"),
        ("09:01", "王五", "/我是 王五"),
        ("09:05", "王经理", "/新客户 华为技术 @张三 50万 展会"),
        ("09:06", "王经理", "/新客户 腾讯 @李四 30万"),
        ("09:07", "王经理", "/新客户 腾讯科技 @李四"),
        ("09:07", "王经理", "2"),  # not 腾讯: a new customer
        ("09:08", "王经理", "/新客户 阿里巴巴 @张三"),
        ("09:10", "张三", "/跟进 华为技术 电话沟通，报价单下周发"),
        ("09:11", "李四", "/跟进 腾讯 约了拜访"),
    )
    book = team.book()
    assert set(book) == {"华为技术", "腾讯", "腾讯科技", "阿里巴巴"}
    assert owners(book) == {
        "华为技术": "张三",
        "腾讯": "李四",
        "腾讯科技": "李四",
        "阿里巴巴": "张三",
    }

    # /改名: the old name stays an alias; undone, then again.
    rename = "/改名 华为技术 华为技术有限公司"
    assert team.one(mon, "09:20", "张三", rename) == (
        "✏️ 已改名：华为技术 → 华为技术有限公司｜别名：华为技术"
    )
    assert team.book()["华为技术有限公司"]["别名"] == "华为技术"
    assert team.one(mon, "09:21", "张三", "/撤销").startswith("↩️ 已撤销对 华为技术有限公司")
    book = team.book()
    assert "华为技术有限公司" not in book and book["华为技术"]["别名"] is None
    team.one(mon, "09:22", "张三", rename)
    huawei = team.book()["华为技术有限公司"]
    assert (huawei["别名"], huawei["负责人"], huawei["阶段"]) == ("华为技术", "张三", "跟进中")

    # /等级 and /标签, by the alias 华为: each undone, then again.
    assert team.one(mon, "09:23", "张三", "/等级 华为 A") == "✅ 华为技术有限公司｜等级 A（重点）"
    assert team.book()["华为技术有限公司"]["等级"] == "A"
    team.one(mon, "09:24", "张三", "/撤销")
    assert team.book()["华为技术有限公司"]["等级"] is None
    team.one(mon, "09:25", "张三", "/等级 华为 A")
    tags = "/标签 华为 +重点 +华东"
    assert team.one(mon, "09:26", "张三", tags) == (
        "✅ 华为技术有限公司｜标签：重点、华东（加 重点、华东）"
    )
    assert team.book()["华为技术有限公司"]["标签"] == "重点、华东"
    team.one(mon, "09:27", "张三", "/撤销")
    assert team.book()["华为技术有限公司"]["标签"] is None
    team.one(mon, "09:28", "张三", tags)
    huawei = team.book()["华为技术有限公司"]
    assert (huawei["等级"], huawei["标签"]) == ("A", "重点、华东")

    # /合并: 腾讯科技 disappears into 腾讯 as an alias; undone, then again.
    merged = team.one(mon, "09:30", "王经理", "/合并 腾讯科技 到 腾讯")
    assert merged.startswith("🔗 已把 腾讯科技 合并到 腾讯\n转入：1 条记录｜别名 腾讯科技")
    book = team.book()
    assert "腾讯科技" not in book and book["腾讯"]["别名"] == "腾讯科技"
    team.one(mon, "09:31", "王经理", "/撤销")
    book = team.book()
    assert book["腾讯科技"]["负责人"] == "李四" and book["腾讯"]["别名"] is None
    again = team.one(mon, "09:32", "王经理", "/合并 腾讯科技 到 腾讯")
    assert "转入：1 条记录｜别名 腾讯科技" in again  # the undone merge is not a record
    assert "腾讯科技" not in team.book()

    # /删除 and /恢复: the deleted customer leaves the exported book; each undone.
    deleted = team.one(mon, "09:33", "王经理", "/删除 阿里巴巴 录入错误")
    assert deleted.startswith("🗑️ 已删除客户 阿里巴巴｜负责人 张三｜阶段 已分配｜原因：录入错误")
    assert "阿里巴巴" not in team.book()
    team.one(mon, "09:34", "王经理", "/撤销")
    assert team.book()["阿里巴巴"]["负责人"] == "张三"
    team.one(mon, "09:35", "王经理", "/删除 阿里巴巴 录入错误")
    assert team.one(mon, "09:36", "王经理", "/恢复") == (
        "❌ 请写上要恢复的客户名称（已删除的客户：阿里巴巴）\n例如：/恢复 测试客户"
    )
    restored = team.one(mon, "09:37", "王经理", "/恢复 阿里巴巴")
    assert restored == "♻️ 已恢复客户 阿里巴巴｜负责人 张三｜阶段 已分配"
    assert "阿里巴巴" in team.book()
    team.one(mon, "09:38", "王经理", "/撤销")
    assert "阿里巴巴" not in team.book()
    team.one(mon, "09:39", "王经理", "/恢复 阿里巴巴")
    assert team.book()["阿里巴巴"]["负责人"] == "张三"
    kinds = [(a["kind"], a["undone_at"] is not None) for a in team.history()]
    for kind in ("rename", "grade", "tags", "merge", "delete", "restore"):
        assert (kind, True) in kinds and (kind, False) in kinds  # undone once, then live

    # Ten leads from a fair: no owner, so in the pool; /列表 pages, filters and /搜索.
    team.say(mon, *[(f"10:{i:02d}", "王经理", f"/新客户 {n} 展会") for i, n in enumerate(LEADS)])
    listed = team.say(
        mon,
        ("11:00", "李四", "/列表"),
        ("11:01", "李四", "/下一页"),
        ("11:02", "李四", "/下一页"),
        ("11:03", "李四", "/列表 A"),
        ("11:04", "李四", "/列表 #重点"),
        ("11:05", "李四", "/列表 @张三"),
        ("11:06", "李四", "/搜索 报价单"),
        ("11:07", "李四", "/搜索 腾讯科技"),
        ("11:08", "李四", "/搜索 华东"),
        ("11:09", "李四", "/公海"),
    )
    first, second, last = listed[0].split("\n"), listed[1].split("\n"), listed[2]
    assert first[0] == "📋 客户列表｜不含输单、售后（共 13 个）："
    assert first[1] == "1. 华为技术有限公司［A］ #重点 #华东｜跟进中｜张三｜下次 11月23日(周一)"
    assert first[-1] == "第 1/2 页，回复 下一页 继续" and len(first) == 12
    assert second[1:] == [
        "11. 大疆创新｜线索｜未分配｜未设下次跟进，最近动态 今天",
        "12. 顺丰速运｜线索｜未分配｜未设下次跟进，最近动态 今天",
        "13. 京东方｜线索｜未分配｜未设下次跟进，最近动态 今天",
        "第 2/2 页，最后一页",
    ]
    assert last == "ℹ️ 已经是最后一页了（共 2 页）"
    names = [
        {line.split("｜")[0].split(". ", 1)[1] for line in r.split("\n") if line[:1].isdigit()}
        for r in listed
    ]
    assert names[3] == names[4] == {"华为技术有限公司［A］ #重点 #华东"}
    assert names[5] == {"华为技术有限公司［A］ #重点 #华东", "阿里巴巴"}
    assert listed[6].endswith("记录：11月16日(周一) 电话沟通，报价单下周发")
    assert listed[7].endswith("1. 腾讯｜跟进中｜李四｜别名 腾讯科技")
    assert listed[8].endswith("标签 #华东")
    assert listed[9].startswith("🌊 公海客户（10 个），用 /领取 客户 领走：")
    book = team.book()
    assert len(book) == 13 and all(book[n]["负责人"] is None for n in LEADS)
    assert {n: book[n]["来源"] for n in LEADS} == dict.fromkeys(LEADS, "展会")

    # Tuesday: 张三 goes on leave; 李四 leaves and hands over to 王五 (undone, then again).
    tue = "2026-11-17"
    away = team.one(tue, "10:00", "张三", "/请假 到 11月20日")
    assert away.startswith("🏖 你请假到 11月20日(周五)，11月21日(周六) 起自动销假")
    handed = team.one(tue, "10:01", "王经理", "/交接 @李四 @王五")
    assert handed.startswith("🤝 已把 李四 的 1 个客户交接给 @王五：\n1. 腾讯｜跟进中")
    assert team.book()["腾讯"]["负责人"] == "王五"
    team.one(tue, "10:02", "王经理", "/撤销")
    assert team.book()["腾讯"]["负责人"] == "李四"
    team.one(tue, "10:03", "王经理", "/交接 @李四 @王五")
    assert owners(team.book())["腾讯"] == "王五"

    # The reclaim job: 王五 is warned, then 腾讯 goes back to the pool; 张三, away, is spared.
    posts = {day: team.tick(f"{day}T09:00") for day in ("2026-11-18", "2026-11-19", "2026-11-20")}
    warning = posts["2026-11-18"]["pool_reclaim"]
    assert "@王五 腾讯｜跟进中｜1 个工作日没有跟进，11月20日(周五) 将退回公海" in warning
    assert "张三" not in warning and "pool_reclaim" not in posts["2026-11-19"]
    released = posts["2026-11-20"]["pool_reclaim"]
    assert "■ 已退回公海（1 个）\n腾讯｜跟进中｜3 个工作日没有跟进" in released
    assert "原负责人 王五" in released and "华为" not in released
    book = team.book()
    assert (book["腾讯"]["负责人"], book["华为技术有限公司"]["负责人"]) == (None, "张三")

    # Week 2: 张三's leave has ended by itself; his neglected customers are warned, then taken.
    assert team.one("2026-11-23", "08:30", "张三", "/销假") == "ℹ️ 你现在没有请假"
    posts = {day: team.tick(f"{day}T09:00") for day in ("2026-11-23", "2026-11-24", "2026-11-25")}
    assert "@张三 华为技术有限公司｜跟进中" in posts["2026-11-23"]["pool_reclaim"]
    assert "11月25日(周三) 将退回公海" in posts["2026-11-23"]["pool_reclaim"]
    assert "■ 已退回公海（2 个）" in posts["2026-11-25"]["pool_reclaim"]
    book = team.book()
    assert {n for n, owner in owners(book).items() if owner} == set()
    assert (book["华为技术有限公司"]["等级"], book["华为技术有限公司"]["别名"]) == ("A", "华为技术")

    # /公海 shows where each came from; 王五 may not claim his back yet; 张三 claims it.
    wed = "2026-11-25"
    pool = team.one(wed, "10:00", "李四", "/公海")
    assert pool.split("\n")[1:4] == [
        "1. 华为技术有限公司｜跟进中｜50万｜11月25日(周三) 从 张三 收回",
        "2. 腾讯｜跟进中｜30万｜11月20日(周五) 从 王五 收回",
        "3. 阿里巴巴｜已分配｜11月25日(周三) 从 张三 收回",
    ]
    refused = team.one(wed, "10:01", "王五", "/领取 腾讯")
    assert refused.startswith("❌ 腾讯 是因为久未跟进从你这里收回的，11月27日(周五) 起才能再领取")
    assert team.book()["腾讯"]["负责人"] is None
    claimed = team.one(wed, "10:02", "张三", "/领取 腾讯")
    assert claimed.startswith("✅ 你领取了 腾讯｜跟进中｜你现在有 1 个进行中的客户")
    assert team.book()["腾讯"]["负责人"] == "张三"
    team.one(wed, "10:03", "张三", "/撤销")
    assert team.book()["腾讯"]["负责人"] is None
    team.one(wed, "10:04", "张三", "/领取 腾讯")
    assert team.book()["腾讯"]["负责人"] == "张三"

    # Leave again, and back early: while away nothing of his is warned; back, it is.
    assert team.one(wed, "10:05", "张三", "/请假 3天").startswith("🏖 你请假到 11月27日(周五)")
    assert "pool_reclaim" not in team.tick("2026-11-26T09:00")
    back = team.one("2026-11-26", "10:00", "张三", "/销假")
    assert back == "✅ 你已销假，早间提醒和各项提醒恢复"
    warned = team.tick("2026-11-27T09:00")["pool_reclaim"]
    assert "@张三 腾讯｜跟进中" in warned and "将退回公海" in warned
    assert team.book()["腾讯"]["负责人"] == "张三"  # warned, not yet taken
