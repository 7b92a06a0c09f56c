"""/阶段 and the shortcuts /报价 /签约 /回款 /输单, and /提醒: explicit moves by owner or manager."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.support.chat_rows import assert_nothing_saved, stored

TZ = ZoneInfo("Asia/Shanghai")
STAGES = "线索、已分配、跟进中、已报价、已签约、已回款、售后、输单"


@pytest.fixture
def owned(chat):
    """华为, owned by 张三, in 跟进中."""
    chat.reply("/跟进 华为 初次拜访")
    return chat


# --- /阶段 ---------------------------------------------------------------------------------------


def test_stage_moves_forward_and_logs_the_move(owned):
    chat = owned
    chat.clock.advance(hours=1)
    assert chat.reply("/阶段 华为 已报价 发了正式报价单") == "✅ 华为｜跟进中 → 已报价"
    customer = chat.customer("华为")
    assert customer.stage == "已报价"
    assert customer.stage_entered_at == datetime(2026, 11, 27, 11, 0, tzinfo=TZ)
    last = chat.activities()[-1]
    assert (last.kind, last.stage_from, last.stage_to, last.text) == (
        "stage",
        "跟进中",
        "已报价",
        "发了正式报价单",
    )


def test_stage_can_move_back_as_a_correction(owned):
    chat = owned
    chat.reply("/签约 华为")
    assert chat.reply("/阶段 华为 已报价 客户要求重新报价") == "✅ 华为｜已签约 → 已报价"
    customer = chat.customer("华为")
    assert (customer.stage, customer.status) == ("已报价", "open")


def test_stage_accepts_natural_stage_names(owned):
    assert owned.reply("/阶段 华为 签单") == "✅ 华为｜跟进中 → 已签约"
    assert owned.customer("华为").status == "won"


def test_stage_to_lost_needs_a_reason_with_one_example(owned):
    before = stored(owned)
    reply = owned.reply("/阶段 华为 输单")
    assert reply == "❌ 输单请写明原因\n例如：/阶段 华为 输单 价格太高"
    assert_nothing_saved(owned, before)


def test_stage_to_lost_with_reason_marks_the_customer_lost(owned):
    assert owned.reply("/阶段 华为 输单 选了竞品") == "✅ 华为｜跟进中 → 输单\n原因：选了竞品"
    customer = owned.customer("华为")
    assert (customer.status, customer.lost_reason) == ("lost", "选了竞品")
    assert owned.activities()[-1].kind == "lost"


def test_stage_reopens_a_lost_customer(owned):
    owned.reply("/输单 华为 价格太高")
    assert owned.reply("/阶段 华为 跟进中 客户回来了") == "✅ 华为｜输单 → 跟进中"
    assert owned.customer("华为").status == "open"


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("/阶段", "❌ 请写上客户名称\n例如：/阶段 华为 已报价"),
        ("/阶段 华为", f"❌ 请写上阶段：{STAGES}\n例如：/阶段 华为 已报价"),
        ("/阶段 华为 差不多了", f"❌ 请写上阶段：{STAGES}\n例如：/阶段 华为 已报价"),
        ("/阶段 百度 已报价", "❌ 没有找到客户“百度”，请检查名称\n例如：/阶段 华为 已报价"),
        ("/阶段 华为 跟进中", "ℹ️ 华为 已经在「跟进中」阶段"),
    ],
)
def test_malformed_or_pointless_stage_saves_nothing(owned, text, reply):
    before = stored(owned)
    assert owned.reply(text) == reply
    assert_nothing_saved(owned, before)


# --- permissions, for every stage-changing command ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("/阶段 华为 已报价", "改阶段"),
        ("/报价 华为 5万", "改阶段"),
        ("/签约 华为 48万", "改阶段"),
        ("/回款 华为 10万", "登记回款"),
        ("/输单 华为 价格太高", "标记输单"),
        ("/提醒 华为 明天", "设提醒"),
    ],
)
def test_rep_cannot_change_someone_elses_customer(owned, text, action):
    before = stored(owned)
    reply = owned.reply(text, as_="李四")
    assert reply == f"⛔ 华为 的负责人是 张三，只有负责人或经理可以{action}"
    assert_nothing_saved(owned, before)


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("/阶段 华为 已报价", "已报价"),
        ("/报价 华为 5万", "已报价"),
        ("/签约 华为 48万", "已签约"),
        ("/回款 华为 10万", "已签约"),  # no contract amount: paid, not fully paid
        ("/输单 华为 价格太高", "输单"),
    ],
)
def test_manager_can_change_any_customer(owned, text, stage):
    owned.make_manager("王经理")
    assert owned.reply(text, as_="王经理").startswith(f"✅ 华为｜跟进中 → {stage}")
    customer = owned.customer("华为")
    assert customer.stage == stage
    assert customer.owner_id == owned.member("张三").id
    assert owned.activities()[-1].member_id == owned.member("王经理").id


# --- /报价 /签约 ---------------------------------------------------------------------------------


def test_quote_with_amount_sets_stage_and_amount(owned):
    assert owned.reply("/报价 华为 50万 含三年维保") == "✅ 华为｜跟进中 → 已报价｜金额 50万"
    customer = owned.customer("华为")
    assert (customer.stage, customer.amount) == ("已报价", Decimal("500000"))
    last = owned.activities()[-1]
    assert (last.kind, last.amount, last.text) == ("stage", Decimal("500000"), "含三年维保")


def test_requote_on_a_quoted_customer_updates_only_the_amount(owned):
    owned.reply("/报价 华为 50万")
    assert owned.reply("/报价 华为 45万") == "✅ 华为｜已报价｜金额 45万"
    assert owned.customer("华为").amount == Decimal("450000")


def test_quote_without_amount_on_a_quoted_customer_saves_nothing(owned):
    owned.reply("/报价 华为")
    before = stored(owned)
    assert owned.reply("/报价 华为") == "ℹ️ 华为 已经在「已报价」阶段"
    assert_nothing_saved(owned, before)


def test_quote_never_moves_a_signed_customer_back(owned):
    owned.reply("/签约 华为 48万")
    before = stored(owned)
    assert owned.reply("/报价 华为 50万") == (
        "❌ 华为 已在「已签约」阶段；要回退请用 /阶段 华为 已报价"
    )
    assert_nothing_saved(owned, before)


def test_sign_with_contract_amount_marks_the_deal_won(owned):
    owned.reply("/报价 华为 50万")
    assert owned.reply("/签约 华为 48万 年框合同") == "✅ 华为｜已报价 → 已签约｜金额 48万"
    customer = owned.customer("华为")
    assert (customer.stage, customer.status, customer.amount) == (
        "已签约",
        "won",
        Decimal("480000"),
    )
    last = owned.activities()[-1]
    assert (last.kind, last.text) == ("won", "年框合同")


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("/报价 华为", "❌ 华为 已输单；要恢复请用 /阶段 华为 跟进中"),
        ("/签约 华为 48万", "❌ 华为 已输单；要恢复请用 /阶段 华为 跟进中"),
        ("/回款 华为 10万", "❌ 华为 已输单；要恢复请用 /阶段 华为 已签约"),
        ("/输单 华为 又输了", "ℹ️ 华为 已经是输单状态"),
    ],
)
def test_shortcuts_refuse_a_lost_customer(owned, text, reply):
    owned.reply("/输单 华为 价格太高")
    before = stored(owned)
    assert owned.reply(text) == reply
    assert_nothing_saved(owned, before)


# --- /回款 ---------------------------------------------------------------------------------------


def test_payments_accumulate_and_the_deal_is_paid_once_they_cover_the_contract(owned):
    owned.reply("/签约 华为 48万")
    first = owned.reply("/回款 华为 20万 首付款")
    assert first == "✅ 华为｜已签约｜回款 20万\n累计回款 20万 / 48万，还差 28万"
    assert owned.customer("华为").stage == "已签约"
    second = owned.reply("/回款 华为 ¥280,000 尾款")
    assert second == "✅ 华为｜已签约 → 已回款｜回款 28万\n累计回款 48万 / 48万，已全部回款"
    customer = owned.customer("华为")
    assert (customer.paid_amount, customer.amount) == (Decimal("480000"), Decimal("480000"))
    assert (customer.stage, customer.status) == ("已回款", "won")
    payments = [(a.kind, a.amount, a.text) for a in owned.activities() if a.kind == "payment"]
    assert payments == [
        ("payment", Decimal("200000"), "首付款"),
        ("payment", Decimal("280000"), "尾款"),
    ]


def test_payment_without_contract_amount_signs_the_deal_but_is_not_fully_paid(owned):
    assert owned.reply("/回款 华为 8000") == (
        "✅ 华为｜跟进中 → 已签约｜回款 8,000元\n"
        "累计回款 8,000元；合同金额未填，填上才能判断是否回款完毕：/签约 华为 金额"
    )
    customer = owned.customer("华为")
    assert (customer.stage, customer.status) == ("已签约", "won")
    assert owned.reply("/签约 华为 8000") == "✅ 华为｜已签约 → 已回款｜金额 8,000元"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/回款 华为", "请写上回款金额"),
        ("/回款 华为 首付款", "请写上回款金额"),
        ("/回款 华为 0", "看不懂金额“0”，金额要大于零"),
    ],
)
def test_payment_needs_an_amount(owned, text, reason):
    before = stored(owned)
    assert owned.reply(text) == f"❌ {reason}\n例如：/回款 华为 20万 首付款"
    assert_nothing_saved(owned, before)


# --- /输单 ---------------------------------------------------------------------------------------


def test_lost_needs_a_reason(owned):
    before = stored(owned)
    assert owned.reply("/输单 华为") == "❌ 请写明输单原因\n例如：/输单 华为 价格太高"
    assert_nothing_saved(owned, before)


def test_lost_sets_status_reason_and_clears_the_next_follow_up(owned):
    owned.reply("/提醒 华为 下周三")
    reply = owned.reply("/输单 华为 客户选了竞品 价格低两成")
    assert reply == "✅ 华为｜跟进中 → 输单｜已清除下次跟进\n原因：客户选了竞品 价格低两成"
    customer = owned.customer("华为")
    assert (customer.stage, customer.status) == ("输单", "lost")
    assert customer.lost_reason == "客户选了竞品 价格低两成"
    assert customer.next_follow_up_at is None
    assert owned.activities()[-1].kind == "lost"


# --- /提醒 ---------------------------------------------------------------------------------------


def test_remind_sets_the_next_follow_up_with_time_and_matter(owned):
    reply = owned.reply("/提醒 华为 下周三下午3点 送样品")
    assert reply == "⏰ 华为｜跟进中｜下次跟进 12月2日(周三) 15:00\n事项：送样品"
    customer = owned.customer("华为")
    assert customer.next_follow_up_at == datetime(2026, 12, 2, 15, 0, tzinfo=TZ)
    assert customer.next_follow_up_has_time is True
    last = owned.activities()[-1]
    assert (last.kind, last.text) == ("reminder", "送样品")
    assert last.next_follow_up_at == datetime(2026, 12, 2, 15, 0, tzinfo=TZ)


def test_remind_with_a_date_only(owned):
    assert owned.reply("/提醒 华为 12月5日") == "⏰ 华为｜跟进中｜下次跟进 12月5日(周六)"
    assert owned.customer("华为").next_follow_up_has_time is False


def test_manager_can_set_a_reminder_on_any_customer(owned):
    owned.make_manager("王经理")
    assert (
        owned.reply("/提醒 华为 明天", as_="王经理") == "⏰ 华为｜跟进中｜下次跟进 11月28日(周六)"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/提醒", "请写上客户名称和时间"),
        ("/提醒 华为", "请写上提醒时间"),
        ("/提醒 百度 明天", "没有找到客户“百度”，请检查名称"),
        (
            "/提醒 华为 回头再说",
            "没看懂时间“回头再说”（要写以后的时间），可以写 明天、下周三、12月5日下午3点",
        ),
        (
            "/提醒 华为 昨天",
            "没看懂时间“昨天”（要写以后的时间），可以写 明天、下周三、12月5日下午3点",
        ),
        ("/提醒 华为 今早", "这个时间已经过去了，请写一个以后的时间"),
    ],
)
def test_malformed_remind_explains_and_saves_nothing(owned, text, reason):
    before = stored(owned)
    assert owned.reply(text) == f"❌ {reason}\n例如：/提醒 华为 下周三下午3点 送样品"
    assert_nothing_saved(owned, before)


def test_sign_is_also_typed_as_qian_dan(owned):
    assert owned.reply("/签单 华为 48万") == "✅ 华为｜跟进中 → 已签约｜金额 48万"
    assert owned.customer("华为").status == "won"
