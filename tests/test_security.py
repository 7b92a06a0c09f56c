"""Security matrix: every changing command × role × whose customer, chat isolation, injection,
secrets kept out of logs and replies, and request body limits.

Roles: 张三 and 李四 are reps, 王经理 is a manager (appointed by 老板), 老板 is the configured admin.
Customers: 华为 (张三's), 腾讯 (李四's), 百度 (王经理's), 京东 (老板's), 阿里 (nobody's).
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql

from bot.adapters import feishu as feishu_adapter
from bot.adapters import wecom as wecom_adapter
from bot.adapters.console import render_text as console_text
from bot.app import create_app
from bot.cli import main as cli_main
from bot.export import export
from bot.messages import Mention, OutgoingMessage
from bot.runtime import Runtime
from bot.scheduler import posted_messages, tick
from handlers.jobs.base import job_context
from handlers.jobs.digest import build_digest
from handlers.jobs.nudges import build_nudges
from handlers.jobs.stalled import build_stalled
from handlers.jobs.weekly import build_weekly
from models import Activity, Customer, Inbox, Member, Outbox
from models.chat import Chat
from models.db import make_engine
from models.target import Target
from tests.support.chat_rows import assert_nothing_saved, stored
from tests.support.fake_feishu import FakeFeishu
from tests.support.feishu_testkit import (
    BOT_OPEN_ID,
    mention,
    message_event,
    signed_encrypted_request,
)
from tests.support.harness import ChatHarness

# --------------------------------------------------------------------------------------------
# 1. The matrix
# --------------------------------------------------------------------------------------------
ACTORS = {"rep": "张三", "manager": "王经理", "admin": "老板"}
OWN = {"张三": "华为", "王经理": "百度", "老板": "京东"}
OTHERS = "腾讯"  # 李四's
UNOWNED = "阿里"
TARGETS = ("own", "other", "unowned")

# Commands on a customer: the line to send ({c} = the customer) and who may do it.
# "rep" lists the targets a rep may act on; managers and admins may act on every customer.
CUSTOMER_COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "跟进": ("/跟进 {c} 电话沟通了需求", ("own", "unowned")),  # a follow-up claims a free customer
    "阶段": ("/阶段 {c} 已报价", ("own",)),
    "报价": ("/报价 {c} 30万", ("own",)),
    "签约": ("/签约 {c} 48万", ("own",)),
    "回款": ("/回款 {c} 5万 首付", ("own",)),
    "输单": ("/输单 {c} 价格太高", ("own",)),
    "提醒": ("/提醒 {c} 下周三 送样品", ("own",)),
    "别名": ("/别名 {c} AX1", ("own",)),
    "分配": ("/分配 {c} @赵六", ()),  # managers only
}
# Commands not about one customer: the line and the lowest role that may send it.
CHAT_COMMANDS: dict[str, tuple[str, str]] = {
    "新客户·自己负责": ("/新客户 小米 @{me} 10万 展会", "rep"),
    "新客户·指定别人": ("/新客户 小米 @赵六 10万", "manager"),
    "目标": ("/目标 @赵六 50万", "manager"),
    "设置·经理": ("/设置 经理 @赵六", "admin"),
    "设置·取消经理": ("/设置 销售 @王经理", "admin"),
    "设置·日报时间": ("/设置 日报时间 19:00", "manager"),
    "设置·提醒时间": ("/设置 提醒时间 09:00", "manager"),
    "设置·预警时间": ("/设置 预警时间 11:00", "manager"),
    "设置·周报时间": ("/设置 周报时间 16:00", "manager"),
    "设置·上班时间": ("/设置 上班时间 08:30-17:30", "manager"),
    "设置·阶段时限": ("/设置 阶段时限 已报价 5", "manager"),
    "设置·未跟进天数": ("/设置 未跟进天数 5", "manager"),
    "设置·响应时限": ("/设置 响应时限 4", "manager"),
    "设置·关闭": ("/设置 关闭 日报", "manager"),
    "设置·开启": ("/设置 开启 周报", "manager"),
}
RANK = {"rep": 0, "manager": 1, "admin": 2}


def _world(chat: ChatHarness) -> None:
    """The five customers, a manager and a spare rep 赵六; then a day passes (no undo window)."""
    chat.make_manager()
    for who, name in (("张三", "华为"), ("李四", "腾讯"), ("王经理", "百度"), ("老板", "京东")):
        assert chat.reply(f"/跟进 {name} 初次拜访", as_=who).startswith("🆕")
    assert chat.reply("/新客户 阿里", as_="老板").startswith("🆕")
    assert chat.reply("/我是 赵六", as_="赵六").startswith("✅")
    chat.clock.advance(hours=25)


def _snapshot(chat: ChatHarness) -> dict[str, Any]:
    """stored() plus what it does not cover: targets and chat settings."""
    snap = stored(chat)
    with chat.runtime.sessions() as session:
        snap["targets"] = [
            (t.member_id, t.month, t.amount) for t in session.scalars(select(Target))
        ]
        snap["settings"] = [
            (c.external_id, json.dumps(c.settings, sort_keys=True))
            for c in session.scalars(select(Chat).order_by(Chat.id))
        ]
    return snap


def _refused(chat: ChatHarness, before: dict[str, Any], reply: str, who: str) -> None:
    """A refusal: ⛔, naming who may do it, and nothing stored."""
    assert reply.startswith("⛔"), reply
    assert who in reply, (who, reply)
    assert_nothing_saved(chat, before)
    after = _snapshot(chat)
    assert after["targets"] == before["targets"]
    assert after["settings"] == before["settings"]


def _allowed(chat: ChatHarness, before: dict[str, Any], reply: str) -> None:
    """Done: no refusal or error, and the state changed."""
    assert not reply.startswith(("⛔", "❌", "ℹ️", "🤔")), reply
    assert _snapshot(chat) != before, reply


def _customer_cases() -> list[Any]:
    cases = []
    for command, (_line, rep_may) in CUSTOMER_COMMANDS.items():
        for role in ACTORS:
            for target in TARGETS:
                allowed = role != "rep" or target in rep_may
                if command == "分配":
                    allowed = role != "rep"
                cases.append(
                    pytest.param(command, role, target, allowed, id=f"{command}-{role}-{target}")
                )
    return cases


@pytest.mark.parametrize(("command", "role", "target", "allowed"), _customer_cases())
@pytest.mark.slow_on_postgresql
def test_customer_command_matrix(chat, command, role, target, allowed):
    _world(chat)
    actor = ACTORS[role]
    customer = {"own": OWN[actor], "other": OTHERS, "unowned": UNOWNED}[target]
    line = CUSTOMER_COMMANDS[command][0].format(c=customer)
    before = _snapshot(chat)
    reply = chat.reply(line, as_=actor)
    if allowed:
        _allowed(chat, before, reply)
        if command == "跟进" and target == "unowned":
            assert chat.customer(UNOWNED).owner_id == chat.member(actor).id  # claimed
        if command == "分配":
            assert chat.customer(customer).owner_id == chat.member("赵六").id
            assert "赵六" in chat.mentions()
        return
    if command == "分配":
        who = "王经理"  # "only managers or admins (本群经理：王经理)"
    elif target == "other":
        who = "李四"  # the owner
    else:
        who = "经理"
    _refused(chat, before, reply, who)
    assert "经理" in reply


def _chat_cases() -> list[Any]:
    return [
        pytest.param(command, role, RANK[role] >= RANK[lowest], id=f"{command}-{role}")
        for command, (_line, lowest) in CHAT_COMMANDS.items()
        for role in ACTORS
    ]


@pytest.mark.parametrize(("command", "role", "allowed"), _chat_cases())
@pytest.mark.slow_on_postgresql
def test_chat_command_matrix(chat, command, role, allowed):
    _world(chat)
    actor = ACTORS[role]
    line, lowest = CHAT_COMMANDS[command]
    before = _snapshot(chat)
    reply = chat.send(line.format(me=actor), as_=actor)[0]
    if allowed:
        _allowed(chat, before, reply)
        return
    _refused(chat, before, reply, "管理员" if lowest == "admin" else "王经理")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("role", list(ACTORS))
def test_undo_matrix_only_ever_undoes_the_senders_own_entry(chat, role, target):
    """/撤销 is everyone's, but it reverts only the sender's own last entry."""
    _world(chat)
    actor = ACTORS[role]
    customer = {"own": OWN[actor], "other": OTHERS, "unowned": UNOWNED}[target]
    toucher = actor if target == "own" else ("老板" if actor != "老板" else "王经理")
    untouched = _snapshot(chat)
    assert chat.reply(f"/提醒 {customer} 下周三", as_=toucher).startswith("⏰")
    before = _snapshot(chat)
    reply = chat.reply("/撤销", as_=actor)
    if toucher == actor:
        assert reply.startswith("↩️"), reply
        assert stored(chat)["customers"] == untouched["customers"]
    else:
        assert reply.startswith("ℹ️"), reply
        assert_nothing_saved(chat, before)


def test_undo_after_someone_else_changed_the_customer_is_refused(chat):
    _world(chat)
    assert chat.reply("/提醒 华为 下周三", as_="张三").startswith("⏰")
    assert chat.reply("/阶段 华为 已报价", as_="王经理").startswith("✅")
    before = _snapshot(chat)
    reply = chat.reply("/撤销", as_="张三")
    assert reply.startswith("❌") and "王经理" in reply
    assert_nothing_saved(chat, before)


def test_a_display_name_does_not_make_an_admin(chat):
    """/我是 老板 (or any name in [bot] admins) must not grant the admin role (was a hole)."""
    _world(chat)
    before = _snapshot(chat)
    assert chat.reply("/我是 老板", as_="李四").startswith("❌ “老板”已经是本群 老板 的名字")
    assert chat.member("李四").name == "李四"
    reply = chat.reply("/设置 经理 @李四", as_="李四")
    _refused(chat, before, reply, "管理员")
    assert "你的角色：销售" in chat.reply("/设置", as_="李四")
    assert "你的角色：管理员" in chat.reply("/设置", as_="老板")


def test_roles_are_per_chat(runtime, clock):
    """A manager in one chat is a rep in another."""
    a, b = ChatHarness(runtime, clock, "销售一组"), ChatHarness(runtime, clock, "销售二组")
    a.make_manager()
    b.reply("/跟进 华为 初次拜访", as_="张三")
    b.reply("/帮助", as_="李四")
    b.reply("/帮助", as_="王经理")
    before = _chat_rows(b)
    for line, who in (
        ("/分配 华为 @李四", "经理"),
        ("/设置 日报时间 19:00", "经理"),
        ("/阶段 华为 已报价", "张三"),
        ("/目标 @李四 10万", "经理"),
    ):
        reply = b.reply(line, as_="王经理")
        assert reply.startswith("⛔") and who in reply, reply
        assert _chat_rows(b) == before


# --------------------------------------------------------------------------------------------
# 2. Chat isolation
# --------------------------------------------------------------------------------------------
SECRET_NOTE = "甲组机密备注"
A_ONLY = "甲组专属客户"
A_MEMBER = "甲组专员"


def _chat_rows(chat: ChatHarness) -> dict[str, Any]:
    """One chat's customers, activities, members and targets (all columns)."""
    with chat.runtime.sessions() as session:
        chat_row = session.scalars(select(Chat).where(Chat.external_id == chat.name)).one()

        def rows(model: Any, *where: Any) -> list[tuple[Any, ...]]:
            cols = model.__table__.columns
            found = session.scalars(select(model).where(*where).order_by(model.id))
            return [tuple(getattr(r, c.key) for c in cols) for r in found]

        ids = select(Customer.id).where(Customer.chat_id == chat_row.id)
        return {
            "customers": rows(Customer, Customer.chat_id == chat_row.id),
            "activities": rows(Activity, Activity.customer_id.in_(ids)),
            "members": rows(Member, Member.chat_id == chat_row.id),
            "targets": rows(Target, Target.chat_id == chat_row.id),
            "settings": json.dumps(chat_row.settings, sort_keys=True),
        }


