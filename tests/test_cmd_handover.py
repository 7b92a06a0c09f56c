"""/交接: a manager moves a leaver's open customers to a receiver, whose response clock starts."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.scheduler import tick
from tests.support.chat_rows import assert_nothing_saved, stored
from tests.test_scheduler import at, texts

TZ = ZoneInfo("Asia/Shanghai")
EXAMPLE = "\n例如：/交接 @李四 @王五"


def _book(chat) -> None:
    """李四 owns three open customers, one won and one lost; 张三 owns 百度."""
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 报价5万已发 下周三回访", as_="李四")
    chat.reply("/跟进 腾讯 初次拜访", as_="李四")
    chat.reply("/新客户 格力 @李四", as_="王经理")
    chat.reply("/跟进 小米 初次拜访", as_="李四")
    chat.reply("/签约 小米 10万", as_="李四")
    chat.reply("/跟进 京东 初次拜访", as_="李四")
    chat.reply("/输单 京东 预算取消", as_="李四")
    chat.reply("/跟进 百度 初次拜访", as_="张三")


def test_handover_moves_every_open_customer_of_the_leaver(chat, clock):
    _book(chat)
    clock.advance(hours=1)
    assert chat.reply("/交接 @李四 @王五", as_="王经理") == "\n".join(
        [
            "🤝 已把 李四 的 3 个客户交接给 @王五：",
            "1. 华为｜已报价｜下次跟进 12月2日(周三)",
            "2. 腾讯｜跟进中",
            "3. 格力｜已分配",
            "请在 2 个工作小时内逐个跟进并用 /跟进 记录；交接错了请用 /撤销",
        ]
    )
    assert chat.mentions() == ["王五"]
    receiver, manager = chat.member("王五"), chat.member("王经理")
    for name in ("华为", "腾讯", "格力"):
        customer = chat.customer(name)
        assert customer.owner_id == receiver.id
        assert customer.assigned_at == datetime(2026, 11, 27, 11, 0, tzinfo=TZ)
        assert customer.assigned_by_id == manager.id
    assert chat.customer("小米").owner_id == chat.member("李四").id  # won: not open
    assert chat.customer("京东").owner_id == chat.member("李四").id  # lost
    assert chat.customer("百度").owner_id == chat.member("张三").id
    handovers = [a for a in chat.activities() if a.kind == "handover"]
    assert [a.text for a in handovers] == ["交接：李四 → 王五"] * 3
    assert len({a.entry_key for a in handovers}) == 1


def test_the_response_clock_starts_for_the_receiver(chat, clock):
    _book(chat)
    chat.reply("/交接 @李四 @王五", as_="王经理")
    tick(chat.runtime, at(2026, 11, 27, 11, 45))
    assert texts(chat.runtime, "response_sla") == []
    tick(chat.runtime, at(2026, 11, 27, 12, 0))
    (first,) = texts(chat.runtime, "response_sla")
    for name in ("华为", "腾讯", "格力"):
        assert f"@王五 {name} 分配给你已超过 2 个工作小时" in first
    clock.now = at(2026, 11, 27, 13, 0)
    chat.reply("/跟进 华为 电话沟通", as_="王五")
    tick(chat.runtime, at(2026, 11, 27, 14, 0))
    second = texts(chat.runtime, "response_sla")[1]
    assert "@王经理 你分配给 王五 的 腾讯 已 4 个工作小时没有跟进" in second
    assert "华为" not in second  # the receiver followed it up


def test_handover_of_named_customers_only(chat):
    _book(chat)
    reply = chat.reply("/交接 @李四 @王五 华为 小米", as_="王经理")
    assert reply.startswith("🤝 已把 李四 的 2 个客户交接给 @王五：\n1. 华为｜已报价")
    assert "2. 小米｜已签约" in reply
    assert chat.customer("华为").owner_id == chat.member("王五").id
    assert chat.customer("小米").owner_id == chat.member("王五").id
    assert chat.customer("腾讯").owner_id == chat.member("李四").id


def test_undo_gives_every_customer_back(chat):
    _book(chat)
    before = stored(chat)
    chat.reply("/交接 @李四 @王五", as_="王经理")
    assert chat.reply("/撤销", as_="王经理") == (
        "↩️ 已撤销对 格力、腾讯、华为 的记录：交接：李四 → 王五，客户已恢复原样"
    )
    after = stored(chat)
    assert after["customers"] == before["customers"]
    assert after["activities"][: len(before["activities"])] == before["activities"]


def test_handover_refusals(chat):
    _book(chat)
    before = stored(chat)
    assert chat.reply("/交接 @李四 @王五").startswith("⛔ 只有经理或管理员可以交接客户")
    assert chat.reply("/交接 @李四", as_="王经理") == (
        "❌ 请 @ 两个不同的人：先 @ 交出客户的人，再 @ 接手的人" + EXAMPLE
    )
    assert chat.reply("/交接 @李四 @李四", as_="王经理") == (
        "❌ 请 @ 两个不同的人：先 @ 交出客户的人，再 @ 接手的人" + EXAMPLE
    )
    assert chat.reply("/交接 @李四 @王五 百度", as_="王经理") == (
        "❌ 百度 的负责人是 张三，不是 李四，单个客户请用分配\n例如：/分配 百度 @某人"
    )
    assert chat.reply("/交接 @王五 @李四", as_="王经理") == (
        "ℹ️ 王五 名下没有进行中的客户，不用交接\n例如：/交接 @王五 @李四 客户名"
    )
    assert_nothing_saved(chat, before)


def test_deleted_customers_are_not_handed_over(chat):
    _book(chat)
    chat.reply("/删除 腾讯 重复录入", as_="王经理")
    reply = chat.reply("/交接 @李四 @王五", as_="王经理")
    assert reply.startswith("🤝 已把 李四 的 2 个客户交接给 @王五：")
    assert "腾讯" not in reply
    assert chat.customer("腾讯").owner_id == chat.member("李四").id


def test_assign_and_handover_name_the_chat_s_own_response_time_and_warn_of_leave(chat, clock):
    """The promise in the reply is the chat's 响应时限, and a receiver on leave is pointed out."""
    _book(chat)
    chat.reply("/设置 响应时限 4", as_="老板")
    chat.reply("/请假 到 12月2日", as_="王五")
    assigned = chat.reply("/分配 百度 @王五", as_="王经理").split("\n")
    assert assigned[1:] == [
        "请在 4 个工作小时内跟进并用 /跟进 记录",
        "⚠️ 王五 请假到 12月2日(周三)，期间不会提醒 TA 跟进",
    ]
    handed = chat.reply("/交接 @李四 @王五", as_="王经理").split("\n")
    assert handed[-2:] == [
        "请在 4 个工作小时内逐个跟进并用 /跟进 记录；交接错了请用 /撤销",
        "⚠️ 王五 请假到 12月2日(周三)，期间不会提醒 TA 跟进",
    ]
