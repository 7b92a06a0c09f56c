"""The rep's desk: a private chat with the bot works on the sender's team book, nobody else's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.adapters import PLATFORMS
from bot.adapters.base import Adapter
from bot.runtime import Runtime
from bot.scheduler import tick
from handlers.desk import NO_TEAM
from handlers.settings import NO_PRIVATE
from models import Activity, Chat, Customer, Member, Outbox
from models.member import ROLE_MANAGER
from tests.support.fake_wecom import FakeWecom
from tests.support.feishu_fixtures import (
    CHAT,
    TOKEN,
    FeishuChat,
    configure_feishu,
    fake,  # noqa: F401  (fixture)
)
from tests.support.feishu_testkit import BOT_OPEN_ID, mention, message_event
from tests.test_wecom import CHAT as WECOM_CHAT
from tests.test_wecom import HOOK, KEY, WecomChat
from tests.test_wecom import TOKEN as WECOM_TOKEN

TEAM_TWO = "oc_sales_two"


@pytest.fixture
def feishu(engine, settings, clock, fake) -> FeishuChat:  # noqa: F811
    configure_feishu(settings, fake)
    return FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)


def settle(feishu: FeishuChat) -> None:
    """Dispatch and deliver everything, waiting out the per-chat rate limit (5 a second).

    The adapter's limit counts real seconds, the outbox's retry the test clock: both move on.
    """
    for _ in range(20):
        feishu.runtime.drain()
        if not rows(feishu, Outbox, status="pending"):
            return
        time.sleep(0.25)
        feishu.runtime.clock.advance(seconds=30)
    raise AssertionError("outbox rows still pending")


def p2p_of(open_id: str) -> str:
    return f"oc_p2p_{open_id}"


def private(feishu: FeishuChat, text: str, open_id: str = "ou_zhang") -> list[str]:
    """Write to the bot privately (a Feishu p2p chat); the texts it answered there."""
    feishu.count += 1
    before = len(feishu.fake.sent)
    event = message_event(
        text,
        chat_id=p2p_of(open_id),
        open_id=open_id,
        token=TOKEN,
        message_id=f"om_p2p_{feishu.count}",
        chat_type="p2p",
        create_time_ms=feishu.now_ms(),
    )
    feishu.fake.note_event(event)
    assert feishu.post_event(event).status_code == 200
    settle(feishu)
    return [s.text for s in feishu.fake.sent[before:] if s.chat_id == p2p_of(open_id)]


def in_group(
    feishu: FeishuChat, text: str, open_id: str = "ou_zhang", chat: str = CHAT, mentions=()
) -> str:
    """Say ``@跟进助手 text`` in a team chat; the reply's text."""
    feishu.count += 1
    before = len(feishu.fake.sent)
    event = message_event(
        f"@_user_1 {text}",
        chat_id=chat,
        open_id=open_id,
        token=TOKEN,
        message_id=f"om_group_{feishu.count}",
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手"), *mentions],
        create_time_ms=feishu.now_ms(),
    )
    feishu.fake.note_event(event)
    assert feishu.post_event(event).status_code == 200
    settle(feishu)
    (reply,) = [s.text for s in feishu.fake.sent[before:] if s.chat_id == chat]
    return reply


def name_chat(feishu: FeishuChat, external_id: str, name: str) -> None:
    with feishu.runtime.sessions() as session, session.begin():
        session.scalars(select(Chat).where(Chat.external_id == external_id)).one().name = name


def make_manager(feishu: FeishuChat, open_id: str, chat: str = CHAT) -> None:
    with feishu.runtime.sessions() as session, session.begin():
        team = session.scalars(select(Chat).where(Chat.external_id == chat)).one()
        member = session.scalars(
            select(Member).where(Member.chat_id == team.id, Member.user_id == open_id)
        ).one()
        member.role = ROLE_MANAGER


def rows(feishu: FeishuChat, model, **where):
    """Rows in insertion order (PostgreSQL returns an unordered query in any order)."""
    with feishu.runtime.sessions() as session:
        return list(session.scalars(select(model).filter_by(**where).order_by(model.id)))


def team_id(feishu: FeishuChat, external_id: str = CHAT) -> int:
    (chat,) = rows(feishu, Chat, external_id=external_id)
    return chat.id


