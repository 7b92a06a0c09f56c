"""/改名, /合并, /删除 and /恢复: corrections that /撤销 takes back exactly."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.scheduler import tick
from models import Activity, Customer
from tests.support.chat_rows import assert_nothing_saved, stored
from tests.test_scheduler import at, texts

TZ = ZoneInfo("Asia/Shanghai")


def undone_exactly(chat, before) -> None:
    """Every customer is as before, the old activities are untouched, the new ones undone."""
    after = stored(chat)
    assert after["customers"] == before["customers"]
    assert after["activities"][: len(before["activities"])] == before["activities"]
    new = chat.activities()[len(before["activities"]) :]
    assert [a.kind for a in new if a.undone_at is None] == []


# -- /改名 -------------------------------------------------------------------------------------


def test_rename_keeps_the_old_name_as_an_alias(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/改名 华为 华为技术有限公司") == (
        "✏️ 已改名：华为 → 华为技术有限公司｜别名：华为"
    )
    customer = chat.customer("华为技术有限公司")
    assert (customer.key, customer.aliases) == ("华为技术有限公司", ["华为"])
    assert chat.customer("华为") is None
    assert chat.reply("/跟进 华为 电话沟通").startswith("✅ 华为技术有限公司｜跟进中")
    (renamed,) = [a for a in chat.activities() if a.kind == "rename"]
    assert renamed.text == "华为 → 华为技术有限公司"
    assert renamed.changes["name"] == ["华为", "华为技术有限公司"]


def test_rename_back_to_an_alias_drops_it_from_the_aliases(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/改名 华为 华为技术")
    assert chat.reply("/改名 华为技术 华为") == "✏️ 已改名：华为技术 → 华为｜别名：华为技术"
    assert chat.customer("华为").aliases == ["华为技术"]


def test_undo_takes_a_rename_back(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/别名 华为 HW")
    before = stored(chat)
    chat.reply("/改名 华为 华为中国")
    assert chat.reply("/撤销") == ("↩️ 已撤销对 华为中国 的记录：华为 → 华为中国，客户已恢复原样")
    undone_exactly(chat, before)
    assert chat.customer("华为").aliases == ["HW"]


def test_rename_refuses_a_name_another_customer_has(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 腾讯 初次拜访")
    chat.reply("/别名 腾讯 鹅厂")
    before = stored(chat)
    assert chat.reply("/改名 华为 腾讯") == (
        "❌ 已经有客户叫 腾讯，两个是同一家请用合并\n例如：/合并 华为 到 腾讯"
    )
    assert chat.reply("/改名 华为 鹅厂") == (
        "❌ “鹅厂”已是客户 腾讯 的别名，两个是同一家请用合并\n例如：/合并 华为 到 腾讯"
    )
    assert_nothing_saved(chat, before)


def test_rename_refusals_say_why_with_an_example(chat):
    chat.reply("/跟进 华为 初次拜访")
    before = stored(chat)
    example = "\n例如：/改名 华为 华为技术有限公司"
    assert chat.reply("/改名 华为") == "❌ 请写上客户现在的名称和新名称" + example
    assert chat.reply("/改名 华为 明天") == (
        "❌ “明天”不像客户名称，请把客户名称写在命令后面" + example
    )
    assert chat.reply("/改名 华为 华为") == "ℹ️ 客户已经叫 华为 了"
    assert chat.reply("/改名 字节 抖音") == "❌ 没有找到客户“字节”，请检查名称" + example
    assert_nothing_saved(chat, before)


def test_only_the_owner_or_a_manager_renames(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    before = stored(chat)
    assert chat.reply("/改名 华为 华为中国", as_="李四") == (
        "⛔ 华为 的负责人是 张三，只有负责人或经理可以改名"
    )
    assert_nothing_saved(chat, before)
    assert chat.reply("/改名 华为 华为中国", as_="王经理").startswith("✏️ 已改名")


# -- /合并 -------------------------------------------------------------------------------------


def _two_records(chat) -> None:
    """腾讯 (张三, quoted 5万) and 鹅厂, the same company entered by 李四 (signed 3万, 1万 paid)."""
    chat.make_manager("王经理")
    chat.reply("/跟进 腾讯 报价5万已发 下周三回访")
    chat.reply("/别名 腾讯 TX")
    chat.reply("/跟进 鹅厂 初次拜访 明天回访", as_="李四")
    chat.reply("/别名 鹅厂 企鹅", as_="李四")
    chat.reply("/签约 鹅厂 3万", as_="李四")
    chat.reply("/回款 鹅厂 1万", as_="李四")


def test_merge_moves_activities_aliases_amounts_and_payments(chat):
    _two_records(chat)
    source, target = chat.customer("鹅厂"), chat.customer("腾讯")
    moved = [a.id for a in chat.activities() if a.customer_id == source.id]
    assert chat.reply("/合并 鹅厂 到 腾讯", as_="王经理") == "\n".join(
        [
            "🔗 已把 鹅厂 合并到 腾讯",
            "转入：5 条记录（含 1 次回款）｜别名 鹅厂、企鹅",
            "金额 3万 + 5万 = 8万｜已回款 1万 + 0元 = 1万",
            "阶段 已报价 → 已签约（鹅厂 是 已签约）｜负责人 张三（鹅厂 原负责人 李四 不再负责）",
            "已清除下次跟进（已成交或输单）",
            "鹅厂 已并入，不再单独出现；合并错了请用 /撤销",
        ]
    )
    merged = chat.customer("腾讯")
    assert merged.aliases == ["TX", "鹅厂", "企鹅"]
    assert (merged.amount, merged.paid_amount) == (Decimal("80000"), Decimal("10000"))
    assert (merged.stage, merged.status, merged.owner_id) == ("已签约", "won", target.owner_id)
    assert merged.next_follow_up_at is None
    gone = chat.customer("鹅厂")
    assert gone.deleted_at == datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
    assert gone.key == f"merged#{gone.id}"
    assert all(a.customer_id == target.id for a in chat.activities() if a.id in moved)
    assert chat.reply("/回款 企鹅 2万", as_="王经理").startswith("✅ 腾讯｜已签约｜回款 2万")


def test_merge_takes_the_stage_further_along_and_an_owner_only_when_missing(chat):
    chat.make_manager("王经理")
    chat.reply("/新客户 小米 10万", as_="王经理")
    chat.reply("/跟进 雷军公司 拜访 下周一回访", as_="李四")
    chat.reply("/输单 雷军公司 价格", as_="李四")
    reply = chat.reply("/合并 雷军公司 小米", as_="王经理")
    assert "金额" not in reply  # 雷军公司 had none: 小米's 10万 stays as it was
    assert "阶段 线索｜负责人 李四（小米 原来没有负责人，用 雷军公司 的）" in reply
    customer = chat.customer("小米")
    assert (customer.stage, customer.owner_id) == ("线索", chat.member("李四").id)
    assert customer.next_follow_up_at is None  # 雷军公司 lost: nothing was pending on it


def test_merge_keeps_the_sooner_follow_up(chat):
    chat.reply("/跟进 腾讯 拜访 下周三回访")
    chat.reply("/跟进 鹅厂 拜访 明天下午3点回访")
    assert "下次跟进 11月28日(周六) 15:00" in chat.reply("/合并 鹅厂 到 腾讯")
    customer = chat.customer("腾讯")
    assert customer.next_follow_up_at == datetime(2026, 11, 28, 15, 0, tzinfo=TZ)
    assert customer.next_follow_up_has_time


def test_undo_takes_a_merge_back_exactly(chat):
    _two_records(chat)
    before = stored(chat)
    chat.reply("/合并 鹅厂 到 腾讯", as_="王经理")
    assert chat.reply("/撤销", as_="王经理") == (
        "↩️ 已撤销对 鹅厂、腾讯 的记录：合并 鹅厂 到 腾讯，客户已恢复原样"
    )
    undone_exactly(chat, before)
    assert chat.reply("/客户 鹅厂").startswith("【📇 鹅厂】")


def test_merge_cannot_be_undone_after_someone_logs_on_the_merged_customer(chat):
    _two_records(chat)
    chat.reply("/合并 鹅厂 到 腾讯", as_="王经理")
    chat.reply("/跟进 腾讯 电话确认合同")
    before = stored(chat)
    assert chat.reply("/撤销", as_="王经理") == (
        "❌ 无法撤销：腾讯 在你之后又被 张三 修改过，请直接用命令改正"
    )
    assert_nothing_saved(chat, before)


def test_merge_refusals(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 腾讯 初次拜访")
    chat.reply("/跟进 鹅厂 初次拜访", as_="李四")
    before = stored(chat)
    example = "\n例如：/合并 华为技术 到 华为"
    assert chat.reply("/合并 腾讯") == "❌ 请写上两个客户：前一个合并到后一个" + example
    assert chat.reply("/合并 腾讯 到 腾讯") == "ℹ️ “腾讯”和“腾讯”已经是同一个客户 腾讯"
    assert chat.reply("/合并 腾讯 到 鹅厂 百度", as_="王经理") == (
        "❌ 多写了“百度”，一次只能合并两个客户" + example
    )
    assert chat.reply("/合并 鹅厂 到 腾讯") == ("⛔ 鹅厂 的负责人是 李四，只有负责人或经理可以合并")
    assert_nothing_saved(chat, before)


def test_a_rep_merges_two_customers_of_their_own(chat):
    chat.reply("/跟进 腾讯 初次拜访")
    chat.reply("/跟进 鹅厂 初次拜访")
    assert chat.reply("/合并 鹅厂 到 腾讯").startswith("🔗 已把 鹅厂 合并到 腾讯")


# -- /删除 and /恢复 ---------------------------------------------------------------------------


def test_manager_deletes_a_customer_with_a_reason(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 测试客户 初次拜访")
    assert chat.reply("/删除 测试客户 录入错误", as_="王经理") == (
        "🗑️ 已删除客户 测试客户｜负责人 张三｜阶段 跟进中｜原因：录入错误\n"
        "它不再出现在列表、报表和提醒中；找回请用 /恢复 测试客户"
    )
    customer = chat.customer("测试客户")
    assert customer.deleted_at == datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
    (deleted,) = [a for a in chat.activities() if a.kind == "delete"]
    assert (deleted.text, deleted.member_id) == ("录入错误", chat.member("王经理").id)


def test_delete_refusals(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    before = stored(chat)
    assert chat.reply("/删除 华为 重复").startswith("⛔ 只有经理或管理员可以删除客户")
    assert chat.reply("/删除 华为", as_="王经理") == (
        "❌ 请写上删除 华为 的原因\n例如：/删除 测试客户 录入错误"
    )
    assert chat.reply("/删除", as_="王经理") == (
        "❌ 请写上客户名称和删除原因\n例如：/删除 测试客户 录入错误"
    )
    assert_nothing_saved(chat, before)


def test_a_deleted_customer_is_hidden_from_lookups_and_lists(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 百度 初次拜访")
    chat.reply("/删除 华为 重复录入", as_="王经理")
    refusal = "❌ 客户 华为 已删除，要继续用请先恢复\n例如：/恢复 华为"
    before = stored(chat)
    assert chat.reply("/客户 华为") == refusal
    assert chat.reply("/跟进 华为 再次拜访") == refusal
    assert chat.reply("/新客户 华为", as_="王经理") == refusal
    assert chat.reply("/跟进 华为报价已发") == refusal
    assert_nothing_saved(chat, before)
    mine = chat.reply("/我的")
    assert "百度" in mine and "华为" not in mine
    assert "华为" not in chat.reply("/漏斗")
    # Deleted customers are not candidates for a near match either.
    assert chat.reply("/客户 华为技术") == "❌ 没有找到客户“华为技术”，请检查名称\n例如：/客户 华为"


def test_a_deleted_customer_is_left_out_of_digest_nudges_and_sla(chat, clock):
    chat.make_manager("王经理")
    chat.reply("/跟进 百度 拜访 今天下午3点")
    chat.reply("/跟进 京东 拜访 今天下午3点")
    chat.reply("/报价 京东 20万")
    chat.reply("/新客户 格力", as_="王经理")
    chat.reply("/分配 格力 @李四", as_="王经理")
    chat.reply("/删除 京东 测试数据", as_="王经理")
    chat.reply("/删除 格力 测试数据", as_="王经理")
    tick(chat.runtime, at(2026, 11, 27, 18, 0))
    tick(chat.runtime, at(2026, 11, 30, 9, 30))
    (digest,) = texts(chat.runtime, "daily_digest")
    (nudge,) = texts(chat.runtime, "morning_nudges")
    assert "百度" in digest and "百度" in nudge
    for text in (digest, nudge):
        assert "京东" not in text and "格力" not in text
    assert "新客户 1 个" in digest  # 京东 and 格力 no longer count
    assert texts(chat.runtime, "response_sla") == []


def test_undo_of_a_delete_brings_the_customer_back(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    before = stored(chat)
    chat.reply("/删除 华为 重复", as_="王经理")
    assert chat.reply("/撤销", as_="王经理") == ("↩️ 已撤销对 华为 的记录：重复，客户已恢复原样")
    undone_exactly(chat, before)


def test_a_rep_cannot_undo_an_entry_on_a_customer_deleted_since(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/删除 华为 重复", as_="王经理")
    assert chat.reply("/撤销") == "❌ 无法撤销：华为 在你之后又被 王经理 修改过，请直接用命令改正"


def test_restore_finds_a_deleted_customer_by_name(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为技术有限公司 初次拜访")
    chat.reply("/别名 华为技术有限公司 HW")
    before = stored(chat)
    chat.reply("/删除 华为技术有限公司 误删", as_="王经理")
    chat.clock.advance(hours=1)
    assert chat.reply("/恢复 华为", as_="王经理") == (
        "♻️ 已恢复客户 华为技术有限公司｜负责人 张三｜阶段 跟进中"
    )
    assert stored(chat)["customers"] == before["customers"]
    assert chat.reply("/跟进 HW 电话沟通").startswith("✅ 华为技术有限公司｜跟进中")


def test_undo_of_a_restore_deletes_again(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/删除 华为 重复", as_="王经理")
    deleted = stored(chat)
    chat.reply("/恢复 华为", as_="王经理")
    assert chat.reply("/撤销", as_="王经理") == "↩️ 已撤销对 华为 的记录，客户已恢复原样"
    undone_exactly(chat, deleted)


def test_restore_refusals(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 百度 初次拜访")
    chat.reply("/跟进 腾讯 初次拜访")
    chat.reply("/合并 腾讯 到 百度")
    before = stored(chat)
    assert chat.reply("/恢复 华为").startswith("⛔ 只有经理或管理员可以恢复客户")
    assert chat.reply("/恢复", as_="王经理") == (
        "❌ 请写上要恢复的客户名称（现在没有已删除的客户）\n例如：/恢复 测试客户"
    )
    assert chat.reply("/恢复 华为", as_="王经理") == (
        "ℹ️ “华为”是客户 华为，没有被删除\n例如：/客户 华为"
    )
    assert chat.reply("/恢复 腾讯", as_="王经理") == (
        "ℹ️ “腾讯”是客户 百度，没有被删除\n例如：/客户 百度"
    )
    chat.reply("/删除 华为 重复", as_="王经理")
    assert chat.reply("/恢复 字节", as_="王经理") == (
        "❌ 没有找到已删除的客户“字节”（已删除的客户：华为）\n例如：/恢复 华为"
    )
    assert chat.count(Customer) == len(before["customers"])
    assert chat.count(Activity) == len(before["activities"]) + 1