def _texts(messages: list[OutgoingMessage]) -> str:
    """Everything a message could show, every renderer."""
    out = []
    for m in messages:
        out.append(console_text(m))
        out.append(feishu_adapter.render_text(m))
        out.append(wecom_adapter.render_markdown(m))
        if m.card is not None:
            out.append(
                json.dumps(feishu_adapter.render_card(m.card, m.mentions), ensure_ascii=False)
            )
        out.extend(f"{x.user_id} {x.name}" for x in m.mentions)
    return "\n".join(out)


def _assert_no_a(text: str, typed: str = "") -> None:
    """None of chat A's stored data (what the sender typed in B may of course be echoed)."""
    for leak in (SECRET_NOTE, A_ONLY, A_MEMBER, "88万", "A组经理", "甲组沉睡客户", "甲组线索"):
        if leak not in typed:
            assert leak not in text, (leak, text)


@pytest.fixture
def two_chats(runtime, clock) -> tuple[ChatHarness, ChatHarness]:
    """Chat A and chat B: same member names, same customer 华为; A has its own secrets."""
    a, b = ChatHarness(runtime, clock, "销售一组"), ChatHarness(runtime, clock, "销售二组")
    a.make_manager("A组经理")
    a.make_manager()
    a.reply(f"/跟进 华为 {SECRET_NOTE} 88万 明天回访", as_="张三")
    a.reply(f"/跟进 {A_ONLY} {SECRET_NOTE} 88万", as_="李四")
    a.reply(f"/跟进 甲组沉睡客户 {SECRET_NOTE}", as_=A_MEMBER)
    a.reply("/报价 甲组沉睡客户 88万", as_=A_MEMBER)
    a.reply(f"/新客户 甲组线索 @{A_MEMBER} 88万", as_="王经理")
    a.reply(f"/目标 @{A_MEMBER} 88万", as_="王经理")
    a.reply("/别名 华为 甲组简称", as_="张三")
    a.reply("/签约 华为 88万", as_="张三")
    b.reply("/跟进 华为 乙组普通备注 明天回访", as_="张三")
    b.reply("/跟进 乙组客户 乙组普通备注", as_="李四")
    return a, b


