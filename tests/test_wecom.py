"""WeCom: the crypto against WeCom's own sample vectors, the callback, replies and the webhook."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.wecom import render_markdown, strip_bot_mention
from bot.adapters.wecom_crypto import WecomCrypto, WecomCryptoError, sign
from bot.app import create_app
from bot.config import ConfigError, load_settings
from bot.messages import Card, CardSection, Mention, OutgoingMessage, Table, mention_token
from bot.outbox import enqueue
from bot.runtime import Runtime
from models import Inbox, Outbox
from models.pipeline import FAILED, PENDING, SENT
from tests.support.fake_wecom import FakeWecom

# WeCom's official WXBizMsgCrypt sample (the C#/PHP/Java samples and doc 90968 share it).
SAMPLE_TOKEN = "QDG6eK"
SAMPLE_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SAMPLE_CORP_ID = "wx5823bf96d3bd56c7"
SAMPLE_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCU"
    "pj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgp"
    "ue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqC"
    "KIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9"
    "o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs"
    "2pDBS8R07+qN+E7Q=="
)

TOKEN = "t0k3n"
KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
CHAT = "wrkCHAT001"
HOOK = "hook-key-001"
NONCE = "n123"


def test_official_sample_message_decrypts():
    crypto = WecomCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_CORP_ID)
    plain = crypto.decrypt_msg(
        "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", SAMPLE_ENCRYPT
    )
    assert "<Content><![CDATA[hello]]></Content>" in plain
    assert "<MsgId>4561255354251345929</MsgId>" in plain


def test_official_sample_echostr_verifies():
    crypto = WecomCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_CORP_ID)
    echostr = (
        "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
    )
    assert (
        crypto.verify_url(
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", echostr
        )
        == "1616140317555161061"
    )


def test_official_sample_refused_with_other_receive_id_or_signature():
    with pytest.raises(WecomCryptoError, match="receive id"):
        WecomCrypto(SAMPLE_TOKEN, SAMPLE_KEY, "").decrypt(SAMPLE_ENCRYPT)
    with pytest.raises(WecomCryptoError, match="signature"):
        WecomCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_CORP_ID).decrypt_msg(
            "0" * 40, "1409659813", "1372623149", SAMPLE_ENCRYPT
        )


@pytest.mark.parametrize("receive_id", ["", SAMPLE_CORP_ID])
@pytest.mark.parametrize("length", [0, 1, 11, 12, 100, 3000])
def test_round_trip_any_length_and_receive_id(receive_id, length):
    crypto = WecomCrypto(TOKEN, KEY, receive_id)
    text = "跟" * length
    assert crypto.decrypt(crypto.encrypt(text)) == text


def test_bad_padding_and_length_refused():
    crypto = WecomCrypto(TOKEN, KEY, "")
    data = bytearray(base64.b64decode(crypto.encrypt("hello")))
    data[-1] ^= 0xFF  # garbles the last block, hence the padding
    with pytest.raises(WecomCryptoError):
        crypto.decrypt(base64.b64encode(bytes(data)).decode())
    with pytest.raises(WecomCryptoError):
        crypto.decrypt(base64.b64encode(b"x" * 33).decode())
    with pytest.raises(WecomCryptoError):
        crypto.decrypt("not base64!!")


# -- the callback through Flask ------------------------------------------------------------------
@pytest.fixture
def fake(clock) -> Iterator[FakeWecom]:
    server = FakeWecom(clock=lambda: clock.now.timestamp(), keys={HOOK}).start()
    yield server
    server.stop()


class WecomChat:
    """Post encrypted callbacks like WeCom does."""

    def __init__(self, runtime: Runtime, fake: FakeWecom) -> None:
        self.runtime = runtime
        self.fake = fake
        self.client = create_app(runtime.settings, runtime).test_client()
        self.crypto = WecomCrypto(TOKEN, KEY, "")
        self.count = 0

    def body(self, text: str, user: str = "zhangsan", **extra: Any) -> dict[str, Any]:
        self.count += 1
        msgid = extra.pop("msgid", f"msg-{self.count}")
        return {
            "msgid": msgid,
            "aibotid": "AIBOT",
            "chatid": CHAT,
            "chattype": "group",
            "from": {"userid": user},
            "response_url": self.fake.response_url(f"r{msgid}"),
            "msgtype": "text",
            "text": {"content": f"@跟进助手 {text}"},
            **extra,
        }

    def ts(self, skew: float = 0) -> str:
        """A callback timestamp: the runtime's clock (epoch seconds) plus ``skew``."""
        return str(int(self.runtime.clock().timestamp() + skew))

    def post(
        self,
        data: dict[str, Any] | str,
        signature: str | None = None,
        timestamp: str | None = None,
        **kw: Any,
    ) -> Any:
        plain = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        enc = kw.pop("encrypt", None) or self.crypto.encrypt(plain)
        ts = timestamp or self.ts()
        query = {
            "msg_signature": signature or sign(TOKEN, ts, NONCE, enc),
            "timestamp": ts,
            "nonce": NONCE,
        }
        return self.client.post("/webhook/wecom", query_string=query, json={"encrypt": enc})

    def inbox(self) -> list[Inbox]:
        with self.runtime.sessions() as session:
            return list(session.scalars(select(Inbox).order_by(Inbox.id)))

    def outbox(self) -> list[Outbox]:
        with self.runtime.sessions() as session:
            return list(session.scalars(select(Outbox).order_by(Outbox.id)))