def test_a_follow_up_logged_privately_is_the_teams_and_shows_in_its_digest(feishu, clock):
    in_group(feishu, "/我的")  # 张三 is a member of the team chat
    (answer,) = private(feishu, "/跟进 客户A 报价已发 下周一回访")
    assert "客户A" in answer and "已报价" in answer and "〔" not in answer  # one team: no label
    (customer,) = rows(feishu, Customer)
    assert customer.chat_id == team_id(feishu)
    assert {a.chat_id for a in rows(feishu, Activity)} == {team_id(feishu)}
    assert not rows(feishu, Member, chat_id=team_id(feishu, p2p_of("ou_zhang")))

    before = len(feishu.fake.sent)
    clock.advance(hours=8)  # Friday 18:00
    assert "daily_digest" in [p.job for p in tick(feishu.runtime, clock())]
    settle(feishu)
    digest = [s.text for s in feishu.fake.sent[before:] if s.chat_id == CHAT]
    assert "客户A" in "\n".join(digest)
    assert not [s for s in feishu.fake.sent[before:] if s.chat_id == p2p_of("ou_zhang")]


def test_a_stranger_in_private_sees_nothing_of_any_team(feishu):
    in_group(feishu, "/跟进 客户A 报价已发 下周一回访")
    entries = len(rows(feishu, Activity))
    for text in ("/我的", "/客户 客户A", "/待办", "/跟进 客户A 偷看一下"):
        assert private(feishu, text, open_id="ou_stranger") == [NO_TEAM]
    assert len(rows(feishu, Activity)) == entries  # the stranger wrote nothing into the book
    assert not rows(feishu, Member, user_id="ou_stranger")


def test_each_team_member_reaches_only_their_own_teams_book_in_private(feishu):
    in_group(feishu, "/跟进 客户A 报价已发 下周一回访", open_id="ou_zhang")
    in_group(feishu, "/跟进 客户B 拜访了采购 下周一回访", open_id="ou_li", chat=TEAM_TWO)
    zhang = "\n".join(private(feishu, "/客户 客户B", open_id="ou_zhang"))
    li = "\n".join(private(feishu, "/客户 客户A", open_id="ou_li"))
    assert "拜访了采购" not in zhang and "报价已发" not in li
    assert "客户A" in "\n".join(private(feishu, "/我的", open_id="ou_zhang"))
    assert "客户B" not in "\n".join(private(feishu, "/我的", open_id="ou_zhang"))
    assert "客户B" in "\n".join(private(feishu, "/我的", open_id="ou_li"))
    assert "客户A" not in "\n".join(private(feishu, "/我的", open_id="ou_li"))


def test_a_member_of_two_teams_is_asked_once_then_the_team_is_remembered(feishu):
    in_group(feishu, "/我的")
    in_group(feishu, "/我的", chat=TEAM_TWO)
    name_chat(feishu, CHAT, "销售一组")
    name_chat(feishu, TEAM_TWO, "销售二组")
    (question,) = private(feishu, "/跟进 客户B 拜访了采购")
    assert "销售一组" in question and "销售二组" in question and "/团队" in question
    assert not rows(feishu, Customer)

    (picked,) = private(feishu, "/团队 销售二组")
    assert "销售二组" in picked
    (logged,) = private(feishu, "/跟进 客户B 拜访了采购")
    assert logged.startswith("〔销售二组〕") and "客户B" in logged
    (customer,) = rows(feishu, Customer)
    assert customer.chat_id == team_id(feishu, TEAM_TWO)
    (mine,) = private(feishu, "/我的")
    assert mine.startswith("〔销售二组〕")
    (unknown,) = private(feishu, "/团队 销售九组")
    assert "销售一组" in unknown and "销售二组" in unknown
    assert "销售二组" in private(feishu, "/团队")[0]


def test_permissions_in_private_equal_those_in_the_group(feishu):
    in_group(feishu, "/我的", open_id="ou_boss")
    make_manager(feishu, "ou_boss")
    refused_in_group = in_group(feishu, "/设置 响应时限 3")
    assert private(feishu, "/设置 响应时限 3") == [refused_in_group]
    assert "✅" not in refused_in_group
    (done,) = private(feishu, "/设置 响应时限 3", open_id="ou_boss")
    assert done.startswith("✅")
    (team,) = rows(feishu, Chat, external_id=CHAT)
    assert team.settings["sla_hours"] == 3


