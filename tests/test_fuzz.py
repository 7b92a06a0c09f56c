"""Property-based fuzzing: the parsers never raise, commands never crash, webhooks never 5xx.

Three layers, each with hypothesis:
1. the pure parsers in ``models.parsing`` on arbitrary text (CJK, full-width, control chars,
   emoji, long strings);
2. every registered chat command with random arguments through the chat harness: no apology,
   no empty reply, and a usage error (❌) or refusal (⛔) stores nothing;
3. random bodies, headers and query strings on ``/webhook/feishu`` and ``/webhook/wecom``:
   always 4xx, never 5xx, and nothing in the inbox.
"""

from __future__ import annotations

import base64
import itertools
import json
import unicodedata
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import create_app
from bot.dispatcher import APOLOGY
from bot.runtime import Runtime
from handlers.registry import commands
from models import Inbox
from models.parsing import (
    Candidate,
    core_name,
    find_amount,
    find_when,
    match_name,
    normalize_name,
    normalize_text,
    parse_amount,
    parse_when,
    sanitize_user_text,
    split_first,
    split_known_prefix,
)
from models.pipeline import FAILED
from models.stages import ALL_STAGES
from tests.support.chat_rows import assert_nothing_saved, stored
from tests.support.fake_feishu import FakeFeishu  # noqa: F401  (fixture type)
from tests.support.feishu_fixtures import configure_feishu, fake  # noqa: F401  (fixture)
from tests.support.harness import START, ChatHarness

DB_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PURE_SETTINGS = settings(max_examples=150, deadline=None)

# -- text strategies ---------------------------------------------------------------------------
SPICE = (
    "华为腾讯客户阿里巴巴有限公司报价签约回款明天下周三下午点号月日万亿元千百十一二三四五六七八九零两"
    "０１２３４５６７８９ＡＢＣ，：；！？（）　＠＜＞"  # full-width
    "\u200b\u200d\ufeff\u202e\u00a0\u3000\ue000\U000f0000"  # zero-width, bidi, odd spaces, private
    "\x00\x07\x1b\r\n\t\x7f"  # control characters
    "😀👍🏻🇨🇳\U0001f9d1\u200d\U0001f4bc"  # emoji, skin tone, flags, ZWJ sequence
    "@<>&\"'“”「」『』‘’/\\-.:,;、¥￥$"
)
any_text = st.text(max_size=60) | st.text(alphabet=SPICE, max_size=60)
long_text = st.text(alphabet=SPICE, min_size=500, max_size=2000) | st.text(
    min_size=500, max_size=2000
)
fuzz_text = any_text | long_text


# -- 1. parser properties ------------------------------------------------------------------------
START_OF_TODAY = START.replace(hour=0, minute=0, second=0, microsecond=0)


@PURE_SETTINGS
@given(fuzz_text)
def test_normalize_and_split_never_raise(text):
    norm = normalize_text(text)
    assert isinstance(norm, str)
    assert not any(ch in norm for ch in "\u200b\u200c\u200d\u2060\ufeff\r")
    token, rest = split_first(text)
    assert isinstance(token, str) and isinstance(rest, str)
    assert isinstance(normalize_name(text), str) and isinstance(core_name(text), str)


@PURE_SETTINGS
@given(fuzz_text, st.integers(min_value=-5, max_value=300))
def test_sanitize_user_text_is_safe_to_echo(text, limit):
    clean = sanitize_user_text(text, limit)
    assert not set("@<>") & set(clean)
    for ch in clean:
        cat = unicodedata.category(ch)
        assert ch == "\n" or cat not in ("Cc", "Cf", "Co", "Cs"), repr(ch)
        assert not "\ue000" <= ch <= "\uf8ff"
    if limit > 0:
        assert len(clean) <= limit
    assert sanitize_user_text(text) == sanitize_user_text(text, 200)
    assert len(sanitize_user_text(text)) <= 200


