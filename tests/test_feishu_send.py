"""Sending to Feishu through the real SDK against the fake API: replies, cards, limits, failures."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from bot.adapters.base import OutboundItem
from bot.adapters.feishu import FeishuAdapter, render_card
from bot.messages import Card, CardSection, Mention, OutgoingMessage, Table
from bot.runtime import Runtime
from models import Member, Outbox
from models.pipeline import FAILED, PENDING, SENT
from tests.support.feishu_fixtures import (
    CHAT,
    FeishuChat,
    configure_feishu,
    content_of,
    fake,  # noqa: F401  (fixture)
)
from tests.support.feishu_testkit import mention


@pytest.fixture
def feishu(engine, settings, clock, fake) -> FeishuChat:  # noqa: F811
    configure_feishu(settings, fake)
    return FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)


def _outbox(runtime: Runtime) -> list[Outbox]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def test_command_reply_goes_in_thread_with_the_outbox_key_as_uuid(feishu):
    _, event = feishu.command("/跟进 客户A 报价已发 明天回访")
    feishu.runtime.drain()
    (sent,) = feishu.fake.sent
    (row,) = _outbox(feishu.runtime)
    assert sent.kind == "reply" and sent.reply_to == event["event"]["message"]["message_id"]
    assert sent.uuid == row.key and len(sent.uuid) <= 50
    assert sent.msg_type == "text"
    assert content_of(sent)["text"] == (
        '🆕 新客户 客户A 已建档，负责人 <at user_id="ou_zhang">ou_zhang</at>\n'
        "✅ 客户A｜跟进中 → 已报价｜下次跟进 11月28日(周六)"
    )
    assert row.status == SENT and row.platform_message_id == sent.message_id
    assert feishu.fake.violations == 0


def test_mentions_of_others_render_as_at_tags_with_their_names(feishu):
    feishu.command(
        "/设置 经理 @_user_2", open_id="ou_boss", mentions=[mention("@_user_2", "ou_li", "李四")]
    )
    feishu.runtime.drain()
    feishu.runtime.settings.bot.admins = ["ou_boss"]
    feishu.command(
        "/设置 经理 @_user_2", open_id="ou_boss", mentions=[mention("@_user_2", "ou_li", "李四")]
    )
    feishu.runtime.drain()
    texts = feishu.texts()
    assert texts[0].startswith("⛔ 只有管理员可以设置角色")
    assert content_of(feishu.fake.sent[1])["text"].startswith(
        '✅ 已将 <at user_id="ou_li">李四</at> 设为经理'
    )


def test_user_text_cannot_inject_mentions_or_markup(feishu):
    name = '<at user_id="all">所有人</at>'
    feishu.command(f"/跟进 {name} 报价已发")
    feishu.runtime.drain()
    text = content_of(feishu.fake.sent[0])["text"]
    assert 'user_id="all"' not in text and '<at user_id="all"' not in text
    assert text.count("<at ") == text.count("</at>") == 0 or 'user_id="ou_zhang"' in text
    assert "＜at" in text or text.startswith("❌")


def test_customer_card_is_card_json_2(feishu):
    feishu.command("/跟进 华为 报价已发 5万")
    feishu.command("/客户 华为")
    feishu.runtime.drain()
    card_msg = feishu.fake.sent[1]
    assert card_msg.msg_type == "interactive"
    card = content_of(card_msg)
    assert card["schema"] == "2.0"
    assert card["header"]["title"] == {"tag": "plain_text", "content": "📇 华为"}
    contents = [e["content"] for e in card["body"]["elements"] if e["tag"] == "markdown"]
    assert any("负责人：" in c for c in contents) and "**最近记录**" in contents


def test_card_markdown_escapes_user_text_and_renders_mentions():
    card = Card(
        "日报",
        [
            CardSection(
                heading="逾期", lines=["\ue0000\ue001 **粗体** [链接](http://x) <at id=all></at>"]
            )
        ],
    )
    body = render_card(card, [Mention("ou_1", "张三")])
    content = body["body"]["elements"][1]["content"]
    assert content.startswith("<at id=ou_1></at> ")
    assert "**" not in content and "[" not in content and "<at id=all>" not in content


def test_big_card_is_cut_to_the_size_limit_with_a_count():
    rows = [[f"客户{i}", "张三", "x" * 200] for i in range(500)]
    card = Card(
        "日报", [CardSection(heading="明细", table=Table(["客户", "负责人", "备注"], rows))]
    )
    body = render_card(card, [])
    size = len(json.dumps(body, ensure_ascii=False).encode())
    assert size <= 28_000
    texts = [e.get("content", "") for e in body["body"]["elements"]]
    assert any(t.startswith("还有 ") and t.endswith(" 行…") for t in texts)


def test_rate_limit_answer_defers_without_using_attempts_and_delivers_once(feishu, clock):
    feishu.fake.rate_limit_next(1, reset_seconds=7)
    feishu.command("/帮助 跟进")
    feishu.runtime.drain()
    (row,) = _outbox(feishu.runtime)
    assert row.status == PENDING and row.attempts == 0 and "99991400" in row.last_error
    assert (row.next_attempt_at - clock.now).total_seconds() == pytest.approx(7, abs=0.01)
    clock.advance(seconds=8)
    assert feishu.runtime.deliver() == 1
    assert len(feishu.fake.sent) == 1 and feishu.fake.violations == 0


def test_chat_level_rate_limit_230020_is_also_waited_out(feishu, clock):
    feishu.fake.rate_limit_next(1, reset_seconds=2, chat_level=True)
    feishu.command("/帮助")
    feishu.runtime.drain()
    assert _outbox(feishu.runtime)[0].status == PENDING
    clock.advance(seconds=3)
    assert feishu.runtime.deliver() == 1


@pytest.mark.parametrize("html", [False, True])
def test_server_errors_are_retried_with_backoff_then_delivered_once(feishu, clock, html):
    feishu.fake.fail_next(2, status=502 if html else 500, html=html)
    feishu.command("/帮助")
    feishu.runtime.drain()
    row = _outbox(feishu.runtime)[0]
    assert (row.status, row.attempts) == (PENDING, 1)
    for _ in range(3):
        clock.advance(minutes=1)
        feishu.runtime.deliver()
    row = _outbox(feishu.runtime)[0]
    assert (row.status, row.attempts) == (SENT, 3)
    assert len(feishu.fake.sent) == 1


def test_api_down_for_a_while_then_every_reply_arrives_once_in_order(feishu, clock):
    feishu.fake.down = True
    for i in range(6):
        feishu.command(f"/跟进 客户{i} 拜访")
    feishu.runtime.drain()
    assert feishu.fake.sent == []
    for _ in range(10):  # a minute of failures, the clock moving on
        clock.advance(seconds=15)
        feishu.runtime.deliver()
    assert feishu.fake.sent == []
    feishu.fake.down = False
    for _ in range(40):  # six to one chat: the 5/s limiter (real time) spreads them
        clock.advance(minutes=2)
        feishu.runtime.deliver()
        if len(feishu.fake.sent) == 6:
            break
        time.sleep(0.2)
    texts = feishu.texts()
    assert len(texts) == 6 and len(set(texts)) == 6
    assert [t.split("\n")[0] for t in texts] == [
        f'🆕 新客户 客户{i} 已建档，负责人 <at user_id="ou_zhang">ou_zhang</at>' for i in range(6)
    ]
    assert all(r.status == SENT for r in _outbox(feishu.runtime))


def test_timeout_after_the_platform_accepted_does_not_double_post(feishu, clock):
    feishu.runtime.settings.feishu.timeout_seconds = 0.5
    # A new adapter (its SDK client has the short timeout); it also answers the webhook.
    adapter = FeishuAdapter.from_settings(feishu.runtime.settings, lambda: clock().timestamp())
    feishu.runtime.adapters["feishu"] = adapter
    feishu.fake.delay = 1.0
    feishu.command("/帮助")
    feishu.runtime.drain()
    assert _outbox(feishu.runtime)[0].status == PENDING  # we timed out, Feishu posted it
    feishu.fake.delay = 0
    clock.advance(minutes=1)
    assert feishu.runtime.deliver() == 1
    deadline = time.monotonic() + 5
    while feishu.fake.duplicates == 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # the first, timed-out request is still being answered
    assert len(feishu.fake.sent) == 1 and feishu.fake.duplicates == 1


def test_bot_not_in_chat_fails_for_good_without_a_retry_storm(feishu, clock, caplog):
    feishu.fake.permanent_error(CHAT)
    feishu.command("/帮助")
    feishu.runtime.drain()
    for _ in range(5):
        clock.advance(hours=1)
        feishu.runtime.deliver()
    (row,) = _outbox(feishu.runtime)
    assert (row.status, row.attempts) == (FAILED, 1)
    assert "230002" in row.last_error
    assert any("giving up" in r.message for r in caplog.records)
    assert feishu.fake.hits("/open-apis/im/v1/messages", "POST") == 1


def test_reply_to_a_vanished_message_falls_back_to_the_chat(feishu):
    adapter: FeishuAdapter = feishu.runtime.adapters["feishu"]
    feishu.fake.fail_next(1, status=400, code=230011, msg="The message was withdrawn.")
    result = adapter.send(
        OutboundItem("k-vanished", CHAT, OutgoingMessage("你好"), reply_to="om_gone")
    )
    assert result.ok
    (sent,) = feishu.fake.sent
    assert sent.kind == "create" and sent.chat_id == CHAT


def test_a_burst_to_one_chat_stays_within_five_per_second(feishu, clock):
    for i in range(12):
        feishu.command(f"/帮助 {['跟进', '客户', '我的'][i % 3]}")
    feishu.runtime.dispatch()
    for _ in range(100):  # the limiter runs on real time: let some pass between rounds
        feishu.runtime.deliver()
        if len(feishu.fake.sent) == 12:
            break
        clock.advance(seconds=2)
        time.sleep(0.1)
    assert len(feishu.fake.sent) == 12
    assert feishu.fake.violations == 0
    ats = sorted(s.at for s in feishu.fake.sent)
    assert all(ats[i + 5] - ats[i] >= 0.9 for i in range(len(ats) - 5))


def test_names_are_learned_from_the_chat_members_api(feishu):
    feishu.command("/跟进 客户A 拜访")
    feishu.runtime.drain()
    assert feishu.runtime.refresh_names() == 1
    with feishu.runtime.sessions() as session:
        assert session.scalars(select(Member.name)).all() == ["张三"]
    assert feishu.runtime.refresh_names() == 0  # not asked again for a while