@pytest.fixture
def wecom(engine, settings, clock, fake) -> WecomChat:
    settings.wecom.token = TOKEN
    settings.wecom.encoding_aes_key = KEY
    settings.wecom.domain = fake.url
    settings.wecom.timeout_seconds = 5.0
    settings.wecom.chats = {CHAT: {"webhook_key": HOOK}}
    settings.wecom.names = {"lisi": "李四"}
    settings.sender.backoff_seconds = 1.0
    return WecomChat(Runtime(settings, engine=engine, clock=clock), fake)


def test_url_verification(wecom):
    echo = wecom.crypto.encrypt("1234567890")
    ts = wecom.ts()
    query = {"msg_signature": sign(TOKEN, ts, NONCE, echo), "timestamp": ts, "nonce": NONCE}
    response = wecom.client.get("/webhook/wecom", query_string={**query, "echostr": echo})
    assert response.status_code == 200 and response.data == b"1234567890"
    assert response.content_type.startswith("text/plain")
    forged = {**query, "msg_signature": "0" * 40, "echostr": echo}
    assert wecom.client.get("/webhook/wecom", query_string=forged).status_code == 403


def test_callback_is_acknowledged_and_normalised(wecom):
    response = wecom.post(wecom.body("/跟进 客户A 报价已发", user="lisi", msgid="CAIQ16"))
    assert response.status_code == 200 and response.data == b""
    (row,) = wecom.inbox()
    payload = row.payload
    assert payload["platform"] == "wecom" and payload["chat_id"] == CHAT
    assert payload["message_id"] == "CAIQ16" and payload["sender_id"] == "lisi"
    assert payload["sender_name"] == "李四"  # from [wecom.names]
    assert payload["text"] == "/跟进 客户A 报价已发"
    assert payload["to_me"] is True
    assert payload["platform_data"] == {"reply_token": wecom.fake.response_url("rCAIQ16")}


def test_single_chat_gets_a_stable_chat_id(wecom):
    body = wecom.body("/我的")
    del body["chatid"]
    body["chattype"] = "single"
    assert wecom.post(body).status_code == 200
    assert wecom.inbox()[0].payload["chat_id"] == "single:zhangsan"


@pytest.mark.parametrize(
    "forgery",
    ["signature", "receive_id", "padding", "not_json", "no_encrypt", "oversized"],
)
def test_forgeries_are_refused_and_store_nothing(wecom, forgery):
    body = wecom.body("/跟进 客户A 报价已发")
    if forgery == "signature":
        response = wecom.post(body, signature="0" * 40)
    elif forgery == "receive_id":
        other = WecomCrypto(TOKEN, KEY, "wwCORP")
        response = wecom.post(body, encrypt=other.encrypt(json.dumps(body)))
    elif forgery == "padding":
        data = bytearray(base64.b64decode(wecom.crypto.encrypt(json.dumps(body))))
        data[-1] ^= 0x55
        response = wecom.post(body, encrypt=base64.b64encode(bytes(data)).decode())
    elif forgery == "not_json":
        response = wecom.post("this is not json")
    elif forgery == "no_encrypt":
        response = wecom.client.post(
            "/webhook/wecom",
            query_string={"msg_signature": "x", "timestamp": wecom.ts(), "nonce": NONCE},
            data=b"<xml/>",
        )
    else:
        big = wecom.body("/跟进 客户A " + "长" * 300_000)
        response = wecom.post(big)
    assert 400 <= response.status_code < 500, response.status_code
    assert wecom.inbox() == []


