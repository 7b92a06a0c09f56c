"""WeCom card actions: a card with buttons is posted as template card(s), a tap arrives as a
signed template_card_event (callback) or an aibot_event_callback frame (long connection), the
customer is updated once, and the card is updated by the passive reply / aibot_respond_update_msg.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import runtime as runtime_module
from bot.adapters import wecom_cards, wecom_ws
from bot.adapters.base import OutboundItem
from bot.adapters.wecom import WecomAdapter, render_markdown
from bot.app import create_app
from bot.config import load_settings
from bot.messages import (
    ACT_DONE,
    ACT_LOSE,
    ACT_SNOOZE,
    ACTION,
    ACTION_ARG,
    ACTION_CARD,
    ACTION_TARGET,
    ACTION_VERB,
    Button,
    Card,
    CardSection,
    Chart,
    Field,
    Form,
    OutgoingMessage,
    Series,
)
from bot.runtime import Runtime
from bot.scheduler import tick
from models import Inbox
from models.activity import SOURCE_CARD, Activity
from models.customer import Customer
from tests.support.fake_wecom import CallbackClient, FakeWecom, card_event, card_problem
from tests.support.fake_wecom_ws import CHAT, USER, FakeWecomWS

TOKEN = "t0k3n"
KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
GROUP = "wrkCARDS01"
HOOK = "hook-cards-01"
PAYLOADS = Path(__file__).parent / "data" / "payloads"
NAMES = {"zhangsan": "张三", "lisi": "李四"}


def _until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {timeout}s")


@contextmanager
def dispatching(runtime: Runtime) -> Iterator[None]:
    """A dispatcher thread, as `genjin serve` runs one, while a tap waits for its answer."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            runtime.dispatch()
            stop.wait(0.02)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _activities(runtime: Runtime) -> list[Activity]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Activity).order_by(Activity.id)))


def _customer(runtime: Runtime, name: str) -> Customer:
    with runtime.sessions() as session:
        return session.scalars(select(Customer).where(Customer.name == name)).one()


def _key(card: dict[str, Any], text: str) -> str:
    """The key of the button labelled ``text`` on a template card."""
    (key,) = [b["key"] for b in card["button_list"] if b["text"] == text]
    return str(key)


# -- rendering --------------------------------------------------------------------------------
def _buttons(customer_id: int) -> list[Button]:
    target = str(customer_id)
    done = Form([Field("note", "进展"), Field("next", "下次", kind="date")])
    lose = Form([Field("reason", "原因", required=True)])
    return [
        Button("✅ 已跟进", ACT_DONE, target, style="primary", form=done),
        Button("⏰ 推到明天", ACT_SNOOZE, target, "tomorrow"),
        Button("❌ 输单", ACT_LOSE, target, style="danger", form=lose),
    ]


def _nudge(customers: int) -> OutgoingMessage:
    sections = [CardSection(heading="张三", lines=[f"共 {customers} 位客户"])]
    sections += [
        CardSection(
            heading=f"客户{n}",
            lines=[f"客户{n}｜跟进中｜今天该跟进"],
            key=f"customer:{n}",
            buttons=_buttons(n),
        )
        for n in range(1, customers + 1)
    ]
    return OutgoingMessage("早上好，今天要跟进的客户：", card=Card("☀️ 今日跟进", sections))


def _adapter(mode: str = "ws") -> WecomAdapter:
    env = {"GENJIN_WECOM_MODE": "ws", "GENJIN_WECOM_BOT_ID": "aib", "GENJIN_WECOM_SECRET": "s"}
    if mode != "ws":
        env = {"GENJIN_WECOM_TOKEN": TOKEN, "GENJIN_WECOM_ENCODING_AES_KEY": KEY}
    settings = load_settings(env=env)
    return WecomAdapter.from_settings(settings, lambda: 1_800_000_000.0)


