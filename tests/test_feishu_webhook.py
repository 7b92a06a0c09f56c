"""The Feishu webhook: real signatures and encryption, verified by the SDK; forgeries refused."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from models import Inbox, Member, Outbox
from tests.support.fake_feishu import FakeFeishu  # noqa: F401  (fixture type)
from tests.support.feishu_fixtures import (
    CHAT,
    ENCRYPT_KEY,
    TOKEN,
    FeishuChat,
    configure_feishu,
    fake,  # noqa: F401  (fixture)
)
from tests.support.feishu_testkit import (
    BOT_OPEN_ID,
    bot_added_event,
    member_added_event,
    mention,
    message_event,
    post_content,
    sign,
    signed_encrypted_request,
    url_verification,
)


@pytest.fixture
def feishu(engine, settings, clock, fake) -> FeishuChat:  # noqa: F811
    configure_feishu(settings, fake)
    return FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)


def _inbox(runtime: Runtime) -> list[Inbox]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Inbox).order_by(Inbox.id)))


def test_signed_encrypted_command_is_stored_normalised(feishu):
    response, event = feishu.command(
        "/跟进 客户A 报价已发", mentions=[mention("@_user_2", "ou_li", "李四")]
    )
    assert response.status_code == 200
    assert response.get_json() == {"msg": "success"}
    (row,) = _inbox(feishu.runtime)
    payload = row.payload
    assert payload["platform"] == "feishu" and payload["chat_id"] == CHAT
    assert payload["message_id"] == event["event"]["message"]["message_id"]
    assert payload["sender_id"] == "ou_zhang"
    assert payload["text"] == "/跟进 客户A 报价已发"
    assert payload["to_me"] is True and payload["chat_type"] == "group"
    assert payload["mentions"] == [{"user_id": "ou_li", "name": "李四"}]
    assert payload["sent_at"].endswith("+00:00")


def test_other_mentions_stay_in_the_text_as_names(feishu):
    feishu.command("/分配 华为 @_user_2", mentions=[mention("@_user_2", "ou_li", "李四")])
    assert _inbox(feishu.runtime)[0].payload["text"] == "/分配 华为 @李四"


def test_url_verification_is_answered(feishu):
    body, headers = signed_encrypted_request(url_verification("chal-123", TOKEN), ENCRYPT_KEY)
    del headers["X-Lark-Signature"]  # Feishu sends the challenge unsigned
    response = feishu.client.post("/webhook/feishu", data=body, headers=headers)
    assert response.status_code == 200 and response.get_json() == {"challenge": "chal-123"}
    assert _inbox(feishu.runtime) == []


def _signed(event: dict, ts: int, key: str = ENCRYPT_KEY) -> tuple[bytes, dict]:
    """A signed, encrypted request stamped ``ts`` (epoch seconds, from the test's clock)."""
    return signed_encrypted_request(event, key, timestamp=ts)


def _forgeries() -> list[tuple[str, object]]:
    def wrong_signature(ts):
        body, headers = _signed(message_event("@_user_1 /帮助", token=TOKEN, chat_id=CHAT), ts)
        headers["X-Lark-Signature"] = "0" * 64
        return body, headers, 403

    def no_signature_headers(ts):
        body, headers = _signed(message_event("@_user_1 /帮助", token=TOKEN, chat_id=CHAT), ts)
        for h in ("X-Lark-Signature", "X-Lark-Request-Timestamp", "X-Lark-Request-Nonce"):
            del headers[h]
        return body, headers, 401

    def wrong_key(ts):
        body, headers = _signed(
            message_event("@_user_1 /帮助", token=TOKEN, chat_id=CHAT), ts, key="not-our-key"
        )
        return body, headers, 403

    def wrong_token(ts):
        body, headers = _signed(
            message_event("@_user_1 /帮助", token="vt_forged", chat_id=CHAT), ts
        )
        return body, headers, 403

    def plaintext_unsigned(ts):
        body = json.dumps(message_event("@_user_1 /帮助", token=TOKEN, chat_id=CHAT)).encode()
        return body, {"Content-Type": "application/json"}, 401

    def tampered_body(ts):
        body, headers = _signed(message_event("@_user_1 /帮助", token=TOKEN, chat_id=CHAT), ts)
        return body.replace(b'"encrypt": "', b'"encrypt": "A'), headers, 403

    return [
        ("wrong_signature", wrong_signature),
        ("no_signature_headers", no_signature_headers),
        ("wrong_key", wrong_key),
        ("wrong_token", wrong_token),
        ("plaintext_unsigned", plaintext_unsigned),
        ("tampered_body", tampered_body),
    ]


@pytest.mark.parametrize(("name", "build"), _forgeries())
def test_forged_requests_are_refused_and_store_nothing(feishu, name, build):
    body, headers, status = build(feishu.now_ms() // 1000)
    response = feishu.client.post("/webhook/feishu", data=body, headers=headers)
    assert response.status_code == status, (name, response.get_data(as_text=True))
    assert _inbox(feishu.runtime) == []


def _malformed() -> list[tuple[str, bytes]]:
    return [
        ("empty", b""),
        ("not_json", b"hello"),
        ("garbage_ciphertext", json.dumps({"encrypt": "bm90IGNpcGhlcnRleHQ="}).encode()),
        ("json_array", b"[1, 2, 3]"),
    ]


@pytest.mark.parametrize(("name", "body"), _malformed())
def test_malformed_signed_requests_are_4xx_and_store_nothing(feishu, name, body):
    ts, nonce = str(feishu.now_ms() // 1000), "n1"
    headers = {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": sign(ts, nonce, ENCRYPT_KEY, body),
    }
    response = feishu.client.post("/webhook/feishu", data=body, headers=headers)
    assert 400 <= response.status_code < 500, name
    assert _inbox(feishu.runtime) == []


def test_redelivered_event_is_stored_once(feishu):
    _, event = feishu.command("/跟进 客户A 报价已发", message_id="om_same")
    again = dict(event, header=dict(event["header"], event_id="another-event-id"))
    assert feishu.post_event(again).status_code == 200
    assert feishu.post_event(event).status_code == 200
    assert len(_inbox(feishu.runtime)) == 1


def test_replayed_request_is_stored_once(feishu):
    event = message_event(
        "@_user_1 /帮助",
        token=TOKEN,
        chat_id=CHAT,
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
        create_time_ms=feishu.now_ms(),
    )
    body, headers = _signed(event, feishu.now_ms() // 1000)
    for _ in range(3):
        assert feishu.client.post("/webhook/feishu", data=body, headers=headers).status_code == 200
    assert len(_inbox(feishu.runtime)) == 1


def _help_event(message_id: str) -> dict:
    return message_event(
        "@_user_1 /帮助",
        token=TOKEN,
        chat_id=CHAT,
        message_id=message_id,
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
    )


@pytest.mark.parametrize(
    ("skew", "accepted"),
    [
        (0, True),
        (-3590, True),  # just inside server.signed_max_age_seconds (3600), both ways
        (3590, True),
        (-3610, False),  # a replay captured an hour ago
        (3610, False),  # stamped in the future beyond the allowed skew
    ],
)
def test_signed_request_outside_the_time_window_is_refused(feishu, caplog, skew, accepted):
    caplog.set_level("WARNING", logger="bot.adapters.feishu")
    now = feishu.now_ms() // 1000
    body, headers = _signed(_help_event("om_fresh"), now + skew)
    response = feishu.client.post("/webhook/feishu", data=body, headers=headers)
    assert response.status_code == (200 if accepted else 403)
    assert len(_inbox(feishu.runtime)) == (1 if accepted else 0)
    refusals = [r for r in caplog.records if "signed_max_age_seconds" in r.getMessage()]
    assert len(refusals) == (0 if accepted else 1)


@pytest.mark.parametrize("timestamp", ["0", "1716952000", "soon"])
def test_signed_request_from_1970_or_with_a_bogus_timestamp_is_refused(feishu, timestamp):
    body, headers = signed_encrypted_request(
        _help_event("om_old"), ENCRYPT_KEY, timestamp=timestamp
    )
    response = feishu.client.post("/webhook/feishu", data=body, headers=headers)
    assert response.status_code == 403
    assert _inbox(feishu.runtime) == []


def test_time_window_follows_the_setting(engine, settings, clock, fake):  # noqa: F811
    configure_feishu(settings, fake)
    settings.server.signed_max_age_seconds = 60
    chat = FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)
    now = chat.now_ms() // 1000
    body, headers = _signed(_help_event("om_a"), now - 120)
    assert chat.client.post("/webhook/feishu", data=body, headers=headers).status_code == 403
    body, headers = _signed(_help_event("om_b"), now - 30)
    assert chat.client.post("/webhook/feishu", data=body, headers=headers).status_code == 200
    assert [row.message_id for row in _inbox(chat.runtime)] == ["om_b"]


def test_rich_text_post_is_flattened(feishu):
    content = post_content(
        "拜访记录",
        [
            [
                {"tag": "at", "user_id": "@_user_1", "user_name": "跟进助手"},
                {"tag": "text", "text": " /跟进 华为 "},
            ],
            [
                {"tag": "text", "text": "报价已发，"},
                {"tag": "at", "user_id": "@_user_2", "user_name": "李四"},
                {"tag": "text", "text": " 一起去"},
            ],
        ],
    )
    feishu.command(
        "", message_type="post", content=content, mentions=[mention("@_user_2", "ou_li", "李四")]
    )
    (row,) = _inbox(feishu.runtime)
    assert row.payload["text"] == "拜访记录\n/跟进 华为\n报价已发，@李四 一起去"
    assert row.payload["to_me"] is True


def test_message_without_the_bot_mention_is_not_to_me(feishu):
    event = message_event("/跟进 客户A 报价已发", token=TOKEN, chat_id=CHAT, mentions=[])
    assert feishu.post_event(event).status_code == 200
    assert _inbox(feishu.runtime)[0].payload["to_me"] is False


def test_bot_added_to_a_group_says_hello(feishu):
    assert feishu.post_event(bot_added_event(CHAT, TOKEN)).status_code == 200
    feishu.runtime.dispatch()
    with feishu.runtime.sessions() as session:
        (row,) = session.scalars(select(Outbox)).all()
    assert row.reply_to == "" and "我是跟进助手" in row.payload["text"]


def test_members_added_teach_names(feishu):
    event = member_added_event(CHAT, {"ou_wang": "王五", "ou_zhao": "赵六"}, TOKEN)
    assert feishu.post_event(event).status_code == 200
    feishu.runtime.dispatch()
    with feishu.runtime.sessions() as session:
        names = {m.user_id: m.name for m in session.scalars(select(Member))}
    assert names == {"ou_wang": "王五", "ou_zhao": "赵六"}


def test_unsubscribed_event_types_are_acknowledged(feishu):
    event = message_event("x", token=TOKEN, chat_id=CHAT)
    event["header"]["event_type"] = "contact.user.created_v3"
    assert feishu.post_event(event).status_code == 200
    assert _inbox(feishu.runtime) == []


def test_database_down_answers_503_so_feishu_retries(engine, settings, clock, fake):  # noqa: F811
    from models.db import make_engine

    configure_feishu(settings, fake)
    broken = Runtime(settings, engine=make_engine("sqlite:////nonexistent-dir/x/y.db"), clock=clock)
    chat = FeishuChat(broken, fake)
    response, _ = chat.command("/帮助")
    assert response.status_code == 503


def test_token_only_mode_without_encrypt_key(engine, settings, clock, fake):  # noqa: F811
    configure_feishu(settings, fake, encrypt_key="")
    chat = FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)
    good = message_event(
        "@_user_1 /帮助",
        token=TOKEN,
        chat_id=CHAT,
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
    )
    assert chat.client.post("/webhook/feishu", json=good).status_code == 200
    bad = message_event("@_user_1 /帮助", token="forged", chat_id=CHAT)
    assert chat.client.post("/webhook/feishu", json=bad).status_code == 403
    assert len(_inbox(chat.runtime)) == 1


def test_sandbox_is_off_when_feishu_is_configured(feishu):
    assert feishu.client.get("/").status_code == 404


def test_webhook_is_closed_when_no_token_is_configured(engine, settings, clock, fake):  # noqa: F811
    """Long-connection set-ups need no token; then the SDK would verify nothing: no webhook."""
    configure_feishu(settings, fake, encrypt_key="")
    settings.feishu.verification_token = ""
    settings.feishu.mode = "ws"
    chat = FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)
    unsigned = message_event(
        "@_user_1 /帮助",
        token="",
        chat_id=CHAT,
        mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
    )
    assert chat.client.post("/webhook/feishu", json=unsigned).status_code == 404
    del unsigned["header"]["token"]
    assert chat.client.post("/webhook/feishu", json=unsigned).status_code == 404
    assert _inbox(chat.runtime) == []
