"""/撤销: revert the sender's own last entry, every field it changed, within 24 hours."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from models import Customer
from tests.support.chat_rows import assert_nothing_saved, stored

TZ = ZoneInfo("Asia/Shanghai")
NOTHING = "ℹ️ 你在 24 小时内没有可以撤销的记录"


def test_undo_reverts_stage_amount_and_next_follow_up(chat):
    chat.reply("/跟进 华为 初次拜访 明天回访")
    before = stored(chat)
    chat.clock.advance(hours=1)
    reply = chat.reply("/跟进 华为 报价5万已发 下周三回访")
    assert reply == "✅ 华为｜跟进中 → 已报价｜金额 5万｜下次跟进 12月2日(周三)"
    assert chat.reply("/撤销") == "↩️ 已撤销对 华为 的记录：报价5万已发 下周三回访，客户已恢复原样"
    customer = chat.customer("华为")
    assert customer.stage == "跟进中"
    assert customer.amount is None
    assert customer.next_follow_up_at == datetime(2026, 11, 28, tzinfo=TZ)
    assert customer.last_activity_at == datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
    undone = chat.activities()[-1]
    assert undone.undone_at == datetime(2026, 11, 27, 11, 0, tzinfo=TZ)
    assert stored(chat)["customers"] == before["customers"]
    assert [a.id for a in chat.activities(live_only=True)] == [a[0] for a in before["activities"]]


def test_undo_removes_a_customer_the_entry_created(chat):
    assert chat.reply("/跟进 华为 初次拜访").startswith("🆕 新客户 华为 已建档")
    assert chat.reply("/撤销") == "↩️ 已撤销对 华为 的记录：初次拜访（已删除新建的客户）"
    assert chat.count(Customer) == 0
    assert chat.activities(live_only=True) == []
    assert [a.kind for a in chat.activities()] == ["create", "follow_up"]


def test_undo_removes_a_lead_created_by_new_customer(chat):
    chat.reply("/新客户 腾讯 30万 展会")
    assert chat.reply("/撤销") == "↩️ 已撤销对 腾讯 的记录（已删除新建的客户）"
    assert chat.customers() == []


def test_undo_gives_back_an_unowned_customer(chat):
    chat.reply("/新客户 腾讯")
    assert chat.reply("/跟进 腾讯 电话沟通").startswith("👤 腾讯 的负责人设为 @张三")
    chat.reply("/撤销")
    customer = chat.customer("腾讯")
    assert (customer.owner_id, customer.stage) == (None, "线索")


def test_manager_undoes_an_assignment(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 腾讯 初次拜访")
    before = stored(chat)
    chat.reply("/分配 腾讯 @李四", as_="王经理")
    assert chat.customer("腾讯").owner_id == chat.member("李四").id
    assert chat.reply("/撤销", as_="王经理") == (
        "↩️ 已撤销对 腾讯 的记录：分配给 李四，客户已恢复原样"
    )
    customer = chat.customer("腾讯")
    assert customer.owner_id == chat.member("张三").id
    assert customer.assigned_at is None
    assert stored(chat)["customers"] == before["customers"]


def test_undo_takes_back_a_payment(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/签约 华为 48万")
    chat.reply("/回款 华为 20万")
    chat.reply("/回款 华为 28万")
    assert chat.customer("华为").stage == "已回款"
    chat.reply("/撤销")
    customer = chat.customer("华为")
    assert (customer.paid_amount, customer.stage) == (Decimal("200000"), "已签约")
    chat.reply("/撤销")
    customer = chat.customer("华为")
    assert (customer.paid_amount, customer.stage) == (Decimal("0"), "已签约")


def test_undo_reopens_a_customer_marked_lost(chat):
    chat.reply("/跟进 华为 初次拜访 下周三回访")
    chat.reply("/输单 华为 价格太高")
    chat.reply("/撤销")
    customer = chat.customer("华为")
    assert (customer.stage, customer.status, customer.lost_reason) == ("跟进中", "open", "")
    assert customer.next_follow_up_at == datetime(2026, 12, 2, tzinfo=TZ)


def test_repeated_undo_walks_back_one_entry_at_a_time(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/报价 华为 50万")
    chat.reply("/签约 华为 48万")
    assert chat.reply("/撤销") == "↩️ 已撤销对 华为 的记录，客户已恢复原样"
    assert chat.customer("华为").stage == "已报价"
    chat.reply("/撤销")
    assert chat.customer("华为").stage == "跟进中"
    chat.reply("/撤销")
    assert chat.customers() == []
    assert chat.reply("/撤销") == NOTHING


def test_refused_commands_are_not_entries_to_undo(chat):
    chat.reply("/跟进 华为 初次拜访 报价已发")
    chat.reply("/输单 华为")
    chat.reply("/跟进 百度", as_="张三")
    chat.reply("/撤销")
    assert chat.customers() == []


def test_undo_only_within_24_hours(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.clock.advance(hours=25)
    before = stored(chat)
    assert chat.reply("/撤销") == NOTHING
    assert_nothing_saved(chat, before)


def test_undo_still_works_just_inside_the_window(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.clock.advance(hours=23, minutes=59)
    assert chat.reply("/撤销").startswith("↩️ 已撤销对 华为 的记录")


def test_undo_never_touches_someone_elses_entry(chat):
    chat.reply("/跟进 华为 初次拜访 报价已发")
    before = stored(chat)
    assert chat.reply("/撤销", as_="李四") == NOTHING
    assert_nothing_saved(chat, before)


def test_undo_skips_to_my_own_entry_when_others_logged_elsewhere(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 小米 初次拜访", as_="李四")
    assert chat.reply("/撤销") == "↩️ 已撤销对 华为 的记录：初次拜访（已删除新建的客户）"
    assert [c.name for c in chat.customers()] == ["小米"]


def test_undo_refused_when_a_manager_changed_the_customer_since(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 华为 报价已发")
    chat.reply("/签约 华为 48万", as_="王经理")
    before = stored(chat)
    reply = chat.reply("/撤销")
    assert reply == "❌ 无法撤销：华为 在你之后又被 王经理 修改过，请直接用命令改正"
    assert_nothing_saved(chat, before)


def test_undo_refused_after_a_later_reminder_even_if_it_touched_other_fields(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 华为 发了资料")
    chat.reply("/提醒 华为 下周三", as_="王经理")
    before = stored(chat)
    assert chat.reply("/撤销") == ("❌ 无法撤销：华为 在你之后又被 王经理 修改过，请直接用命令改正")
    assert_nothing_saved(chat, before)


def test_undo_refused_after_a_handover(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 华为 见面")
    chat.reply("/分配 华为 @李四", as_="王经理")
    before = stored(chat)
    assert chat.reply("/撤销").startswith("❌ 无法撤销：华为 在你之后又被 王经理 修改过")
    assert_nothing_saved(chat, before)


def test_undo_of_a_created_customer_refused_once_someone_else_logged_on_it(chat):
    chat.make_manager("王经理")
    chat.reply("/新客户 腾讯")
    chat.reply("/分配 腾讯 @李四", as_="王经理")
    before = stored(chat)
    assert chat.reply("/撤销") == "❌ 无法撤销：腾讯 在你之后又被 王经理 修改过，请直接用命令改正"
    assert_nothing_saved(chat, before)


def test_undo_is_possible_again_once_the_later_entry_is_undone(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 华为 报价已发")
    chat.reply("/签约 华为", as_="王经理")
    chat.reply("/撤销", as_="王经理")
    assert chat.reply("/撤销") == "↩️ 已撤销对 华为 的记录：报价已发，客户已恢复原样"
    assert chat.customer("华为").stage == "跟进中"


def test_undo_aliases(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 小米 初次拜访")
    assert chat.reply("/撤回").startswith("↩️ 已撤销对 小米")
    assert chat.reply("/undo").startswith("↩️ 已撤销对 华为")
    assert chat.customers() == []
