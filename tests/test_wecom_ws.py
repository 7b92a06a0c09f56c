"""WeCom long-connection mode (``[wecom] mode = "ws"``) against the fake long connection: commands
are answered by req_id, jobs posted with aibot_send_msg, a dropped link loses and doubles
nothing, a kick-out stops reconnecting and shows in /healthz, bad credentials name the key."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.adapters import wecom_ws
from bot.adapters.base import OutboundItem
from bot.adapters.wecom import WecomAdapter
from bot.config import ConfigError, load_settings
from bot.messages import OutgoingMessage
from bot.runtime import Runtime
from bot.scheduler import tick
from models.pipeline import Inbox, Outbox
from tests.support.fake_wecom_ws import AUTH_REFUSED, CHAT, USER, FakeWecomWS
from tests.support.serving import genjin_serve

COMMAND = "/跟进 客户A 报价已发 明天回访"


def _env(fake: FakeWecomWS, **extra: str) -> dict[str, str]:
    return {
        "GENJIN_WECOM_MODE": "ws",
        "GENJIN_WECOM_BOT_ID": fake.bot_id,
        "GENJIN_WECOM_SECRET": fake.secret,
        "GENJIN_WECOM_WS_URL": fake.url,
        **extra,
    }


def _until(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {timeout}s")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWecomWS]:
    monkeypatch.setattr(wecom_ws, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(wecom_ws, "BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(wecom_ws, "BACKOFF_MAX_SECONDS", 0.2)
    with FakeWecomWS() as server:
        yield server


@pytest.fixture
def wsrt(fake, engine, clock) -> Iterator[Runtime]:
    """A runtime in WeCom ws mode with its long connection up (workers driven by the test)."""
    runtime = Runtime(load_settings(env=_env(fake)), engine=engine, clock=clock)
    adapter = runtime.adapters["wecom"]
    assert adapter.start_long_connection(runtime.receive) is not None
    fake.wait_connected()
    yield runtime
    adapter.stop_long_connection()


def _pump(runtime: Runtime, fake: FakeWecomWS, posts: int) -> None:
    """Dispatch and deliver until the fake has ``posts`` posts."""

    def step() -> bool:
        runtime.dispatch()
        runtime.deliver()
        return len(fake.sent) >= posts

    _until(step, what=f"{posts} posts (have {fake.texts()})")


def _count(runtime: Runtime, table: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_command_is_answered_by_req_id_and_the_digest_goes_out_by_aibot_send_msg(wsrt, fake, clock):
    (subscribe,) = fake.commands("aibot_subscribe")
    assert subscribe["body"] == {"bot_id": fake.bot_id, "secret": fake.secret}
    rid, msgid = fake.push_message(COMMAND)
    _pump(wsrt, fake, 1)
    (reply,) = fake.sent
    assert reply.kind == "reply" and reply.req_id == rid and reply.chat_id == CHAT
    assert "客户A" in reply.text and reply.body["stream"]["finish"] is True
    with wsrt.sessions() as session:
        key = session.scalars(select(Outbox.key)).one()
    assert reply.body["stream"]["id"] == wecom_ws.stream_id(key)

    fake.push_message(COMMAND, msgid=msgid)  # WeCom redelivers the message: stored once
    time.sleep(0.3)
    wsrt.drain()
    assert _count(wsrt, Inbox) == 1 and len(fake.sent) == 1

    clock.advance(hours=8, minutes=5)
    posted = tick(wsrt)  # Friday 18:05: the digest
    assert [p.job for p in posted if p.job == "daily_digest"] == ["daily_digest"]
    _pump(wsrt, fake, len(posted) + 1)
    proactive = fake.sent[1:]
    assert {p.kind for p in proactive} == {"send"} and {p.chat_id for p in proactive} == {CHAT}
    assert len(proactive) == len(posted)
    _until(lambda: fake.commands("ping"), what="heartbeat")  # pings go out and are acked
    assert wsrt.adapters["wecom"].long_connection_problem() == ""
    assert fake.subscribes == 1


def test_messages_sent_while_the_link_is_down_are_delivered_once_after_reconnect(wsrt, fake, clock):
    adapter = wsrt.adapters["wecom"]
    fake.push_message(COMMAND)  # the chat is known, with something for its digest
    _pump(wsrt, fake, 1)
    fake.refuse_connections = True
    fake.drop(code=1011)
    _until(lambda: adapter.long_connection_problem().startswith("reconnecting"))
    clock.advance(hours=8, minutes=5)
    posted = tick(wsrt)
    assert posted
    wsrt.drain()  # not sent: the row waits, without using up an attempt
    assert len(fake.sent) == 1
    with wsrt.sessions() as session:
        rows = session.scalars(select(Outbox).where(Outbox.job != "")).all()
        assert {r.status for r in rows} == {"pending"} and {r.attempts for r in rows} == {0}
    _until(lambda: fake.handshakes >= 3, what="reconnect attempts")  # it keeps trying

    fake.refuse_connections = False
    fake.wait_connected(subscribes=2)
    clock.advance(seconds=5)
    _pump(wsrt, fake, 1 + len(posted))
    rid, _ = fake.push_message("/帮助")  # and the new link carries commands
    _pump(wsrt, fake, 2 + len(posted))
    time.sleep(0.2)
    clock.advance(minutes=5)
    wsrt.drain()
    assert len(fake.sent) == 2 + len(posted)  # nothing doubled
    assert [s.kind for s in fake.sent] == ["reply"] + ["send"] * len(posted) + ["reply"]
    assert fake.sent[-1].req_id == rid


def test_a_second_reply_or_a_late_one_is_posted_and_an_unknown_chat_is_permanent(wsrt, fake):
    adapter = wsrt.adapters["wecom"]
    assert isinstance(adapter, WecomAdapter)
    rid, _ = fake.push_message("/帮助")
    _pump(wsrt, fake, 1)
    token = wecom_ws.reply_token(adapter._now(), rid)
    second = OutboundItem("k2", CHAT, OutgoingMessage(text="第二条"), reply_token=token)
    assert adapter.send(second).ok  # the req_id is spent: posted proactively
    late = wecom_ws.reply_token(adapter._now() - 3600, "REQ-OLD")
    assert adapter.send(OutboundItem("k3", CHAT, OutgoingMessage(text="晚了"), reply_token=late)).ok
    assert [s.kind for s in fake.sent[1:]] == ["send", "send"]
    result = adapter.send(OutboundItem("k4", "wrUNKNOWN", OutgoingMessage(text="x")))
    assert not result.ok and result.permanent and "93006" in result.error


def test_a_post_without_an_ack_is_never_repeated(wsrt, fake):
    adapter = wsrt.adapters["wecom"]
    assert isinstance(adapter, WecomAdapter) and adapter.ws is not None
    adapter.ws.ack_seconds = 0.3
    fake.unacked = {"aibot_send_msg"}
    item = OutboundItem("k1", CHAT, OutgoingMessage(text="日报"))
    result = adapter.send(item)
    assert not result.ok and result.permanent and "may have been delivered" in result.error
    assert len(fake.commands("aibot_send_msg")) == 1 and fake.texts() == ["日报"]


def test_kick_out_stops_the_connection_and_is_reported_in_health(fake, engine, clock):
    runtime = Runtime(load_settings(env=_env(fake)), engine=engine, clock=clock)
    runtime.start(poll=0.05)
    try:
        fake.wait_connected()
        assert runtime.health()["wecom_long_connection"] == "running"
        fake.kick()
        health = _until(
            lambda: (h := runtime.health())["wecom_long_connection"] == "stopped" and h,
            what="the connection to stop",
        )
        assert health["status"] == "degraded"
        assert any("kicked out" in r for r in health["reasons"]), health  # type: ignore[union-attr]
        time.sleep(0.5)
        assert fake.handshakes == 1  # no reconnect storm against the new connection
    finally:
        runtime.stop()


def test_wrong_secret_gives_up_naming_the_key(fake, engine, clock, caplog):
    env = _env(fake, GENJIN_WECOM_SECRET="wrong-secret")
    runtime = Runtime(load_settings(env=env), engine=engine, clock=clock)
    adapter = runtime.adapters["wecom"]
    thread = adapter.start_long_connection(runtime.receive)
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive() and fake.refused == wecom_ws.AUTH_ATTEMPTS
    problem = adapter.long_connection_problem()
    assert f"errcode={AUTH_REFUSED}" in problem and "wecom.secret" in problem
    assert "wrong-secret" not in problem and "wrong-secret" not in caplog.text


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"GENJIN_WECOM_BOT_ID": "aib1"}, "wecom.secret"),
        ({"GENJIN_WECOM_SECRET": "very-secret"}, "wecom.bot_id"),
        ({"GENJIN_WECOM_BOT_ID": "a", "GENJIN_WECOM_SECRET": "very-secret",
          "GENJIN_WECOM_WS_URL": "ws://example.com"}, "wecom.ws_url"),
    ],
)  # fmt: skip
def test_bad_long_connection_settings_are_one_line_naming_the_key(env, key):
    with pytest.raises(ConfigError) as raised:
        load_settings(env={"GENJIN_WECOM_MODE": "ws", **env})
    message = str(raised.value)
    assert key in message and "\n" not in message and "very-secret" not in message


def test_ws_mode_has_no_callback_url(fake, engine, clock):
    from bot.app import create_app

    runtime = Runtime(load_settings(env=_env(fake)), engine=engine, clock=clock)
    client = create_app(runtime.settings, runtime).test_client()
    assert client.post("/webhook/wecom?msg_signature=a&timestamp=1&nonce=n").status_code == 404


@pytest.mark.slow
def test_genjin_serve_in_ws_mode_answers_and_reports_a_kick_out(tmp_path: Path):
    with FakeWecomWS() as fake:
        env = {"GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/ws.db", **_env(fake)}
        unset = ("GENJIN_WECOM_TOKEN", "GENJIN_WECOM_ENCODING_AES_KEY")
        with genjin_serve(tmp_path, env, unset) as server:
            fake.wait_connected(timeout=20)
            rid, msgid = fake.push_message(COMMAND)
            (reply,) = fake.wait_for(1, timeout=20)
            assert reply.req_id == rid and "客户A" in reply.text
            fake.push_message(COMMAND, msgid=msgid)  # redelivered: not answered again
            fake.kick()

            def health() -> dict[str, Any]:
                try:
                    with urllib.request.urlopen(f"{server.base}/healthz", timeout=2) as answer:
                        return json.loads(answer.read())
                except urllib.error.HTTPError as error:  # 503 when degraded
                    return json.loads(error.read())

            stopped = _until(
                lambda: (h := health())["wecom_long_connection"] == "stopped" and h, 20
            )
            assert any("kicked out" in r for r in stopped["reasons"])
            time.sleep(1)
            assert len(fake.sent) == 1 and fake.handshakes == 1
            assert fake.secret not in server.output()


def test_a_message_the_database_refuses_is_held_and_retried_not_lost() -> None:
    """WeCom never redelivers over the connection: the message waits until it is stored."""
    from bot.adapters.wecom import store_patiently
    from bot.messages import IncomingMessage

    stored: list[str] = []
    failures = iter([True, True, False])
    waits: list[float] = []

    def receive(message: IncomingMessage) -> None:
        if next(failures):
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        stored.append(message.message_id)

    message = IncomingMessage(
        platform="wecom", chat_id="c", sender_id="u", text="/帮助", message_id="m1"
    )
    assert store_patiently(receive, message, sleep=waits.append) is True
    assert stored == ["m1"] and waits == [0.5, 1.0]

    def down(message: IncomingMessage) -> None:
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    waits.clear()
    assert store_patiently(down, message, give_up_after=20, sleep=waits.append) is False
    assert sum(waits) >= 20 and max(waits) == 15.0


def test_private_nudges_go_to_the_rep_over_the_long_connection(fake, engine, clock):
    """Over the long connection the robot can post to one person: 提醒方式 私聊 works there."""
    settings = load_settings(env={**_env(fake), "GENJIN_BOT_ADMINS": USER})
    runtime = Runtime(settings, engine=engine, clock=clock)
    adapter = runtime.adapters["wecom"]
    assert adapter.start_long_connection(runtime.receive) is not None
    try:
        fake.wait_connected()
        fake.push_message("/设置 提醒方式 私聊")
        fake.push_message("/跟进 客户A 报价已发 明天回访")  # due Saturday: overdue on Monday
        _pump(runtime, fake, 2)
        assert fake.sent[0].text.startswith("✅")
        clock.advance(days=2, hours=23.5)  # Monday 09:30
        assert "morning_nudges" in [p.job for p in tick(runtime)]
        _pump(runtime, fake, 3)
        (nudge,) = fake.sent[2:]
        assert (nudge.kind, nudge.chat_id) == ("send", USER) and "客户A" in nudge.text
    finally:
        adapter.stop_long_connection()
