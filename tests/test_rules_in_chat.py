"""Rules a sales manager relies on: wrong-customer guards, unowned leads, lost deals."""

from models import Activity, Customer
from tests.support.chat_rows import assert_nothing_saved, stored


def test_similar_but_different_company_becomes_a_new_customer_with_a_hint(chat):
    chat.send("/跟进 中石油 拜访")
    replies = chat.send("/跟进 中石化 拜访了采购")
    assert replies == [
        "🆕 新客户 中石化 已建档，负责人 @张三\n✅ 中石化｜跟进中\n"
        "（已有相近的客户 中石油；如果指的是它，请 /撤销 后重发）"
    ]
    assert {c.name for c in chat.customers()} == {"中石油", "中石化"}


def test_similar_name_in_a_changing_command_asks_before_touching_anything(chat):
    chat.send("/跟进 客户A 拜访")
    before = stored(chat)
    assert (
        chat.reply("/报价 客户B 5万")
        == "🤔 没有找到“客户B”，是指下面这个客户吗？回复 1 确认：\n1. 客户A"
    )
    assert_nothing_saved(chat, before)
    assert chat.reply("1") == "✅ 客户A｜跟进中 → 已报价｜金额 5万"


def test_homophone_typo_is_taken_for_the_known_customer(chat):
    chat.send("/跟进 腾讯 拜访")
    assert (
        chat.reply("/报价 腾迅 8万") == "✅ 腾讯｜跟进中 → 已报价｜金额 8万\n（“腾迅”按 腾讯 处理）"
    )
    assert chat.count(Customer) == 1


def test_rep_cannot_move_a_lead_nobody_owns_but_can_claim_it_by_following_up(chat):
    chat.make_manager()
    chat.send("/新客户 华为", as_="王经理")
    before = stored(chat)
    assert chat.reply("/输单 华为 没预算", as_="李四") == (
        "⛔ 华为 还没有负责人，只有经理可以标记输单；用 /跟进 华为 内容 记录一次，它就归你负责"
    )
    assert_nothing_saved(chat, before)
    assert chat.send("/跟进 华为 打了电话", as_="李四") == [
        "👤 华为 的负责人设为 @李四\n✅ 华为｜线索 → 跟进中"
    ]
    assert chat.reply("/报价 华为 3万", as_="李四") == "✅ 华为｜跟进中 → 已报价｜金额 3万"


def test_follow_up_on_a_lost_deal_is_logged_without_dates_or_amounts(chat):
    chat.send("/跟进 华为 报价5万")
    chat.send("/输单 华为 价格太高")
    replies = chat.send("/跟进 华为 对方又来问 报价8万 下周三回访")
    assert replies == ["✅ 华为｜输单\nℹ️ 该客户已输单；要重新跟进请用 /阶段 华为 跟进中"]
    customer = chat.customer("华为")
    assert customer.next_follow_up_at is None and int(customer.amount) == 50000
    assert chat.activities()[-1].kind == "follow_up"


def test_new_customer_with_two_amounts_is_a_usage_error(chat):
    assert chat.reply("/新客户 华为 5万 8万 展会") == (
        "❌ 只能写一个金额\n例如：/新客户 华为 @张三 50万 展会"
    )
    assert chat.count(Customer) == 0 and chat.count(Activity) == 0


def test_notes_keep_chinese_punctuation(chat):
    chat.send("/跟进 华为 电话沟通，对方说：月底前定！")
    assert chat.activities()[-1].text == "电话沟通，对方说：月底前定！"


def test_a_longer_name_is_not_taken_for_a_shorter_known_one(chat):
    chat.send("/跟进 客户1 拜访")
    replies = chat.send("/跟进 客户10 拜访了采购")
    assert replies == ["🆕 新客户 客户10 已建档，负责人 @张三\n✅ 客户10｜跟进中"]
    assert {c.name for c in chat.customers()} == {"客户1", "客户10"}
    assert [a.customer_name for a in chat.activities()].count(
        "客户1"
    ) == 2  # its own create + follow-up


def test_a_name_containing_a_known_one_is_asked_about_before_it_is_created(chat):
    chat.send("/跟进 华为 拜访")
    before = stored(chat)
    assert chat.send("/跟进 华为云 报价已发") == [
        "🤔 没有找到客户“华为云”。是 华为 吗？回复 1 是，2 新建客户 华为云"
    ]
    assert_nothing_saved(chat, before)
    replies = chat.send("2")
    assert replies[0].startswith("🆕 新客户 华为云 已建档")
    assert chat.customer("华为云").stage == "已报价"
    assert chat.customer("华为").stage == "跟进中"


def test_payments_cannot_add_up_past_what_the_books_can_hold(chat):
    chat.send("/跟进 华为 拜访")
    assert chat.reply("/回款 华为 9999亿").startswith("✅ 华为")
    before = chat.count(Activity)
    assert chat.reply("/回款 华为 9999亿").startswith("❌ 累计回款金额太大了，请检查金额")
    assert chat.count(Activity) == before


def test_names_that_differ_only_in_their_numbers_are_different_customers(chat):
    chat.send("/跟进 客户000 拜访")
    chat.send("/跟进 客户012 拜访")
    assert chat.send("/跟进 客户004 拜访") == [
        "🆕 新客户 客户004 已建档，负责人 @张三\n✅ 客户004｜跟进中"
    ]
    assert (
        chat.reply("/报价 客户016 5万")
        == "❌ 没有找到客户“客户016”，请检查名称\n例如：/报价 华为 50万"
    )


def test_control_characters_in_a_message_are_dropped_not_fatal(chat):
    assert chat.send("/新客户 华为\x00 展会\x07") == [
        "🆕 新客户 华为｜线索｜来源 展会\n经理可用 /分配 华为 @某人 指定负责人"
    ]
    assert chat.customer("华为").source == "展会"