@settings(max_examples=120, deadline=None)
@given(fuzz_text | st.text(alphabet="0123456789.,万亿千百十元块¥￥$kKwW三五两-/ ", max_size=40))
@example("100000000000000000000000000")  # quantize() overflowed the decimal context: 😥
@example("¥999999999999.999")  # rounds up past Numeric(14, 2)
def test_amounts_never_raise_and_spans_index_the_text(text):
    value = parse_amount(text)
    assert value is None or (isinstance(value, Decimal) and value > 0 and value.is_finite())
    found = find_amount(text)
    if found is not None:
        amount, (start, end) = found
        assert 0 <= start < end <= len(text)
        assert amount > 0 and amount.is_finite()


when_text = fuzz_text | st.lists(
    st.sampled_from(
        [
            "明天",
            "下周三",
            "下午3点",
            "月底",
            "12月5日",
            "5号",
            "2/30",
            "13月1日",
            "昨天",
            "春节后",
            "3周后",
            "99个月后",
            "周末",
            "晚上",
            "25点",
            "十二点半",
            "前",
            "2026-12-01",
            " ",
            "之前",
        ]
    ),
    max_size=5,
).map("".join)


@settings(max_examples=120, deadline=None)
@given(
    when_text,
    st.sampled_from([START, START.replace(hour=23, minute=59), START.replace(month=2, day=28)]),
)
def test_dates_are_aware_and_never_in_the_past(text, now):
    for parse in (find_when, parse_when):
        hit = parse(text, now)
        if hit is None:
            continue
        assert isinstance(hit.when, datetime)
        assert hit.when.tzinfo is not None and hit.when.utcoffset() is not None
        assert hit.when >= now.replace(hour=0, minute=0, second=0, microsecond=0)
        start, end = hit.span
        assert 0 <= start <= end <= len(text)
        assert text[start:end] == hit.text


names = (
    st.sampled_from(
        [
            "华为",
            "华为技术有限公司",
            "腾讯",
            "腾迅",
            "中石化",
            "中石油",
            "客户A",
            "客户B",
            "HW",
            "阿里巴巴（杭州）",
        ]
    )
    | any_text
)


@settings(max_examples=100, deadline=None)
@given(names, st.lists(st.tuples(names, st.lists(names, max_size=2)), max_size=6))
def test_match_name_never_raises(query, pool):
    cands = [Candidate(i, name, tuple(aliases)) for i, (name, aliases) in enumerate(pool)]
    match = match_name(query, cands)
    assert match.kind in ("exact", "alias", "core", "fuzzy", "ambiguous", "none")
    if match.key is not None:
        assert match.key in {c.key for c in cands}
    assert len(match.options) <= 5
    split = split_known_prefix(query, cands)
    assert split is None or split[0] in cands


# -- 2. every command with random arguments ---------------------------------------------------------
CUSTOMERS = ["华为", "华为技术有限公司", "腾讯", "腾迅", "客户A", "不存在的客户", "HW", "华为云"]
MENTIONS = ["@张三", "@李四", "@王经理", "@老板", "@不认识的人", "@", "@@", "＠李四"]
AMOUNTS = [
    "50万",
    "¥30,000",
    "三万五",
    "1.2亿",
    "5k",
    "0",
    "-5万",
    "5-8万",
    "$100",
    "0.001元",
    "99999999999999999999万",
    "100000000000000000000000000",
    "9999亿",
    "1万亿",
    "1e309",
    "NaN",
    "五十万元",
    "10w",
]
DATES = [
    "明天",
    "下周三下午3点",
    "12月",
    "月底",
    "昨天",
    "2月30日",
    "13月1日",
    "25:00",
    "31号",
    "周末",
    "下个月",
    "3周后",
    "99个月后",
    "2026-12-01",
    "0号",
    "今天",
    "本周",
    "上周",
    "1月",
]
NUMBERS = ["1", "2", "0", "-1", "6", "99999999999999999999", "3.5", "１", "①"]
WORDS = [
    "经理",
    "管理员",
    "成员",
    "日程",
    "时限",
    "删除",
    "取消",
    "全部",
    "报价已发",
    "价格太高",
    "首付款",
    "送样品",
    "展会",
    "跟进",
    "?",
    "帮助",
    "/跟进",
    "关闭",
    "开启",
    "8:30",
    "周一",
]
SEPS = [" ", "  ", "，", "：", "\n", "、", "\t", "　"]

