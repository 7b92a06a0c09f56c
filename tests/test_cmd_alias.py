"""/别名: aliases make a customer findable by its short name."""

from models import Activity, Customer


def test_alias_lets_reps_use_the_short_name(chat):
    chat.send("/跟进 华为技术有限公司 拜访")
    assert chat.reply("/别名 华为技术有限公司 HW 华为") == "✅ 华为技术有限公司 的别名：HW、华为"
    assert chat.reply("/跟进 hw 报价已发") == "✅ 华为技术有限公司｜跟进中 → 已报价"
    assert chat.customer("华为技术有限公司").aliases == ["HW", "华为"]


def test_alias_taken_by_another_customer_is_refused_and_nothing_saved(chat):
    chat.send("/跟进 华为 拜访")
    chat.send("/跟进 华润 拜访")
    before = chat.count(Activity)
    assert chat.reply("/别名 华润 华为") == "❌ “华为”已经是客户 华为 的名称或别名"
    assert chat.customer("华润").aliases == []
    assert chat.count(Activity) == before


def test_alias_needs_a_name_and_an_alias(chat):
    chat.send("/跟进 华为 拜访")
    assert (
        chat.reply("/别名 华为") == "❌ 请写上客户名称和别名\n例如：/别名 华为技术有限公司 华为 HW"
    )


def test_rep_cannot_alias_someone_elses_customer(chat):
    chat.send("/跟进 华为 拜访", as_="张三")
    assert (
        chat.reply("/别名 华为 HW", as_="李四")
        == "⛔ 华为 的负责人是 张三，只有负责人或经理可以加别名"
    )
    assert chat.customer("华为").aliases == []


def test_alias_can_be_undone(chat):
    chat.send("/跟进 华为 拜访")
    chat.send("/别名 华为 HW")
    assert chat.reply("/撤销").startswith("↩️ 已撤销对 华为 的记录：HW")
    assert chat.customer("华为").aliases == []
    assert chat.count(Customer) == 1


def test_alias_text_is_escaped_when_shown(chat):
    chat.send("/跟进 华为 拜访")
    reply = chat.reply("/别名 华为 @所有人")
    assert "@" not in reply and "＠所有人" in reply
    assert chat.mentions() == []