def test_a_nudge_for_many_customers_is_markdown_then_a_card_per_customer_for_the_first_five():
    adapter = _adapter()
    parts = adapter._card_parts(OutboundItem("key-1", GROUP, _nudge(7)))
    summary, *rest = parts
    cards = [part["card"] for part in rest]
    assert len(cards) == wecom_cards.CARDS_PER_MESSAGE
    text = summary["markdown"]
    assert "客户7｜跟进中" in text and "前 5 位客户可点" in text  # every customer is in the text
    assert "/跟进 客户 内容" in text and "/输单 客户 原因" in text  # what buttons cannot do
    card_id = wecom_cards.card_id("key-1")
    for index, card in enumerate(cards, start=1):
        assert card_problem(card) == ""
        assert card["task_id"] == f"{card_id}-{index}"
        assert card["main_title"]["title"] == f"客户{index}"
        # ❌ 输单 needs a typed reason: not offered; ✅ 已跟进 logs a follow-up without a note
        assert [b["text"] for b in card["button_list"]] == ["✅ 已跟进", "⏰ 推到明天"]
        assert _key(card, "✅ 已跟进") == f"gj:done:{index}:"
        assert _key(card, "⏰ 推到明天") == f"gj:snooze:{index}:tomorrow"


def test_a_card_with_one_customer_is_one_template_card_with_everything():
    adapter = _adapter()
    message = OutgoingMessage(
        "",
        card=Card(
            "客户A",
            [
                CardSection(lines=["阶段：跟进中", "下次跟进：12月1日(周二)"]),
                CardSection(key="customer:9", buttons=_buttons(9)),
            ],
        ),
    )
    (part,) = adapter._card_parts(OutboundItem("key-2", GROUP, message))
    card = part["card"]
    assert card_problem(card) == "" and card["task_id"].endswith("-1-f")
    assert card["main_title"]["title"] == "客户A"
    assert "下次跟进：12月1日(周二)" in card["sub_title_text"]
    assert "写进展请打字：/跟进 客户 内容" in card["sub_title_text"]


def test_cards_without_buttons_stay_markdown_and_charts_become_text_bars():
    chart = Chart("bar", "本周完成", ["张三", "李四"], [Series("完成", [62, 30])], unit="%")
    message = OutgoingMessage("", card=Card("周报", [CardSection(lines=["本周"], chart=chart)]))
    assert wecom_cards.actions(message.card) == []
    text = render_markdown(message)
    assert "**本周完成**" in text and "▇" in text and "62%" in text


def test_a_key_names_only_verb_target_and_arg_and_foreign_keys_are_ignored():
    tap = wecom_cards.parse_tap("gj:done:42:", "gj" + "a" * 30 + "-3")
    assert tap is not None and (tap.verb, tap.target, tap.arg, tap.section) == ("done", "42", "", 3)
    assert wecom_cards.parse_tap(wecom_cards.DONE_KEY, "gj" + "a" * 30 + "-3") is None
    assert wecom_cards.parse_tap("gj:done:42:", "someone-elses-task") is None
    assert wecom_cards.parse_tap("gj:done:4 2:", "gj" + "a" * 30 + "-3") is None
    with pytest.raises(ValueError):
        wecom_cards.button_key(Button("x", "done", "1:2"))


# -- the callback (URL mode) ------------------------------------------------------------------
@pytest.fixture
def fake(clock) -> Iterator[FakeWecom]:
    server = FakeWecom(clock=lambda: clock.now.timestamp(), keys={HOOK}).start()
    yield server
    server.stop()


class Callback:
    """The bot behind Flask, and WeCom's side: messages, taps, the replies it posted."""

    def __init__(self, runtime: Runtime, fake: FakeWecom) -> None:
        self.runtime = runtime
        self.fake = fake
        client = create_app(runtime.settings, runtime).test_client()

        def post(query: dict[str, str], envelope: dict[str, Any]) -> tuple[int, bytes]:
            response = client.post("/webhook/wecom", query_string=query, json=envelope)
            return response.status_code, response.data

        self.wecom = CallbackClient(TOKEN, KEY, post, lambda: runtime.clock().timestamp())
        self.count = 0

    def say(self, text: str, user: str = "zhangsan", group: bool = True) -> None:
        """A message that @s the robot, handled and answered."""
        self.count += 1
        msgid = f"msg-{self.count}"
        body: dict[str, Any] = {
            "msgid": msgid,
            "aibotid": "AIBOT",
            "chattype": "group" if group else "single",
            "from": {"userid": user},
            "response_url": self.fake.response_url(f"r{msgid}", group=group),
            "msgtype": "text",
            "text": {"content": f"@跟进助手 {text}"},
        }
        if group:
            body["chatid"] = GROUP
        assert self.wecom.deliver(body).status == 200
        self.runtime.drain()

    def tap(self, card: dict[str, Any], label: str, user: str, msgid: str) -> Any:
        body = card_event(
            user,
            card["task_id"],
            _key(card, label),
            msgid,
            response_url=self.fake.response_url(f"r{msgid}"),
        )
        with dispatching(self.runtime):
            return self.wecom.deliver(body)


