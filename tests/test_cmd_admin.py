"""/设置, /帮助, unknown commands, talking without a slash, and numbered questions."""

from __future__ import annotations

import pytest

from bot.messages import IncomingMessage
from handlers import registry
from models import Customer, Outbox
from tests.support.chat_rows import assert_nothing_saved, stored

SETTINGS_EXAMPLE = "例如：/设置 经理 @王经理"
GREETING = "👋 我是跟进助手。发送 /帮助 查看全部命令，例如：/跟进 华为 报价已发 下周三回访"
NOT_UNDERSTOOD = (
    "🤔 没看懂这句话。记录跟进请用：/跟进 客户 内容，例如：/跟进 华为 报价已发 下周三回访\n"
    "发送 /帮助 查看全部命令"
)


# --- /设置 ---------------------------------------------------------------------------------------


def test_admin_makes_a_manager_who_is_mentioned(chat):
    reply = chat.reply("/设置 经理 @王经理", as_="老板")
    assert reply == "✅ 已将 @王经理 设为经理\n经理可以 /分配 客户、修改任何客户，并收到升级提醒"
    assert chat.mentions() == ["王经理"]
    assert chat.member("王经理").role == "manager"


def test_admin_sets_several_roles_at_once_and_demotes(chat):
    chat.reply("/设置 经理 @王经理 @李经理", as_="老板")
    assert chat.mentions() == ["王经理", "李经理"]
    assert chat.reply("/设置 销售 @王经理", as_="老板") == "✅ 已将 @王经理 设为销售"
    assert chat.member("王经理").role == "rep"
    assert chat.member("李经理").role == "manager"


def test_rep_cannot_set_roles(chat):
    chat.reply("/我的", as_="李四")
    before = stored(chat)
    reply = chat.reply("/设置 经理 @李四", as_="李四")
    assert reply == "⛔ 只有管理员可以设置角色（管理员在配置文件 [bot] admins 中设置）"
    assert chat.mentions() == []
    assert_nothing_saved(chat, before)
    assert chat.member("李四").role == "rep"


def test_manager_cannot_set_roles_either(chat):
    chat.make_manager("王经理")
    chat.reply("/我的", as_="李四")
    before = stored(chat)
    assert chat.reply("/设置 经理 @李四", as_="王经理").startswith("⛔ 只有管理员可以设置角色")
    assert_nothing_saved(chat, before)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "/设置 老板 @李四",
            "不认识的设置项“老板”；可设置：经理、销售、日报时间、盘点时间、提醒时间、回收时间、预警时间、周报时间、上班时间、阶段时限、未跟进天数、响应时限、提前提醒、提醒方式、开启、关闭",
        ),
        ("/设置 经理", "请 @ 要设置的人"),
        ("/设置 经理 李四", "请 @ 要设置的人"),
        ("/设置 经理 @", "找不到群成员 ＠"),
    ],
)
def test_malformed_settings_explain_and_save_nothing(chat, text, reason):
    chat.reply("/我的", as_="李四")
    before = stored(chat)
    assert chat.reply(text, as_="老板") == f"❌ {reason}\n{SETTINGS_EXAMPLE}"
    assert_nothing_saved(chat, before)


def test_settings_without_arguments_shows_roles_to_everyone(chat):
    chat.make_manager("王经理")
    assert chat.reply("/设置") == (
        "⚙️ 本群设置\n经理：王经理\n管理员：老板\n时区：Asia/Shanghai\n"
        "日报 18:00｜周五盘点 15:00（周报当天）｜早间提醒 09:30｜公海回收 09:00｜停滞预警 10:00｜周报 17:00（最后一个工作日）\n"
        "上班时间 09:00-18:00｜响应时限 2 个工作小时｜未跟进 3 个工作日进日报｜提前提醒 15 分钟｜提醒方式 群里\n"
        "阶段时限（工作日）：线索 2天、已分配 2天、跟进中 7天、已报价 10天、已签约 15天、已回款 30天\n"
        "你的角色：销售"
    )
    assert chat.reply("/设置", as_="老板").endswith("你的角色：管理员")
    assert chat.reply("/设置", as_="王经理").endswith("你的角色：经理")