token = st.one_of(
    st.sampled_from(CUSTOMERS),
    st.sampled_from(MENTIONS),
    st.sampled_from(AMOUNTS),
    st.sampled_from(DATES),
    st.sampled_from(list(ALL_STAGES) + ["报价", "赢单", "已报"]),
    st.sampled_from(NUMBERS),
    st.sampled_from(WORDS),
    st.text(alphabet=SPICE, min_size=1, max_size=12),
    st.text(min_size=1, max_size=12),
)
random_args = st.one_of(
    st.lists(st.tuples(token, st.sampled_from(SEPS)), max_size=6).map(
        lambda parts: "".join(t + s for t, s in parts)
    ),
    st.text(max_size=80),
    st.text(alphabet=SPICE, max_size=300),
)
# Most commands start with a customer: lead with a known one half the time to get past lookup.
arguments = st.one_of(
    random_args,
    st.tuples(
        st.sampled_from(["华为 ", "华为", "HW ", "华为技术 ", "“华为” ", "华为，"]), random_args
    ).map("".join),
)
SENDERS = ["张三", "李四", "王经理", "老板", "路人甲"]
COMMANDS = commands()
_chat_ids = itertools.count()


def _seeded_chat(runtime: Runtime, clock) -> ChatHarness:
    """A fresh chat with a manager and a customer 华为 owned by 张三."""
    chat = ChatHarness(runtime, clock, name=f"fuzz-{next(_chat_ids)}")
    chat.make_manager()
    reply = chat.reply("/新客户 华为 @张三 50万")
    assert reply.startswith("🆕"), reply
    return chat


def _failed_rows(chat: ChatHarness) -> int:
    with chat.runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Inbox).where(Inbox.status == FAILED))
            or 0
        )


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.name for c in COMMANDS])
@pytest.mark.slow
def test_command_with_random_arguments_never_crashes(cmd, runtime, clock):
    words = [cmd.name, *cmd.aliases]

    @DB_SETTINGS
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(words),
                st.sampled_from(["/", "／"]),
                st.sampled_from([" ", "", "\n", "　"]),
                arguments,
                st.sampled_from(SENDERS),
            ),
            min_size=1,
            max_size=2,
        )
    )
    def check(lines):
        chat = _seeded_chat(runtime, clock)
        for word, slash, space, args, sender in lines:
            before = stored(chat)
            replies = chat.send(f"{slash}{word}{space}{args}", as_=sender)
            assert replies, (word, args)
            for reply in replies:
                assert reply.strip(), (word, args, replies)
                assert APOLOGY not in reply, (word, args)
            assert _failed_rows(chat) == 0
            if replies[0].startswith(("❌", "⛔")):
                assert_nothing_saved(chat, before)

    check()