@pytest.fixture
def callback(engine, settings, clock, fake) -> Callback:
    settings.wecom.token = TOKEN
    settings.wecom.encoding_aes_key = KEY
    settings.wecom.domain = fake.url
    settings.wecom.timeout_seconds = 5.0
    settings.wecom.chats = {GROUP: {"webhook_key": HOOK}}
    settings.wecom.names = dict(NAMES)
    return Callback(Runtime(settings, engine=engine, clock=clock), fake)


def _private_card(callback: Callback) -> dict[str, Any]:
    """张三 and 李四 in the group, 客户A 张三's; 张三 asks for its card privately."""
    callback.say("/跟进 客户A 报价已发 下周三回访")
    callback.say("/我的", user="lisi")
    callback.say("/客户 客户A", group=False)
    posted = [r.body for r in callback.fake.responses() if r.body["msgtype"] == "template_card"]
    (body,) = posted
    return dict(body["template_card"])


def test_a_tap_through_the_signed_callback_updates_the_customer_and_the_card_once(callback):
    card = _private_card(callback)
    assert card_problem(card) == "" and "客户A" in card["main_title"]["title"]
    before = len(_activities(callback.runtime))

    tapped = callback.tap(card, "✅ 已跟进", "zhangsan", "tap-1")
    assert tapped.status == 200 and tapped.reply is not None
    update = tapped.reply
    assert update["response_type"] == "update_template_card" and "userids" not in update
    new = update["template_card"]
    assert card_problem(new) == "" and new["task_id"] == card["task_id"]
    # the handler's card with the acted line, or (card not found by the handler) the toast
    assert re.search(r"张三 \d\d:\d\d 已跟进", new["sub_title_text"]), new["sub_title_text"]
    assert [b["text"] for b in new["button_list"]] == ["已处理"]  # the buttons are gone
    activities = _activities(callback.runtime)
    assert len(activities) == before + 1 and activities[-1].source == SOURCE_CARD
    with callback.runtime.sessions() as session:
        (row,) = session.scalars(select(Inbox).where(Inbox.message_id == "tap-1")).all()
        assert row.payload["kind"] == ACTION and row.payload["sender_id"] == "zhangsan"
        data = row.payload["platform_data"]
        assert data[ACTION_VERB] == "done" and data[ACTION_TARGET].isdigit()
        assert data[ACTION_CARD] == card["task_id"].split("-")[0]

    again = callback.tap(card, "✅ 已跟进", "zhangsan", "tap-1")  # the same event again
    assert again.status == 200 and again.reply is None
    assert len(_activities(callback.runtime)) == before + 1
    callback.runtime.drain()
    assert [r.target for r in callback.fake.responses()].count("rtap-1") == 0  # nothing late


def test_a_rep_without_permission_sees_the_refusal_on_their_copy_and_nothing_changes(callback):
    card = _private_card(callback)
    before = len(_activities(callback.runtime))
    next_before = _customer(callback.runtime, "客户A").next_follow_up_at

    tapped = callback.tap(card, "⏰ 推到明天", "lisi", "tap-lisi")
    assert tapped.status == 200 and tapped.reply is not None
    assert tapped.reply["userids"] == ["lisi"]  # only the operator's copy
    new = tapped.reply["template_card"]
    assert new["task_id"] == card["task_id"] and "⚠️" in new["sub_title_text"]
    assert "张三" in new["sub_title_text"].split("⚠️")[1]  # who may do it
    assert new["button_list"] == card["button_list"]  # still usable by those who may
    assert len(_activities(callback.runtime)) == before
    assert _customer(callback.runtime, "客户A").next_follow_up_at == next_before


def test_a_forged_tap_is_refused_and_nothing_is_stored(callback):
    card = _private_card(callback)
    with callback.runtime.sessions() as session:
        inbox_before = session.scalar(select(func.count()).select_from(Inbox))
    body = card_event("zhangsan", card["task_id"], _key(card, "✅ 已跟进"), "tap-forged")
    forged = callback.wecom.deliver(body, signature="0" * 40)
    assert forged.status == 403 and forged.reply is None
    with callback.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Inbox)) == inbox_before


