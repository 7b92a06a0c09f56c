"""Recorded platform payloads (tests/data/payloads) through the real webhooks: the fields they give.

Each file is a payload exactly as the platform sends it (decrypted); the test signs and encrypts it
the way the platform does, posts it, and reads back the neutral message the adapter stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.wecom_crypto import WecomCrypto, sign
from bot.app import create_app
from bot.runtime import Runtime
from models import Inbox
from tests.support.fake_feishu import FakeFeishu
from tests.support.feishu_fixtures import ENCRYPT_KEY, configure_feishu, fake  # noqa: F401
from tests.support.feishu_testkit import signed_encrypted_request

PAYLOADS = Path(__file__).parent / "data" / "payloads"
FEISHU_BOT = "ou_7d8a6e6df7621556ce0d21922b676706"  # the 销售助手 mentioned in the recordings
FEISHU_TOKEN = "vt_XXXXXXXXXXXXXXXXXXXXXXXXXXXX"
WECOM_TOKEN = "payloadT0ken"
WECOM_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def _stored(runtime: Runtime) -> list[dict[str, Any]]:
    with runtime.sessions() as session:
        return [row.payload for row in session.scalars(select(Inbox).order_by(Inbox.id))]


def _post_feishu(engine, settings, clock, fake: FakeFeishu, name: str) -> list[dict[str, Any]]:  # noqa: F811
    configure_feishu(settings, fake)
    settings.feishu.verification_token = FEISHU_TOKEN
    settings.feishu.bot_open_id = FEISHU_BOT
    runtime = Runtime(settings, engine=engine, clock=clock)
    body, headers = signed_encrypted_request(
        _load(name), ENCRYPT_KEY, timestamp=int(clock().timestamp())
    )
    client = create_app(settings, runtime).test_client()
    assert client.post("/webhook/feishu", data=body, headers=headers).status_code == 200
    return _stored(runtime)


def test_recorded_feishu_text_message_gives_the_command_to_the_bot(engine, settings, clock, fake):  # noqa: F811
    (message,) = _post_feishu(engine, settings, clock, fake, "feishu_message_event.json")
    assert message["platform"] == "feishu" and message["kind"] == "message"
    assert message["text"] == "/跟进 客户A 报价已发"
    assert message["to_me"] is True
    assert message["chat_id"] == "oc_ac35e043443624296c5150091af36362"
    assert message["chat_type"] == "group"
    assert message["message_id"] == "om_x100b494e7a37dcb40d786a11ed4eb53"
    assert message["sender_id"] == "ou_84aad35d084aa403a838cf73ee18467"
    assert message["mentions"] == []
    assert message["sent_at"] == "2024-05-29T03:06:39+00:00"  # message.create_time, ms epoch


def test_recorded_feishu_post_keeps_lines_and_names_other_mentions(engine, settings, clock, fake):  # noqa: F811
    (message,) = _post_feishu(engine, settings, clock, fake, "feishu_post_event.json")
    assert message["text"] == "拜访记录\n/跟进 华为\n报价已发，@李四 一起去"
    assert message["to_me"] is True
    assert message["message_id"] == "om_x100b494e7a37dcb40d786a11ed4eb54"
    assert message["sender_id"] == "ou_84aad35d084aa403a838cf73ee18467"


def test_recorded_feishu_bot_added_event_names_the_group(engine, settings, clock, fake):  # noqa: F811
    (event,) = _post_feishu(engine, settings, clock, fake, "feishu_bot_added_event.json")
    assert event["kind"] == "bot_added"
    assert event["chat_id"] == "oc_ac35e043443624296c5150091af36362"
    assert event["chat_name"] == "销售一组"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "wecom_text.json",
            {
                "message_id": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=",
                "sender_id": "zhangsan",
                "text": "/跟进 客户A 报价已发",
            },
        ),
        (
            "wecom_mixed.json",
            {
                "message_id": "CAIQ16HMjQYY/NGagIOAgAMgq4KM0AJ=",
                "sender_id": "lisi",
                "text": "/跟进 华为 现场拜访",
            },
        ),
    ],
)
def test_recorded_wecom_group_message_gives_the_command(engine, settings, clock, name, expected):
    settings.wecom.token = WECOM_TOKEN
    settings.wecom.encoding_aes_key = WECOM_KEY
    runtime = Runtime(settings, engine=engine, clock=clock)
    payload = _load(name)
    encrypted = WecomCrypto(WECOM_TOKEN, WECOM_KEY, "").encrypt(
        json.dumps(payload, ensure_ascii=False)
    )
    ts = str(int(clock().timestamp()))
    query = {
        "msg_signature": sign(WECOM_TOKEN, ts, "n1", encrypted),
        "timestamp": ts,
        "nonce": "n1",
    }
    client = create_app(settings, runtime).test_client()
    response = client.post("/webhook/wecom", query_string=query, json={"encrypt": encrypted})
    assert response.status_code == 200
    (message,) = _stored(runtime)
    assert message["platform"] == "wecom" and message["to_me"] is True
    assert message["chat_id"] == "wrkSFfCgAAxxxxxxxxxx" and message["chat_type"] == "group"
    assert {key: message[key] for key in expected} == expected
    assert payload["response_url"] in message["platform_data"].values()