READS = [
    "/客户 华为",
    f"/客户 {A_ONLY}",
    "/客户 甲组简称",
    "/我的",
    "/待办",
    "/日报",
    "/周报",
    "/漏斗",
    "/排行",
    "/目标",
    "/设置",
    "/帮助",
]


@pytest.mark.parametrize("line", READS)
@pytest.mark.slow_on_postgresql
def test_nothing_of_chat_a_is_readable_from_chat_b(two_chats, line):
    a, b = two_chats
    for who in ("张三", "李四", "王经理", "老板"):
        b.send(line, as_=who)
        _assert_no_a(_texts(b.last or []), typed=line)
        assert A_MEMBER not in b.mentions()


def test_chat_b_export_holds_only_chat_b(two_chats, runtime):
    with runtime.sessions() as session:
        data = export(session, "销售二组")
    assert data is not None and data["customers"]
    assert {c["chat"] for c in data["customers"]} == {"销售二组"}
    _assert_no_a(json.dumps(data, ensure_ascii=False, default=str))


CHANGES = [
    ("/阶段 {c} 已报价", "王经理"),
    ("/报价 {c} 1万", "张三"),
    ("/签约 {c} 1万", "老板"),
    ("/回款 {c} 1万", "老板"),
    ("/输单 {c} 测试", "老板"),
    ("/提醒 {c} 下周三", "老板"),
    ("/别名 {c} 乙组简称", "老板"),
    ("/分配 {c} @李四", "老板"),
    ("/跟进 {c} 乙组写入", "李四"),
    ("/撤销", "李四"),
    ("/撤销", A_MEMBER),
    ("/设置 日报时间 20:00", "老板"),
    ("/设置 取消经理 @王经理", "老板"),
    ("/目标 @甲组专员 1万", "老板"),
]


@pytest.mark.parametrize(("line", "who"), CHANGES)
@pytest.mark.parametrize("customer", [A_ONLY, "甲组简称", "华为"])
@pytest.mark.slow_on_postgresql
def test_nothing_of_chat_a_is_changeable_from_chat_b(two_chats, line, who, customer):
    a, b = two_chats
    before = _chat_rows(a)
    typed = line.format(c=customer)
    b.send(typed, as_=who)
    assert _chat_rows(a) == before
    _assert_no_a(_texts(b.last or []), typed=typed + who)


def _tick_all(runtime: Runtime, clock: Any, days: int = 10) -> dict[str, list[OutgoingMessage]]:
    """Run the scheduler every half hour for ``days`` days; messages per chat."""
    found: dict[str, list[OutgoingMessage]] = {}
    start = clock.now.replace(hour=0, minute=0)
    for step in range(days * 48):
        at = start + timedelta(minutes=30 * step)
        clock.now = at
        posted = tick(runtime, at)
        runtime.drain()
        for item, message, _status in posted_messages(runtime, posted):
            found.setdefault(item.chat, []).append(message)
    return found


