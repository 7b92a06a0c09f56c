"""Taps on the bot's cards: the typed command each button stands for, and the card updated in place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.adapters.console import render_text
from bot.messages import (
    ACT_CLAIM,
    ACT_DONE,
    ACT_LOSE,
    ACT_OPEN,
    ACT_SNOOZE,
    OutgoingMessage,
    render_mentions,
)
from bot.scheduler import tick
from handlers.jobs.base import job_context
from handlers.jobs.nudges import build_nudges
from models import Activity, Chat, Outbox
from models.activity import SOURCE_CARD, SOURCE_CHAT
from tests.support.cards import sent_card, tap
from tests.support.harness import TZ, ChatHarness


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def morning(chat: ChatHarness) -> str:
    """Two reps with follow-ups due on Friday 11-27; the morning nudge sent; taps at 10:32."""
    chat.clock.now = at(2026, 11, 25, 10)
    chat.send("/跟进 华为 报价已发 11月27日", as_="张三")
    chat.send("/跟进 小米 拜访了采购 11月26日", as_="张三")
    chat.send("/跟进 格力 电话联系 11月27日", as_="李四")
    tick(chat.runtime, at(2026, 11, 27, 9, 30))
    chat.clock.now = at(2026, 11, 27, 10, 32)
    return sent_card(chat.runtime, "morning_nudges")


def cid(chat: ChatHarness, name: str) -> int:
    customer = chat.customer(name)
    assert customer is not None
    return customer.id


def only(answer: list[OutgoingMessage] | None) -> OutgoingMessage:
    assert answer is not None and len(answer) == 1, answer
    return answer[0]


def lines_of(message: OutgoingMessage, key: str) -> list[str]:
    assert message.card is not None
    (section,) = [s for s in message.card.sections if s.key == key]
    return section.lines


def test_morning_nudge_has_a_section_with_buttons_per_customer_and_reads_as_before(chat):
    morning(chat)
    with chat.runtime.sessions() as session:
        (row,) = session.scalars(select(Outbox).where(Outbox.job == "morning_nudges"))
        message = OutgoingMessage.from_payload(row.payload)
    assert message.card is not None
    sections = message.card.sections
    assert [s.key for s in sections] == [
        "",
        f"customer:{cid(chat, '小米')}",
        f"customer:{cid(chat, '华为')}",
        "",
        f"customer:{cid(chat, '格力')}",
    ]
    assert [b.label for b in sections[1].buttons] == [
        "✅ 已跟进",
        "⏰ 推到明天",
        "⏰ 下周一",
        "❌ 输单",
    ]  # owned: no 🙋 我来跟
    done = sections[2].buttons[0]
    assert done.action == ACT_DONE and done.style == "primary" and done.form is not None
    assert [f.name for f in done.form.fields] == ["note", "next", "stage"]
    assert done.form.fields[2].default == "已报价"
    assert "输单" not in [o.value for o in done.form.fields[2].options]
    assert sections[1].buttons[-1].style == "danger"
    lines = [line for s in sections for line in s.lines]  # the card's text, as before
    assert render_mentions("\n".join(lines), message.mentions, lambda m: "@" + m.name).split(
        "\n"
    ) == [
        "@张三 今天要跟进 2 个客户，其中 1 个已逾期",
        "⚠️ 小米｜跟进中｜逾期 1 个工作日（11月26日(周四)）",
        "📌 华为｜已报价｜今天（11月27日(周五)）",
        "@李四 今天要跟进 1 个客户",
        "📌 格力｜跟进中｜今天（11月27日(周五)）",
    ]


def test_done_with_its_form_logs_the_follow_up_and_updates_that_row_of_the_card(chat):
    card = morning(chat)
    mi = cid(chat, "小米")
    answer = only(
        tap(
            chat,
            card,
            ACT_DONE,
            mi,
            form={"note": "约了下周演示", "next": "2026-12-05", "stage": "已报价"},
        )
    )
    customer = chat.customer("小米")
    assert customer is not None and customer.stage == "已报价"
    assert customer.next_follow_up_at == at(2026, 12, 5)
    live = chat.activities(live_only=True)
    follow = [a for a in live if a.customer_id == mi and a.kind == "follow_up"][-1]
    assert follow.text == "约了下周演示" and follow.source == SOURCE_CARD
    assert follow.next_follow_up_at == at(2026, 12, 5)
    assert [a.kind for a in live if a.entry_key == follow.entry_key] == ["follow_up", "stage"]
    assert {a.source for a in live if a.entry_key != follow.entry_key} == {SOURCE_CHAT}
    assert answer.update_of == card and answer.toast_kind == "success"
    assert answer.toast == answer.text
    assert answer.toast.startswith("已记录：小米｜跟进中｜下次跟进 12月5日(周六)")
    assert lines_of(answer, f"customer:{mi}") == [
        "⚠️ 小米｜跟进中｜逾期 1 个工作日（11月26日(周四)）",
        "✅ 张三 10:32 已跟进，下次 12月5日(周六)，跟进中 → 已报价",
    ]
    assert answer.card is not None
    acted = [s for s in answer.card.sections if s.key == f"customer:{mi}"][0]
    assert acted.buttons == []
    others = [s for s in answer.card.sections if s.key != f"customer:{mi}"]
    assert all(s.buttons for s in others if s.key)  # the other customers keep theirs
    assert [m.name for m in answer.mentions] == ["张三", "李四"]  # the card's mention tokens


def test_a_second_tap_on_the_card_shows_the_first_one_too(chat):
    card = morning(chat)
    mi, hw = cid(chat, "小米"), cid(chat, "华为")
    tap(chat, card, ACT_DONE, mi, form={"note": "电话了"})
    answer = only(tap(chat, card, ACT_SNOOZE, hw, arg="monday"))
    assert lines_of(answer, f"customer:{mi}")[-1] == "✅ 张三 10:32 已跟进"
    assert lines_of(answer, f"customer:{hw}")[-1] == "⏰ 张三 10:32 推到 11月30日(周一)"


def test_the_same_callback_twice_is_one_follow_up(chat):
    card = morning(chat)
    hw = cid(chat, "华为")
    first = tap(chat, card, ACT_DONE, hw, form={"note": "报价跟进"}, tap_id="cb-1")
    assert first is not None
    before = chat.count(Activity)
    assert tap(chat, card, ACT_DONE, hw, form={"note": "报价跟进"}, tap_id="cb-1") is None
    chat.runtime.drain()
    assert chat.count(Activity) == before
    assert len([a for a in chat.activities() if a.text == "报价跟进"]) == 1


def test_a_rep_tapping_another_reps_customer_is_told_who_may(chat):
    card = morning(chat)
    gl = cid(chat, "格力")
    before = chat.count(Activity)
    answer = only(tap(chat, card, ACT_DONE, gl, form={"note": "我来打个电话"}, as_="张三"))
    assert answer.toast_kind == "error" and answer.update_of == "" and answer.card is None
    assert answer.toast == "⛔ 格力 的负责人是 李四，只有负责人或经理可以跟进"
    # the text (posted only when the toast came too late) names who tapped
    assert [m.name for m in answer.mentions] == ["张三"]
    assert render_text(answer) == f"@张三 {answer.toast}"
    assert chat.count(Activity) == before


def test_undo_after_a_tap_undoes_it(chat):
    card = morning(chat)
    hw = cid(chat, "华为")
    tap(chat, card, ACT_SNOOZE, hw, arg="tomorrow")
    customer = chat.customer("华为")
    assert customer is not None and customer.next_follow_up_at == at(2026, 11, 30)
    assert chat.reply("/撤销") == "↩️ 已撤销对 华为 的记录，客户已恢复原样"
    customer = chat.customer("华为")
    assert customer is not None and customer.next_follow_up_at == at(2026, 11, 27)


def test_snooze_tomorrow_is_the_next_working_day_as_typed(chat):
    card = morning(chat)
    hw = cid(chat, "华为")
    answer = only(tap(chat, card, ACT_SNOOZE, hw, arg="tomorrow"))  # Friday → Monday
    assert answer.toast == "已记录：华为｜已报价｜下次跟进 11月30日(周一)"
    customer = chat.customer("华为")
    assert customer is not None
    assert (customer.next_follow_up_at, customer.next_follow_up_has_time) == (
        at(2026, 11, 30),
        False,
    )
    (reminder,) = [a for a in chat.activities() if a.kind == "reminder"]
    assert reminder.source == SOURCE_CARD and reminder.member.user_id == "张三"


def test_lose_needs_a_reason_and_then_marks_the_deal_lost(chat):
    card = morning(chat)
    hw = cid(chat, "华为")
    refused = only(tap(chat, card, ACT_LOSE, hw))
    assert refused.toast_kind == "error" and "请写明输单原因" in refused.toast
    answer = only(tap(chat, card, ACT_LOSE, hw, form={"reason": "价格太高"}))
    assert lines_of(answer, f"customer:{hw}")[-1] == "❌ 张三 10:32 输单：价格太高"
    customer = chat.customer("华为")
    assert customer is not None and customer.stage == "输单"
    assert customer.lost_reason == "价格太高"
    again = only(tap(chat, card, ACT_DONE, hw, form={"note": "再试试"}))
    assert again.toast_kind == "error" and "已是「输单」" in again.toast


def test_claim_on_the_customer_card_of_a_pool_customer(chat, clock):
    chat.make_manager("王经理")
    chat.send("/新客户 美的", as_="王经理")
    chat.send("/客户 美的", as_="李四")
    card = sent_card(chat.runtime)
    md = cid(chat, "美的")
    message = chat.last[0] if chat.last else None
    assert message is not None and message.card is not None
    labels = [b.label for b in message.card.sections[0].buttons]
    assert "🙋 我来跟" in labels
    answer = only(tap(chat, card, ACT_CLAIM, md, as_="李四"))
    assert answer.toast_kind == "success" and answer.toast.startswith("已记录：你领取了 美的")
    customer = chat.customer("美的")
    assert customer is not None and customer.owner is not None
    assert customer.owner.user_id == "李四"
    assert lines_of(answer, f"customer:{md}")[-1] == "🙋 李四 10:00 认领"
    taken = only(tap(chat, card, ACT_CLAIM, md, as_="张三"))
    assert taken.toast_kind == "error" and "的负责人是 李四" in taken.toast


def test_a_bad_date_in_the_form_is_refused_with_the_reason(chat):
    card = morning(chat)
    hw = cid(chat, "华为")
    before = chat.count(Activity)
    for value, reason in (
        ("2026-13-05", "没有13月"),
        ("明天吧", "看不懂日期“明天吧”"),
        ("2026-11-20", "已经过去了"),
    ):
        answer = only(tap(chat, card, ACT_DONE, hw, form={"note": "x", "next": value}))
        assert answer.toast_kind == "error" and reason in answer.toast, answer.toast
        assert answer.card is None
    assert chat.count(Activity) == before


def test_unknown_verbs_and_customers_of_other_chats_or_deleted_are_refused(chat):
    card = morning(chat)
    hw = cid(chat, "华为")
    assert "看不懂这个按钮" in only(tap(chat, card, "explode", hw)).toast
    assert "找不到这个客户" in only(tap(chat, card, ACT_DONE, 99999)).toast
    assert "找不到这个客户" in only(tap(chat, card, ACT_DONE, "1 or 1=1")).toast
    assert "找不到这个客户" in only(tap(chat, card, ACT_DONE, "²")).toast
    other = ChatHarness(chat.runtime, chat.clock, name="销售二组")
    other.send("/跟进 腾讯 拜访", as_="张三")
    tx = cid(chat, "腾讯")
    assert "找不到这个客户" in only(tap(chat, card, ACT_DONE, tx, form={"note": "x"})).toast
    chat.make_manager("王经理")
    assert "删除" in chat.reply("/删除 华为 录重复了", as_="王经理")
    assert "找不到这个客户" in only(tap(chat, card, ACT_DONE, hw, form={"note": "x"})).toast


def test_a_tap_in_a_private_chat_acts_on_the_team_book(chat):
    card = morning(chat)
    hw = cid(chat, "华为")
    answer = only(tap(chat, card, ACT_SNOOZE, hw, arg="monday", private=True))
    assert answer.toast == "已记录：华为｜已报价｜下次跟进 11月30日(周一)"
    assert answer.update_of == card
    customer = chat.customer("华为")
    assert customer is not None and customer.next_follow_up_at == at(2026, 11, 30)
    with chat.runtime.sessions() as session:
        row = session.scalars(select(Outbox).order_by(Outbox.id.desc())).first()
        assert row is not None and row.chat_external_id == "张三的私聊"
    assert chat.reply("/撤销") == "↩️ 已撤销对 华为 的记录，客户已恢复原样"


def test_open_shows_the_form_and_changes_nothing(chat):
    card = morning(chat)
    hw = cid(chat, "华为")
    before = chat.count(Activity)
    answer = only(tap(chat, card, ACT_OPEN, hw, arg=ACT_DONE))
    assert answer.card is not None and answer.update_of == card and answer.toast == ""
    assert [s.open_form for s in answer.card.sections if s.key == f"customer:{hw}"] == ["done"]
    assert {s.open_form for s in answer.card.sections if s.key != f"customer:{hw}"} == {""}
    assert chat.count(Activity) == before
    assert only(tap(chat, card, ACT_OPEN, hw, arg=ACT_SNOOZE)).toast_kind == "error"


def _card_of(chat: ChatHarness, job: str) -> OutgoingMessage:
    with chat.runtime.sessions() as session:
        row = session.scalars(
            select(Outbox).where(Outbox.job == job).order_by(Outbox.id.desc())
        ).first()
        assert row is not None, job
        return OutgoingMessage.from_payload(row.payload)


def test_sla_reminder_rows_carry_buttons_and_a_tap_stops_the_clock(chat):
    chat.make_manager("王经理")
    chat.send("/新客户 格力", as_="王经理")
    chat.send("/分配 格力 @李四", as_="王经理")
    tick(chat.runtime, at(2026, 11, 27, 12, 0))
    message = _card_of(chat, "response_sla")
    gl = cid(chat, "格力")
    assert message.card is not None
    heading, row = message.card.sections
    assert (heading.heading, heading.lines, heading.buttons) == ("请尽快跟进", [], [])
    assert row.key == f"customer:{gl}" and "分配给你已超过 2 个工作小时" in row.lines[0]
    assert [b.label for b in row.buttons] == ["✅ 已跟进", "⏰ 推到明天", "⏰ 下周一", "❌ 输单"]
    chat.clock.now = at(2026, 11, 27, 12, 5)
    card = sent_card(chat.runtime, "response_sla")
    answer = only(tap(chat, card, ACT_DONE, gl, form={"note": "电话联系了"}, as_="李四"))
    assert lines_of(answer, f"customer:{gl}")[-1] == "✅ 李四 12:05 已跟进，已分配 → 跟进中"
    tick(chat.runtime, at(2026, 11, 27, 14, 0))  # the manager is not escalated to
    assert len([r for r in _rows(chat, "response_sla")]) == 1


def _rows(chat: ChatHarness, job: str) -> list[Outbox]:
    with chat.runtime.sessions() as session:
        return list(session.scalars(select(Outbox).where(Outbox.job == job)))


def test_a_stalled_customer_nobody_owns_offers_claim(chat):
    chat.make_manager("王经理")
    chat.send("/新客户 美的", as_="王经理")  # a lead nobody owns: 线索 for 2 working days
    for day in (30, 1, 2):
        month = 11 if day == 30 else 12
        tick(chat.runtime, at(2026, month, day, 10, 0))
        tick(chat.runtime, at(2026, month, day, 10, 30))
    message = _card_of(chat, "stalled_deals")
    md = cid(chat, "美的")
    assert message.card is not None
    (row,) = [s for s in message.card.sections if s.key == f"customer:{md}"]
    assert "（未分配） 美的｜线索" in row.lines[0]
    assert "🙋 我来跟" in [b.label for b in row.buttons]
    chat.clock.now = at(2026, 12, 2, 11, 0)
    card = sent_card(chat.runtime, "stalled_deals")
    answer = only(tap(chat, card, ACT_CLAIM, md, as_="李四"))
    assert lines_of(answer, f"customer:{md}")[-1] == "🙋 李四 11:00 认领"
    customer = chat.customer("美的")
    assert customer is not None and customer.owner is not None
    assert customer.owner.user_id == "李四"


def test_a_private_nudge_has_the_same_rows_and_buttons(chat):
    morning(chat)
    with chat.runtime.sessions() as session:
        team = session.scalars(select(Chat).where(Chat.external_id == chat.name)).one()
        ctx = job_context(session, team, at(2026, 11, 27, 9, 30), chat.runtime.settings)
        ctx.config.private_nudges = True  # /设置 提醒方式 私聊 on a platform that can
        messages = {m.to_user: m for m in build_nudges(ctx)}
    mine = messages["张三"]
    assert mine.text.splitlines() == [
        "你今天要跟进 2 个客户，其中 1 个已逾期",
        "⚠️ 小米｜跟进中｜逾期 1 个工作日（11月26日(周四)）",
        "📌 华为｜已报价｜今天（11月27日(周五)）",
    ]
    assert mine.card is not None
    assert [s.key for s in mine.card.sections] == [
        "",
        f"customer:{cid(chat, '小米')}",
        f"customer:{cid(chat, '华为')}",
    ]
    assert all(len(s.buttons) == 4 for s in mine.card.sections[1:])
