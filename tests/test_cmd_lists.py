"""/我的 and /待办: a rep's own open customers, most urgent first."""

from __future__ import annotations

from tests.support.chat_rows import assert_nothing_saved, stored


def _pipeline(chat):
    """张三's customers with every kind of urgency, plus customers that must not be listed."""
    chat.reply("/跟进 小米 聊了 明天")
    chat.reply("/跟进 京东 聊了 今天下午3点")
    chat.reply("/跟进 美团 聊了")
    chat.reply("/跟进 比亚迪 聊了 下周五")
    chat.reply("/跟进 百度 聊了")
    chat.reply("/输单 百度 预算取消")
    chat.reply("/跟进 字节跳动 聊了 明天", as_="李四")


def test_mine_lists_own_customers_most_urgent_first(chat):
    _pipeline(chat)
    assert chat.reply("/我的") == (
        "你负责的客户（4 个）：\n"
        "1. 京东｜跟进中｜📌 今天到期（11月27日(周五) 15:00）\n"
        "2. 小米｜跟进中｜下次 11月28日(周六)\n"
        "3. 比亚迪｜跟进中｜下次 12月4日(周五)\n"
        "4. 美团｜跟进中｜未设下次跟进，最近动态 今天"
    )


def test_mine_shows_overdue_first_after_time_passes(chat):
    _pipeline(chat)
    chat.clock.advance(hours=25)
    assert chat.reply("/我的") == (
        "你负责的客户（4 个）：\n"
        "1. 京东｜跟进中｜⚠️ 已逾期（11月27日(周五) 15:00）\n"
        "2. 小米｜跟进中｜📌 今天到期（11月28日(周六)）\n"
        "3. 比亚迪｜跟进中｜下次 12月4日(周五)\n"
        "4. 美团｜跟进中｜未设下次跟进，最近动态 昨天"
    )


def test_follow_up_time_passed_today_is_overdue_the_same_day(chat):
    chat.reply("/跟进 京东 聊了 今天下午3点")
    chat.clock.advance(hours=6)
    assert chat.reply("/待办") == (
        "今天的待办（1 个）：\n1. 京东｜跟进中｜⚠️ 已逾期（11月27日(周五) 15:00）"
    )


def test_silent_customers_are_ordered_longest_silent_first(chat):
    chat.reply("/跟进 美团 聊了")
    chat.clock.advance(days=3)
    chat.reply("/跟进 小米 聊了")
    assert chat.reply("/我的") == (
        "你负责的客户（2 个）：\n"
        "1. 美团｜跟进中｜未设下次跟进，最近动态 3 天前\n"
        "2. 小米｜跟进中｜未设下次跟进，最近动态 今天"
    )


def test_todo_lists_only_due_and_overdue_customers(chat):
    _pipeline(chat)
    assert chat.reply("/待办") == (
        "今天的待办（1 个）：\n1. 京东｜跟进中｜📌 今天到期（11月27日(周五) 15:00）"
    )
    chat.clock.advance(hours=25)
    assert chat.reply("/待办") == (
        "今天的待办（2 个）：\n"
        "1. 京东｜跟进中｜⚠️ 已逾期（11月27日(周五) 15:00）\n"
        "2. 小米｜跟进中｜📌 今天到期（11月28日(周六)）"
    )


def test_lists_are_per_person(chat):
    _pipeline(chat)
    assert chat.reply("/我的", as_="李四") == (
        "你负责的客户（1 个）：\n1. 字节跳动｜跟进中｜下次 11月28日(周六)"
    )


def test_empty_lists_say_what_to_do(chat):
    assert chat.reply("/我的") == "你还没有负责的客户。用 /跟进 客户 内容 记录第一条跟进吧"
    assert chat.reply("/待办") == "🎉 今天没有到期或逾期的客户"


def test_lists_are_cut_at_twenty(chat):
    for i in range(23):
        chat.reply(f"/新客户 客户{i:02d} @张三")
    lines = chat.reply("/我的").split("\n")
    assert lines[0] == "你负责的客户（23 个）："
    assert len(lines) == 1 + 20 + 1
    assert lines[-1] == "还有 3 个…"


def test_lists_change_nothing(chat):
    _pipeline(chat)
    before = stored(chat)
    chat.reply("/我的")
    chat.reply("/待办")
    assert_nothing_saved(chat, before)


def test_list_aliases(chat):
    chat.reply("/跟进 京东 聊了 今天下午3点")
    assert chat.reply("/wd") == chat.reply("/我的客户")
    assert chat.reply("/todo").startswith("今天的待办（1 个）")
