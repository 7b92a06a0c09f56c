"""The sandbox shows cards as data and takes taps the way a platform's card callback comes in.

Flask test client against a real database and the real pipeline; a dispatcher thread stands in for
the worker `genjin serve` runs, so a tap is answered through ``Runtime.receive_action`` as on a
platform. The page itself is driven in tests/test_sandbox_cards_browser.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.adapters.console import render_text
from bot.app import create_app
from bot.messages import (
    ACT_DONE,
    ACT_SNOOZE,
    CHART_BAR,
    FIELD_DATE,
    FIELD_SELECT,
    FIELD_TEXT,
    Button,
    Card,
    CardSection,
    Chart,
    Field,
    Form,
    Option,
    OutgoingMessage,
    Reply,
    Series,
    Table,
)
from bot.outbox import enqueue
from bot.runtime import Runtime
from models import Inbox
from models.activity import SOURCE_CARD
from models.pipeline import Outbox
from tests.support.harness import ChatHarness

CHAT = "销售一组"
HOSTILE = '<img src=x onerror="alert(1)">**粗**'


@pytest.fixture
def client(runtime: Runtime) -> Any:
    return create_app(runtime.settings, runtime).test_client()


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[None]:
    """The inbox worker of `genjin serve`: handles stored messages while a test waits on them."""
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            if not runtime.dispatch():
                stop.wait(0.02)

    thread = threading.Thread(target=work, name="test-dispatcher", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)


def _done_form() -> Form:
    return Form(
        [
            Field("note", "跟进内容", FIELD_TEXT, placeholder="例如：报价已发"),
            Field("next", "下次跟进", FIELD_DATE),
            Field(
                "stage",
                "阶段",
                FIELD_SELECT,
                [Option("跟进中", "跟进中"), Option("已报价", "已报价")],
                default="跟进中",
            ),
        ]
    )


def _post_card(runtime: Runtime, chat: ChatHarness, extra_line: str = "") -> Outbox:
    """A card with a mention, a table, buttons (one with a form) and a chart, sent to the chat."""
    chat.send("/帮助")  # the chat exists
    reply = Reply()
    head = f"{reply.mention('张三', '张三')} 今天要跟进 1 个客户"
    message = reply.build()
    message.card = Card(
        title="☀️ 早上好",
        subtitle="11月27日(周五)",
        sections=[
            CardSection(lines=[head]),
            CardSection(
                lines=["📌 客户A｜跟进中｜今天", *([extra_line] if extra_line else [])],
                key="customer:7",
                buttons=[
                    Button("✅ 已跟进", ACT_DONE, "7", style="primary", form=_done_form()),
                    Button("⏰ 推到明天", ACT_SNOOZE, "7", "tomorrow"),
                ],
            ),
            CardSection(
                heading="数字",
                table=Table(["阶段", "个数"], [["跟进中", "3"]]),
                chart=Chart(CHART_BAR, "本周跟进", ["张三", "李四"], [Series("次数", [3, 1])]),
            ),
        ],
    )
    with runtime.sessions() as session, session.begin():
        (row,) = enqueue(
            session, "console", CHAT, [message], key_base="test-card", now=runtime.clock()
        )
        session.flush()
        row_id = row.id
    runtime.deliver()
    with runtime.sessions() as session:
        return session.get_one(Outbox, row_id)


def _tap(client: Any, row: Outbox, **body: Any) -> Any:
    base = {
        "chat": CHAT,
        "as": "张三",
        "id": "tap-0000000001",
        "card": row.platform_message_id,
        "verb": ACT_SNOOZE,
        "target": "7",
        "arg": "tomorrow",
    }
    return client.post("/sandbox/api/action", json={**base, **body})


def _count(runtime: Runtime, model: Any) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- the messages API: cards as data ---------------------------------------------------------------
def test_a_card_arrives_as_data_with_its_buttons_forms_and_chart(client, runtime, chat):
    row = _post_card(runtime, chat, extra_line=HOSTILE)
    events = client.get(f"/sandbox/api/messages?chat={CHAT}").get_json()["events"]
    (event,) = [e for e in events if e["kind"] == "bot" and e["card"]]
    assert event["message_id"] == row.platform_message_id == f"console-{row.key}"
    assert event["update_of"] == "" and event["toast"] == ""
    card = event["card"]
    assert (card["title"], card["subtitle"]) == ("☀️ 早上好", "11月27日(周五)")
    head, customer, numbers = card["sections"]
    assert head["lines"] == ["@张三 今天要跟进 1 个客户"]  # the mention token shown as @名字
    assert customer["key"] == "customer:7"
    assert customer["lines"][1] == HOSTILE  # data stays data: the page puts it in as text
    done, snooze = customer["buttons"]
    assert (done["label"], done["action"], done["target"], done["style"]) == (
        "✅ 已跟进",
        ACT_DONE,
        "7",
        "primary",
    )
    assert [(f["name"], f["kind"]) for f in done["form"]["fields"]] == [
        ("note", FIELD_TEXT),
        ("next", FIELD_DATE),
        ("stage", FIELD_SELECT),
    ]
    assert done["form"]["fields"][2]["options"][1] == {"value": "已报价", "label": "已报价"}
    assert (snooze["arg"], snooze["form"]) == ("tomorrow", None)
    assert numbers["table"] == {"columns": ["阶段", "个数"], "rows": [["跟进中", "3"]]}
    assert numbers["chart"]["labels"] == ["张三", "李四"]
    assert numbers["chart"]["series"] == [{"name": "次数", "values": [3, 1]}]
    # The text the console shows is still there for scripts: buttons and bars included.
    assert "[✅ 已跟进] [⏰ 推到明天]" in event["text"]
    assert "📊 本周跟进" in event["text"]


def test_console_text_shows_buttons_as_a_line_and_charts_as_bars():
    card = Card(
        "周报",
        [
            CardSection(
                lines=["客户A"],
                buttons=[Button("✅ 已跟进", ACT_DONE, "1"), Button("⏰ 下周一", ACT_SNOOZE, "1")],
            ),
            CardSection(
                chart=Chart(CHART_BAR, "完成率", ["张三", "李四"], [Series("", [50, 100])])
            ),
            CardSection(chart=Chart(CHART_BAR, "空的", [], [])),
        ],
    )
    text = render_text(OutgoingMessage("", card=card))
    lines = text.split("\n")
    assert lines[:3] == ["【周报】", "客户A", "[✅ 已跟进] [⏰ 下周一]"]
    assert lines[3] == "📊 完成率"
    assert lines[4].startswith("张三") and lines[4].endswith(" 50") and "▇▇▇▇▁▁▁▁" in lines[4]
    assert lines[5].startswith("李四") and "▇▇▇▇▇▇▇▇" in lines[5]
    assert "空的" not in text and len(lines) == 6  # a chart without data shows nothing


def test_the_page_builds_its_dom_from_text_never_from_markup(client):
    script = client.get("/sandbox/static/sandbox.js").get_data(as_text=True)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "bubble.textContent = e.text" in script
    page = client.get("/").get_data(as_text=True)
    assert "<script>" not in page and "▶ 立即运行定时消息" in page
    assert '<option value="morning_nudges" selected>早间提醒</option>' in page


# -- /sandbox/api/action: guards -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"chat": ["a"]}, 400, "文字"),
        ({"as": "  "}, 400, "我是"),
        ({"chat": ""}, 400, "群"),
        ({"card": ""}, 400, "card"),
        ({"card": "x" * 201}, 400, "card"),
        ({"verb": ""}, 400, "verb"),
        ({"target": "1" * 65}, 400, "64"),
        ({"id": "short"}, 400, "id"),
        ({"card": "console-nope"}, 404, "卡片"),
        ({"chat": "销售二组"}, 404, "卡片"),  # a card of another chat
        ({"target": "8"}, 400, "按钮"),  # no such button on that card
        ({"verb": "lose"}, 400, "按钮"),
        ({"form": {"note": "x"}}, 400, "没有表单"),  # ⏰ has no form
        ({"form": "note"}, 400, "form"),
        ({"verb": ACT_DONE, "arg": "", "form": {"reason": "x"}}, 400, "reason"),
        ({"verb": ACT_DONE, "arg": "", "form": {"note": 5}}, 400, "文字"),
        ({"verb": ACT_DONE, "arg": "", "form": {"note": "长" * 2001}}, 413, "2000"),
    ],
)
def test_a_bad_tap_is_refused_with_a_chinese_reason_and_stores_nothing(
    client, runtime, chat, body, status, reason
):
    row = _post_card(runtime, chat)
    before = _count(runtime, Inbox)
    response = _tap(client, row, **body)
    assert response.status_code == status, response.get_json()
    assert reason in response.get_json()["error"]
    assert _count(runtime, Inbox) == before


@pytest.mark.parametrize("body", [b"not json", b"[1]", b"[" * 5000 + b"]" * 5000])
def test_a_tap_that_is_not_a_json_object_is_400(client, runtime, body):
    response = client.post("/sandbox/api/action", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.get_json()["error"]
    assert _count(runtime, Inbox) == 0


def test_a_cross_site_tap_is_refused(client, runtime, chat):
    row = _post_card(runtime, chat)
    before = _count(runtime, Inbox)
    forged = client.post(
        "/sandbox/api/action",
        json={"chat": CHAT, "as": "张三", "card": row.platform_message_id, "verb": ACT_SNOOZE},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403
    assert _count(runtime, Inbox) == before


def test_a_keyed_sandbox_wants_the_key_for_a_tap_and_a_run(runtime, chat):
    runtime.settings.server.sandbox = "on"
    runtime.settings.server.sandbox_key = "sandbox-key-0123456789"
    keyed = create_app(runtime.settings, runtime).test_client()
    row = _post_card(runtime, chat)
    assert _tap(keyed, row).status_code == 401
    run = keyed.post("/sandbox/api/run", json={"chat": CHAT, "job": "morning_nudges"})
    assert run.status_code == 401


def test_request_bodies_over_the_limit_are_refused(runtime, chat):
    runtime.settings.server.max_body_bytes = 1000
    small = create_app(runtime.settings, runtime).test_client()
    row = _post_card(runtime, chat)
    response = _tap(small, row, form={"note": "x" * 5000}, verb=ACT_DONE, arg="")
    assert response.status_code == 413


# -- /sandbox/api/run: a scheduled message now -----------------------------------------------------
def test_running_the_morning_nudge_now_posts_it_to_the_chat(client, runtime, chat):
    chat.send("/跟进 客户A 报价已发 今天下午回访")
    response = client.post("/sandbox/api/run", json={"chat": CHAT, "job": "morning_nudges"})
    assert response.status_code == 200
    assert response.get_json() == {"job": "morning_nudges", "title": "早间提醒", "posted": 1}
    runtime.drain()
    events = client.get(f"/sandbox/api/messages?chat={CHAT}").get_json()["events"]
    (nudge,) = [e for e in events if e.get("job") == "morning_nudges"]
    assert "客户A" in nudge["text"] and nudge["card"]["title"].startswith("☀️ 早上好")
    # No period was claimed: the scheduled run at its time still happens.
    from models.pipeline import JobRun

    assert _count(runtime, JobRun) == 0


def test_running_a_job_with_nothing_to_say_posts_nothing(client, runtime, chat):
    chat.send("/帮助")
    response = client.post("/sandbox/api/run", json={"chat": CHAT, "job": "morning_nudges"})
    assert response.get_json()["posted"] == 0


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"chat": CHAT, "job": "nope"}, 400, "早间提醒"),
        ({"chat": "", "job": "morning_nudges"}, 400, "群"),
        ({"chat": 5, "job": "morning_nudges"}, 400, "文字"),
        ({"chat": "没说过话的群", "job": "morning_nudges"}, 404, "先发一条消息"),
    ],
)
def test_a_bad_run_is_refused_with_a_chinese_reason(client, runtime, chat, body, status, reason):
    chat.send("/帮助")
    before = _count(runtime, Outbox)
    response = client.post("/sandbox/api/run", json=body)
    assert response.status_code == status
    assert reason in response.get_json()["error"]
    assert _count(runtime, Outbox) == before


def test_a_job_switched_off_in_the_chat_is_not_run(client, runtime, chat):
    chat.send("/跟进 客户A 报价已发 今天下午回访")
    chat.send("/设置 关闭 早间提醒", as_="老板")
    before = _count(runtime, Outbox)
    response = client.post("/sandbox/api/run", json={"chat": CHAT, "job": "morning_nudges"})
    assert response.status_code == 409 and "开启" in response.get_json()["error"]
    assert _count(runtime, Outbox) == before


# -- /sandbox/api/action: a tap through the pipeline -----------------------------------------------
def _nudge_card(client: Any, runtime: Runtime, chat: ChatHarness) -> dict[str, Any]:
    """The morning nudge for 客户A (跟进中, due today), run now and sent: its event."""
    chat.send("/跟进 客户A 电话沟通 今天下午回访")
    client.post("/sandbox/api/run", json={"chat": CHAT, "job": "morning_nudges"})
    runtime.drain()
    events = client.get(f"/sandbox/api/messages?chat={CHAT}").get_json()["events"]
    (nudge,) = [e for e in events if e.get("job") == "morning_nudges"]
    return nudge


def _section(card: dict[str, Any], customer_id: int) -> dict[str, Any]:
    (section,) = [s for s in card["sections"] if s["key"] == f"customer:{customer_id}"]
    return section


def test_a_tap_with_a_form_updates_the_card_in_place_once(client, runtime, chat, worker):
    nudge = _nudge_card(client, runtime, chat)
    customer = chat.customer("客户A")
    assert customer is not None
    section = _section(nudge["card"], customer.id)
    done = next(b for b in section["buttons"] if b["action"] == ACT_DONE)
    body = {
        "chat": CHAT,
        "as": "张三",
        "id": "tap-form-000001",
        "card": nudge["message_id"],
        "verb": done["action"],
        "target": done["target"],
        "arg": done["arg"],
        "form": {"note": HOSTILE, "next": "2026-12-03", "stage": "已报价"},
    }
    before = len(chat.activities())
    first = client.post("/sandbox/api/action", json=body)
    assert first.status_code == 200, first.get_json()
    answer = first.get_json()
    assert answer["duplicate"] is False and answer["pending"] is False
    assert answer["event"]["tap"] is True and answer["event"]["as"] == "张三"
    (update,) = answer["replies"]
    assert update["update_of"] == nudge["message_id"]
    assert update["toast"].startswith("已记录") and update["toast_kind"] == "success"
    acted = _section(update["card"], customer.id)
    assert acted["buttons"] == []
    assert any("张三" in line and "已跟进" in line for line in acted["lines"])
    logged = chat.activities()[before:]
    assert logged and {a.source for a in logged} == {SOURCE_CARD}
    assert HOSTILE in [a.text for a in logged]  # the note as typed, stored as text
    stored = chat.customer("客户A")
    assert stored is not None and stored.stage == "已报价"  # was 跟进中
    # The same tap again (the page retrying after a lost answer): nothing new, the same answer.
    again = client.post("/sandbox/api/action", json=body).get_json()
    assert again["duplicate"] is True and again["replies"] == answer["replies"]
    assert len(chat.activities()) == before + len(logged)
    # The poll shows the tap and the update (which the page applies to the card, not as a bubble).
    events = client.get(f"/sandbox/api/messages?chat={CHAT}").get_json()["events"]
    assert [e["id"] for e in events if e.get("update_of")] == [update["id"]]
    assert sum(1 for e in events if e.get("tap")) == 1
    # The same id from someone else is not theirs to reuse.
    other = client.post("/sandbox/api/action", json={**body, "as": "李四"})
    assert other.status_code == 409


def test_a_refused_tap_answers_an_error_toast_and_changes_nothing(client, runtime, chat, worker):
    nudge = _nudge_card(client, runtime, chat)
    customer = chat.customer("客户A")
    assert customer is not None
    section = _section(nudge["card"], customer.id)
    done = next(b for b in section["buttons"] if b["action"] == ACT_DONE)
    before = len(chat.activities())
    response = client.post(
        "/sandbox/api/action",
        json={
            "chat": CHAT,
            "as": "张三",
            "id": "tap-bad-date-01",
            "card": nudge["message_id"],
            "verb": done["action"],
            "target": done["target"],
            "arg": done["arg"],
            "form": {"note": "电话", "next": "2026-02-30", "stage": "已报价"},
        },
    )
    (reply,) = response.get_json()["replies"]
    assert reply["toast_kind"] == "error" and reply["update_of"] == ""
    assert len(chat.activities()) == before


def test_an_answer_not_ready_in_time_arrives_later_as_an_update(client, runtime, chat, monkeypatch):
    """No worker handles the tap within the wait: the page hears "pending", then polls the update."""
    import bot.runtime

    monkeypatch.setattr(bot.runtime, "ACTION_WAIT", 0.05)
    nudge = _nudge_card(client, runtime, chat)
    customer = chat.customer("客户A")
    assert customer is not None
    body = {
        "chat": CHAT,
        "as": "张三",
        "id": "tap-late-000001",
        "card": nudge["message_id"],
        "verb": ACT_SNOOZE,
        "target": str(customer.id),
        "arg": "tomorrow",
    }
    answer = client.post("/sandbox/api/action", json=body).get_json()
    assert answer["pending"] is True and answer["replies"] == []
    again = client.post("/sandbox/api/action", json=body).get_json()
    assert again["duplicate"] is True and again["pending"] is True
    runtime.drain()  # the worker handles it; the sender delivers the update to the console
    events = client.get(f"/sandbox/api/messages?chat={CHAT}").get_json()["events"]
    (update,) = [e for e in events if e.get("update_of")]
    assert update["update_of"] == nudge["message_id"]
    assert update["reply_to"] == f"sandbox-tap-{body['id']}"  # the page's toast finds its tap
    assert update["toast"] and _section(update["card"], customer.id)["buttons"] == []
    done = client.post("/sandbox/api/action", json=body).get_json()
    assert done["pending"] is False and [r["id"] for r in done["replies"]] == [update["id"]]