# -- 3. webhooks ---------------------------------------------------------------------------------
WECOM_TOKEN = "t0k3n"
WECOM_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
json_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "encrypt": st.one_of(
                any_text,
                st.integers(),
                st.none(),
                st.binary(max_size=96).map(lambda b: base64.b64encode(b).decode()),
            ),
            "schema": st.sampled_from(["2.0", "1.0", ""]),
            "type": st.sampled_from(["url_verification", "event_callback", ""]),
            "challenge": any_text,
            "token": st.sampled_from(["vt_test", "", "wrong"]),
            "header": json_values,
            "event": json_values,
        },
    ).map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
)
bodies = st.one_of(st.binary(max_size=400), any_text.map(lambda s: s.encode("utf-8")), json_bodies)
header_value = st.one_of(
    st.text(alphabet="0123456789abcdef", max_size=64), st.from_regex(r"[ -~]{0,40}", fullmatch=True)
)
feishu_headers = st.fixed_dictionaries(
    {},
    optional={
        "X-Lark-Request-Timestamp": header_value,
        "X-Lark-Request-Nonce": header_value,
        "X-Lark-Signature": header_value,
        "Content-Type": st.sampled_from(["application/json", "text/plain", "application/xml"]),
    },
)
query_strings = st.dictionaries(
    st.sampled_from(["msg_signature", "timestamp", "nonce", "echostr", "x", ""]),
    header_value | any_text,
    max_size=5,
)


def _inbox_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(Inbox)) or 0


@pytest.fixture
def feishu_client(engine, settings, clock, fake):  # noqa: F811
    configure_feishu(settings, fake)
    runtime = Runtime(settings, engine=engine, clock=clock)
    return runtime, create_app(settings, runtime).test_client()


@pytest.fixture
def wecom_client(engine, settings, clock):
    settings.wecom.token = WECOM_TOKEN
    settings.wecom.encoding_aes_key = WECOM_KEY
    settings.wecom.domain = "http://127.0.0.1:9"  # never contacted: nothing is stored
    settings.wecom.chats = {"wrkCHAT001": {"webhook_key": "hook"}}
    runtime = Runtime(settings, engine=engine, clock=clock)
    return runtime, create_app(settings, runtime).test_client()


WEBHOOK_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@WEBHOOK_SETTINGS
@given(bodies, feishu_headers, query_strings, st.sampled_from(["POST", "GET"]))
def test_feishu_webhook_random_requests_are_4xx(feishu_client, body, headers, query, method):
    runtime, client = feishu_client
    response = client.open(
        "/webhook/feishu", method=method, data=body, headers=headers, query_string=query
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:200])
    assert _inbox_count(runtime) == 0


@WEBHOOK_SETTINGS
@given(bodies, query_strings, st.sampled_from(["POST", "GET"]))
def test_wecom_webhook_random_requests_are_4xx(wecom_client, body, query, method):
    runtime, client = wecom_client
    response = client.open("/webhook/wecom", method=method, data=body, query_string=query)
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:200])
    assert _inbox_count(runtime) == 0


# -- 3b. correctly signed and encrypted, but garbled inside ----------------------------------------
# Past the crypto, the adapters read platform JSON: odd types there must still be 2xx/4xx.
odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    any_text,
    st.lists(any_text, max_size=2),
    st.dictionaries(any_text, any_text, max_size=2),
)


def _content(kind: str):
    """A Feishu message content string: valid JSON of any shape, or not JSON at all."""
    return st.one_of(
        st.fixed_dictionaries({"text": odd}).map(json.dumps),
        st.fixed_dictionaries({"title": odd, "content": json_values}).map(json.dumps),
        json_values.map(json.dumps),
        any_text,
    )


