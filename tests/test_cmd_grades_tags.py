"""/等级 and /标签: set by owner or manager, shown on the card, in lists and the digest, undoable;
grade-specific stalled limits through /设置 阶段时限 已报价 A 5; the grades come from [book]."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from tests.support.chat_rows import assert_nothing_saved, stored


@pytest.fixture
def owned(chat):
    """华为, owned by 张三, in 跟进中."""
    chat.reply("/跟进 华为 初次拜访")
    return chat


# --- /等级 ---------------------------------------------------------------------------------------


def test_grade_is_set_logged_and_shown_as_understood(owned):
    assert owned.reply("/等级 华为 a") == "✅ 华为｜等级 A（重点）"
    assert owned.customer("华为").grade == "A"
    last = owned.activities()[-1]
    assert (last.kind, last.changes) == ("grade", {"grade": ["", "A"]})
    assert owned.reply("/等级 华为 观望") == "✅ 华为｜等级 A（重点） → C（观望）"
    assert owned.reply("/等级 华为 无") == "✅ 华为｜等级 C（观望） → 无"
    assert owned.customer("华为").grade == ""


def test_same_grade_changes_nothing(owned):
    owned.reply("/等级 华为 B级")
    before = stored(owned)
    assert owned.reply("/等级 华为 B") == "ℹ️ 华为 已经是 B（普通）"
    assert_nothing_saved(owned, before)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/等级", "请写上客户名称和等级（A 重点、B 普通、C 观望、D 低意向）"),
        ("/等级 华为", "请写上等级：A 重点、B 普通、C 观望、D 低意向"),
        ("/等级 华为 E", "没有等级“E”，可选：A 重点、B 普通、C 观望、D 低意向"),
        ("/等级 华为 A B", "等级只写一个字母，多出了“B”"),
    ],
)
def test_malformed_grade_explains_and_saves_nothing(owned, text, reason):
    before = stored(owned)
    assert owned.reply(text) == f"❌ {reason}\n例如：/等级 华为 A"
    assert_nothing_saved(owned, before)


def test_a_rep_grades_only_own_customers_a_manager_any(owned):
    before = stored(owned)
    assert owned.reply("/等级 华为 A", as_="李四") == (
        "⛔ 华为 的负责人是 张三，只有负责人或经理可以改等级"
    )
    assert_nothing_saved(owned, before)
    owned.make_manager()
    assert owned.reply("/等级 华为 A", as_="王经理") == "✅ 华为｜等级 A（重点）"


def test_undo_reverts_a_grade(owned):
    owned.reply("/等级 华为 B")
    owned.reply("/等级 华为 A")
    assert owned.reply("/撤销").startswith("↩️ 已撤销对 华为 的记录")
    assert owned.customer("华为").grade == "B"


def test_help_shows_the_grade_meanings(chat):
    assert "等级含义：A 重点、B 普通、C 观望、D 低意向" in chat.reply("/帮助 等级")


def test_grades_and_their_meanings_come_from_the_config(chat, settings):
    settings.book.grades = {"S": "战略", "A": "重点"}
    assert "等级含义：S 战略、A 重点" in chat.reply("/帮助 等级")
    chat.reply("/跟进 华为 初次拜访")
    assert chat.reply("/等级 华为 战略") == "✅ 华为｜等级 S（战略）"
    assert chat.reply("/等级 华为 B").startswith("❌ 没有等级“B”，可选：S 战略、A 重点")


def test_book_section_of_the_config_is_read_and_checked(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[book]\ngrades = { A = "大客户", B = "小客户" }\n', encoding="utf-8")
    assert load_settings(path, env={}).book.grades == {"A": "大客户", "B": "小客户"}
    for bad, key in [
        ('grades = { a = "x" }', "book.grades: 'a'"),
        ('grades = { AB = "x" }', "book.grades: 'AB'"),
        ('grades = { A = "" }', "book.grades.A"),
        ("grades = {}", "book.grades"),
    ]:
        path.write_text(f"[book]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=key):
            load_settings(path, env={})


# --- /标签 ---------------------------------------------------------------------------------------


def test_tags_are_added_and_removed_in_one_go(owned):
    assert owned.reply("/标签 华为 +重点 +老客户 +待定") == (
        "✅ 华为｜标签：重点、老客户、待定（加 重点、老客户、待定）"
    )
    assert owned.reply("/标签 华为 -待定 +VIP -没有的 +重点") == (
        "✅ 华为｜标签：重点、老客户、VIP（加 VIP；去掉 待定；已有 重点；本来没有 没有的）"
    )
    assert owned.customer("华为").tags == ["重点", "老客户", "VIP"]
    last = owned.activities()[-1]
    assert last.kind == "tags"
    assert last.changes == {"tags": [["重点", "老客户", "待定"], ["重点", "老客户", "VIP"]]}


def test_tags_compare_without_case_and_a_bare_word_adds(owned):
    owned.reply("/标签 华为 VIP")
    before = stored(owned)
    assert owned.reply("/标签 华为 +vip") == "ℹ️ 华为 的标签没有变化：VIP"
    assert_nothing_saved(owned, before)
    assert owned.reply("/标签 华为 -vip") == "✅ 华为｜标签：无（去掉 VIP）"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/标签", "请写上客户名称和标签"),
        ("/标签 华为", "请写要加的标签（+标签）或要去掉的标签（-标签）"),
        ("/标签 华为 +一二三四五六七八九十一", "标签“一二三四五六七八九…”太长了（最多 10 个字）"),
        ("/标签 华为 +a@b", "标签“a＠b”里有不能用的字符"),
    ],
)
def test_malformed_tags_explain_and_save_nothing(owned, text, reason):
    before = stored(owned)
    assert owned.reply(text) == f"❌ {reason}\n例如：/标签 华为 +重点 +老客户 -待定"
    assert_nothing_saved(owned, before)


def test_at_most_ten_tags(owned):
    owned.reply("/标签 华为 " + " ".join(f"+t{i}" for i in range(10)))
    before = stored(owned)
    assert owned.reply("/标签 华为 +再一个").startswith("❌ 一个客户最多 10 个标签")
    assert_nothing_saved(owned, before)


def test_a_rep_tags_only_own_customers(owned):
    before = stored(owned)
    assert owned.reply("/标签 华为 +重点", as_="李四").startswith("⛔ 华为 的负责人是 张三")
    assert_nothing_saved(owned, before)


def test_undo_reverts_tags(owned):
    owned.reply("/标签 华为 +重点")
    owned.reply("/标签 华为 +老客户 -重点")
    owned.reply("/撤销")
    assert owned.customer("华为").tags == ["重点"]


# --- shown everywhere ----------------------------------------------------------------------------


def test_card_lists_and_digest_show_grade_and_tags(owned):
    owned.reply("/等级 华为 A")
    owned.reply("/标签 华为 +重点 +老客户 +华东 +续约")
    card = owned.reply("/客户 华为")
    assert "等级：A（重点）｜标签：重点、老客户、华东、续约" in card
    assert "张三 改等级：A（重点）" in card
    assert "张三 改标签：加 重点、老客户、华东、续约" in card
    assert (
        owned.reply("/我的")
        .split("\n")[1]
        .startswith("1. 华为［A］ #重点 #老客户 #华东 …｜跟进中｜")
    )
    owned.clock.advance(days=7)
    assert "华为［A］ #重点 #老客户 #华东 …｜跟进中｜" in owned.reply("/日报")


def test_card_without_grade_or_tags_has_no_line_for_them(owned):
    assert "等级" not in owned.reply("/客户 华为")


# --- grade-specific stalled limits ---------------------------------------------------------------


def test_a_grade_may_have_its_own_stage_limit(owned):
    chat = owned
    chat.make_manager()
    chat.reply("/报价 华为")
    chat.reply("/跟进 小米 聊了")
    chat.reply("/报价 小米")
    chat.reply("/等级 华为 A")
    chat.reply("/等级 小米 B")
    assert chat.reply("/设置 阶段时限 已报价 A 5", as_="王经理") == (
        "✅ A 级客户在「已报价」阶段超过 5 个工作日算停滞"
    )
    assert "按等级的阶段时限：A 级 已报价 5天" in chat.reply("/设置")
    chat.clock.advance(days=7)  # the next Friday: 5 working days later
    digest = chat.reply("/日报")
    assert "1. 华为［A］｜已报价 5 个工作日没有进展（上限 5）" in digest
    assert "小米［B］｜已报价 5 个工作日没有进展" not in digest
    assert chat.reply("/设置 阶段时限 已报价 A 默认", as_="王经理") == (
        "✅ A 级客户的「已报价」阶段时限恢复为全部客户的时限"
    )
    assert "华为［A］｜已报价 5 个工作日没有进展" not in chat.reply("/日报")
    assert "按等级的阶段时限" not in chat.reply("/设置")


def test_grade_limits_are_for_managers_and_known_grades(owned):
    owned.make_manager()
    before = stored(owned)
    assert owned.reply("/设置 阶段时限 已报价 A 5").startswith(
        "⛔ 只有经理或管理员可以修改日程和时限"
    )
    assert owned.reply("/设置 阶段时限 已报价 E 5", as_="王经理") == (
        "❌ 没有等级“E”，可选：A 重点、B 普通、C 观望、D 低意向\n例如：/设置 经理 @王经理"
    )
    assert owned.reply("/设置 阶段时限 已报价 A", as_="王经理").startswith(
        "❌ 天数请写 1 到 365 之间的整数"
    )
    assert_nothing_saved(owned, before)
