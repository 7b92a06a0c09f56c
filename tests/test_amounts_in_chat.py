"""Money typed in chat: read exactly, asked about, or refused with nothing saved."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.chat_rows import assert_nothing_saved, stored

NEW_EXAMPLE = "例如：/新客户 华为 @张三 50万 展会"
WON_EXAMPLE = "例如：/签约 华为 48万"
PAY_EXAMPLE = "例如：/回款 华为 20万 首付款"
QUOTE_EXAMPLE = "例如：/报价 华为 50万"
TARGET_EXAMPLE = "例如：/目标 @李四 50万 12月"


def _following(chat):
    """华为 exists, owned by 张三, at 跟进中."""
    chat.reply("/跟进 华为 初次拜访")


# --- /新客户: the amounts found wrong on main ---------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "shown", "value"),
    [
        ("3万4000", "3.4万", "34000"),
        ("1万600", "1.06万", "10600"),
        ("5万4千6百", "5.46万", "54600"),
        ("一百十一", "111元", "111"),
        ("一千零十", "1,010元", "1010"),
        ("一千陆", "1,600元", "1600"),
        ("壹拾万零叁仟元整", "10.3万", "103000"),
        ("伍仟元整", "5,000元", "5000"),
        ("人民币 8千元", "8,000元", "8000"),
        ("2千零30万", "2030万", "20300000"),
        ("3万4", "3.4万", "34000"),
        ("34,004元", "34,004元", "34004"),
    ],
)
def test_new_customer_amount_is_read_exactly_and_shown(chat, typed, shown, value):
    reply = chat.reply(f"/新客户 客户甲 {typed}")
    assert reply.startswith(f"🆕 新客户 客户甲｜线索｜金额 {shown}\n")
    customer = chat.customer("客户甲")
    assert (customer.amount, customer.source) == (Decimal(value), "")
    assert chat.activities()[-1].amount == Decimal(value)


def test_new_customer_amount_and_source_in_any_order_and_with_chinese_commas(chat):
    chat.reply("/新客户 客户甲，展会，¥30,000")
    customer = chat.customer("客户甲")
    assert (customer.amount, customer.source) == (Decimal("30000"), "展会")


def test_source_words_that_contain_numerals_stay_the_source(chat):
    chat.reply("/新客户 客户甲 百度推广 5G展会 三一重工介绍")
    customer = chat.customer("客户甲")
    assert (customer.amount, customer.source) == (None, "百度推广 5G展会 三一重工介绍")


@pytest.mark.parametrize(
    ("typed", "reply"),
    [
        ("5万3万", "❌ 看不懂金额“5万3万”，请用数字或中文数字写清楚\n" + NEW_EXAMPLE),
        ("5万美元", "❌ 金额“5万美元”是美元，只能记人民币金额，请换算成人民币\n" + NEW_EXAMPLE),
        (
            "HK$5000 展会",
            "❌ 金额“HK$5000”是港币，只能记人民币金额，请换算成人民币\n" + NEW_EXAMPLE,
        ),
        ("十多万 展会", "🤔 金额“十多万”是约数，请给出准确金额\n" + NEW_EXAMPLE),
        ("5-8万", "🤔 金额“5-8万”是约数，请给出准确金额\n" + NEW_EXAMPLE),
        ("50万 左右", "🤔 金额“50万 左右”是约数，请给出准确金额\n" + NEW_EXAMPLE),
        ("48万含税", "❌ 看不懂金额“48万含税”，请只写金额，例如：5万\n" + NEW_EXAMPLE),
        ("0元", "❌ 看不懂金额“0元”，金额要大于零\n" + NEW_EXAMPLE),
        ("展会预算50万", "❌ 金额“50万”请单独写，用空格和来源隔开\n" + NEW_EXAMPLE),
        ("很多钱", "❌ 看不懂金额“很多钱”，请用数字或中文数字写清楚\n" + NEW_EXAMPLE),
    ],
)
def test_new_customer_money_that_is_not_exact_never_becomes_the_source(chat, typed, reply):
    before = stored(chat)
    assert chat.reply(f"/新客户 客户甲 {typed}") == reply
    assert_nothing_saved(chat, before)


# --- /报价 /签约 /回款 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "reply", "value"),
    [
        ("/报价 华为 3万4000 含税", "✅ 华为｜跟进中 → 已报价｜金额 3.4万", "34000"),
        ("/签约 华为 一千零十", "✅ 华为｜跟进中 → 已签约｜金额 1,010元", "1010"),
        ("/签约 华为 人民币 48万 年框", "✅ 华为｜跟进中 → 已签约｜金额 48万", "480000"),
        ("/签约 华为 30，000 元", "✅ 华为｜跟进中 → 已签约｜金额 3万", "30000"),
    ],
)
def test_stage_commands_read_the_amount_exactly(chat, command, reply, value):
    _following(chat)
    assert chat.reply(command) == reply
    assert chat.customer("华为").amount == Decimal(value)


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("/签约 华为 很多钱", "❌ 看不懂金额“很多钱”，请用数字或中文数字写清楚\n" + WON_EXAMPLE),
        ("/签约 华为 大概50万", "🤔 金额“大概50万”是约数，请给出准确金额\n" + WON_EXAMPLE),
        (
            "/签约 华为 5万美元",
            "❌ 金额“5万美元”是美元，只能记人民币金额，请换算成人民币\n" + WON_EXAMPLE,
        ),
        (
            "/签约 华为 USD 50000",
            "❌ 金额“USD 50000”是美元，只能记人民币金额，请换算成人民币\n" + WON_EXAMPLE,
        ),
        ("/签约 华为 年框合同 48万", "❌ 金额“48万”请紧跟在客户名后面写\n" + WON_EXAMPLE),
        ("/报价 华为 三四万", "🤔 金额“三四万”是约数，请给出准确金额\n" + QUOTE_EXAMPLE),
        ("/报价 华为 5,6万", "🤔 金额“5,6万”是约数，请给出准确金额\n" + QUOTE_EXAMPLE),
        ("/回款 华为 好多", "❌ 请写上回款金额\n" + PAY_EXAMPLE),
        ("/回款 华为 近5万", "🤔 金额“近5万”是约数，请给出准确金额\n" + PAY_EXAMPLE),
        ("/回款 华为 0.001元", "❌ 看不懂金额“0.001元”，金额最多精确到分\n" + PAY_EXAMPLE),
        ("/回款 华为 首付款 20万", "❌ 金额“20万”请紧跟在客户名后面写\n" + PAY_EXAMPLE),
    ],
)
def test_stage_commands_refuse_or_ask_and_save_nothing(chat, command, reply):
    _following(chat)
    before = stored(chat)
    assert chat.reply(command) == reply
    assert_nothing_saved(chat, before)


def test_a_note_without_money_still_signs(chat):
    _following(chat)
    assert chat.reply("/签约 华为 年框合同") == "✅ 华为｜跟进中 → 已签约"
    assert chat.activities()[-1].text == "年框合同"


def test_payment_with_grouped_full_width_amount_keeps_its_note(chat):
    _following(chat)
    first_line = chat.reply("/回款 华为 ￥12，345.50，首付款").splitlines()[0]
    assert first_line.endswith("｜回款 12,345.5元")
    assert chat.customer("华为").paid_amount == Decimal("12345.50")
    assert chat.activities()[-1].text == "首付款"


# --- /目标 ---------------------------------------------------------------------------------------


def test_target_amount_is_read_exactly(chat):
    chat.make_manager()
    reply = chat.reply("/目标 @李四 人民币 1万600 12月", as_="王经理")
    assert reply.startswith("🎯 @李四 12月目标 1.06万")


@pytest.mark.parametrize(
    ("typed", "reply"),
    [
        ("五十多万", "🤔 金额“五十多万”是约数，请给出准确金额\n" + TARGET_EXAMPLE),
        ("5万欧元", "❌ 金额“5万欧元”是欧元，只能记人民币金额，请换算成人民币\n" + TARGET_EXAMPLE),
        ("万五", "❌ 看不懂金额“万五”，请用数字或中文数字写清楚\n" + TARGET_EXAMPLE),
    ],
)
def test_target_amount_that_is_not_exact_is_not_saved(chat, typed, reply):
    chat.make_manager()
    before = stored(chat)
    assert chat.reply(f"/目标 @李四 {typed}", as_="王经理") == reply
    assert_nothing_saved(chat, before)
    assert "还没有设目标" in chat.reply("/目标", as_="王经理")


# --- /跟进 free text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("note", "line"),
    [
        ("报价5万美元", "金额“5万美元”是美元，只能记人民币金额，请换算成人民币"),
        ("报价十多万", "金额“十多万”是约数，请给出准确金额"),
        ("客户预算50万左右", "金额“50万左右”是约数，请给出准确金额"),
        ("报价5万美元，服务费3千元", "金额“5万美元”是美元，只能记人民币金额，请换算成人民币"),
    ],
)
def test_follow_up_with_a_rough_or_foreign_amount_records_no_amount_and_says_so(chat, note, line):
    chat.reply("/跟进 华为 初次拜访 预算8000元")
    assert chat.customer("华为").amount == Decimal("8000")
    reply = chat.reply(f"/跟进 华为 {note}")
    assert reply.endswith(f"\nℹ️ 金额未记录：{line}，例如：/跟进 华为 预算12万")
    assert "金额 " not in reply.splitlines()[0]
    assert chat.customer("华为").amount == Decimal("8000")
    assert chat.activities()[-1].amount is None
    assert chat.activities()[-1].text == note


@pytest.mark.parametrize(
    ("note", "shown", "value"),
    [
        ("客户预算3万4000", "3.4万", "34000"),
        ("预算一千陆", "1,600元", "1600"),
        ("预算人民币8千元", "8,000元", "8000"),
        ("预算十万零五十六", "100,056元", "100056"),
    ],
)
def test_follow_up_exact_amount_is_stored_and_shown(chat, note, shown, value):
    _following(chat)
    assert chat.reply(f"/跟进 华为 {note}") == f"✅ 华为｜跟进中｜金额 {shown}"
    assert chat.customer("华为").amount == Decimal(value)


def test_follow_up_weekday_before_a_place_is_not_money(chat):
    _following(chat)
    reply = chat.reply("/跟进 华为 周三万达广场见")
    assert reply == "✅ 华为｜跟进中｜下次跟进 12月2日(周三)"
    assert chat.customer("华为").amount is None