def test_redelivery_is_stored_once(wecom):
    body = wecom.body("/跟进 客户A 报价已发")
    assert wecom.post(body).status_code == 200
    assert wecom.post(body).status_code == 200
    assert len(wecom.inbox()) == 1


def test_events_are_acknowledged(wecom):
    event = {
        "msgid": "ev1",
        "aibotid": "AIBOT",
        "from": {"userid": "zhangsan"},
        "chattype": "single",
        "msgtype": "event",
        "create_time": 1700000000,
        "event": {"eventtype": "enter_chat"},
    }
    response = wecom.post(event)
    assert response.status_code == 200
    envelope = response.get_json()
    assert envelope["msgsignature"] == sign(
        TOKEN, str(envelope["timestamp"]), envelope["nonce"], envelope["encrypt"]
    )
    welcome = json.loads(wecom.crypto.decrypt(envelope["encrypt"]))
    assert welcome["msgtype"] == "text" and "/帮助" in welcome["text"]["content"]
    image = wecom.body("x", msgtype="image", image={"url": "http://x"})
    assert wecom.post(image).status_code == 200
    assert wecom.inbox() == []


# -- freshness: a correctly signed callback must be recent ---------------------------------------
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
def test_signed_callback_outside_the_time_window_is_refused(wecom, caplog, skew, accepted):
    caplog.set_level("WARNING", logger="bot.adapters.wecom")
    response = wecom.post(wecom.body("/跟进 客户A 报价已发"), timestamp=wecom.ts(skew))
    assert response.status_code == (200 if accepted else 403)
    assert len(wecom.inbox()) == (1 if accepted else 0)
    refusals = [r for r in caplog.records if "signed_max_age_seconds" in r.getMessage()]
    assert len(refusals) == (0 if accepted else 1)


@pytest.mark.parametrize("timestamp", ["0", "1700000000", "not-a-number"])
def test_signed_callback_from_1970_or_with_a_bogus_timestamp_is_refused(wecom, timestamp):
    response = wecom.post(wecom.body("/跟进 客户A 报价已发"), timestamp=timestamp)
    assert response.status_code == 403
    assert wecom.inbox() == []


def test_url_verification_needs_a_fresh_timestamp(wecom):
    echo = wecom.crypto.encrypt("1234567890")
    for ts, status in ((wecom.ts(-7200), 403), (wecom.ts(7200), 403), (wecom.ts(), 200)):
        query = {"msg_signature": sign(TOKEN, ts, NONCE, echo), "timestamp": ts, "nonce": NONCE}
        response = wecom.client.get("/webhook/wecom", query_string={**query, "echostr": echo})
        assert response.status_code == status, ts
    assert response.data == b"1234567890"


def test_time_window_follows_the_setting(engine, settings, clock, fake, wecom):
    settings.server.signed_max_age_seconds = 60
    narrow = WecomChat(Runtime(settings, engine=engine, clock=clock), fake)
    assert narrow.post(narrow.body("/帮助"), timestamp=narrow.ts(-120)).status_code == 403
    assert narrow.post(narrow.body("/帮助"), timestamp=narrow.ts(-30)).status_code == 200
    assert len(narrow.inbox()) == 1


def test_strip_bot_mention():
    assert strip_bot_mention("@跟进助手 /跟进 A", "跟进助手") == "/跟进 A"
    assert strip_bot_mention("＠销售助手\u3000/我的", "跟进助手") == "/我的"
    assert strip_bot_mention("/我的", "跟进助手") == "/我的"


# -- replies and the webhook ---------------------------------------------------------------------
def test_command_reply_goes_to_the_response_url(wecom):
    wecom.post(wecom.body("/跟进 客户A 报价已发", msgid="m1"))
    wecom.runtime.dispatch()
    assert wecom.runtime.deliver() >= 1
    (reply,) = wecom.fake.responses()
    assert reply.target == "rm1" and reply.body["msgtype"] == "markdown"
    assert "客户A" in reply.content
    assert wecom.fake.webhook() == []