# --- /帮助 ---------------------------------------------------------------------------------------


def test_help_lists_every_command(chat):
    reply = chat.reply("/帮助")
    lines = reply.split("\n")
    assert lines[0] == "📖 跟进助手命令（@我 后发送，斜杠可省略）："
    assert lines[-1] == "发送 /帮助 命令名 查看详细用法，例如 /帮助 跟进"
    for cmd in registry.commands():
        assert f"{cmd.usage} — {cmd.summary}" in lines
    assert [line for line in lines if line.startswith("【")] == ["【记录】", "【查看】", "【管理】"]


def test_help_for_one_command(chat):
    assert chat.reply("/帮助 跟进") == (
        "📖 /跟进 客户 内容 [下次时间]\n"
        "记录一次跟进；新客户自动建档；写上时间就设好下次跟进，提到报价/签约/回款会推进阶段\n"
        "例如：/跟进 华为 报价已发 下周三回访\n"
        "谁能用：所有人\n"
        "简写：/gj、/follow、/fu、/记录"
    )


@pytest.mark.parametrize("word", ["/分配", "fp", "assign", "转交"])
def test_help_finds_a_command_by_alias_or_with_slash(chat, word):
    assert chat.reply(f"/帮助 {word}").startswith("📖 /分配 客户 @某人\n")


def test_help_for_unknown_command_suggests_the_closest(chat):
    assert (
        chat.reply("/帮助 跟近") == "❌ 没有 /跟近 这个命令，你是不是想问 /跟进？\n例如：/帮助 跟进"
    )
    assert chat.reply("/帮助 xyz") == "❌ 没有 /xyz 这个命令\n例如：/帮助 跟进"


# --- unknown commands and did-you-mean --------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "hint"),
    [("跟近", "跟进"), ("撤消", "撤销"), ("阶级", "阶段"), ("提星", "提醒"), ("分派", "分配")],
)
def test_unknown_command_suggests_the_closest_and_saves_nothing(chat, typed, hint):
    chat.reply("/跟进 华为 初次拜访")
    before = stored(chat)
    assert chat.reply(f"/{typed} 华为 报价已发") == (
        f"❌ 未知命令 /{typed}，你是不是想用 /{hint}？\n发送 /帮助 查看全部命令"
    )
    assert_nothing_saved(chat, before)


def test_unknown_command_without_a_close_match(chat):
    assert chat.reply("/xyz") == "❌ 未知命令 /xyz。\n发送 /帮助 查看全部命令"


def test_unknown_command_word_is_escaped(chat):
    reply = chat.reply("/@所有人 大家好")
    assert "@" not in reply
    assert reply.startswith("❌ 未知命令 /＠所有人")
    assert chat.mentions() == []


def test_longest_command_word_wins_and_ascii_alias_needs_a_boundary(chat):
    assert chat.reply("/我的客户") == chat.reply("/我的")
    assert chat.reply("/gjx 华为").startswith("❌ 未知命令 /gjx")
    assert chat.customers() == []


# --- no slash, greetings, messages not for the bot --------------------------------------------


def test_slash_is_optional_when_the_bot_is_mentioned(chat):
    assert chat.reply("@跟进助手 跟进 华为 报价已发").startswith("🆕 新客户 华为 已建档")
    assert chat.customer("华为").stage == "已报价"


def test_bare_mention_or_slash_gets_a_greeting(chat):
    assert chat.reply("@跟进助手") == GREETING
    assert chat.reply("/") == GREETING


def test_chatter_addressed_to_the_bot_gets_a_hint_and_saves_nothing(chat):
    assert chat.reply("@跟进助手 今天天气不错") == NOT_UNDERSTOOD
    assert chat.customers() == []


def _overheard(runtime, text):
    """A group message the bot sees without being @-mentioned."""
    runtime.receive(
        IncomingMessage(
            platform="console",
            chat_id="销售一组",
            message_id=f"overheard-{text}",
            sender_id="张三",
            sender_name="张三",
            text=text,
            to_me=False,
        )
    )
    runtime.drain()


