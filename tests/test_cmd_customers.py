"""/新客户, /分配 and /客户: register leads, hand them over, show a customer's card."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.support.chat_rows import assert_nothing_saved, stored

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
NEW_EXAMPLE = "例如：/新客户 华为 @张三 50万 展会"
ASSIGN_EXAMPLE = "例如：/分配 华为 @李四"
NO_MANAGER = "（本群还没有经理，管理员可用 /设置 经理 @某人 指定）"


# --- /新客户 ------------------------------------------------------------------------------------


def test_new_customer_without_owner_is_a_lead(chat):
    reply = chat.reply("/新客户 腾讯")
    assert reply == "🆕 新客户 腾讯｜线索\n经理可用 /分配 腾讯 @某人 指定负责人"
    assert chat.mentions() == []
    customer = chat.customer("腾讯")
    assert (customer.stage, customer.status, customer.owner_id) == ("线索", "open", None)
    assert customer.assigned_at is None
    [activity] = chat.activities()
    assert (activity.kind, activity.stage_to, activity.member_id) == (
        "create",
        "线索",
        chat.member("张三").id,
    )


def test_new_customer_with_amount_and_source(chat):
    reply = chat.reply("/新客户 腾讯 30万 展会")
    assert reply == (
        "🆕 新客户 腾讯｜线索｜金额 30万｜来源 展会\n经理可用 /分配 腾讯 @某人 指定负责人"
    )
    customer = chat.customer("腾讯")
    assert customer.amount == Decimal("300000")
    assert customer.source == "展会"
    assert chat.activities()[0].amount == Decimal("300000")


def test_rep_may_name_themselves_owner_and_the_lead_is_assigned(chat):
    reply = chat.reply("/新客户 腾讯 @张三 50万 展会")
    assert reply == "🆕 新客户 腾讯｜已分配｜负责人 @张三｜金额 50万｜来源 展会"
    assert chat.mentions() == ["张三"]
    customer = chat.customer("腾讯")
    zhang = chat.member("张三").id
    assert (customer.stage, customer.owner_id, customer.assigned_by_id) == ("已分配", zhang, zhang)
    assert customer.assigned_at == NOW


def test_manager_names_another_owner_who_is_mentioned(chat):
    chat.make_manager("王经理")
    reply = chat.reply("/新客户 腾讯 @李四", as_="王经理")
    assert reply == "🆕 新客户 腾讯｜已分配｜负责人 @李四"
    assert chat.mentions() == ["李四"]
    customer = chat.customer("腾讯")
    assert customer.owner_id == chat.member("李四").id
    assert customer.assigned_by_id == chat.member("王经理").id


def test_rep_cannot_name_another_owner_and_is_told_who_can(chat):
    chat.make_manager("王经理")
    before = stored(chat)
    reply = chat.reply("/新客户 腾讯 @李四 50万")
    assert reply == "⛔ 只有经理或管理员可以把客户分配给别人（本群经理：王经理）"
    assert chat.mentions() == []
    assert_nothing_saved(chat, before)


def test_rep_naming_another_owner_without_managers_learns_how_to_get_one(chat):
    before = stored(chat)
    reply = chat.reply("/新客户 腾讯 @李四")
    assert reply == f"⛔ 只有经理或管理员可以把客户分配给别人{NO_MANAGER}"
    assert_nothing_saved(chat, before)


@pytest.mark.parametrize("typed", ["腾讯", "腾讯公司", "腾讯科技有限公司"])
def test_existing_customer_is_not_created_twice(chat, typed):
    chat.reply("/新客户 腾讯")
    before = stored(chat)
    reply = chat.reply(f"/新客户 {typed}")
    assert reply == (
        "❌ 客户 腾讯 已存在（负责人 未分配，阶段 线索），记录进展请用 /跟进 腾讯 内容"
    )
    assert_nothing_saved(chat, before)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/新客户", "请写上客户名称"),
        ("/新客户 明天", "“明天”不像客户名称，请把客户名称写在命令后面"),
        ("/新客户 签约", "“签约”不像客户名称，请把客户名称写在命令后面"),
        ("/新客户 " + "长" * 41, "客户名称太长了（最多 40 个字）"),
        ("/新客户 @李四", "客户名称“＠李四”里有不能用的字符"),
        ("/新客户 腾讯 @张三 @李四", "只能指定一位负责人"),
    ],
)
def test_malformed_new_customer_explains_and_saves_nothing(chat, text, reason):
    chat.reply("/新客户 小米")
    before = stored(chat)
    assert chat.reply(text) == f"❌ {reason}\n{NEW_EXAMPLE}"
    assert_nothing_saved(chat, before)


# --- /分配 ---------------------------------------------------------------------------------------


def test_manager_assigns_a_lead_and_the_new_owner_is_mentioned(chat):
    chat.make_manager("王经理")
    chat.reply("/新客户 腾讯")
    chat.clock.advance(hours=1)
    reply = chat.reply("/分配 腾讯 @李四", as_="王经理")
    assert (
        reply == "✅ 腾讯 已分配给 @李四（线索 → 已分配）\n请在 2 个工作小时内跟进并用 /跟进 记录"
    )
    assert chat.mentions() == ["李四"]
    customer = chat.customer("腾讯")
    assert customer.owner_id == chat.member("李四").id
    assert customer.stage == "已分配"
    assert customer.assigned_at == datetime(2026, 11, 27, 11, 0, tzinfo=TZ)
    assert customer.assigned_by_id == chat.member("王经理").id
    last = chat.activities()[-1]
    assert (last.kind, last.text, last.stage_from, last.stage_to) == (
        "assign",
        "分配给 李四",
        "线索",
        "已分配",
    )


def test_handover_names_the_previous_owner_and_keeps_the_stage(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 腾讯 报价已发")
    reply = chat.reply("/分配 腾讯 @李四", as_="王经理")
    assert reply == (
        "✅ 腾讯 已分配给 @李四，原负责人 张三\n请在 2 个工作小时内跟进并用 /跟进 记录"
    )
    assert chat.mentions() == ["李四"]
    customer = chat.customer("腾讯")
    assert (customer.stage, customer.owner_id) == ("已报价", chat.member("李四").id)


def test_admin_can_assign_without_being_made_manager(chat):
    chat.reply("/新客户 腾讯")
    assert chat.send("/分配 腾讯 @李四", as_="老板")[0].startswith("✅ 腾讯 已分配给 @李四")
    assert chat.customer("腾讯").owner_id == chat.member("李四").id


def test_rep_cannot_assign_and_is_told_who_can(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 腾讯 初次拜访")
    before = stored(chat)
    assert chat.reply("/分配 腾讯 @李四") == "⛔ 只有经理或管理员可以分配客户（本群经理：王经理）"
    assert chat.mentions() == []
    assert_nothing_saved(chat, before)


def test_rep_cannot_assign_when_the_chat_has_no_manager(chat):
    chat.reply("/新客户 腾讯")
    before = stored(chat)
    assert chat.reply("/分配 腾讯 @李四") == f"⛔ 只有经理或管理员可以分配客户{NO_MANAGER}"
    assert_nothing_saved(chat, before)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/分配", "请先写客户名称，再 @ 负责人"),
        ("/分配 @李四 腾讯", "请先写客户名称，再 @ 负责人"),
        ("/分配 腾讯", "请 @ 一位负责人"),
        ("/分配 腾讯 @李四 @赵六", "请 @ 一位负责人"),
        ("/分配 百度 @李四", "没有找到客户“百度”，请检查名称"),
        ("/分配 腾讯 @", "找不到群成员 ＠，请用 @ 选择负责人"),
    ],
)
def test_malformed_assign_explains_and_saves_nothing(chat, text, reason):
    chat.make_manager("王经理")
    chat.reply("/新客户 腾讯")
    before = stored(chat)
    assert chat.reply(text, as_="王经理") == f"❌ {reason}\n{ASSIGN_EXAMPLE}"
    assert chat.mentions() == []
    assert_nothing_saved(chat, before)


def test_assigning_to_the_current_owner_changes_nothing(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 腾讯 初次拜访")
    before = stored(chat)
    assert chat.reply("/分配 腾讯 @张三", as_="王经理") == "ℹ️ 腾讯 的负责人已经是 张三"
    assert chat.mentions() == []
    assert_nothing_saved(chat, before)


# --- /客户 ---------------------------------------------------------------------------------------


def test_customer_card_shows_owner_stage_amounts_and_history(chat):
    chat.reply("/新客户 腾讯 30万 展会")
    chat.reply("/跟进 腾讯 报价已发 下周三回访")
    chat.reply("/签约 腾讯 28万")
    chat.reply("/回款 腾讯 10万 首付款")
    reply = chat.reply("/客户 腾讯", as_="李四")
    assert reply == (
        "【📇 腾讯】\n"
        "负责人：张三｜阶段：已签约（赢单）\n"  # 10万 of 28万 paid: still 已签约
        "金额：28万｜已回款：10万\n"
        "下次跟进：未设置\n"  # signing closed the deal's pending follow-up
        "来源：展会\n"
        "■ 最近记录\n"
        "11月27日 张三 回款：首付款｜10万\n"
        "11月27日 张三 签约（已报价 → 已签约）｜28万\n"
        "11月27日 张三 跟进：报价已发 下周三回访（线索 → 已报价）\n"
        "11月27日 张三 建档｜30万"
    )


def test_customer_card_of_a_lost_customer_shows_the_reason(chat):
    chat.reply("/跟进 腾讯 初次拜访")
    chat.reply("/输单 腾讯 预算砍了")
    lines = chat.reply("/客户 腾讯").split("\n")
    assert lines[1] == "负责人：张三｜阶段：输单（输单）"
    assert "输单原因：预算砍了" in lines


def test_customer_card_shows_only_the_last_ten_live_activities(chat):
    for i in range(12):
        chat.reply(f"/跟进 腾讯 第{i}次沟通")
    chat.reply("/跟进 腾讯 写错了")
    chat.reply("/撤销")
    lines = chat.reply("/客户 腾讯").split("\n")
    history = lines[lines.index("■ 最近记录") + 1 :]
    assert history == [f"11月27日 张三 跟进：第{i}次沟通" for i in range(11, 1, -1)]


def test_customer_card_for_unknown_customer_is_a_usage_error(chat):
    assert chat.reply("/客户 百度") == "❌ 没有找到客户“百度”，请检查名称\n例如：/客户 华为"
    assert chat.reply("/客户") == "❌ 请写上客户名称\n例如：/客户 华为"
    assert chat.customers() == []


def test_customer_card_changes_nothing(chat):
    chat.reply("/跟进 腾讯 初次拜访")
    before = stored(chat)
    chat.reply("/客户 腾讯", as_="李四")
    assert_nothing_saved(chat, before)
