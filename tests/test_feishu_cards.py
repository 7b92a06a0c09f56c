"""Card actions on Feishu, end to end against the fake Feishu: the morning nudge is posted as a
card with buttons, a rep taps ✅ 已跟进 (the form opens), submits it, and the customer, the answer
and the card agree; callbacks arrive through the real webhook (signed, encrypted) and over the
long connection (``type=card`` frames); late answers update the card by PATCH."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import runtime as runtime_module
from bot.adapters.feishu import FeishuAdapter
from bot.adapters.feishu_cards import count_components, form_values, render_card
from bot.messages import (
    ACT_DONE,
    ACT_OPEN,
    ACTION,
    FIELD_DATE,
    FIELD_SELECT,
    Button,
    Card,
    CardSection,
    Chart,
    Field,
    Form,
    IncomingMessage,
    Mention,
    Option,
    OutgoingMessage,
    Series,
)
from bot.runtime import Runtime
from bot.scheduler import tick
from models import Activity, Customer, Inbox
from models.activity import SOURCE_CARD
from tests.support.fake_feishu_ws import FakeFeishuWS
from tests.support.feishu_fixtures import (
    CHAT,
    ENCRYPT_KEY,
    FeishuChat,
    configure_feishu,
    fake,  # noqa: F401  (fixture)
)
from tests.support.feishu_testkit import (
    BOT_OPEN_ID,
    card_action_event,
    card_problems,
    signed_encrypted_request,
)
from tests.support.harness import TZ

MONDAY = datetime(2026, 11, 30, 9, 30, tzinfo=TZ)


class Dispatching:
    """The dispatcher running in the background, as in `genjin serve` (taps wait for it)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            if not self.runtime.dispatch():
                self.stop.wait(0.02)

    def __enter__(self) -> Dispatching:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def feishu(engine, settings, clock, fake) -> FeishuChat:  # noqa: F811
    configure_feishu(settings, fake)
    return FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)


def _customer(runtime: Runtime, name: str) -> Customer:
    with runtime.sessions() as session:
        return session.scalars(select(Customer).where(Customer.name == name)).one()


def _activities(runtime: Runtime) -> list[Activity]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Activity).order_by(Activity.id)))


def _inbox_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Inbox)) or 0


def _post_nudge(feishu: FeishuChat, clock) -> str:
    """Two reps with a customer due Monday; the morning nudge is posted. Its message id."""
    feishu.command("/跟进 客户A 报价已发 11月30日回访", open_id="ou_zhang")
    feishu.command("/跟进 客户B 拜访了采购 11月30日再联系", open_id="ou_li")
    feishu.runtime.drain()
    feishu.runtime.refresh_names()  # 张三 and 李四 by name (the chat-members API)
    clock.now = MONDAY
    tick(feishu.runtime, clock.now)
    feishu.runtime.drain()
    cards = [s for s in feishu.fake.sent if s.msg_type == "interactive" and "客户A" in s.text]
    assert len(cards) == 1, feishu.texts()
    assert cards[0].chat_id == CHAT
    return cards[0].message_id


def _deliver_all(feishu: FeishuChat, clock) -> None:
    """Drain, waiting out the sender's own 5-a-second pace per chat (a real-time window: a
    deferred reply is due again a second later on the test clock)."""
    from models import Outbox
    from models.pipeline import PENDING

    for _ in range(40):
        feishu.runtime.drain()
        with feishu.runtime.sessions() as session:
            waiting = session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.status == PENDING)
            )
        if not waiting:
            return
        time.sleep(0.3)
        clock.advance(seconds=2)
    raise AssertionError("replies still waiting after 12 s")