def test_private_nudges_reach_each_rep_privately_and_the_group_gets_none(feishu, clock):
    in_group(feishu, "/我的", open_id="ou_boss")
    make_manager(feishu, "ou_boss")
    assert in_group(feishu, "/设置 提醒方式 私聊", open_id="ou_boss").startswith("✅")
    in_group(feishu, "/跟进 客户A 报价已发 明天回访")  # due Saturday: overdue on Monday
    in_group(feishu, "/跟进 客户B 拜访了采购 明天回访", open_id="ou_li")

    before = len(feishu.fake.sent)
    clock.advance(days=2, hours=23.5)  # Monday 09:30
    assert "morning_nudges" in [p.job for p in tick(feishu.runtime, clock())]
    settle(feishu)
    zhang, li = feishu.fake.sent_to_user("ou_zhang"), feishu.fake.sent_to_user("ou_li")
    assert len(zhang) == 1 and "客户A" in zhang[0].text and "客户B" not in zhang[0].text
    assert len(li) == 1 and "客户B" in li[0].text
    assert {s.receive_id_type for s in zhang + li} == {"open_id"}
    group = [s for s in feishu.fake.sent[before:] if s.chat_id == CHAT]
    assert not [s for s in group if "早上好" in s.text]
    nudges = [r for r in rows(feishu, Outbox, job="morning_nudges")]
    assert {r.payload["to_user"] for r in nudges} == {"ou_zhang", "ou_li"}

    assert in_group(feishu, "/设置 提醒方式 群里", open_id="ou_boss").startswith("✅")
    clock.advance(days=1)
    tick(feishu.runtime, clock())
    settle(feishu)
    assert len(feishu.fake.sent_to_user("ou_zhang")) == 1  # back in the group
    assert [s for s in feishu.fake.sent if s.chat_id == CHAT and "早上好" in s.text]


def test_private_sla_reminder_goes_to_the_owner_and_the_escalation_stays_in_the_group(
    feishu, clock
):
    in_group(feishu, "/我的", open_id="ou_boss")
    in_group(feishu, "/我的", open_id="ou_li")
    make_manager(feishu, "ou_boss")
    in_group(feishu, "/设置 提醒方式 私聊", open_id="ou_boss")
    in_group(feishu, "/新客户 格力", open_id="ou_boss")
    li = [mention("@_user_2", "ou_li", "李四")]
    in_group(feishu, "/分配 格力 @_user_2", open_id="ou_boss", mentions=li)
    before = len(feishu.fake.sent)
    clock.advance(hours=2)
    tick(feishu.runtime, clock())
    settle(feishu)
    (reminder,) = feishu.fake.sent_to_user("ou_li")
    assert "格力" in reminder.text and "分配给你" in reminder.text
    assert not [s for s in feishu.fake.sent[before:] if s.chat_id == CHAT]
    clock.advance(hours=2)
    tick(feishu.runtime, clock())
    settle(feishu)
    (escalation,) = [s for s in feishu.fake.sent[before:] if s.chat_id == CHAT]
    assert "你分配给" in escalation.text and "格力" in escalation.text
    assert len(feishu.fake.sent_to_user("ou_li")) == 1


def test_a_private_nudge_to_a_user_outside_the_apps_range_fails_for_good(feishu, clock):
    in_group(feishu, "/我的", open_id="ou_boss")
    make_manager(feishu, "ou_boss")
    in_group(feishu, "/设置 提醒方式 私聊", open_id="ou_boss")
    in_group(feishu, "/跟进 客户A 报价已发 明天回访")
    feishu.fake.permanent_error("ou_zhang", 230013, "Bot has NO availability to this user.")
    clock.advance(days=2, hours=23.5)
    tick(feishu.runtime, clock())
    settle(feishu)
    (row,) = rows(feishu, Outbox, job="morning_nudges")
    assert row.status == "failed" and "230013" in row.last_error


def test_a_rep_cannot_choose_private_nudges(feishu):
    reply = in_group(feishu, "/设置 提醒方式 私聊")
    assert "✅" not in reply
    (team,) = rows(feishu, Chat, external_id=CHAT)
    assert "nudge_mode" not in (team.settings or {})


def test_a_platform_without_private_sends_keeps_nudges_in_the_group(chat):
    chat.make_manager("王经理")
    assert chat.reply("/设置 提醒方式 私聊", as_="王经理") == NO_PRIVATE
    assert "提醒方式 群里" in chat.reply("/设置", as_="王经理")


def test_private_sends_are_declared_exactly_where_the_adapter_implements_them():
    for platform in PLATFORMS.values():
        implements = platform.adapter_class().send_private is not Adapter.send_private
        assert platform.settings.private_sends == implements, platform.name


@pytest.fixture
def wecom(engine, settings, clock) -> Iterator[WecomChat]:
    server = FakeWecom(clock=lambda: clock.now.timestamp(), keys={HOOK}).start()
    settings.wecom.token = WECOM_TOKEN
    settings.wecom.encoding_aes_key = KEY
    settings.wecom.domain = server.url
    settings.wecom.chats = {WECOM_CHAT: {"webhook_key": HOOK}}
    yield WecomChat(Runtime(settings, engine=engine, clock=clock), server)
    server.stop()


