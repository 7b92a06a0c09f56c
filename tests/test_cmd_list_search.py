"""/列表 (filters, urgency order, paging with 下一页) and /搜索 (names, aliases, tags, notes)."""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import IncomingMessage
from models import Customer, Outbox
from tests.support.chat_rows import assert_nothing_saved, stored
from tests.support.harness import ChatHarness


def _book(chat):
    """A small team book: 张三 and 李四, several stages, grades and tags."""
    chat.reply("/跟进 小米 聊了 明天")
    chat.reply("/跟进 京东 报价已发 今天下午3点")
    chat.reply("/跟进 美团 聊了")
    chat.reply("/跟进 百度 聊了")
    chat.reply("/输单 百度 预算取消")
    chat.reply("/跟进 字节跳动 报价已发 下周五", as_="李四")
    chat.reply("/等级 京东 A")
    chat.reply("/等级 字节跳动 A", as_="李四")
    chat.reply("/标签 美团 +老客户")
    chat.reply("/新客户 拼多多")


def _delete(chat, name):
    """Soft-delete a customer the way /删除 does (deleted_at set)."""
    with chat.runtime.sessions() as session:
        customer = session.scalars(select(Customer).where(Customer.name == name)).one()
        customer.deleted_at = chat.clock()
        session.commit()


# --- /列表 ---------------------------------------------------------------------------------------


def test_list_shows_the_whole_book_most_urgent_first(chat):
    _book(chat)
    assert chat.reply("/列表") == (
        "📋 客户列表｜不含输单、售后（共 5 个）：\n"
        "1. 京东［A］｜已报价｜张三｜📌 今天到期（11月27日(周五) 15:00）\n"
        "2. 小米｜跟进中｜张三｜下次 11月28日(周六)\n"
        "3. 字节跳动［A］｜已报价｜李四｜下次 12月4日(周五)\n"
        "4. 美团 #老客户｜跟进中｜张三｜未设下次跟进，最近动态 今天\n"
        "5. 拼多多｜线索｜未分配｜未设下次跟进，最近动态 今天"
    )
    chat.clock.advance(hours=25)
    assert chat.reply("/列表 逾期") == (
        "📋 客户列表｜逾期、不含输单、售后（共 1 个）：\n"
        "1. 京东［A］｜已报价｜张三｜⚠️ 已逾期（11月27日(周五) 15:00）"
    )


def test_filters_combine(chat):
    _book(chat)
    assert chat.reply("/列表 已报价 @张三 A") == (
        "📋 客户列表｜已报价、@张三、A（重点）（共 1 个）：\n"
        "1. 京东［A］｜已报价｜张三｜📌 今天到期（11月27日(周五) 15:00）"
    )
    assert (
        chat.reply("/列表 报价 a级").split("\n")[0] == "📋 客户列表｜已报价、A（重点）（共 2 个）："
    )
    assert chat.reply("/列表 #老客户 @张三").endswith(
        "1. 美团 #老客户｜跟进中｜张三｜未设下次跟进，最近动态 今天"
    )
    assert chat.reply("/列表 未分配").endswith(
        "1. 拼多多｜线索｜未分配｜未设下次跟进，最近动态 今天"
    )
    assert chat.reply("/列表 输单").endswith("1. 百度｜输单｜张三｜回款 0元 / 未填")
    assert "百度" in chat.reply("/列表 全部")
    assert chat.reply("/列表 今天").split("\n")[1].startswith("1. 京东")
    assert [line.split("｜")[0] for line in chat.reply("/列表 本周").split("\n")[1:]] == [
        "1. 京东［A］",
        "2. 小米",
    ]
    assert chat.reply("/列表 已签约 @李四") == ("📋 客户列表｜已签约、@李四：没有符合条件的客户")