def test_the_recorded_event_is_stored_as_a_tap_and_a_foreign_one_is_only_acknowledged(callback):
    recorded = json.loads((PAYLOADS / "wecom_template_card_event.json").read_text("utf-8"))
    assert callback.wecom.deliver(recorded).status == 200
    with callback.runtime.sessions() as session:
        (row,) = session.scalars(select(Inbox)).all()
    tap = row.payload
    assert tap["kind"] == ACTION and tap["message_id"] == recorded["msgid"]
    assert (tap["sender_id"], tap["chat_id"], tap["chat_type"]) == ("USERID", "CHATID", "group")
    data = tap["platform_data"]
    assert (data[ACTION_VERB], data[ACTION_TARGET], data[ACTION_ARG]) == (
        "snooze",
        "42",
        "tomorrow",
    )
    assert data[ACTION_CARD] == "gj0123456789abcdef0123456789abcd"
    foreign = json.loads((PAYLOADS / "wecom_template_card_event_foreign.json").read_text("utf-8"))
    foreign["msgid"] = "another"
    answered = callback.wecom.deliver(foreign)  # the doc's own sample: not a button of ours
    assert answered.status == 200 and answered.reply is None
    with callback.runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Inbox)) == 1


def test_an_answer_not_ready_in_time_comes_later_as_text_naming_the_operator(callback, monkeypatch):
    card = _private_card(callback)
    monkeypatch.setattr(runtime_module, "ACTION_WAIT", 0.0)
    body = card_event(
        "zhangsan",
        card["task_id"],
        _key(card, "✅ 已跟进"),
        "tap-late",
        response_url=callback.fake.response_url("rtap-late"),
    )
    tapped = callback.wecom.deliver(body)  # nobody dispatches in time
    assert tapped.status == 200 and tapped.reply is None
    callback.runtime.drain()
    (late,) = [r for r in callback.fake.responses() if r.target == "rtap-late"]
    assert late.body["msgtype"] == "markdown"
    assert late.content.startswith("@张三：已记录：客户A")
    assert _activities(callback.runtime)[-1].source == SOURCE_CARD


# -- the long connection ----------------------------------------------------------------------
@pytest.fixture
def wsfake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWecomWS]:
    monkeypatch.setattr(wecom_ws, "HEARTBEAT_SECONDS", 0.5)
    with FakeWecomWS() as server:
        yield server


@pytest.fixture
def wsrt(wsfake, engine, clock) -> Iterator[Runtime]:
    env = {
        "GENJIN_WECOM_MODE": "ws",
        "GENJIN_WECOM_BOT_ID": wsfake.bot_id,
        "GENJIN_WECOM_SECRET": wsfake.secret,
        "GENJIN_WECOM_WS_URL": wsfake.url,
    }
    settings = load_settings(env=env)
    settings.wecom.names = dict(NAMES)
    runtime = Runtime(settings, engine=engine, clock=clock)
    adapter = runtime.adapters["wecom"]
    assert adapter.start_long_connection(runtime._receive_any) is not None
    wsfake.wait_connected()
    yield runtime
    adapter.stop_long_connection()


def _say(runtime: Runtime, fake: FakeWecomWS, text: str, user: str = USER) -> None:
    count = len(fake.sent)
    fake.push_message(text, user_id=user)

    def step() -> bool:
        runtime.dispatch()
        runtime.deliver()
        return len(fake.sent) > count

    _until(step, what=f"an answer to {text}")


