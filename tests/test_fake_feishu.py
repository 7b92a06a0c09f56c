"""Contract tests: feishu_testkit against the REAL lark-oapi event dispatcher, and FakeFeishu against the
REAL lark-oapi client (lark.Client.builder().domain(fake.url)), so the fakes can be trusted elsewhere.
"""

from __future__ import annotations

import json
import threading
import time

import lark_oapi as lark
import pytest
import requests
from lark_oapi.api.im.v1 import (
    CreateMessageRequest,
    CreateMessageRequestBody,
    GetChatMembersRequest,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.exception import ObtainAccessTokenException
from lark_oapi.core.utils.decryptor import AESCipher

from tests.support.fake_feishu import GATEWAY_HTML, FakeFeishu, reset_lark_token_cache
from tests.support.feishu_testkit import (
    bot_added_event,
    encrypt_event,
    member_added_event,
    mention,
    message_event,
    post_content,
    sign,
    signed_encrypted_request,
    url_verification,
)

ENC, TOK = "enc_test_key", "vt_test"
CHAT = "oc_ac35e043443624296c5150091af36362"


# ---- testkit against the real EventDispatcherHandler ---------------------------------------------


def _handler(calls: list, **extra):
    b = lark.EventDispatcherHandler.builder(ENC, TOK, lark.LogLevel.CRITICAL)
    b = b.register_p2_im_message_receive_v1(calls.append)
    for name in extra:
        b = getattr(b, name)(calls.append)
    return b.build()


def _raw(body: bytes, headers: dict[str, str]) -> lark.RawRequest:
    req = lark.RawRequest()
    req.uri = "/feishu/events"
    req.body = body
    req.headers = headers
    return req


def test_encrypt_event_roundtrips_through_sdk_cipher():
    blob = encrypt_event('{"a": "跟进"}', ENC)
    assert AESCipher(ENC).decrypt_str(blob) == '{"a": "跟进"}'
    assert sign("1", "2", "k", b"x") == sign("1", "2", "k", b"x") != sign("1", "2", "k", b"y")


def test_real_handler_accepts_signed_encrypted_message_event():
    calls: list = []
    ev = message_event(
        "@_user_1 /跟进 客户A 报价已发",
        chat_id=CHAT,
        open_id="ou_alice",
        message_id="om_1",
        mentions=[mention("@_user_1", "ou_bot", "跟进助手")],
        create_time_ms=1716951999000,
    )
    resp = _handler(calls).do(_raw(*signed_encrypted_request(ev, ENC)))
    assert resp.status_code == 200, resp.content
    assert json.loads(resp.content) == {"msg": "success"}
    data = calls[0]
    msg = data.event.message
    assert data.header.event_type == "im.message.receive_v1" and data.header.token == TOK
    assert json.loads(msg.content) == {"text": "@_user_1 /跟进 客户A 报价已发"}
    assert (msg.chat_id, msg.message_id, msg.chat_type, msg.message_type) == (
        CHAT,
        "om_1",
        "group",
        "text",
    )
    assert msg.create_time == "1716951999000"  # annotated int, arrives as str (feishu.md §1.5)
    assert data.event.sender.sender_id.open_id == "ou_alice"
    assert msg.mentions[0].key == "@_user_1" and msg.mentions[0].id.open_id == "ou_bot"
    assert msg.mentions[0].name == "跟进助手"


def test_real_handler_rejects_wrong_signature_and_wrong_token():
    calls: list = []
    handler = _handler(calls)
    body, headers = signed_encrypted_request(message_event("x"), ENC)
    headers["X-Lark-Signature"] = "0" * 64
    resp = handler.do(_raw(body, headers))
    assert resp.status_code == 500
    assert json.loads(resp.content) == {"msg": "signature verification failed"}
    resp = handler.do(_raw(*signed_encrypted_request(message_event("x", token="other"), ENC)))
    assert resp.status_code == 500 and b"invalid verification_token" in resp.content
    assert calls == []


def test_fixed_timestamp_and_nonce_are_used():
    body, headers = signed_encrypted_request(
        message_event("x"), ENC, timestamp=1716952000, nonce="n1"
    )
    assert headers["X-Lark-Request-Timestamp"] == "1716952000"
    assert headers["X-Lark-Request-Nonce"] == "n1"
    assert headers["X-Lark-Signature"] == sign("1716952000", "n1", ENC, body)
    assert headers["Content-Type"] == "application/json"


def test_post_message_and_url_verification():
    calls: list = []
    handler = _handler(calls)
    content = post_content(
        "周报",
        [
            ["跟进 ", {"tag": "at", "user_id": "@_user_1", "user_name": "跟进助手"}],
            "客户A 报价已发",
        ],
    )
    ev = message_event("", message_type="post", content=content)
    assert handler.do(_raw(*signed_encrypted_request(ev, ENC))).status_code == 200
    got = json.loads(calls[0].event.message.content)
    assert calls[0].event.message.message_type == "post"
    assert got["content"][0][1] == {"tag": "at", "user_id": "@_user_1", "user_name": "跟进助手"}
    assert got["content"][1] == [{"tag": "text", "text": "客户A 报价已发"}]

    resp = handler.do(_raw(*signed_encrypted_request(url_verification("chal-1", TOK), ENC)))
    assert resp.status_code == 200 and json.loads(resp.content) == {"challenge": "chal-1"}


def test_member_events_parse_into_sdk_models():
    calls: list = []
    handler = _handler(
        calls,
        register_p2_im_chat_member_bot_added_v1=None,
        register_p2_im_chat_member_user_added_v1=None,
    )
    resp = handler.do(_raw(*signed_encrypted_request(bot_added_event(CHAT, TOK), ENC)))
    assert resp.status_code == 200, resp.content
    assert calls[-1].header.event_type == "im.chat.member.bot.added_v1"
    assert calls[-1].event.chat_id == CHAT
    users = {"ou_a": "张三", "ou_b": "李四"}
    resp = handler.do(_raw(*signed_encrypted_request(member_added_event(CHAT, users, TOK), ENC)))
    assert resp.status_code == 200, resp.content
    ev = calls[-1].event
    assert ev.chat_id == CHAT
    assert [(u.user_id.open_id, u.name) for u in ev.users] == [("ou_a", "张三"), ("ou_b", "李四")]


# ---- FakeFeishu against the real lark.Client ------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    reset_lark_token_cache()
    yield
    reset_lark_token_cache()


@pytest.fixture
def fake():
    with FakeFeishu(members={CHAT: {"ou_a": "张三", "ou_b": "李四", "ou_c": "王五"}}) as f:
        yield f


def _create(chat_id: str, text: str, uuid: str | None = None, msg_type: str = "text", content=None):
    body = CreateMessageRequestBody.builder().receive_id(chat_id).msg_type(msg_type)
    body = body.content(
        content if content is not None else json.dumps({"text": text}, ensure_ascii=False)
    )
    if uuid:
        body = body.uuid(uuid)
    return (
        CreateMessageRequest.builder().receive_id_type("chat_id").request_body(body.build()).build()
    )


def _reply(message_id: str, text: str, uuid: str | None = None, in_thread: bool = False):
    body = (
        ReplyMessageRequestBody.builder()
        .msg_type("text")
        .content(json.dumps({"text": text}, ensure_ascii=False))
        .reply_in_thread(in_thread)
    )
    if uuid:
        body = body.uuid(uuid)
    return ReplyMessageRequest.builder().message_id(message_id).request_body(body.build()).build()


def _lower(headers: dict) -> dict:
    return {k.lower(): v for k, v in (headers or {}).items()}


def test_create_and_reply_are_recorded(fake: FakeFeishu):
    client = fake.lark_client()
    resp = client.im.v1.message.create(_create(CHAT, "日报", uuid="digest:oc_x:20261127"))
    assert resp.success(), (resp.code, resp.msg)
    assert resp.data.message_id == "om_fake_1" and resp.data.chat_id == CHAT
    assert isinstance(resp.data.create_time, str)
    assert resp.get_log_id().startswith("fake-logid-")

    ev = message_event("/跟进 客户A", chat_id=CHAT, message_id="om_in_1")
    fake.note_event(ev)
    resp = client.im.v1.message.reply(_reply("om_in_1", "已记录", uuid="ack:om_in_1"))
    assert resp.success() and resp.data.parent_id == "om_in_1"

    first, second = fake.wait_for(2)
    assert (first.kind, first.chat_id, first.uuid, first.content) == (
        "create",
        CHAT,
        "digest:oc_x:20261127",
        {"text": "日报"},
    )
    assert (first.receive_id_type, first.reply_to) == ("chat_id", None)
    assert (second.kind, second.reply_to, second.chat_id, second.uuid) == (
        "reply",
        "om_in_1",
        CHAT,
        "ack:om_in_1",
    )
    assert second.reply_in_thread is False
    assert first.at <= second.at
    assert fake.texts() == ["日报", "已记录"] == fake.texts(CHAT)
    assert len(fake.sent_to(CHAT)) == 2
    # token fetched once, then cached by the SDK; both endpoints hit
    assert fake.token_requests == 1
    assert fake.hits("/open-apis/auth/v3/tenant_access_token/internal") == 1
    assert fake.hits("/open-apis/im/v1/messages", "POST") == 2
    assert fake.errors == [] and fake.unhandled == []


def test_same_uuid_is_sent_once_with_same_message_id(fake: FakeFeishu):
    client = fake.lark_client()
    r1 = client.im.v1.message.create(_create(CHAT, "a", uuid="u-1"))
    r2 = client.im.v1.message.create(_create(CHAT, "a", uuid="u-1"))
    assert r1.success() and r2.success()
    assert r1.data.message_id == r2.data.message_id
    assert len(fake.sent) == 1 and fake.duplicates == 1
    # without a uuid there is no dedupe
    client.im.v1.message.create(_create(CHAT, "b"))
    client.im.v1.message.create(_create(CHAT, "b"))
    assert fake.texts() == ["a", "b", "b"]


def test_rate_limit_app_and_chat_level(fake: FakeFeishu):
    client = fake.lark_client()
    fake.rate_limit_next(1, reset_seconds=2)
    resp = client.im.v1.message.create(_create(CHAT, "x", uuid="rl-1"))
    assert not resp.success() and resp.code == 99991400
    assert resp.raw.status_code == 429
    assert _lower(resp.raw.headers)["x-ogw-ratelimit-reset"] == "2"
    assert "x-ogw-ratelimit-limit" in _lower(resp.raw.headers)

    fake.rate_limit_next(1, chat_level=True)
    resp = client.im.v1.message.create(_create(CHAT, "x", uuid="rl-1"))
    assert resp.code == 230020 and resp.raw.status_code == 400

    resp = client.im.v1.message.create(_create(CHAT, "x", uuid="rl-1"))
    assert resp.success()
    assert fake.texts() == ["x"] and fake.violations == 0  # injected faults are not violations


def test_fail_next_json_500_is_a_code_html_502_raises(fake: FakeFeishu):
    client = fake.lark_client()
    fake.fail_next(1, status=500, code=12345, msg="boom")
    resp = client.im.v1.message.create(_create(CHAT, "x"))
    # JSON error body: no exception, the SDK returns the code
    assert not resp.success() and resp.code == 12345 and resp.raw.status_code == 500

    fake.fail_next(1, status=502, html=True)
    # non-JSON body: the SDK's JSON.unmarshal raises json.JSONDecodeError (a ValueError)
    with pytest.raises(json.JSONDecodeError):
        client.im.v1.message.create(_create(CHAT, "x"))

    fake.fail_next(1, status=502, body=GATEWAY_HTML)
    with pytest.raises(ValueError):
        client.im.v1.message.create(_create(CHAT, "x"))
    assert fake.sent == []
    assert client.im.v1.message.create(_create(CHAT, "ok")).success()


def test_down_modes(fake: FakeFeishu):
    client = fake.lark_client()
    assert client.im.v1.message.create(_create(CHAT, "warm")).success()  # token cached
    fake.down = True
    with pytest.raises(requests.exceptions.ConnectionError):
        client.im.v1.message.create(_create(CHAT, "x"))
    fake.down = 503
    with pytest.raises(json.JSONDecodeError):
        client.im.v1.message.create(_create(CHAT, "x"))
    fake.down = False
    assert client.im.v1.message.create(_create(CHAT, "back")).success()
    assert fake.texts() == ["warm", "back"]
    assert fake.errors == []


def test_delay_timeout_then_retry_with_same_uuid_is_deduped(fake: FakeFeishu):
    client = fake.lark_client(timeout=0.3)
    assert client.im.v1.message.create(_create(CHAT, "warm")).success()
    fake.delay = 0.6
    with pytest.raises(requests.exceptions.Timeout):
        client.im.v1.message.create(_create(CHAT, "日报", uuid="d-1"))
    fake.wait_for(2)  # the server still accepted it after the client gave up
    fake.delay = 0
    resp = client.im.v1.message.create(_create(CHAT, "日报", uuid="d-1"))
    assert resp.success() and resp.data.message_id == fake.sent[1].message_id
    assert fake.texts() == ["warm", "日报"] and fake.duplicates == 1


def test_permanent_error_for_one_chat(fake: FakeFeishu):
    client = fake.lark_client()
    fake.permanent_error("oc_gone")
    resp = client.im.v1.message.create(_create("oc_gone", "x"))
    assert resp.code == 230002 and resp.raw.status_code == 400
    assert client.im.v1.message.create(_create(CHAT, "y")).success()
    fake.clear_permanent_error("oc_gone")
    assert client.im.v1.message.create(_create("oc_gone", "z")).success()


def test_enforced_chat_limit_and_app_limit():
    with FakeFeishu() as fake:
        client = fake.lark_client()
        codes = [client.im.v1.message.create(_create(CHAT, f"m{i}")).code for i in range(6)]
        assert codes == [0, 0, 0, 0, 0, 230020]
        assert fake.violations == 1 and len(fake.sent) == 5
        time.sleep(1.05)
        assert client.im.v1.message.create(_create(CHAT, "later")).success()

    with FakeFeishu(app_qps=3) as fake:
        client = fake.lark_client()
        resps = [client.im.v1.message.create(_create(f"oc_{i}", "x")) for i in range(4)]
        assert [r.code for r in resps] == [0, 0, 0, 99991400]
        assert resps[-1].raw.status_code == 429
        assert _lower(resps[-1].raw.headers)["x-ogw-ratelimit-reset"] == "1"
        assert fake.violations == 1

    with FakeFeishu(enforce_limits=False) as fake:
        client = fake.lark_client()
        assert all(client.im.v1.message.create(_create(CHAT, "x")).success() for _ in range(8))


def test_chat_members(fake: FakeFeishu):
    client = fake.lark_client()
    req = GetChatMembersRequest.builder().chat_id(CHAT).member_id_type("open_id").page_size(2)
    resp = client.im.v1.chat_members.get(req.build())
    assert resp.success()
    assert [(m.member_id, m.name) for m in resp.data.items] == [("ou_a", "张三"), ("ou_b", "李四")]
    assert resp.data.has_more and resp.data.member_total == 3
    resp = client.im.v1.chat_members.get(req.page_token(resp.data.page_token).build())
    assert [m.member_id for m in resp.data.items] == ["ou_c"] and not resp.data.has_more
    assert resp.data.items[0].member_id_type == "open_id"

    resp = client.im.v1.chat_members.get(GetChatMembersRequest.builder().chat_id("oc_none").build())
    assert not resp.success() and resp.code == 232011


def test_bot_info_and_auth_failures(fake: FakeFeishu):
    client = fake.lark_client()
    req = (
        lark.BaseRequest.builder()
        .http_method(lark.HttpMethod.GET)
        .uri("/open-apis/bot/v3/info")
        .token_types({lark.AccessTokenType.TENANT})
        .build()
    )
    resp = client.request(req)
    assert resp.success()
    bot = json.loads(resp.raw.content)["bot"]
    assert bot["open_id"] == "ou_bot" and bot["app_name"] == "跟进助手"

    bad = (
        lark.Client.builder()
        .app_id(fake.app_id)
        .app_secret("wrong")
        .domain(fake.url)
        .log_level(lark.LogLevel.CRITICAL)
        .build()
    )
    reset_lark_token_cache()
    with pytest.raises(ObtainAccessTokenException):
        bad.im.v1.message.create(_create(CHAT, "x"))

    injected = (
        lark.Client.builder()
        .app_id(fake.app_id)
        .app_secret(fake.app_secret)
        .domain(fake.url)
        .enable_set_token(True)
        .build()
    )
    opt = lark.RequestOption.builder().tenant_access_token("t-stale").build()
    resp = injected.im.v1.message.create(_create(CHAT, "x"), opt)
    assert resp.code == 99991663 and resp.raw.status_code == 401
    assert fake.sent == []


def test_texts_for_cards_and_posts_and_validation(fake: FakeFeishu):
    client = fake.lark_client()
    card = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": "逾期"}]}}
    card_json = json.dumps(card, ensure_ascii=False)
    assert client.im.v1.message.create(
        _create(CHAT, "", msg_type="interactive", content=card_json)
    ).success()
    post = {"zh_cn": {"title": "T", "content": [[{"tag": "text", "text": "a"}]]}}
    assert client.im.v1.message.create(
        _create(CHAT, "", msg_type="post", content=json.dumps(post))
    ).success()
    assert json.loads(fake.texts()[0]) == card and "逾期" in fake.texts()[0]
    assert fake.texts()[1] == "T\na"

    assert client.im.v1.message.create(_create(CHAT, "x", uuid="u" * 51)).code == 99992402
    too_big = json.dumps({"text": "x" * (150 * 1024)})
    assert client.im.v1.message.create(_create(CHAT, "", content=too_big)).code == 230025
    assert len(fake.sent) == 2


def test_wait_for_background_send_and_reset(fake: FakeFeishu):
    client = fake.lark_client()
    t = threading.Timer(0.2, lambda: client.im.v1.message.create(_create(CHAT, "later")))
    t.start()
    assert [s.text for s in fake.wait_for(1, timeout=5)] == ["later"]
    t.join()
    with pytest.raises(AssertionError, match="expected 2"):
        fake.wait_for(2, timeout=0.1)

    fake.fail_next(3)
    fake.delay = 1
    fake.reset()
    assert fake.sent == [] and fake.duplicates == 0 and fake.violations == 0 and fake.delay == 0
    assert client.im.v1.message.create(_create(CHAT, "after reset")).success()
    assert fake.members[CHAT]["ou_a"] == "张三"  # configuration survives reset


def test_unknown_route_is_404_and_kept(fake: FakeFeishu):
    r = requests.get(fake.url + "/open-apis/im/v1/chats/oc_1", timeout=5)
    assert r.status_code == 404 and r.json()["code"] == 404
    assert r.headers["X-Tt-Logid"]
    assert [c.path for c in fake.unhandled] == ["/open-apis/im/v1/chats/oc_1"]


def test_stop_and_restart_on_new_port():
    fake = FakeFeishu().start()
    url = fake.url
    fake.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/open-apis/bot/v3/info", timeout=2)
    fake.start()
    try:
        assert requests.get(fake.url + "/open-apis/bot/v3/info", timeout=2).status_code == 401
    finally:
        fake.stop()