def test_unreadable_filters_are_refused_with_an_example(chat):
    _book(chat)
    before = stored(chat)
    assert chat.reply("/列表 已报价 大客户") == (
        "❌ 看不懂“大客户”：可以写阶段、@负责人、等级（A/B/C/D）、#标签、逾期/今天/本周\n"
        "例如：/列表 已报价 @张三 A"
    )
    assert chat.reply("/列表 逾期 本周").startswith("❌ 逾期、今天、本周 只能选一个")
    assert chat.reply("/列表 #") == "❌ 标签不能为空\n例如：/列表 已报价 @张三 A"
    assert_nothing_saved(chat, before)


def test_list_pages_with_next_page(chat, runtime):
    for i in range(23):
        chat.reply(f"/新客户 客户{i:02d} @张三")
    first = chat.reply("/列表 @张三").split("\n")
    assert first[0] == "📋 客户列表｜@张三、不含输单、售后（共 23 个）："
    assert first[1].startswith("1. 客户00｜") and len(first) == 1 + 10 + 1
    assert first[-1] == "第 1/3 页，回复 下一页 继续"
    chat.reply("/我的")  # another command in between keeps the cursor
    second = chat.reply("下一页").split("\n")
    assert second[1].startswith("11. 客户10｜") and second[-1] == "第 2/3 页，回复 下一页 继续"
    third = chat.reply("/下一页").split("\n")
    assert third[1:4] and third[-2].startswith("23. 客户22｜")
    assert third[-1] == "第 3/3 页，最后一页"
    assert chat.reply("下一页") == "ℹ️ 已经是最后一页了（共 3 页）"
    # A bare 下一页 not addressed to the bot continues only the sender's own open list.
    sent = chat.count(Outbox)
    _overheard(runtime, "李四", "下一页")
    assert chat.count(Outbox) == sent
    _overheard(runtime, "张三", "下一页")
    assert chat.count(Outbox) == sent + 1


def _overheard(runtime, sender, text):
    """A group message the bot sees without being @-mentioned."""
    runtime.receive(
        IncomingMessage(
            platform="console",
            chat_id="销售一组",
            message_id=f"overheard-{sender}-{text}",
            sender_id=sender,
            sender_name=sender,
            text=text,
            to_me=False,
        )
    )
    runtime.drain()


def test_cursor_is_per_member_and_expires(chat):
    for i in range(12):
        chat.reply(f"/新客户 客户{i:02d} @张三")
    chat.reply("/列表")
    assert chat.reply("/下一页", as_="李四") == (
        "❌ 没有正在翻页的列表，请先发送 /列表 或 /搜索\n例如：/列表 已报价 @张三 A"
    )
    assert chat.send("下一页", as_="李四") == [
        "❌ 没有正在翻页的列表，请先发送 /列表 或 /搜索\n例如：/列表 已报价 @张三 A"
    ]
    chat.clock.advance(hours=2)
    assert chat.reply("下一页") == "⌛ 这个列表已过期，请重新发送 /列表 或 /搜索"
    assert chat.member("张三").pending is None


def test_a_new_list_replaces_the_cursor_and_a_short_one_clears_it(chat):
    for i in range(12):
        chat.reply(f"/新客户 客户{i:02d} @张三")
    chat.reply("/跟进 华为 聊了")
    chat.reply("/列表")
    assert chat.reply("/列表 跟进中").startswith("📋 客户列表｜跟进中（共 1 个）")
    assert chat.member("张三").pending is None
    assert chat.reply("/下一页").startswith("❌ 没有正在翻页的列表")


def test_a_numbered_question_still_works_after_a_list(chat):
    for i in range(12):
        chat.reply(f"/新客户 客户{i:02d} @张三")
    chat.reply("/新客户 华为终端")
    chat.reply("/新客户 华为云")
    chat.reply("/列表")
    assert chat.reply("/客户 华为").startswith("🤔")
    assert chat.reply("1").startswith("【📇 华为")
    assert chat.reply("下一页").startswith("❌ 没有正在翻页的列表")