def test_message_not_addressed_to_the_bot_without_slash_is_ignored(chat, runtime):
    _overheard(runtime, "跟进 华为 报价已发")
    assert chat.count(Outbox) == 0
    assert chat.count(Customer) == 0


def test_slash_command_works_without_mentioning_the_bot(chat, runtime):
    _overheard(runtime, "/跟进 华为 报价已发")
    assert chat.count(Outbox) == 1
    assert chat.customer("华为").stage == "已报价"


# --- numbered question on ambiguous names -----------------------------------------------------


@pytest.fixture
def two_huawei(chat):
    """Two customers that 华为 could mean."""
    chat.reply("/新客户 华为终端")
    chat.reply("/新客户 华为云计算")
    return chat


QUESTION = "🤔 “华为”对应多个客户，回复数字选择：\n1. 华为终端\n2. 华为云计算"


def test_ambiguous_name_asks_a_numbered_question_and_saves_nothing(two_huawei):
    chat = two_huawei
    before = stored(chat)
    assert chat.reply("/跟进 华为 报价已发 明天回访") == QUESTION
    assert_nothing_saved(chat, before)
    assert chat.member("张三").pending["options"] == ["华为终端", "华为云计算"]


def test_answering_the_question_with_a_number_runs_the_command(two_huawei):
    chat = two_huawei
    chat.reply("/跟进 华为 报价已发 明天回访")
    reply = chat.reply("2")
    assert reply == (
        "👤 华为云计算 的负责人设为 @张三\n✅ 华为云计算｜线索 → 已报价｜下次跟进 11月28日(周六)"
    )
    assert chat.customer("华为云计算").stage == "已报价"
    assert chat.customer("华为终端").stage == "线索"
    assert chat.member("张三").pending is None
    assert chat.activities()[-1].text == "报价已发 明天回访"


@pytest.mark.parametrize("answer", ["1", "选1", "第1个", "１"])
def test_number_answers_in_the_usual_forms(two_huawei, answer):
    two_huawei.reply("/客户 华为")
    assert two_huawei.reply(answer).startswith("【📇 华为终端】")


def test_out_of_range_number_asks_again_and_keeps_the_question(two_huawei):
    chat = two_huawei
    chat.reply("/跟进 华为 报价已发")
    before = stored(chat)
    assert chat.reply("9") == "❌ 请回复 1 到 2 之间的数字"
    assert_nothing_saved(chat, before)
    assert chat.reply("1").endswith("✅ 华为终端｜线索 → 已报价")


def test_number_is_not_an_answer_once_used(two_huawei):
    chat = two_huawei
    chat.reply("/跟进 华为 报价已发")
    chat.reply("1")
    before = stored(chat)
    assert chat.reply("1") == NOT_UNDERSTOOD
    assert_nothing_saved(chat, before)


def test_question_expires_after_ten_minutes(two_huawei):
    chat = two_huawei
    chat.reply("/跟进 华为 报价已发")
    chat.clock.advance(minutes=11)
    before = stored(chat)
    assert chat.reply("1") == "⌛ 这个选择已过期，请重新发送原来的命令"
    assert_nothing_saved(chat, before)
    assert chat.reply("1") == NOT_UNDERSTOOD  # the question is gone


def test_a_failed_command_in_between_drops_the_question(two_huawei):
    chat = two_huawei
    chat.reply("/跟进 华为 报价已发")
    assert chat.reply("/跟进").startswith("❌ 请写上客户名称和跟进内容")
    before = stored(chat)
    assert chat.reply("1") == NOT_UNDERSTOOD
    assert_nothing_saved(chat, before)


def test_another_persons_number_does_not_answer_my_question(two_huawei):
    chat = two_huawei
    chat.reply("/跟进 华为 报价已发")
    assert chat.reply("1", as_="李四") == NOT_UNDERSTOOD
    assert chat.customer("华为终端").stage == "线索"