@WEBHOOK_SETTINGS
@given(
    # Feishu's schema makes these strings; odd *values* yes, odd JSON types no (see report).
    st.dictionaries(
        st.sampled_from(
            [
                "chat_id",
                "chat_type",
                "message_type",
                "content",
                "create_time",
                "message_id",
                "root_id",
            ]
        ),
        any_text | st.sampled_from(["", "p2p", "group", "0", "-1", "99999999999999999999"]),
        max_size=3,
    ),
    st.sampled_from(["text", "post", "image", "", "file"]),
    st.one_of(st.none(), _content("text")),
    st.lists(
        st.fixed_dictionaries(
            {
                "key": st.sampled_from(["@_user_1", "@_user_2", "@_all", ""]) | any_text,
                "name": any_text,
                "id": st.fixed_dictionaries(
                    {}, optional={"open_id": st.sampled_from(["ou_bot", "ou_li"]) | any_text}
                ),
            },
        ),
        max_size=2,
    ),
)
def test_feishu_signed_garbled_events_never_5xx(
    feishu_client, overrides, msg_type, content, mentions
):
    from tests.support.feishu_fixtures import ENCRYPT_KEY, TOKEN
    from tests.support.feishu_testkit import message_event, signed_encrypted_request

    runtime, client = feishu_client
    before = _inbox_count(runtime)
    event = message_event(
        "@_user_1 /跟进 华为",
        token=TOKEN,
        message_type=msg_type,
        content=content,
        mentions=mentions,
        create_time_ms=int(runtime.clock().timestamp() * 1000),
    )
    event["event"]["message"].update(overrides)
    ts = int(runtime.clock().timestamp())  # fresh on the runtime's clock: the body is tested
    body, headers = signed_encrypted_request(event, ENCRYPT_KEY, timestamp=ts)
    response = client.post("/webhook/feishu", data=body, headers=headers)
    assert response.status_code < 500, (response.status_code, response.data[:200])
    if response.status_code != 200:
        assert _inbox_count(runtime) == before


@WEBHOOK_SETTINGS
@given(
    st.one_of(
        json_values,
        # WeCom's schema types (objects stay objects, ids stay strings); odd values inside.
        # A string where an object belongs (``"text": "hi"``) is a 500 today: see the report.
        st.fixed_dictionaries(
            {"msgtype": st.sampled_from(["text", "mixed", "voice", "event", "image"]) | any_text},
            optional={
                "msgid": st.just("m1") | any_text,
                "chatid": st.just("wrkCHAT001") | any_text,
                "chattype": st.sampled_from(["group", "single"]) | any_text,
                "from": st.fixed_dictionaries({}, optional={"userid": st.just("u1") | any_text}),
                "text": st.fixed_dictionaries({}, optional={"content": any_text}),
                "voice": st.fixed_dictionaries({}, optional={"content": any_text}),
                "mixed": st.fixed_dictionaries(
                    {},
                    optional={
                        "msg_item": st.lists(
                            st.fixed_dictionaries(
                                {"msgtype": st.sampled_from(["text", "image"])},
                                optional={
                                    "text": st.fixed_dictionaries(
                                        {}, optional={"content": any_text}
                                    )
                                },
                            ),
                            max_size=3,
                        )
                    },
                ),
                "event": st.fixed_dictionaries(
                    {}, optional={"eventtype": st.just("enter_chat") | any_text}
                ),
                "response_url": any_text,
            },
        ),
    ),
    st.sampled_from(["GET", "POST"]),
)
def test_wecom_signed_garbled_callbacks_never_5xx(wecom_client, data, method):
    from bot.adapters.wecom_crypto import WecomCrypto
    from bot.adapters.wecom_crypto import sign as wecom_sign

    runtime, client = wecom_client
    before = _inbox_count(runtime)
    enc = WecomCrypto(WECOM_TOKEN, WECOM_KEY, "").encrypt(json.dumps(data, ensure_ascii=False))
    ts = str(int(runtime.clock().timestamp()))  # fresh on the runtime's clock: the body is tested
    query = {
        "msg_signature": wecom_sign(WECOM_TOKEN, ts, "n1", enc),
        "timestamp": ts,
        "nonce": "n1",
    }
    if method == "GET":
        response = client.get("/webhook/wecom", query_string={**query, "echostr": enc})
    else:
        response = client.post("/webhook/wecom", query_string=query, json={"encrypt": enc})
    assert response.status_code < 500, (response.status_code, response.data[:200])
    if response.status_code != 200 or method == "GET":
        assert _inbox_count(runtime) == before