@pytest.mark.slow
def test_reports_for_chat_b_never_contain_chat_a(two_chats, runtime, clock):
    a, b = two_chats
    # Direct builders for B, at moments when A has something to say.
    with runtime.sessions() as session:
        chat_b = session.scalars(select(Chat).where(Chat.external_id == b.name)).one()
        for days in (0, 1, 3, 7, 20):
            now = clock.now + timedelta(days=days)
            ctx = job_context(session, chat_b, now, runtime.settings)
            built = build_digest(ctx, now.date()) + build_weekly(ctx, now.date())
            built += build_nudges(ctx) + build_stalled(ctx)
            _assert_no_a(_texts(built))
    # And through the scheduler, for three weeks of ticks.
    found = _tick_all(runtime, clock, days=21)
    assert found.get(a.name), "chat A got no reports: the test would prove nothing"
    assert SECRET_NOTE in _texts(found[a.name]) or A_ONLY in _texts(found[a.name])
    assert found.get(b.name)
    _assert_no_a(_texts(found[b.name]))
    for message in found[b.name]:
        assert all(m.user_id != A_MEMBER for m in message.mentions)


# --------------------------------------------------------------------------------------------
# 3. Injection
# --------------------------------------------------------------------------------------------
EVIL = [
    '<at user_id="all">所有人</at>',
    "<at id=all></at>",
    "<@all>",
    "@所有人",
    "@all",
    "＠all",
    "**粗体**",
    "[点我](http://x.example)",
    "# 标题",
    "|a|b|",
    '{"tag":"markdown","content":"<at id=all></at>"}',
    "\ue0000\ue001",
    "前\ue0001\ue001后",
    "控制\x00\x07\x1b[31m\x7f字符",
    "反向\u202e\u200b\ufeff字符",
    "私用\ue005\ue0ff\uf8ff字符",
    "换\n行",
    "长" * 10_000,
]
FORBIDDEN = ('<at user_id="all"', "<at id=all", "<@all>", '<at user_id="@_all"', "<at id=@_all")


# What a Feishu card may hold: text and tables, and the buttons, forms and charts of card actions.
CARD_TAGS = (
    "markdown",
    "table",
    "plain_text",
    "column_set",
    "column",
    "button",
    "form",
    "input",
    "date_picker",
    "select_static",
    "chart",
)


def _elements(node: object) -> list[dict]:
    """Every card element (a dict with a tag) inside ``node``, nested ones (columns, forms) too."""
    found: list[dict] = []
    if isinstance(node, dict):
        if "tag" in node:
            found.append(node)
        for value in node.values():
            found += _elements(value)
    elif isinstance(node, list):
        for value in node:
            found += _elements(value)
    return found


def _check_rendering(message: OutgoingMessage, allow_all: bool = False) -> None:
    """Every renderer: no mention of all, no forged token, no markup, a valid card."""
    valid = {str(i) for i in range(len(message.mentions))}
    texts = [message.text] + (
        [line for s in message.card.sections for line in s.lines] if message.card else []
    )
    for text in texts:
        tokens = re.findall("\ue000(\\d+)\ue001", text)
        assert set(tokens) <= valid, "a mention token that points nowhere"
        rest = re.sub("\ue000\\d+\ue001", "", text)
        assert not any("\ue000" <= ch <= "\uf8ff" for ch in rest), "a private-use char leaked"
    if not allow_all:
        assert all(m.user_id.casefold() not in ("all", "@_all") for m in message.mentions)
    plain = console_text(message)
    assert not any(
        unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") and ch != "\n" for ch in plain
    ), repr(plain[:200])
    outputs = {
        "feishu text": feishu_adapter.render_text(message),
        "wecom tags": wecom_adapter.render_markdown(message),
        "wecom names": wecom_adapter.render_markdown(message, mention_tags=False),
    }
    count = len(re.findall("\ue000\\d+\ue001", message.text))
    assert outputs["feishu text"].count("<at ") <= count
    assert outputs["feishu text"].count("<") == outputs["feishu text"].count("<at ") + outputs[
        "feishu text"
    ].count("</at>")
    if message.card is not None:
        card = feishu_adapter.render_card(message.card, message.mentions)
        raw = json.dumps(card, ensure_ascii=False)
        assert json.loads(raw) == card and card["schema"] == "2.0"
        assert len(raw.encode()) <= feishu_adapter.CARD_LIMIT
        for element in _elements(card["body"]):
            assert element["tag"] in CARD_TAGS, element["tag"]
            if element["tag"] in ("markdown", "table"):
                assert set(element) <= {"tag", "content", "page_size", "columns", "rows"}
            assert isinstance(element.get("content", ""), str)
            if element["tag"] == "markdown":
                outputs[f"card {id(element)}"] = element["content"]
    for where, out in outputs.items():
        if not allow_all:
            for bad in FORBIDDEN:
                assert bad not in out, (where, bad, out[:300])
        if where == "feishu text":  # a text message: only <at> tags are markup there
            continue
        for markup in ("**粗体**", "[点我](", "\n# 标题", "|a|b|"):
            assert markup not in out, (where, markup, out[:300])
        if where.startswith("wecom"):
            assert len(out.encode()) <= wecom_adapter.WEBHOOK_LIMIT