def wecom_say(wecom: WecomChat, text: str, user: str, single: bool = False) -> str:
    """A WeCom message in the group, or in the user's single chat; the reply's markdown."""
    body = wecom.body(text, user=user)
    if single:
        del body["chatid"]
        body["chattype"] = "single"
        body["text"] = {"content": text}
    before = len(wecom.fake.responses())
    assert wecom.post(body).status_code == 200
    wecom.runtime.drain()
    (reply,) = wecom.fake.responses()[before:]
    return reply.content


def test_a_wecom_single_chat_is_the_desk_of_the_group_member_only(wecom):
    wecom_say(wecom, "/跟进 客户A 报价已发 下周一回访", user="zhangsan")
    assert "客户A" in wecom_say(wecom, "/我的", user="zhangsan", single=True)
    assert "客户B" in wecom_say(wecom, "/跟进 客户B 拜访了采购", user="zhangsan", single=True)
    stranger = wecom_say(wecom, "/客户 客户A", user="wangwu", single=True)
    assert "客户A" not in stranger and "不在任何团队群" in stranger
    (team,) = rows_of(wecom.runtime, Chat, external_id=WECOM_CHAT)
    assert {c.chat_id for c in rows_of(wecom.runtime, Customer)} == {team.id}


def test_wecom_keeps_the_nudges_in_the_group_and_says_so(wecom):
    wecom_say(wecom, "/我的", user="boss")
    with wecom.runtime.sessions() as session, session.begin():
        session.scalars(select(Member).filter_by(user_id="boss")).one().role = ROLE_MANAGER
    assert NO_PRIVATE in wecom_say(wecom, "/设置 提醒方式 私聊", user="boss")
    (team,) = rows_of(wecom.runtime, Chat, external_id=WECOM_CHAT)
    assert "nudge_mode" not in team.settings


def rows_of(runtime: Runtime, model, **where):
    with runtime.sessions() as session:
        return list(session.scalars(select(model).filter_by(**where).order_by(model.id)))


def test_a_private_message_waits_for_a_worker_holding_the_team_chat(feishu):
    """PostgreSQL: the desk acts on the team's book under the team chat's lock, like the group."""
    import threading

    from sqlalchemy.orm import Session

    from models.pipeline import lock_chat

    if feishu.runtime.engine.dialect.name != "postgresql":
        pytest.skip("several workers share chats on PostgreSQL only")
    in_group(feishu, "/我的")
    feishu.count += 1
    event = message_event(
        "/跟进 客户B 初次拜访", chat_id=p2p_of("ou_zhang"), open_id="ou_zhang", token=TOKEN,
        message_id="om_p2p_locked", chat_type="p2p", create_time_ms=feishu.now_ms(),
    )  # fmt: skip
    assert feishu.post_event(event).status_code == 200
    with Session(feishu.runtime.engine) as other, other.begin():
        lock_chat(other, "feishu", CHAT)  # another worker is handling the team chat
        worker = threading.Thread(target=feishu.runtime.dispatch, daemon=True)
        worker.start()
        worker.join(1.0)
        assert worker.is_alive()  # waiting for the team chat, not writing beside it
        assert not rows(feishu, Customer, name="客户B")
    worker.join(10)
    assert not worker.is_alive()
    assert [c.chat_id for c in rows(feishu, Customer, name="客户B")] == [team_id(feishu)]


def test_the_friday_round_goes_privately_and_is_answered_there(feishu, clock):
    """Under 提醒方式 私聊 the round reaches the rep privately; answered there, it is logged."""
    from datetime import datetime

    from tests.support.harness import TZ

    in_group(feishu, "/我的", open_id="ou_boss")
    make_manager(feishu, "ou_boss")
    assert in_group(feishu, "/设置 提醒方式 私聊", open_id="ou_boss").startswith("✅")
    clock.now = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)  # Monday
    in_group(feishu, "/跟进 客户A 报价已发 明天回访")  # due Tuesday: overdue by Friday

    clock.now = datetime(2026, 11, 27, 15, 0, tzinfo=TZ)  # the round, two hours before 周报
    before = len(feishu.fake.sent)
    assert "friday_round" in [p.job for p in tick(feishu.runtime, clock())]
    settle(feishu)
    (asked,) = feishu.fake.sent_to_user("ou_zhang")
    assert "周五盘点" in asked.text and "1. 客户A｜逾期" in asked.text
    assert not [s for s in feishu.fake.sent[before:] if s.chat_id == CHAT and "周五盘点" in s.text]

    clock.now = datetime(2026, 11, 27, 15, 10, tzinfo=TZ)
    (answer,) = private(feishu, "1 已发合同 下周二签约")
    assert answer.startswith("📋 周五盘点：已记录 1 条")
    (customer,) = rows(feishu, Customer)
    assert customer.chat_id == team_id(feishu)
    assert [a.text for a in rows(feishu, Activity, kind="follow_up")][-1] == "已发合同 下周二签约"