def test_expired_response_url_falls_back_to_the_webhook(wecom):
    wecom.fake.expired.add("rm2")
    wecom.post(wecom.body("/跟进 客户B 已拜访", msgid="m2"))
    wecom.runtime.dispatch()
    assert wecom.runtime.deliver() >= 1
    assert wecom.fake.responses() == []
    (posted,) = wecom.fake.webhook(HOOK)
    assert "客户B" in posted.content


def _deliver_until_quiet(wecom: WecomChat, clock: Any, rounds: int = 6) -> None:
    """Deliver again and again, the clock passing every back-off: any retry would happen."""
    for _ in range(rounds):
        wecom.runtime.deliver()
        clock.advance(seconds=700)


def _answer_late(wecom: WecomChat) -> None:
    """WeCom takes the next post, and answers only after the adapter stopped waiting."""
    wecom.runtime.settings.wecom.timeout_seconds = 0.3
    wecom.fake.late_seconds = 1.0
    wecom.fake.answer_late = 1


def test_reply_answered_too_late_is_shown_once(wecom, clock):
    """The response_url took the reply, then timed out: no retry, no webhook fallback."""
    wecom.post(wecom.body("/跟进 客户A 报价已发", msgid="m7"))
    wecom.runtime.dispatch()
    _answer_late(wecom)
    _deliver_until_quiet(wecom, clock)
    (shown,) = wecom.fake.responses()
    assert shown.target == "rm7" and "客户A" in shown.content
    assert wecom.fake.webhook() == []
    assert wecom.fake.requests == 1  # never posted again
    (row,) = wecom.outbox()
    assert row.status == FAILED and row.last_error.startswith("timeout: may have been delivered")


def test_digest_answered_too_late_is_posted_once(wecom, clock):
    """The push webhook has no idempotency key: a post that may have landed is not repeated."""
    with wecom.runtime.sessions() as session, session.begin():
        enqueue(
            session, "wecom", CHAT, [OutgoingMessage("日报")], "d-late", clock(), job="daily_digest"
        )
    _answer_late(wecom)
    _deliver_until_quiet(wecom, clock)
    assert [m.content for m in wecom.fake.webhook(HOOK)] == ["日报"]
    assert wecom.fake.requests == 1
    (row,) = wecom.outbox()
    assert row.status == FAILED and "may have been delivered" in row.last_error


def test_refused_connections_are_retried_and_delivered_once(wecom, clock):
    """Nothing left the machine: the reply and the digest are retried and each shown once."""
    wecom.post(wecom.body("/跟进 客户B 已拜访", msgid="m8"))
    wecom.runtime.dispatch()
    with wecom.runtime.sessions() as session, session.begin():
        enqueue(session, "wecom", CHAT, [OutgoingMessage("日报")], "d-refused", clock())
    wecom.fake.stop()  # the port refuses connections
    assert wecom.runtime.deliver() == 0
    first = wecom.outbox()[0]
    assert first.status == PENDING and first.attempts == 1 and "not sent" in first.last_error
    wecom.fake.start()
    _deliver_until_quiet(wecom, clock)
    (reply,) = wecom.fake.responses()
    assert reply.target == "rm8" and "客户B" in reply.content
    assert [m.content for m in wecom.fake.webhook(HOOK)] == ["日报"]
    assert wecom.fake.requests == 2
    assert [row.status for row in wecom.outbox()] == [SENT, SENT]


def test_a_chat_without_webhook_key_fails_permanently(wecom, clock):
    with wecom.runtime.sessions() as session, session.begin():
        enqueue(session, "wecom", "wrkOTHER", [OutgoingMessage("日报")], "d1", clock())
    assert wecom.runtime.deliver() == 0
    (row,) = wecom.outbox()
    assert row.status == FAILED and "webhook_key" in row.last_error


def _long_digest() -> OutgoingMessage:
    mentions = [Mention(f"user{i}", f"销售{i}") for i in range(5)]
    lines = [
        f"{mention_token(i % 5)} 跟进了 客户{i}号有限公司，报价已发 *重点*" for i in range(400)
    ]
    rows = [[f"客户{i}", "已报价", f"{i}万"] for i in range(300)]
    card = Card(
        "日报 11月27日",
        [
            CardSection("今日跟进", lines),
            CardSection("逾期", table=Table(["客户", "阶段", "金额"], rows)),
        ],
    )
    return OutgoingMessage(f"{mention_token(0)} 今天的日报", mentions, card)