def _markdown(card: Any) -> str:
    """Every markdown text of a card, joined (what a person reads)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "markdown":
                found.append(str(node.get("content")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(found)


def _forms(card: Any) -> list[dict[str, Any]]:
    return [e for e in card["body"]["elements"] if e.get("tag") == "form"]


def test_nudge_card_tap_opens_the_form_and_submit_records_the_follow_up(feishu, clock):
    card_id = _post_nudge(feishu, clock)
    posted = feishu.fake.card(card_id)
    assert card_problems(posted, updatable=True) == []
    assert _forms(posted) == []  # every form starts closed: its button opens it
    before = len(_activities(feishu.runtime))

    with Dispatching(feishu.runtime):
        opened = feishu.tap(feishu.fake.tap(card_id, "✅ 已跟进", "ou_zhang"))
        assert opened.status_code == 200
        shown = opened.get_json()["card"]["data"]
        assert card_problems(shown, updatable=True) == []
        (form,) = _forms(shown)
        assert form in shown["body"]["elements"]  # at the body root
        assert len(_activities(feishu.runtime)) == before  # opening a form changes nothing

        submitted = feishu.tap(
            feishu.fake.submit(
                card_id,
                {"跟进内容": "报价已发，客户在比价", "下次跟进": "2026-12-03", "阶段": "已报价"},
                "ou_zhang",
            )
        )
    assert submitted.status_code == 200
    answer = submitted.get_json()
    assert answer["toast"]["type"] == "success", answer
    assert answer["toast"]["content"].startswith("已记录")
    updated = answer["card"]["data"]
    assert card_problems(updated, updatable=True) == []
    assert _forms(updated) == []
    text = _markdown(updated)
    assert "张三 09:30 已跟进，下次 12月3日(周四)" in text
    assert "客户B" in text  # the other rep's row is still there, with its buttons
    customer = _customer(feishu.runtime, "客户A")
    assert customer.stage == "已报价"
    assert customer.next_follow_up_at is not None
    assert customer.next_follow_up_at.astimezone(TZ).date().isoformat() == "2026-12-03"
    (logged,) = [a for a in _activities(feishu.runtime)[before:] if a.kind == "follow_up"]
    assert logged.source == SOURCE_CARD and "报价已发，客户在比价" in logged.text
    assert feishu.fake.updates == []  # answered within the callback: no PATCH needed


def test_second_delivery_of_a_callback_changes_nothing(feishu, clock):
    card_id = _post_nudge(feishu, clock)
    callback = feishu.fake.tap(card_id, "⏰ 推到明天", "ou_zhang")
    with Dispatching(feishu.runtime):
        first = feishu.tap(callback)
        assert first.get_json()["toast"]["type"] == "success", first.get_json()
        after_first = (_activities(feishu.runtime), _customer(feishu.runtime, "客户A"))
        again = feishu.post_event(callback)
    assert again.status_code == 200
    assert "card" not in again.get_json()
    activities, customer = _activities(feishu.runtime), _customer(feishu.runtime, "客户A")
    assert len(activities) == len(after_first[0])
    assert customer.next_follow_up_at == after_first[1].next_follow_up_at
    assert _inbox_count(feishu.runtime) == 2 + 1  # two commands, one tap


def test_rep_without_permission_gets_an_error_toast_and_nothing_changes(feishu, clock):
    card_id = _post_nudge(feishu, clock)
    before = (_activities(feishu.runtime), _customer(feishu.runtime, "客户A"))
    with Dispatching(feishu.runtime):
        response = feishu.tap(feishu.fake.tap(card_id, "⏰ 推到明天", "ou_li"))  # 张三's customer
    answer = response.get_json()
    assert response.status_code == 200
    assert answer["toast"]["type"] == "error", answer
    assert "card" not in answer
    after = _customer(feishu.runtime, "客户A")
    assert len(_activities(feishu.runtime)) == len(before[0])
    assert after.next_follow_up_at == before[1].next_follow_up_at


def test_forged_callback_is_refused_and_stores_nothing(feishu, clock):
    card_id = _post_nudge(feishu, clock)
    stored = _inbox_count(feishu.runtime)
    callback = feishu.fake.tap(card_id, "⏰ 推到明天", "ou_zhang")
    body, headers = signed_encrypted_request(
        callback, "attacker-key", timestamp=feishu.now_ms() // 1000
    )
    assert feishu.client.post("/webhook/feishu", data=body, headers=headers).status_code == 403
    body, headers = signed_encrypted_request(
        callback, ENCRYPT_KEY, timestamp=feishu.now_ms() // 1000
    )
    headers["X-Lark-Signature"] = "0" * 64
    assert feishu.client.post("/webhook/feishu", data=body, headers=headers).status_code == 403
    forged_token = dict(callback, header={**callback["header"], "token": "vt_forged"})
    assert feishu.post_event(forged_token).status_code == 403
    assert _inbox_count(feishu.runtime) == stored


def test_late_answer_updates_the_card_by_patch(feishu, clock, monkeypatch):
    card_id = _post_nudge(feishu, clock)
    monkeypatch.setattr(runtime_module, "ACTION_WAIT", 0.05)  # nobody dispatches in time
    response = feishu.tap(feishu.fake.tap(card_id, "⏰ 推到明天", "ou_zhang"))
    assert response.get_json() == {"toast": {"type": "info", "content": "已收到，正在处理"}}
    sent_before = len(feishu.fake.sent)
    feishu.runtime.drain()
    (update,) = feishu.fake.wait_for_update(1)
    assert update.message_id == card_id
    assert card_problems(update.card, updatable=True) == []
    assert "张三 09:30 推到 12月1日(周二)" in _markdown(update.card)
    assert feishu.fake.card(card_id) == update.card
    assert len(feishu.fake.sent) == sent_before  # an update, not a new message


def test_late_refusal_becomes_a_short_text_in_the_chat(feishu, clock, monkeypatch):
    card_id = _post_nudge(feishu, clock)
    monkeypatch.setattr(runtime_module, "ACTION_WAIT", 0.05)
    feishu.tap(feishu.fake.tap(card_id, "⏰ 推到明天", "ou_li"))
    sent_before = len(feishu.fake.sent)
    feishu.runtime.drain()
    late = feishu.fake.sent[sent_before:]
    assert [s.msg_type for s in late] == ["text"], feishu.texts()
    assert late[0].kind == "create" and late[0].chat_id == CHAT
    assert feishu.fake.updates == []


def test_patch_errors_map_to_send_results(feishu, clock):
    card_id = _post_nudge(feishu, clock)
    adapter = feishu.runtime.adapters["feishu"]
    assert isinstance(adapter, FeishuAdapter)
    card = Card("卡片", [CardSection(lines=["已更新"])])
    from bot.adapters.base import OutboundItem

    def patch(message_id: str) -> Any:
        message = OutgoingMessage("", card=card, update_of=message_id, toast="好")
        # another chat's rate-limit slot: the nudge just used this second's sends to CHAT
        return adapter.send(OutboundItem(f"k-{message_id}", "oc_patch_slot", message))

    assert patch(card_id).ok
    unknown = patch("om_unknown")
    assert unknown.ok is False and unknown.permanent and "230001" in unknown.error
    clock.advance(days=15)  # the fake stamps messages on the test clock
    too_old = patch(card_id)
    assert too_old.ok is False and too_old.permanent and "230031" in too_old.error


def test_long_connection_card_frame_is_answered_in_its_ack(engine, settings, clock):
    server = _long_connection_fake()
    server.reset()  # one server per process: forget what earlier tests sent
    server.clock = lambda: clock().timestamp()
    configure_feishu(settings, server)
    settings.feishu.mode = "ws"
    runtime = Runtime(settings, engine=engine, clock=clock)
    feishu = FeishuChat(runtime, server)
    adapter = runtime.adapters["feishu"]

    def receive(message: IncomingMessage) -> object:
        if message.kind == ACTION:
            return runtime.receive_action(message)
        return runtime.receive(message)

    assert adapter.start_long_connection(receive) is not None
    server.wait_connected(0)
    card_id = _post_nudge(feishu, clock)
    with Dispatching(runtime):
        opened = server.wait_ack(server.push_card(server.tap(card_id, "✅ 已跟进", "ou_zhang")))
        assert opened.code == 200 and opened.data is not None
        (form,) = _forms(opened.data["card"]["data"])
        assert card_problems(opened.data["card"]["data"], updatable=True) == []
        callback = server.tap(card_id, "⏰ 下周一", "ou_zhang")
        moved = server.wait_ack(server.push_card(callback), timeout=10)
        assert moved.code == 200 and moved.data["toast"]["type"] == "success", moved.data
        # Some tenants send card callbacks in ``event`` frames: the same answer, once.
        before = len(_activities(runtime))
        again = server.wait_ack(server.push_event(callback), timeout=10)
    assert again.code == 200
    assert len(_activities(runtime)) == before
    assert "张三 09:30 推到 12月7日(周一)" in _markdown(moved.data["card"]["data"])


_WS: dict[str, FakeFeishuWS] = {}


def _long_connection_fake() -> FakeFeishuWS:
    """One fake long-connection server per test process (lark-oapi runs one ws client each);
    it lives as long as the process, like that client."""
    if "server" not in _WS:
        _WS["server"] = FakeFeishuWS(
            bot_open_id=BOT_OPEN_ID, members={CHAT: {"ou_zhang": "张三", "ou_li": "李四"}}
        ).start()
    return _WS["server"]


# -- rendering --------------------------------------------------------------------------------


def _done_button(target: str = "42") -> Button:
    form = Form(
        [
            Field("note", "跟进内容", placeholder="例如：报价已发"),
            Field("next", "下次跟进", FIELD_DATE, default="2026-12-01"),
            Field(
                "stage",
                "阶段",
                FIELD_SELECT,
                [Option("跟进中", "跟进中"), Option("已报价", "已报价"), Option("已报价", "重复")],
                default="已报价",
            ),
        ],
        submit="记录跟进",
    )
    return Button("✅ 已跟进", ACT_DONE, target, style="primary", form=form)


def test_a_button_with_a_form_opens_it_and_the_open_form_sits_at_the_root():
    closed = CardSection(lines=["客户A"], key="customer:42", buttons=[_done_button()])
    card = render_card(Card("早上好", [closed]), [])
    assert card_problems(card, updatable=True) == []
    values = [
        b["behaviors"][0]["value"]
        for e in card["body"]["elements"]
        if e["tag"] == "column_set"
        for c in e["columns"]
        for b in c["elements"]
    ]
    assert values == [{"verb": ACT_OPEN, "target": "42", "arg": ACT_DONE}]

    other = CardSection(lines=["客户B"], key="customer:43", buttons=[_done_button("43")])
    opened = CardSection(
        lines=["客户A"], key="customer:42", buttons=[_done_button()], open_form=ACT_DONE
    )
    card = render_card(Card("早上好", [other, opened]), [])
    assert card_problems(card, updatable=True) == []
    (form,) = _forms(card)
    tags = [e["tag"] for e in form["elements"]]
    assert tags == ["input", "markdown", "date_picker", "markdown", "select_static", "button"]
    date_picker = form["elements"][2]
    select = form["elements"][4]
    assert date_picker["initial_date"] == "2026-12-01"
    assert [o["value"] for o in select["options"]] == ["跟进中", "已报价"]  # no repeated value
    assert select["initial_index"] == 2
    submit = form["elements"][-1]
    assert submit["form_action_type"] == "submit"
    assert submit["behaviors"][0]["value"] == {"verb": ACT_DONE, "target": "42", "arg": ""}


def test_submitted_form_values_come_back_by_field_name_with_plain_dates():
    section = CardSection(key="customer:42", buttons=[_done_button()], open_form=ACT_DONE)
    (form,) = _forms(render_card(Card("t", [CardSection(lines=["x"]), section]), []))
    names = [e["name"] for e in form["elements"] if e["tag"] != "markdown"]
    submitted = {
        names[0]: "报价已发",
        names[1]: "2026-12-03 +0800",
        names[2]: "已报价",
        "Input_forged": "ignored",
    }
    assert form_values(submitted) == {"note": "报价已发", "next": "2026-12-03", "stage": "已报价"}
    assert form_values({names[1]: "下周三"}) == {"next": "下周三"}  # the handler refuses it
    assert form_values("not a dict") == {}


def test_a_huge_card_keeps_within_30_kb_and_200_components():
    sections = [
        CardSection(
            lines=[f"📌 客户{i}｜跟进中｜今天（11月30日(周一)）"],
            key=f"customer:{i}",
            buttons=[
                _done_button(str(i)),
                Button("⏰ 推到明天", "snooze", str(i), "tomorrow"),
                Button("⏰ 下周一", "snooze", str(i), "monday"),
                Button("❌ 输单", "lose", str(i), style="danger"),
            ],
        )
        for i in range(80)
    ]
    card = render_card(Card("早上好", sections), [Mention("ou_1", "张三")])
    assert card_problems(card, updatable=True) == []
    assert count_components(card) <= 200
    text = _markdown(card)
    assert "客户79" in text  # every customer is still listed
    assert "其余客户的按钮已省略" in text


def test_chart_section_renders_the_vchart_component_outside_any_form():
    chart = Chart("bar", "本周跟进", ["张三", "李四"], [Series("跟进", [3, 5])])
    card = render_card(Card("周报", [CardSection(lines=["本周"], chart=chart)]), [])
    assert card_problems(card) == []
    (component,) = [e for e in card["body"]["elements"] if e["tag"] == "chart"]
    assert isinstance(component["chart_spec"], dict) and component["chart_spec"]
    assert json.dumps(component["chart_spec"], ensure_ascii=False).count("李四") >= 1


def test_unreadable_callback_is_answered_with_an_error_toast_and_stores_nothing(feishu, clock):
    card_id = _post_nudge(feishu, clock)
    stored = _inbox_count(feishu.runtime)
    callback = card_action_event(
        {"key": "value"},
        open_id="ou_zhang",
        chat_id=CHAT,
        message_id=card_id,
        create_time_us=feishu.now_ms() * 1000,
    )
    response = feishu.post_event(callback)
    assert response.status_code == 200
    assert response.get_json()["toast"]["type"] == "error"
    assert _inbox_count(feishu.runtime) == stored


def test_tap_is_stored_as_an_action_of_the_operator_in_the_cards_chat(feishu, clock, monkeypatch):
    card_id = _post_nudge(feishu, clock)
    monkeypatch.setattr(runtime_module, "ACTION_WAIT", 0.0)
    callback = feishu.fake.tap(
        card_id, "⏰ 推到明天", "ou_zhang", create_time_us=feishu.now_ms() * 1000
    )
    feishu.tap(callback)
    with feishu.runtime.sessions() as session:
        row = session.scalars(select(Inbox).order_by(Inbox.id.desc())).first()
        assert row is not None
        payload = row.payload
    assert payload["kind"] == ACTION and payload["message_id"] == callback["header"]["event_id"]
    assert payload["sender_id"] == "ou_zhang" and payload["chat_id"] == CHAT
    assert payload["chat_type"] == "group"
    data = payload["platform_data"]
    assert data["action"] == "snooze" and data["arg"] == "tomorrow"
    assert data["card_message_id"] == card_id
    customer = _customer(feishu.runtime, "客户A")
    assert data["target"] == str(customer.id)
    assert payload["sent_at"].startswith("2026-11-30T01:30")  # microseconds read as such


def test_the_adapter_never_asks_the_network_whether_a_tapped_chat_is_private(
    engine,
    settings,
    clock,
    fake,  # noqa: F811
):
    """The tap's path does no I/O: what this process knows, else "group" (the dispatcher then
    tells from the database, see the private-nudge test below)."""
    configure_feishu(settings, fake)
    runtime = Runtime(settings, engine=engine, clock=clock)
    adapter = runtime.adapters["feishu"]
    assert isinstance(adapter, FeishuAdapter)
    fake.down = True  # any call would fail
    assert adapter.chat_type(fake.p2p_chat("ou_zhang")) == "group"
    adapter._remember_chat("oc_known_p2p", "p2p")
    assert adapter.chat_type("oc_known_p2p") == "p2p"


def test_every_card_genjin_posts_is_valid_and_stays_valid_with_any_form_open(feishu, clock):
    """Commands and the jobs of a Monday and a Friday: each card passes the fake's checks (JSON 2.0,
    ≤ 30 KB, ≤ 200 components, forms at the root, card-unique names, update_multi), and so does
    each card with any one of its forms opened."""
    from datetime import timedelta

    from models import Outbox
    from models.pipeline import SENT

    feishu.command("/跟进 客户A 报价已发 11月30日回访", open_id="ou_zhang")
    feishu.command("/跟进 客户B 拜访了采购 12月2日再联系", open_id="ou_li")
    feishu.command("/新客户 客户C", open_id="ou_zhang")
    for line in ("/客户 客户A", "/漏斗", "/排行", "/帮助"):
        feishu.command(line, open_id="ou_zhang")
    _deliver_all(feishu, clock)
    feishu.runtime.refresh_names()
    day = MONDAY.replace(hour=0, minute=0)
    for offset in (0, 4):  # Monday and Friday (the weekly review)
        for hour, minute in ((9, 0), (9, 30), (10, 0), (15, 0), (17, 0), (18, 0)):
            clock.now = (day + timedelta(days=offset)).replace(hour=hour, minute=minute)
            tick(feishu.runtime, clock.now)
            _deliver_all(feishu, clock)
    with feishu.runtime.sessions() as session:
        rows = list(session.scalars(select(Outbox).order_by(Outbox.id)))
    assert rows and all(row.status == SENT for row in rows), [
        (row.job, row.status, row.last_error) for row in rows if row.status != SENT
    ]
    cards = [s for s in feishu.fake.sent if s.msg_type == "interactive"]
    assert len(cards) >= 4, feishu.texts()
    for sent in cards:
        assert card_problems(sent.content, updatable=True) == [], sent.text[:300]
    assert any('"tag": "chart"' in sent.text for sent in cards)  # /漏斗 and the reports
    opened = 0
    for row in rows:
        message = OutgoingMessage.from_payload(row.payload)
        if message.card is None:
            continue
        for section in message.card.sections:
            for button in section.buttons:
                if button.form is None:
                    continue
                section.open_form = button.action
                card = render_card(message.card, message.mentions)
                assert card_problems(card, updatable=True) == [], (row.job, button.label)
                assert len(_forms(card)) == 1
                section.open_form = ""
                opened += 1
    assert opened >= 2  # the nudge's ✅ 已跟进 and ❌ 输单 at least


def test_recorded_form_submit_gives_the_action_and_the_form_values(
    engine,
    settings,
    clock,
    fake,  # noqa: F811
    monkeypatch,
):
    """tests/data/payloads/feishu_card_action.json: the doc's sample with genjin's button value
    and form names, signed and encrypted as Feishu sends it."""
    from pathlib import Path

    configure_feishu(settings, fake)
    settings.feishu.verification_token = "vt_XXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    monkeypatch.setattr(runtime_module, "ACTION_WAIT", 0.0)
    feishu = FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)
    path = Path(__file__).parent / "data" / "payloads" / "feishu_card_action.json"
    response = feishu.post_event(json.loads(path.read_text(encoding="utf-8")))
    assert response.status_code == 200
    with feishu.runtime.sessions() as session:
        (row,) = session.scalars(select(Inbox))
        payload = row.payload
    assert payload["kind"] == ACTION
    assert payload["message_id"] == "f7984f25108f8137722bb63c5d2e7b90"
    assert payload["sender_id"] == "ou_84aad35d084aa403a838cf73ee18467"
    assert payload["chat_id"] == "oc_ac35e043443624296c5150091af36362"
    assert payload["sent_at"] == "2025-11-30T01:30:00+00:00"
    data = {k: v for k, v in payload["platform_data"].items() if k != "awaited_until"}
    assert data == {
        "action": "done",
        "target": "42",
        "arg": "",
        "card_message_id": "om_x100b494e7a37dcb40d786a11ed4eb99",
        "form.note": "报价已发，客户在比价",
        "form.next": "2025-12-03",
        "form.stage": "已报价",
    }


def test_tap_on_a_private_nudge_acts_on_the_team_book(feishu, clock):
    """Under 提醒方式 私聊 the nudge card reaches the rep in the bot's private chat; the tap there
    is private (the card was sent to one person: the database says so, even after a restart) and
    moves the customer of the team chat."""
    from models import Chat, Member
    from models.member import ROLE_MANAGER

    feishu.command("/我的", open_id="ou_boss")
    _deliver_all(feishu, clock)
    with feishu.runtime.sessions() as session, session.begin():
        boss = session.scalars(select(Member).join(Chat).where(Member.user_id == "ou_boss")).one()
        boss.role = ROLE_MANAGER
    feishu.command("/设置 提醒方式 私聊", open_id="ou_boss")
    feishu.command("/跟进 客户A 报价已发 11月30日回访", open_id="ou_zhang")
    _deliver_all(feishu, clock)
    clock.now = MONDAY
    tick(feishu.runtime, clock.now)
    _deliver_all(feishu, clock)
    (nudge,) = feishu.fake.sent_to_user("ou_zhang")
    assert nudge.msg_type == "interactive"
    adapter = feishu.runtime.adapters["feishu"]
    assert isinstance(adapter, FeishuAdapter)
    adapter._chat_modes.clear()  # a restart: this process no longer knows the private chat
    with Dispatching(feishu.runtime):
        answer = feishu.tap(feishu.fake.tap(nudge.message_id, "⏰ 推到明天", "ou_zhang")).get_json()
    assert answer["toast"]["type"] == "success", answer
    with feishu.runtime.sessions() as session:
        row = session.scalars(select(Inbox).order_by(Inbox.id.desc())).first()
        assert row is not None and row.payload["chat_type"] == "group"  # the adapter forgot
        assert row.payload["chat_id"] == feishu.fake.p2p_chat("ou_zhang")
    moved = _customer(feishu.runtime, "客户A").next_follow_up_at
    assert moved is not None and moved.astimezone(TZ).date().isoformat() == "2026-12-01"


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every component of a card JSON, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "tag" in node:
            found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_the_digest_card_on_feishu_charts_the_numbers_its_table_shows(feishu, clock):
    """Issue 14: the digest card posted to Feishu has a VChart whose numbers are the text's."""
    feishu.command("/跟进 客户A 报价已发 下周一回访", open_id="ou_zhang")
    feishu.command("/跟进 客户B 拜访了采购", open_id="ou_zhang")
    feishu.command("/跟进 客户C 聊了需求", open_id="ou_li")
    feishu.runtime.drain()
    feishu.runtime.refresh_names()
    clock.now = clock.now.replace(hour=18, minute=1)  # Friday 18:01: the daily digest is due
    assert "daily_digest" in [run.job for run in tick(feishu.runtime, clock.now)]
    feishu.runtime.drain()
    digests = [s for s in feishu.fake.sent if s.msg_type == "interactive" and "跟进" in s.text]
    card = digests[-1].content
    assert card_problems(card) == []
    charts = [c for c in _walk(card) if c["tag"] == "chart"]
    tables = [c for c in _walk(card) if c["tag"] == "table"]
    per_rep = next(
        t for t in tables if [c["display_name"] for c in t["columns"]][:2] == ["成员", "跟进"]
    )
    shown = {row["c0"]: int(row["c1"].rstrip("次 ")) for row in per_rep["rows"]}
    assert shown == {"张三": 2, "李四": 1}
    (spec,) = [c["chart_spec"] for c in charts]
    charted = {v["label"].replace("\u200b", ""): v["value"] for v in spec["data"][0]["values"]}
    assert charted == shown
    assert f"跟进 {sum(shown.values())} 次" in _markdown(card)