# -- 3c. deep nesting, JSON that is not an object, oversize headers and query strings ----------
def _nested(depth: int, shape: str) -> bytes:
    """JSON nested ``depth`` levels (closed or not): json.loads raises RecursionError on it."""
    opener, closer = (b"[", b"]") if shape.startswith("array") else (b'{"a":', b"}")
    middle = b"0" if opener != b"[" else b""
    return opener * depth + middle + (closer * depth if shape.endswith("closed") else b"")


deep_bodies = st.builds(
    _nested,
    st.integers(min_value=1_000, max_value=50_000),
    st.sampled_from(["array-closed", "object-closed", "array-open", "object-open"]),
)
non_objects = json_values.filter(lambda v: not isinstance(v, dict)).map(
    lambda v: json.dumps(v, ensure_ascii=False).encode()
)
huge_text = st.builds(
    lambda n, c: c * n, st.integers(min_value=4_000, max_value=300_000), st.sampled_from("a%é華=&")
)
HOSTILE_PATHS = ["/webhook/feishu", "/webhook/wecom", "/sandbox/api/send"]
HOSTILE_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def hostile_client(engine, settings, clock, fake):  # noqa: F811
    """Feishu, WeCom and the sandbox all on one app."""
    configure_feishu(settings, fake)
    settings.wecom.token = WECOM_TOKEN
    settings.wecom.encoding_aes_key = WECOM_KEY
    settings.wecom.domain = "http://127.0.0.1:9"
    settings.server.sandbox = "on"
    runtime = Runtime(settings, engine=engine, clock=clock)
    return runtime, create_app(settings, runtime).test_client()


@HOSTILE_SETTINGS
@given(deep_bodies, st.sampled_from(HOSTILE_PATHS))
def test_deeply_nested_json_is_4xx_everywhere(hostile_client, body, path):
    runtime, client = hostile_client
    query = {"msg_signature": "0" * 40, "timestamp": "1", "nonce": "n"}
    response = client.post(path, data=body, query_string=query, content_type="application/json")
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:200])
    assert _inbox_count(runtime) == 0


@HOSTILE_SETTINGS
@given(non_objects | deep_bodies)
def test_the_sandbox_refuses_every_json_that_is_not_an_object(hostile_client, body):
    runtime, client = hostile_client
    response = client.post("/sandbox/api/send", data=body, content_type="application/json")
    assert response.status_code == 400, (response.status_code, response.data[:200])
    assert _inbox_count(runtime) == 0


@HOSTILE_SETTINGS
@given(st.dictionaries(st.sampled_from(["chat", "as", "text", "x"]), json_values, max_size=4))
def test_the_sandbox_stores_only_complete_string_messages(hostile_client, data):
    runtime, client = hostile_client
    before = _inbox_count(runtime)
    response = client.post("/sandbox/api/send", json=data)
    complete = all(isinstance(data.get(k), str) and data[k].strip() for k in ("chat", "as", "text"))
    if complete and len(data["text"]) <= 2000:
        assert response.status_code == 200
        assert _inbox_count(runtime) == before + 1
    else:
        assert 400 <= response.status_code < 500, (response.status_code, response.data[:200])
        assert _inbox_count(runtime) == before


@HOSTILE_SETTINGS
@given(
    huge_text,
    st.sampled_from(["query-value", "query-name", "header"]),
    st.sampled_from([*HOSTILE_PATHS, "/sandbox/api/messages", "/"]),
    st.sampled_from(["GET", "POST"]),
)
def test_oversize_query_strings_and_headers_never_5xx(hostile_client, big, where, path, method):
    runtime, client = hostile_client
    query = {"chat": big} if where == "query-value" else {big: "1"} if where == "query-name" else {}
    headers = {"X-Big": big.encode("utf-8").decode("latin-1")} if where == "header" else {}
    response = client.open(path, method=method, query_string=query, headers=headers, data=b"{}")
    assert response.status_code < 500, (response.status_code, response.data[:200])
    if path.startswith("/webhook/"):
        assert 400 <= response.status_code < 500
    assert _inbox_count(runtime) == 0
