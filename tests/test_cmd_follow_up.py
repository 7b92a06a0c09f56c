"""/跟进: log a follow-up, create unknown customers, infer stage, amount and next follow-up."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from models import Activity, Customer
from tests.support.chat_rows import assert_nothing_saved, stored

TZ = ZoneInfo("Asia/Shanghai")
EXAMPLE = "例如：/跟进 华为 报价已发 下周三回访"


def test_follow_up_on_unknown_customer_creates_it_owned_by_sender(chat):
    reply = chat.reply("/跟进 华为 初次拜访 聊了需求")
    assert reply == "🆕 新客户 华为 已建档，负责人 @张三\n✅ 华为｜跟进中"
    assert chat.mentions() == ["张三"]
    customer = chat.customer("华为")
    assert customer.stage == "跟进中"
    assert customer.status == "open"
    assert customer.owner_id == chat.member("张三").id
    assert customer.last_activity_at == datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
    kinds = [(a.kind, a.stage_to, a.text) for a in chat.activities()]
    assert kinds == [("create", "跟进中", ""), ("follow_up", None, "初次拜访 聊了需求")]


def test_first_follow_up_moves_lead_to_following_and_takes_ownership(chat):
    chat.reply("/新客户 腾讯")
    assert chat.customer("腾讯").stage == "线索"
    reply = chat.reply("/跟进 腾讯 电话沟通")
    assert reply == "👤 腾讯 的负责人设为 @张三\n✅ 腾讯｜线索 → 跟进中"
    customer = chat.customer("腾讯")
    assert (customer.stage, customer.owner_id) == ("跟进中", chat.member("张三").id)
    last = chat.activities()[-1]
    assert (last.kind, last.stage_from, last.stage_to) == ("follow_up", "线索", "跟进中")


def test_first_follow_up_moves_assigned_customer_to_following(chat):
    chat.make_manager("王经理")
    chat.reply("/新客户 腾讯 @李四", as_="王经理")
    assert chat.customer("腾讯").stage == "已分配"
    assert chat.reply("/跟进 腾讯 已加微信", as_="李四") == "✅ 腾讯｜已分配 → 跟进中"
    assert chat.customer("腾讯").owner_id == chat.member("李四").id


def test_second_follow_up_keeps_stage(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/跟进 华为 又打了个电话") == "✅ 华为｜跟进中"
    assert chat.customer("华为").stage == "跟进中"


def test_reply_shows_stage_move_amount_and_next_follow_up(chat):
    chat.reply("/跟进 小米 初次拜访")
    reply = chat.reply("/跟进 小米 报价5万已发 下周三回访")
    assert reply == "✅ 小米｜跟进中 → 已报价｜金额 5万｜下次跟进 12月2日(周三)"
    customer = chat.customer("小米")
    assert customer.stage == "已报价"
    assert customer.amount == Decimal("50000")
    assert customer.next_follow_up_at == datetime(2026, 12, 2, tzinfo=TZ)
    assert customer.next_follow_up_has_time is False
    last = chat.activities()[-1]
    assert last.amount == Decimal("50000")
    assert last.next_follow_up_at == datetime(2026, 12, 2, tzinfo=TZ)
    assert (last.stage_from, last.stage_to) == ("跟进中", "已报价")


def test_negated_quote_keyword_does_not_move_stage(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/跟进 华为 还没报价，客户在走内部流程") == "✅ 华为｜跟进中"
    assert chat.customer("华为").stage == "跟进中"


@pytest.mark.parametrize("note", ["准备报价", "打算报价", "报价了吗"])
def test_intended_or_asked_quote_does_not_move_stage(chat, note):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply(f"/跟进 华为 {note}") == "✅ 华为｜跟进中"


def test_quote_planned_for_next_week_sets_the_follow_up_but_not_the_stage(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/跟进 华为 下周报价") == "✅ 华为｜跟进中｜下次跟进 11月30日(周一)"
    assert chat.customer("华为").stage == "跟进中"


def test_quote_keyword_never_moves_a_signed_customer_back(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/签约 华为 48万")
    assert chat.reply("/跟进 华为 报价已发，补充了一份二期报价") == "✅ 华为｜已签约"
    customer = chat.customer("华为")
    assert (customer.stage, customer.status) == ("已签约", "won")


def test_signing_keyword_moves_forward_past_quote(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/跟进 华为 合同签了") == "✅ 华为｜跟进中 → 已签约"
    customer = chat.customer("华为")
    assert (customer.stage, customer.status) == ("已签约", "won")


@pytest.mark.parametrize("note", ["这单输了", "黄了", "客户放弃了", "丢单了"])
def test_loss_words_in_a_follow_up_never_mark_the_customer_lost(chat, note):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply(f"/跟进 华为 {note}") == "✅ 华为｜跟进中"
    customer = chat.customer("华为")
    assert (customer.stage, customer.status) == ("跟进中", "open")


def test_follow_up_on_lost_customer_keeps_it_lost_and_says_how_to_reopen(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/输单 华为 价格太高")
    reply = chat.reply("/跟进 华为 客户又来询价，报价已发")
    assert reply == "✅ 华为｜输单\nℹ️ 该客户已输单；要重新跟进请用 /阶段 华为 跟进中"
    assert chat.customer("华为").status == "lost"


def test_payment_in_a_follow_up_keeps_the_contract_amount(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/签约 华为 48万")
    reply = chat.reply("/跟进 华为 回款5万到账了")
    # No payment was recorded, so the deal is not 已回款 (it stays 已签约 until /回款 covers it).
    assert reply == ("✅ 华为｜已签约\nℹ️ 回款金额请用 /回款 华为 5万 登记，会累计到已回款")
    customer = chat.customer("华为")
    assert customer.amount == Decimal("480000")
    assert customer.paid_amount == Decimal("0")
    assert customer.stage == "已签约"


def test_follow_up_without_a_date_clears_a_follow_up_due_today(chat):
    chat.reply("/跟进 华为 约了今天下午3点电话")
    assert chat.customer("华为").next_follow_up_at == datetime(2026, 11, 27, 15, 0, tzinfo=TZ)
    chat.clock.advance(hours=6)
    assert chat.reply("/跟进 华为 电话打完了") == "✅ 华为｜跟进中｜已清除下次跟进"
    assert chat.customer("华为").next_follow_up_at is None


def test_follow_up_without_a_date_keeps_a_later_follow_up(chat):
    chat.reply("/跟进 华为 初次拜访 下周三回访")
    assert chat.reply("/跟进 华为 发了资料") == "✅ 华为｜跟进中"
    assert chat.customer("华为").next_follow_up_at == datetime(2026, 12, 2, tzinfo=TZ)


def test_rep_cannot_follow_up_someone_elses_customer(chat):
    chat.reply("/跟进 华为 初次拜访")
    before = stored(chat)
    reply = chat.reply("/跟进 华为 我也去聊了 报价已发 明天回访", as_="李四")
    assert reply == "⛔ 华为 的负责人是 张三，只有负责人或经理可以跟进"
    assert chat.mentions() == []
    assert_nothing_saved(chat, before)


def test_manager_can_follow_up_any_customer_without_taking_it_over(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/跟进 华为 陪同拜访，报价已发", as_="王经理") == "✅ 华为｜跟进中 → 已报价"
    customer = chat.customer("华为")
    assert customer.owner_id == chat.member("张三").id
    assert chat.activities()[-1].member_id == chat.member("王经理").id


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/跟进", "请写上客户名称和跟进内容"),
        ("/跟进 华为", "请写上跟进内容"),
        ("/跟进 明天 去拜访", "“明天”不像客户名称，请把客户名称写在命令后面"),
        ("/跟进 已报价 华为", "“已报价”不像客户名称，请把客户名称写在命令后面"),
        ("/跟进 @李四 聊了", "客户名称“＠李四”里有不能用的字符"),
    ],
)
def test_malformed_follow_up_explains_and_saves_nothing(chat, text, reason):
    chat.reply("/跟进 小米 初次拜访")
    before = stored(chat)
    assert chat.reply(text) == f"❌ {reason}\n{EXAMPLE}"
    assert_nothing_saved(chat, before)


def test_too_long_new_customer_name_is_refused(chat):
    name = "很" * 41
    assert chat.reply(f"/跟进 {name} 聊了") == f"❌ 客户名称太长了（最多 40 个字）\n{EXAMPLE}"
    assert chat.count(Customer) == 0
    assert chat.count(Activity) == 0


def test_follow_up_aliases_work(chat):
    assert chat.reply("/gj 华为 初次拜访").endswith("✅ 华为｜跟进中")
    assert chat.reply("/记录 华为 又聊了") == "✅ 华为｜跟进中"
    assert chat.count(Customer) == 1
    assert [a.kind for a in chat.activities()] == ["create", "follow_up", "follow_up"]
