"""Messages typed the way reps type them, end to end through the chat pipeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.support.chat_rows import assert_nothing_saved, stored

TZ = ZoneInfo("Asia/Shanghai")
NEW = "🆕 新客户 华为 已建档，负责人 @张三\n"


# --- what chat clients do to the command ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "／跟进　华为　报价已发　下周三回访",
        "/跟进 华为，报价已发，下周三回访",
        "/跟进 华为：报价已发 下周三回访",
        "/跟进华为 报价已发 下周三回访",
        "@跟进助手 /跟进 华为 报价已发 下周三回访",
        "＠跟进助手　／跟进 华为 报价已发 下周三回访",
        "@跟进助手 跟进 华为 报价已发 下周三回访",
        "  /跟进   华为    报价已发   下周三回访  ",
        "/GJ 华为 报价已发 下周三回访",
        "/跟进 “华为” 报价已发 下周三回访",
    ],
)
def test_mangled_follow_up_still_works(chat, text):
    assert chat.reply(text) == NEW + "✅ 华为｜跟进中 → 已报价｜下次跟进 12月2日(周三)"
    [customer] = chat.customers()
    assert (customer.name, customer.stage) == ("华为", "已报价")
    assert customer.next_follow_up_at == datetime(2026, 12, 2, tzinfo=TZ)


def test_known_customer_glued_to_the_note_is_split_off(chat):
    chat.reply("/跟进 华为 初次拜访")
    reply = chat.reply("/跟进华为报价已发 明天回访")
    assert reply == (
        "✅ 华为｜跟进中 → 已报价｜下次跟进 11月28日(周六)\n（“华为报价已发”按 华为 处理）"
    )
    assert chat.activities()[-1].text == "报价已发 明天回访"
    assert len(chat.customers()) == 1


def test_glued_full_legal_name_is_split_off_too(chat):
    chat.reply("/新客户 华为技术有限公司 @张三")
    assert chat.reply("/跟进华为技术有限公司已报价").startswith(
        "✅ 华为技术有限公司｜已分配 → 已报价"
    )
    assert chat.activities()[-1].text == "已报价"


def test_unknown_name_glued_to_a_note_is_not_made_a_customer(chat):
    reply = chat.reply("/跟进华为报价已发")
    assert reply == (
        "❌ “华为报价已发”不像客户名称，请把客户名称写在命令后面\n"
        "例如：/跟进 华为 报价已发 下周三回访"
    )
    assert chat.customers() == []


def test_multi_line_note_is_kept(chat):
    chat.reply("/跟进 华为 初次拜访")
    text = "/跟进 华为 拜访了采购部\n对方关心交付周期\n约了明天下午3点再谈"
    assert chat.reply(text) == "✅ 华为｜跟进中｜下次跟进 11月28日(周六) 15:00"
    assert chat.activities()[-1].text == "拜访了采购部\n对方关心交付周期\n约了明天下午3点再谈"


def test_multi_line_note_is_shown_on_the_card(chat):
    chat.reply("/跟进 华为 第一行\n第二行")
    assert "11月27日 张三 跟进：第一行\n第二行" in chat.reply("/客户 华为")


def test_zero_width_characters_from_copy_paste_are_ignored(chat):
    assert chat.reply("/跟\u200b进 华为\u200b 初次拜访").startswith(NEW)
    assert chat.customer("华为") is not None


# --- dates and amounts in a follow-up ---------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "shown", "stored_at", "has_time"),
    [
        ("明天", "11月28日(周六)", datetime(2026, 11, 28, tzinfo=TZ), False),
        ("后天", "11月29日(周日)", datetime(2026, 11, 29, tzinfo=TZ), False),
        ("下周三", "12月2日(周三)", datetime(2026, 12, 2, tzinfo=TZ), False),
        ("3天后", "11月30日(周一)", datetime(2026, 11, 30, tzinfo=TZ), False),
        ("12月5日", "12月5日(周六)", datetime(2026, 12, 5, tzinfo=TZ), False),
        ("月底", "11月30日(周一)", datetime(2026, 11, 30, tzinfo=TZ), False),
        ("明天下午3点", "11月28日(周六) 15:00", datetime(2026, 11, 28, 15, tzinfo=TZ), True),
        ("下周一上午10点", "11月30日(周一) 10:00", datetime(2026, 11, 30, 10, tzinfo=TZ), True),
    ],
)
def test_chinese_dates_set_the_next_follow_up(chat, when, shown, stored_at, has_time):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply(f"/跟进 华为 约了{when}再聊") == f"✅ 华为｜跟进中｜下次跟进 {shown}"
    customer = chat.customer("华为")
    assert customer.next_follow_up_at == stored_at
    assert customer.next_follow_up_has_time is has_time
    assert chat.activities()[-1].next_follow_up_at == stored_at


def test_a_past_date_in_a_note_does_not_set_the_next_follow_up(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/跟进 华为 昨天发的资料客户收到了") == "✅ 华为｜跟进中"
    assert chat.customer("华为").next_follow_up_at is None


@pytest.mark.parametrize(
    ("amount", "shown", "value"),
    [
        ("5万", "5万", "50000"),
        ("5.5w", "5.5万", "55000"),
        ("¥30,000", "3万", "30000"),
        ("三万", "3万", "30000"),
        ("三万五", "3.5万", "35000"),
        ("8000元", "8,000元", "8000"),
    ],
)
def test_amounts_in_a_note_set_the_deal_amount(chat, amount, shown, value):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply(f"/跟进 华为 客户预算{amount}") == f"✅ 华为｜跟进中｜金额 {shown}"
    assert chat.customer("华为").amount == Decimal(value)


def test_quantities_are_not_amounts(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/跟进 华为 客户有5万人 需要3千台") == "✅ 华为｜跟进中"
    assert chat.customer("华为").amount is None


@pytest.mark.parametrize(
    ("command", "value"),
    [
        ("/回款 华为 ¥30,000 首付", "30000"),
        ("/回款 华为 30,000元", "30000"),
        ("/回款 华为 5.5w", "55000"),
        ("/回款 华为 三万", "30000"),
        ("/回款 华为 ￥12,345.50", "12345.50"),
    ],
)
def test_amounts_typed_after_a_payment(chat, command, value):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply(command)
    assert chat.customer("华为").paid_amount == Decimal(value)


def test_grouped_amount_after_quote_keeps_the_note(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/报价 华为 ¥480,000 含税") == "✅ 华为｜跟进中 → 已报价｜金额 48万"
    assert chat.activities()[-1].text == "含税"


def test_new_customer_amounts(chat):
    chat.reply("/新客户 华为 ¥30,000 转介绍")
    customer = chat.customer("华为")
    assert (customer.amount, customer.source) == (Decimal("30000"), "转介绍")


# --- customer names: suffixes and near matches ------------------------------------------------


@pytest.mark.parametrize("typed", ["华为", "华为公司", "华为技术有限公司", "华为集团"])
def test_company_suffixes_are_ignored_when_matching(chat, typed):
    chat.reply("/新客户 华为技术有限公司 @张三")
    before = stored(chat)
    assert chat.reply(f"/跟进 {typed} 电话沟通") == "✅ 华为技术有限公司｜已分配 → 跟进中"
    assert len(chat.customers()) == len(before["customers"])


def test_full_legal_name_finds_the_short_name(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/跟进 华为技术有限公司 报价已发") == "✅ 华为｜跟进中 → 已报价"
    assert len(chat.customers()) == 1


@pytest.mark.parametrize("typed", ["华为技术", "华唯"])
def test_near_match_is_used_and_named_in_the_reply(chat, typed):
    chat.reply("/新客户 华为技术有限公司 @张三")
    reply = chat.reply(f"/跟进 {typed} 电话沟通")
    assert reply == f"✅ 华为技术有限公司｜已分配 → 跟进中\n（“{typed}”按 华为技术有限公司 处理）"
    assert len(chat.customers()) == 1


def test_a_typo_that_is_no_homophone_is_asked_about_and_the_note_stays_whole(chat):
    chat.reply("/新客户 华为技术有限公司 @张三")
    before = stored(chat)
    assert chat.reply("/跟进 华为技木 电话沟通") == (
        "🤔 没有找到客户“华为技木”。是 华为技术有限公司 吗？回复 1 是，2 新建客户 华为技木"
    )
    assert_nothing_saved(chat, before)
    assert chat.reply("1") == "✅ 华为技术有限公司｜已分配 → 跟进中"
    assert chat.activities()[-1].text == "电话沟通"
    assert len(chat.customers()) == 1


def test_near_match_is_named_on_every_command(chat):
    chat.reply("/跟进 华为技术有限公司 初次拜访")
    assert chat.reply("/报价 华唯 5万").endswith("\n（“华唯”按 华为技术有限公司 处理）")
    assert chat.reply("/客户 华唯").startswith(
        "（“华唯”按 华为技术有限公司 处理）\n【📇 华为技术有限公司】"
    )


def test_a_different_customer_is_not_taken_for_a_near_match(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/跟进 小米 初次拜访").startswith("🆕 新客户 小米 已建档")
    assert [c.name for c in chat.customers()] == ["华为", "小米"]


# --- user text shown back is escaped ----------------------------------------------------------


def test_customer_name_with_at_all_never_mentions_anyone(chat):
    reply = chat.reply("/跟进 华为@所有人 初次拜访")
    assert reply == ("🆕 新客户 华为＠所有人 已建档，负责人 @张三\n✅ 华为＠所有人｜跟进中")
    assert chat.mentions() == ["张三"]
    assert chat.reply("/我的") == (
        "你负责的客户（1 个）：\n1. 华为＠所有人｜跟进中｜未设下次跟进，最近动态 今天"
    )
    assert chat.mentions() == []


@pytest.mark.parametrize("name", ["@所有人", '<at user_id="all">', "华为<b>", "/跟进"])
def test_customer_names_with_markup_are_refused(chat, name):
    before = stored(chat)
    reply = chat.reply(f"/新客户 {name}")
    assert reply.startswith("❌ 客户名称“")
    assert "@" not in reply.split("\n")[0] and "<" not in reply
    assert chat.mentions() == []
    assert_nothing_saved(chat, before)


NASTY = '@所有人 <at user_id="all">全体</at> **注意** [点我](http://x.cn)'
SAFE = '＠所有人 ＜at user_id="all"＞全体＜/at＞ **注意** [点我](http://x.cn)'


def test_note_with_mentions_and_markup_is_escaped_on_the_card(chat):
    chat.reply(f"/跟进 华为 {NASTY}")
    reply = chat.reply("/客户 华为")
    assert f"11月27日 张三 跟进：{SAFE}" in reply
    assert "@" not in reply and "<" not in reply
    assert chat.mentions() == []


def test_lost_reason_with_markup_is_escaped(chat):
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply(f"/输单 华为 {NASTY}") == f"✅ 华为｜跟进中 → 输单\n原因：{SAFE}"
    assert chat.mentions() == []


def test_reminder_matter_with_markup_is_escaped(chat):
    chat.reply("/跟进 华为 初次拜访")
    reply = chat.reply("/提醒 华为 明天 @所有人 <b>开会</b>")
    assert reply == "⏰ 华为｜跟进中｜下次跟进 11月28日(周六)\n事项：＠所有人 ＜b＞开会＜/b＞"
    assert chat.mentions() == []


def test_undo_reply_escapes_the_note(chat):
    chat.reply("/跟进 华为 初次拜访")
    chat.reply("/跟进 华为 @所有人 <b>x</b>")
    assert chat.reply("/撤销") == "↩️ 已撤销对 华为 的记录：＠所有人 ＜b＞x＜/b＞，客户已恢复原样"
    assert chat.mentions() == []


def test_source_with_mention_is_escaped(chat):
    chat.make_manager("王经理")
    reply = chat.reply("/新客户 华为 @李四 <b>展会</b>", as_="王经理")
    assert reply == "🆕 新客户 华为｜已分配｜负责人 @李四｜来源 ＜b＞展会＜/b＞"
    assert chat.mentions() == ["李四"]


def test_unknown_customer_name_in_an_error_is_escaped(chat):
    chat.reply("/跟进 华为 初次拜访")
    reply = chat.reply("/客户 <at>")
    assert reply == "❌ 没有找到客户“＜at＞”，请检查名称\n例如：/客户 华为"