def test_render_markdown_fits_4096_bytes_and_cuts_lists():
    text = render_markdown(_long_digest())
    assert len(text.encode("utf-8")) <= 4096
    assert "还有" in text and "个…" in text
    assert "<@user0>" in text and "＊重点＊" in text and "### 日报" in text


def test_digest_through_the_webhook_under_4096_bytes(wecom, clock):
    with wecom.runtime.sessions() as session, session.begin():
        enqueue(session, "wecom", CHAT, [_long_digest()], "digest", clock(), job="daily_digest")
    assert wecom.runtime.deliver() == 1
    (posted,) = wecom.fake.webhook(HOOK)
    assert posted.body["msgtype"] == "markdown"
    assert len(posted.content.encode("utf-8")) <= 4096
    assert "<@user0>" in posted.content


@pytest.mark.slow
def test_fifty_messages_are_spread_twenty_per_minute(wecom, clock):
    with wecom.runtime.sessions() as session, session.begin():
        enqueue(
            session, "wecom", CHAT, [OutgoingMessage(f"提醒 {i}") for i in range(50)], "n", clock()
        )
    for _ in range(400):
        wecom.runtime.deliver()
        if len(wecom.fake.webhook(HOOK)) == 50:
            break
        clock.advance(seconds=1)
    assert len(wecom.fake.webhook(HOOK)) == 50
    assert wecom.fake.violations == 0
    assert wecom.fake.max_per_minute(HOOK) <= 20
    assert [m.content for m in wecom.fake.webhook(HOOK)] == [f"提醒 {i}" for i in range(50)]
    assert all(row.status == SENT for row in wecom.outbox())


def test_platform_rate_limit_and_errors(wecom, clock):
    wecom.fake.fail_next = [(200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    with wecom.runtime.sessions() as session, session.begin():
        enqueue(session, "wecom", CHAT, [OutgoingMessage("一")], "e", clock())
    assert wecom.runtime.deliver() == 0
    (row,) = wecom.outbox()
    assert row.status == PENDING and row.attempts == 0  # deferred, not an attempt
    clock.advance(seconds=61)
    assert wecom.runtime.deliver() == 1
    wecom.fake.fail_next = [(502, {"errcode": -1})]
    with wecom.runtime.sessions() as session, session.begin():
        enqueue(session, "wecom", CHAT, [OutgoingMessage("二")], "f", clock())
    assert wecom.runtime.deliver() == 0
    assert wecom.outbox()[1].status == PENDING and wecom.outbox()[1].attempts == 1
    wecom.fake.keys.clear()  # the key was removed in WeCom: 93000
    clock.advance(seconds=30)
    assert wecom.runtime.deliver() == 0
    assert wecom.outbox()[1].status == FAILED


# -- names and config ---------------------------------------------------------------------------
def test_whoami_sets_the_display_name(chat):
    assert "张小三" in chat.reply("/我是 张小三")
    assert chat.member("张三").name == "张小三"
    assert "❌" in chat.reply("/我是")
    assert "❌" in chat.reply("/我是 " + "长" * 21)
    assert "＜" in chat.reply("/iam <b>王</b>")


def test_config_loads_wecom(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        f'[wecom]\ntoken = "t"\nencoding_aes_key = "{KEY}"\n'
        f'[wecom.chats."{CHAT}"]\nwebhook_key = "k1"\n[wecom.names]\nzhangsan = "张三"\n',
        encoding="utf-8",
    )
    settings = load_settings(path, env={"GENJIN_WECOM_RECEIVE_ID": "wwCORP"})
    assert settings.wecom.enabled and "wecom" in settings.platforms()
    assert settings.wecom.webhook_key(CHAT) == "k1"
    assert settings.wecom.names == {"zhangsan": "张三"}
    assert settings.wecom.receive_id == "wwCORP"
    env = {"GENJIN_WECOM_TOKEN": "t", "GENJIN_WECOM_ENCODING_AES_KEY": "short"}
    with pytest.raises(ConfigError, match="wecom.encoding_aes_key"):
        load_settings(None, env=env)
    path.write_text(f'[wecom.chats."{CHAT}"]\nwebhook_key = ""\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="webhook_key"):
        load_settings(path, env={})