def test_a_tap_over_the_long_connection_updates_the_customer_and_the_card_once(wsrt, wsfake):
    _say(wsrt, wsfake, "/跟进 客户A 报价已发 下周三回访")
    _say(wsrt, wsfake, "/我的", user="lisi")
    _say(wsrt, wsfake, "/客户 客户A")
    (card,) = wsfake.cards()  # the /客户 card, by the message's req_id
    assert wsfake.sent[-1].kind == "reply" and card_problem(card) == ""
    before = len(_activities(wsrt))

    with dispatching(wsrt):
        wsfake.push_tap(card["task_id"], _key(card, "✅ 已跟进"), msgid="ws-tap-1")
        (update,) = wsfake.wait_updates(1)
    assert update["response_type"] == "update_template_card" and "userids" not in update
    assert update["template_card"]["task_id"] == card["task_id"]
    assert "已跟进" in update["template_card"]["sub_title_text"]
    assert len(_activities(wsrt)) == before + 1 and _activities(wsrt)[-1].source == SOURCE_CARD

    with dispatching(wsrt):  # WeCom never redelivers; a repeat of the event changes nothing
        wsfake.push_tap(card["task_id"], _key(card, "✅ 已跟进"), msgid="ws-tap-1")
        time.sleep(0.5)
    assert len(wsfake.updates) == 1 and len(_activities(wsrt)) == before + 1

    next_before = _customer(wsrt, "客户A").next_follow_up_at
    with dispatching(wsrt):
        wsfake.push_tap(card["task_id"], _key(card, "⏰ 推到明天"), user_id="lisi")
        _, refused = wsfake.wait_updates(2)
    assert refused["userids"] == ["lisi"] and "⚠️" in refused["template_card"]["sub_title_text"]
    assert len(_activities(wsrt)) == before + 1
    assert _customer(wsrt, "客户A").next_follow_up_at == next_before
    wsrt.drain()
    assert all(s.chat_id == CHAT for s in wsfake.sent)  # nothing late went to the chat


def test_a_nudge_over_the_long_connection_posts_markdown_then_cards(wsrt, wsfake):
    adapter = wsrt.adapters["wecom"]
    result = adapter.send(OutboundItem("nudge-key", CHAT, _nudge(2)))
    assert result.ok and result.message_id == wecom_cards.card_id("nudge-key")
    kinds = [s.body["msgtype"] for s in wsfake.sent]
    assert kinds == ["markdown", "template_card", "template_card"]
    assert [c["task_id"] for c in wsfake.cards()] == [
        f"{result.message_id}-1",
        f"{result.message_id}-2",
    ]


@pytest.mark.parametrize("late", [False, True])
def test_a_tap_answered_by_the_sender_updates_the_card_within_5_s_else_posts_a_text(
    wsrt, wsfake, clock, monkeypatch, late
):
    _say(wsrt, wsfake, "/跟进 客户A 报价已发 下周三回访")
    _say(wsrt, wsfake, "/客户 客户A")
    (card,) = wsfake.cards()
    monkeypatch.setattr(runtime_module, "ACTION_WAIT", 0.0)  # the answer is never ready inline
    wsfake.push_tap(card["task_id"], _key(card, "⏰ 下周一"), msgid="ws-late")
    _until(lambda: any(r.payload["message_id"] == "ws-late" for r in _inbox(wsrt)), what="tap")
    posted = len(wsfake.sent)
    if late:
        clock.advance(seconds=10)  # past WeCom's 5 s: the card can no longer be updated
    wsrt.drain()
    if late:
        _until(lambda: len(wsfake.sent) > posted, what="a late text")
        assert wsfake.updates == []
        text = wsfake.sent[-1]
        assert text.kind == "send" and text.body["msgtype"] == "markdown"
        assert text.text.startswith("@张三：已记录")
    else:
        (update,) = wsfake.wait_updates(1)
        assert update["template_card"]["task_id"] == card["task_id"]
        assert len(wsfake.sent) == posted
    assert _activities(wsrt)[-1].source == SOURCE_CARD


def _inbox(runtime: Runtime) -> list[Inbox]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Inbox)))


def test_the_morning_nudge_goes_out_with_buttons_and_a_tap_on_it_follows_up(wsrt, wsfake, clock):
    _say(wsrt, wsfake, "/跟进 客户A 报价已发 下周一回访")
    _say(wsrt, wsfake, "/跟进 客户B 初次拜访 下周一回访")
    clock.advance(days=3, minutes=-25)  # Monday 09:35
    posted = tick(wsrt)
    nudges = [p for p in posted if p.job == "morning_nudges"]
    assert nudges, [p.job for p in posted]
    wsrt.drain()
    cards = wsfake.cards()
    titles = [c["main_title"]["title"] for c in cards]
    assert len(cards) == 2 and all(t.startswith(("📌 客户A", "📌 客户B")) for t in titles), titles
    card = next(c for c in cards if "客户A" in c["main_title"]["title"])
    with dispatching(wsrt):
        wsfake.push_tap(card["task_id"], _key(card, "✅ 已跟进"), msgid="nudge-tap")
        (update,) = wsfake.wait_updates(1)
    assert re.search(r"张三 \d\d:\d\d 已跟进", update["template_card"]["sub_title_text"])
    assert _activities(wsrt)[-1].source == SOURCE_CARD