def _say_everywhere(chat: ChatHarness, evil: str) -> list[OutgoingMessage]:
    """Put ``evil`` in every place a user can type text, then read it back everywhere."""
    out: list[OutgoingMessage] = []
    one_line = evil.replace("\n", " ")
    lines = [
        ("/跟进 华为 初次拜访 明天", "张三"),
        (f"/跟进 {one_line} 初次拜访", "张三"),
        (f"/新客户 “{one_line}” 来自{one_line}", "王经理"),
        (f"/跟进 华为 {evil}", "张三"),
        (f"/提醒 华为 下周三 {evil}", "张三"),
        (f"/别名 华为 {one_line[:40]}", "张三"),
        (f"/报价 华为 30万 {evil}", "张三"),
        (f"/我是 {one_line}", "李四"),
        ("/跟进 腾讯 初次拜访", "李四"),
        (f"/分配 华为 {one_line}", "王经理"),
        (f"/目标 {one_line} 10万", "王经理"),
        (f"/输单 腾讯 {evil}", "李四"),
        (f"/客户 {one_line}", "张三"),
        (f"/{one_line}", "张三"),
        (f"/设置 {one_line}", "老板"),
        ("/客户 华为", "张三"),
        ("/客户 腾讯", "李四"),
        ("/我的", "张三"),
        ("/待办", "李四"),
        ("/日报", "王经理"),
        ("/周报", "王经理"),
        ("/漏斗", "王经理"),
        ("/排行", "王经理"),
        ("/目标", "王经理"),
        ("/设置", "李四"),
    ]
    for line, who in lines:
        chat.send(line, as_=who)
        out.extend(chat.last or [])
    return out


@pytest.mark.parametrize("evil", EVIL, ids=lambda e: repr(e[:24]))
@pytest.mark.slow
def test_user_text_never_becomes_a_mention_markup_or_broken_card(chat, evil):
    chat.make_manager()
    messages = _say_everywhere(chat, evil)
    assert messages
    for message in messages:
        _check_rendering(message)
    # Scheduled reports over the same data.
    chat.clock.advance(days=1)
    found = _tick_all(chat.runtime, chat.clock, days=14)
    for message in found.get(chat.name, []):
        allow = any(m == Mention("all", "所有人") for m in message.mentions)
        _check_rendering(message, allow_all=allow)
        if allow:  # the bot's own stalled-deal escalation: exactly one, in the bot's words
            assert console_text(message).count("@所有人 这些客户停滞太久") == 1


def test_a_typed_mention_of_all_is_not_a_member(chat):
    """``/分配 华为 @all`` must not create a member "all" that replies would mention (was a hole)."""
    chat.make_manager()
    chat.reply("/跟进 华为 初次拜访", as_="张三")
    before = _snapshot(chat)
    reply = chat.reply("/分配 华为 @all", as_="王经理")
    assert reply.startswith("❌")
    assert_nothing_saved(chat, before)
    assert chat.member("all") is None
    assert chat.reply("/目标 @all 10万", as_="王经理").startswith("❌")
    assert chat.reply("/设置 经理 @all", as_="老板").startswith("❌")
    assert chat.member("all") is None


def test_forged_mention_tokens_in_a_stored_name_are_inert():
    """Renderers given raw text with tokens but no mentions render nothing for them."""
    message = OutgoingMessage("前\ue0000\ue001后\ue00099\ue001", [])
    for out in (
        console_text(message),
        feishu_adapter.render_text(message),
        wecom_adapter.render_markdown(message),
    ):
        assert "<at" not in out and "<@" not in out and "@" not in out


# --------------------------------------------------------------------------------------------
# 4. Secrets
# --------------------------------------------------------------------------------------------
FS_SECRET = "SECRETfsAppSecretQ7x9"
FS_ENCRYPT = "SECRETfsEncryptK4z"
FS_TOKEN = "SECRETfsVerifyT0k3n"
WC_TOKEN = "SECRETwcToken5Hq"
WC_AES = ("SECRETwcAesKey" + "A" * 43)[:43]
WC_HOOK = "SECRETwcHookKey8Rt"
DB_PASSWORD = "SECRETdbPassw0rdZ"
SECRETS = (FS_SECRET, FS_ENCRYPT, FS_TOKEN, WC_TOKEN, WC_AES, WC_HOOK, DB_PASSWORD)
FS_CHAT = "oc_secret_team"


def _assert_no_secret(*texts: Any) -> None:
    for text in texts:
        blob = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=str)
        for secret in SECRETS:
            assert secret not in blob, (secret, blob[:500])


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    lines = []
    for r in caplog.records:
        lines.append(r.getMessage())
        if r.exc_text:
            lines.append(r.exc_text)
        if r.exc_info and r.exc_info[1] is not None:
            lines.append(repr(r.exc_info[1]))
    return "\n".join(lines)


@pytest.fixture
def secret_fake() -> Any:
    with FakeFeishu(
        app_secret=FS_SECRET,
        bot_open_id=BOT_OPEN_ID,
        members={FS_CHAT: {"ou_zhang": "张三", "ou_li": "李四"}},
    ) as server:
        yield server