def test_deleted_customers_never_appear(chat):
    _book(chat)
    _delete(chat, "京东")
    assert "京东" not in chat.reply("/列表 全部")
    assert chat.reply("/搜索 京东") == (
        "🔎 没有找到含“京东”的客户（搜索了名称、别名、标签和跟进记录）"
    )


def test_lists_change_nothing(chat):
    _book(chat)
    before = stored(chat)
    chat.reply("/列表")
    chat.reply("/搜索 聊了")
    assert_nothing_saved(chat, before)


# --- /搜索 ---------------------------------------------------------------------------------------


def test_search_finds_names_aliases_tags_and_notes_and_says_why(chat):
    chat.reply("/跟进 华为技术有限公司 送样品")
    chat.reply("/别名 华为技术有限公司 HW")
    chat.reply("/跟进 荣耀 客户说和华为那边在比价")
    chat.reply("/跟进 小米 聊了")
    chat.reply("/标签 小米 +华为系")
    chat.reply("/跟进 OPPO 聊了", as_="李四")
    assert chat.reply("/搜索 华为") == (
        "🔎 搜索“华为”（共 3 个）：\n"
        "1. 华为技术有限公司｜跟进中｜张三｜名称\n"
        "2. 小米 #华为系｜跟进中｜张三｜标签 #华为系\n"
        "3. 荣耀｜跟进中｜张三｜记录：11月27日(周五) 客户说和华为那边在比价"
    )
    assert (
        chat.reply("/搜索 hw")
        == "🔎 搜索“hw”（共 1 个）：\n1. 华为技术有限公司｜跟进中｜张三｜别名 HW"
    )


def test_search_shows_the_latest_note_and_how_many_match(chat):
    chat.reply("/跟进 京东 第一次发了报价单，对方说要内部讨论一下再回复我们")
    chat.clock.advance(days=1)
    chat.reply("/跟进 京东 报价单改了第二版")
    assert chat.reply("/搜索 报价单") == (
        "🔎 搜索“报价单”（共 1 个）：\n"
        "1. 京东｜已报价｜张三｜记录（共 2 条）：11月28日(周六) 报价单改了第二版"
    )
    assert chat.reply("/搜索 内部").endswith(
        "记录：11月27日(周五) …一次发了报价单，对方说要内部讨论一下再回复我们"
    )


def test_search_takes_user_text_literally_and_safely(chat):
    chat.reply("/跟进 京东 折扣100%确认")
    chat.reply("/跟进 美团 折扣100确认")
    assert chat.reply("/搜索 100%").endswith(
        "1. 京东｜跟进中｜张三｜记录：11月27日(周五) 折扣100%确认"
    )
    assert chat.reply("/搜索 _").startswith("🔎 没有找到含“_”的客户")
    assert chat.reply("/搜索 <b>@所有人") == (
        "🔎 没有找到含“＜b＞＠所有人”的客户（搜索了名称、别名、标签和跟进记录）"
    )


def test_search_is_scoped_to_the_chat_and_skips_undone_notes(chat, runtime, clock):
    other = ChatHarness(runtime, clock, name="销售二组")
    other.reply("/跟进 华为 送样品")
    chat.reply("/跟进 京东 聊了")
    chat.reply("/跟进 京东 送样品")
    chat.reply("/撤销")
    assert chat.reply("/搜索 样品").startswith("🔎 没有找到含“样品”的客户")
    assert other.reply("/搜索 样品").startswith("🔎 搜索“样品”（共 1 个）")


def test_search_needs_a_word(chat):
    assert chat.reply("/搜索") == "❌ 请写要找的关键词\n例如：/搜索 报价单"
    assert chat.reply("/搜索 " + "长" * 31) == "❌ 关键词太长了（最多 30 个字）\n例如：/搜索 报价单"


def test_search_pages_like_the_list(chat):
    for i in range(12):
        chat.reply(f"/新客户 客户{i:02d} @张三")
    assert chat.reply("/搜索 客户").split("\n")[-1] == "第 1/2 页，回复 下一页 继续"
    assert chat.reply("下一页").split("\n")[1].startswith("11. 客户")