def test_secrets_never_appear_in_logs_replies_health_or_metrics(
    engine, settings, clock, secret_fake, caplog
):
    caplog.set_level(logging.DEBUG)
    settings.feishu.app_id = secret_fake.app_id
    settings.feishu.app_secret = FS_SECRET
    settings.feishu.verification_token = FS_TOKEN
    settings.feishu.encrypt_key = FS_ENCRYPT
    settings.feishu.domain = secret_fake.url
    settings.feishu.bot_open_id = BOT_OPEN_ID
    settings.wecom.token = WC_TOKEN
    settings.wecom.encoding_aes_key = WC_AES
    settings.wecom.domain = "http://127.0.0.1:9"  # nothing listens: every WeCom send fails
    settings.wecom.chats = {"wc_chat": {"webhook_key": WC_HOOK}}
    settings.sender.backoff_seconds = 1.0
    runtime = Runtime(settings, engine=engine, clock=clock)
    client = create_app(settings, runtime).test_client()

    def event(text: str, n: int, token: str = FS_TOKEN) -> dict[str, Any]:
        return message_event(
            f"@_user_1 {text}",
            chat_id=FS_CHAT,
            open_id="ou_zhang",
            token=token,
            message_id=f"om_secret_{n}",
            mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
            create_time_ms=int(clock().timestamp() * 1000),
        )

    responses = []
    ts = int(clock().timestamp())  # signed requests must be fresh on the runtime's clock
    body, headers = signed_encrypted_request(
        event("/跟进 华为 报价已发 明天回访", 1), FS_ENCRYPT, timestamp=ts
    )
    responses.append(client.post("/webhook/feishu", data=body, headers=headers))
    assert responses[-1].status_code == 200
    secret_fake.fail_next(3, status=500, msg=f"boom {FS_SECRET[:3]}")  # a failing send
    body, headers = signed_encrypted_request(event("/客户 华为", 2), FS_ENCRYPT, timestamp=ts)
    responses.append(client.post("/webhook/feishu", data=body, headers=headers))
    # Forgeries: wrong signature, wrong token, wrong key, plain JSON.
    body, headers = signed_encrypted_request(event("/我的", 3), FS_ENCRYPT, timestamp=ts)
    headers = {**headers, "X-Lark-Signature": "0" * 64}
    responses.append(client.post("/webhook/feishu", data=body, headers=headers))
    body, headers = signed_encrypted_request(
        event("/我的", 4, token="wrong"), FS_ENCRYPT, timestamp=ts
    )
    responses.append(client.post("/webhook/feishu", data=body, headers=headers))
    body, headers = signed_encrypted_request(event("/我的", 5), "another-key", timestamp=ts)
    responses.append(client.post("/webhook/feishu", data=body, headers=headers))
    responses.append(client.post("/webhook/feishu", json=event("/我的", 6)))
    responses.append(
        client.post(
            "/webhook/wecom",
            query_string={"msg_signature": "0" * 40, "timestamp": "1", "nonce": "n"},
            json={"encrypt": "AAAA"},
        )
    )
    # A WeCom reply that cannot be delivered (the push webhook is unreachable).
    from bot.adapters.wecom_crypto import WecomCrypto, sign

    crypto = WecomCrypto(WC_TOKEN, WC_AES, "")
    plain = json.dumps(
        {
            "msgid": "wc-1",
            "chatid": "wc_chat",
            "chattype": "group",
            "from": {"userid": "zhangsan"},
            "msgtype": "text",
            "text": {"content": "@跟进助手 /跟进 腾讯 初次拜访"},
        },
        ensure_ascii=False,
    )
    enc = crypto.encrypt(plain)
    query = {"msg_signature": sign(WC_TOKEN, str(ts), "nonce", enc)}
    query |= {"timestamp": str(ts), "nonce": "nonce"}
    responses.append(client.post("/webhook/wecom", query_string=query, json={"encrypt": enc}))
    for _ in range(4):
        runtime.drain()
        clock.advance(seconds=30)
    responses.append(client.get("/healthz"))
    responses.append(client.get("/metrics"))
    for r in responses:
        assert r.status_code < 500
        _assert_no_secret(r.get_data(as_text=True))
    with runtime.sessions() as session:
        rows = session.scalars(select(Outbox)).all()
        assert rows
        for row in rows:
            _assert_no_secret([getattr(row, c.key) for c in Outbox.__table__.columns])
    _assert_no_secret(secret_fake.texts())
    assert caplog.records, "nothing was logged: the test would prove nothing"
    _assert_no_secret(_log_text(caplog))


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""[bot]
admins = ["老板"]
[database]
url = "sqlite:///{tmp_path / "g.db"}"
[feishu]
app_id = "cli_secret_test"
app_secret = "{FS_SECRET}"
verification_token = "{FS_TOKEN}"
encrypt_key = "{FS_ENCRYPT}"
domain = "http://127.0.0.1:9"
[wecom]
token = "{WC_TOKEN}"
encoding_aes_key = "{WC_AES}"
domain = "http://127.0.0.1:9"
[wecom.chats."wc_chat"]
webhook_key = "{WC_HOOK}"
{extra}""",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["say", "--chat", "销售一组", "--as", "张三", "/跟进 华为 报价已发"], ""),
        (["say", "--chat", "销售一组", "--as", "张三", "/不存在的命令"], ""),
        (["export", "--chat", "销售一组"], ""),
        (["export", "--chat", "没有这个群"], ""),
        (["tick", "--at", "2026-11-27T18:00"], ""),
        (["digest", "--chat", "没有这个群"], ""),
        (["say", "--chat", "x", "--as", "y", "hi"], '[server]\nsandbox = "maybe"\n'),
        (["say", "--chat", "x", "--as", "y", "hi"], "[feishu]\nmode = 1\n"),
        (["db", "current"], "[bot]\nundo_hours = 0\n"),
    ],
    ids=[
        "say",
        "unknown",
        "export",
        "export-missing",
        "tick",
        "digest",
        "bad-sandbox",
        "dup",
        "bad-undo",
    ],
)
def test_cli_never_prints_or_logs_secrets(tmp_path, capsys, caplog, argv, extra):
    caplog.set_level(logging.DEBUG)
    config = _config(tmp_path, extra if "undo" not in extra else "")
    if "undo" in extra:
        text = config.read_text(encoding="utf-8").replace(
            'admins = ["老板"]', 'admins = ["老板"]\nundo_hours = 0'
        )
        config.write_text(text, encoding="utf-8")
    try:
        cli_main([*argv, "--config", str(config)])
    except SystemExit:
        pass
    except Exception as exc:  # a TOML error is still an error the user sees
        _assert_no_secret(repr(exc), str(exc))
    out = capsys.readouterr()
    _assert_no_secret(out.out, out.err, _log_text(caplog))


def test_cli_database_error_does_not_print_the_password(tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"postgresql+psycopg://genjin:{DB_PASSWORD}@127.0.0.1:9/genjin?connect_timeout=2"
    code = cli_main(["export", "--db", url, "--config", str(_config(tmp_path))])
    assert code != 0
    out = capsys.readouterr()
    assert out.err
    _assert_no_secret(out.out, out.err, _log_text(caplog))


def test_config_errors_do_not_echo_secrets(tmp_path):
    from bot.config import ConfigError, load_settings

    bad = _config(tmp_path).read_text(encoding="utf-8")
    cases = [
        bad.replace(f'encoding_aes_key = "{WC_AES}"', f'encoding_aes_key = "{WC_AES}x"'),
        bad.replace(f'verification_token = "{FS_TOKEN}"', ""),
        bad.replace(f'webhook_key = "{WC_HOOK}"', f'webhook_key = "{WC_HOOK}"\nother = "x"'),
        bad.replace(f'token = "{WC_TOKEN}"', ""),
    ]
    for n, text in enumerate(cases):
        path = tmp_path / f"bad{n}.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_settings(path)
        _assert_no_secret(str(info.value))


# --------------------------------------------------------------------------------------------
# 5. Body size limits
# --------------------------------------------------------------------------------------------
LIMIT = 4096


def _stored_nothing(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        for model in (Inbox, Outbox, Customer, Activity, Member):
            assert session.query(model).count() == 0, model


@pytest.mark.parametrize("path", ["/webhook/feishu", "/webhook/wecom", "/sandbox/api/send"])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_bodies_over_the_limit_are_refused_with_413(engine, settings, clock, path, declared):
    settings.server.max_body_bytes = LIMIT
    if path == "/webhook/feishu":
        settings.feishu.app_id = "cli_limit"
        settings.feishu.app_secret = FS_SECRET
        settings.feishu.verification_token = FS_TOKEN
        settings.feishu.encrypt_key = FS_ENCRYPT
        settings.feishu.bot_open_id = BOT_OPEN_ID
    elif path == "/webhook/wecom":
        settings.wecom.token = WC_TOKEN
        settings.wecom.encoding_aes_key = WC_AES
    runtime = Runtime(settings, engine=engine, clock=clock)
    client = create_app(settings, runtime).test_client()
    if path == "/webhook/feishu":
        event = message_event(
            "@_user_1 /跟进 华为 " + "长" * LIMIT,
            chat_id=FS_CHAT,
            open_id="ou_zhang",
            token=FS_TOKEN,
            message_id="om_big",
            mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
        )
        body, headers = signed_encrypted_request(
            event, FS_ENCRYPT, timestamp=int(clock().timestamp())
        )
        query: dict[str, str] = {}
    elif path == "/webhook/wecom":
        body = json.dumps({"encrypt": "A" * (LIMIT * 2)}).encode()
        headers = {"Content-Type": "application/json"}
        query = {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "n"}
    else:
        body = json.dumps({"chat": "a", "as": "b", "text": "/跟进 华为 " + "x" * (LIMIT * 2)})
        body = body.encode()
        headers = {"Content-Type": "application/json"}
        query = {}
    assert len(body) > LIMIT
    if declared:
        response = client.post(path, data=body, headers=headers, query_string=query)
    else:  # no Content-Length: the body arrives as a stream
        environ = {"wsgi.input_terminated": True}
        response = client.post(
            path,
            input_stream=__import__("io").BytesIO(body),
            headers={**headers, "Transfer-Encoding": "chunked"},
            query_string=query,
            environ_overrides=environ,
        )
    if declared:
        assert response.status_code == 413, response.get_data(as_text=True)[:200]
    else:  # Werkzeug cuts an undeclared body at the limit: refused as malformed, never stored
        assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:200]
    runtime.drain()
    _stored_nothing(runtime)
    _assert_no_secret(response.get_data(as_text=True))


def test_bodies_at_the_limit_are_still_read(engine, settings, clock):
    """The limit is not off by one: a body just under it is handled normally."""
    settings.server.max_body_bytes = LIMIT
    runtime = Runtime(settings, engine=engine, clock=clock)
    client = create_app(settings, runtime).test_client()
    small = json.dumps({"chat": "a", "as": "b", "text": "/跟进 华为 报价已发"}).encode()
    assert len(small) < LIMIT
    response = client.post(
        "/sandbox/api/send", data=small, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_is_refused_by_the_real_server(tmp_path):
    """Through `genjin serve` (waitress): no Content-Length, the body streams in chunks → 413."""
    import socket

    from tests.support.serving import genjin_serve

    db = tmp_path / "chunked.db"
    env = {
        "GENJIN_DATABASE_URL": f"sqlite:///{db}",
        "GENJIN_SERVER_SANDBOX": "on",
        "GENJIN_SERVER_MAX_BODY_BYTES": str(LIMIT),
    }
    body = json.dumps({"chat": "a", "as": "b", "text": "/跟进 华为 " + "x" * (LIMIT * 2)}).encode()
    with genjin_serve(tmp_path, env) as served:
        port = int(served.base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /sandbox/api/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            for start in range(0, len(body), 1000):
                chunk = body[start : start + 1000]
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except OSError:
                    break  # the server answered and closed before the end: fine
            try:
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass
            answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            assert conn.execute(sql("SELECT count(*) FROM inbox")).scalar() == 0
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# 6. Unauthenticated input: a 4xx and one log line, never a 500 or a traceback
# --------------------------------------------------------------------------------------------
DEEP_ARRAY = b"[" * 5000 + b"]" * 5000
DEEP_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000
WC_QUERY = {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "n"}
HOSTILE = {
    "wecom-deep-array": ("POST", "/webhook/wecom", DEEP_ARRAY, WC_QUERY),
    "wecom-deep-object": ("POST", "/webhook/wecom", DEEP_OBJECT, WC_QUERY),
    "wecom-list": ("POST", "/webhook/wecom", b"[1,2]", WC_QUERY),
    "wecom-huge-query": ("POST", "/webhook/wecom", b"{}", {"x": "a" * 100_000}),
    "wecom-get-no-params": ("GET", "/webhook/wecom", b"", {"x": "a" * 100_000}),
    "feishu-deep-array": ("POST", "/webhook/feishu", DEEP_ARRAY, {}),
    "feishu-deep-object": ("POST", "/webhook/feishu", DEEP_OBJECT, {}),
    "feishu-string": ("POST", "/webhook/feishu", b'"str"', {}),
    "feishu-huge-query": ("POST", "/webhook/feishu", b"{}", {"x": "a" * 100_000}),
    "sandbox-deep": ("POST", "/sandbox/api/send", DEEP_ARRAY, {}),
    "sandbox-deep-object": ("POST", "/sandbox/api/send", DEEP_OBJECT, {}),
    "sandbox-list": ("POST", "/sandbox/api/send", b"[1,2]", {}),
    "sandbox-string": ("POST", "/sandbox/api/send", b'"str"', {}),
    "sandbox-number": ("POST", "/sandbox/api/send", b"123", {}),
    "sandbox-odd-types": ("POST", "/sandbox/api/send", b'{"chat":1,"as":[],"text":{}}', {}),
    "sandbox-too-big": ("POST", "/sandbox/api/send", b'{"text":"' + b"x" * 5000 + b'"}', {}),
    "sandbox-huge-cursor": ("GET", "/sandbox/api/messages", b"", {"in_after": "9" * 30}),
    "unknown-platform": ("POST", "/webhook/nope", b"{}", {}),
    "wrong-method": ("PUT", "/webhook/wecom", b"{}", {}),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_unauthenticated_input_is_4xx_with_one_log_line(engine, settings, clock, caplog, case):
    settings.server.max_body_bytes = LIMIT
    settings.server.sandbox = "on"
    settings.feishu.app_id = "cli_hostile"
    settings.feishu.app_secret = FS_SECRET
    settings.feishu.verification_token = FS_TOKEN
    settings.feishu.encrypt_key = FS_ENCRYPT
    settings.feishu.bot_open_id = BOT_OPEN_ID
    settings.wecom.token = WC_TOKEN
    settings.wecom.encoding_aes_key = WC_AES
    runtime = Runtime(settings, engine=engine, clock=clock)
    client = create_app(settings, runtime).test_client()
    method, path, body, query = HOSTILE[case]
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = client.open(
        path,
        method=method,
        data=body,
        query_string=query,
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:200])
    assert "Traceback" not in response.get_data(as_text=True)
    ours = [r for r in caplog.records if r.name.startswith("bot") and r.levelno >= logging.INFO]
    assert len(ours) == 1, [r.getMessage()[:120] for r in ours]
    assert all(r.exc_info is None and r.levelno < logging.ERROR for r in caplog.records)
    _stored_nothing(runtime)


def test_a_signed_wecom_callback_nested_too_deep_is_400(engine, settings, clock, caplog):
    from bot.adapters.wecom_crypto import WecomCrypto, sign

    settings.wecom.token = WC_TOKEN
    settings.wecom.encoding_aes_key = WC_AES
    runtime = Runtime(settings, engine=engine, clock=clock)
    client = create_app(settings, runtime).test_client()
    enc = WecomCrypto(WC_TOKEN, WC_AES, "").encrypt("[" * 5000 + "]" * 5000)
    ts = str(int(clock().timestamp()))
    query = {"msg_signature": sign(WC_TOKEN, ts, "n1", enc), "timestamp": ts, "nonce": "n1"}
    caplog.set_level(logging.INFO)
    response = client.post("/webhook/wecom", query_string=query, json={"encrypt": enc})
    assert response.status_code == 400
    assert all(r.exc_info is None and r.levelno < logging.ERROR for r in caplog.records)
    _stored_nothing(runtime)


def test_a_signed_feishu_message_with_deeply_nested_content_is_not_a_500(
    engine, settings, clock, caplog
):
    settings.feishu.app_id = "cli_deep"
    settings.feishu.app_secret = FS_SECRET
    settings.feishu.verification_token = FS_TOKEN
    settings.feishu.encrypt_key = FS_ENCRYPT
    settings.feishu.bot_open_id = BOT_OPEN_ID
    runtime = Runtime(settings, engine=engine, clock=clock)
    client = create_app(settings, runtime).test_client()
    event = message_event(
        "@_user_1 /我的",
        chat_id=FS_CHAT,
        open_id="ou_zhang",
        token=FS_TOKEN,
        message_id="om_deep",
        content="[" * 5000 + "]" * 5000,
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
    )
    body, headers = signed_encrypted_request(event, FS_ENCRYPT, timestamp=int(clock().timestamp()))
    caplog.set_level(logging.INFO)
    response = client.post("/webhook/feishu", data=body, headers=headers)
    assert response.status_code == 200  # signed: acknowledged, its unreadable content ignored
    assert all(r.exc_info is None and r.levelno < logging.ERROR for r in caplog.records)
