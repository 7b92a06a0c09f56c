"""People: /我是 names unique per chat, namesakes told apart, @-mentions resolved on every platform.

WeCom and Feishu cases go through the real webhook: signed (and encrypted) callbacks, the
dispatcher, and the reply the platform receives.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.wecom_crypto import WecomCrypto, sign
from bot.app import create_app
from bot.runtime import Runtime
from models import Customer, Inbox, Member, Target
from tests.support.chat_rows import assert_nothing_saved, stored
from tests.support.fake_feishu import FakeFeishu  # noqa: F401  (fixture type)
from tests.support.fake_wecom import FakeWecom
from tests.support.feishu_fixtures import (
    CHAT as FEISHU_CHAT,
)
from tests.support.feishu_fixtures import (
    FeishuChat,
    configure_feishu,
    fake,  # noqa: F401  (fixture)
)
from tests.support.feishu_testkit import mention

# --- /我是 and names in the console chat --------------------------------------------------------

WHOAMI_EXAMPLE = "例如：/我是 张三"


def test_whoami_refuses_a_name_another_member_uses(chat):
    chat.make_manager("王经理")
    chat.reply("/跟进 华为 拜访", as_="李四")
    before = stored(chat)
    assert chat.reply("/我是 王经理", as_="李四") == (
        f"❌ “王经理”已经是本群 王经理 的名字，请换一个（例如加上姓或部门）\n{WHOAMI_EXAMPLE}"
    )
    assert_nothing_saved(chat, before)
    assert chat.member("李四").name == "李四"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("所有人", "“所有人”已经是本群 所有人 的名字，请换一个（例如加上姓或部门）"),
        ("ALL", "“ALL”已经是本群 所有人 的名字，请换一个（例如加上姓或部门）"),
        ("老板", "“老板”已经是本群 老板 的名字，请换一个（例如加上姓或部门）"),
        ("@李四", "名字里不能有 @"),
    ],
)
def test_whoami_refuses_reserved_and_admin_names(chat, name, reason):
    chat.reply("/我的", as_="李四")
    before = stored(chat)
    assert chat.reply(f"/我是 {name}") == f"❌ {reason}\n{WHOAMI_EXAMPLE}"
    assert_nothing_saved(chat, before)


@pytest.mark.parametrize("everyone", ["@所有人", "@all", "＠所有人"])
def test_everyone_is_never_made_an_owner_or_a_manager(chat, everyone):
    chat.reply("/新客户 华为", as_="老板")
    before = stored(chat)
    reply = chat.reply(f"/分配 华为 {everyone}", as_="老板")
    assert reply.startswith(f"❌ ＠{everyone[1:]} 不是一位成员，请 @ 具体的人"), reply
    assert_nothing_saved(chat, before)
    assert chat.reply(f"/设置 经理 {everyone}", as_="老板").startswith("❌ ＠")
    with chat.runtime.sessions() as session:
        assert session.scalars(select(Member).where(Member.role == "manager")).all() == []


def test_whoami_compares_names_ignoring_case_and_width(chat):
    chat.reply("/我的", as_="Tom")
    assert chat.reply("/我是 ｔｏｍ", as_="李四").startswith("❌ “tom”已经是本群 Tom 的名字")
    assert chat.reply("/我是 Tom Li", as_="李四") == "✅ 好的，以后叫你 Tom Li"


# --- WeCom: @名字 / @userid text, resolved against known members ----------------------------------

TOKEN = "t0k3n"
KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
WECOM_CHAT = "wrkPEOPLE"
HOOK = "hook-people"
NONCE = "n42"


class WecomChat:
    """Post encrypted callbacks like WeCom does and read the answers it receives."""

    def __init__(self, runtime: Runtime, server: FakeWecom) -> None:
        self.runtime = runtime
        self.fake = server
        self.client = create_app(runtime.settings, runtime).test_client()
        self.crypto = WecomCrypto(TOKEN, KEY, "")
        self.count = 0

    def say(self, text: str, user: str) -> str:
        """Send ``@跟进助手 text`` as ``user`` through the signed callback; the reply's markdown."""
        self.count += 1
        msgid = f"msg-{self.count}"
        body = {
            "msgid": msgid,
            "aibotid": "AIBOT",
            "chatid": WECOM_CHAT,
            "chattype": "group",
            "from": {"userid": user},
            "response_url": self.fake.response_url(f"r{msgid}"),
            "msgtype": "text",
            "text": {"content": f"@跟进助手\u2005{text}"},
        }
        enc = self.crypto.encrypt(json.dumps(body, ensure_ascii=False))
        ts = str(int(self.runtime.clock().timestamp()))
        query = {"msg_signature": sign(TOKEN, ts, NONCE, enc), "timestamp": ts, "nonce": NONCE}
        response = self.client.post("/webhook/wecom", query_string=query, json={"encrypt": enc})
        assert response.status_code == 200
        self.runtime.drain()
        answers = [r for r in self.fake.responses() if r.target == f"r{msgid}"]
        assert len(answers) == 1, answers
        return answers[0].content

    def member(self, user_id: str) -> Member:
        with self.runtime.sessions() as session:
            found = session.scalars(select(Member).where(Member.user_id == user_id)).one()
            session.expunge(found)
            return found

    def owner_of(self, customer: str) -> str | None:
        with self.runtime.sessions() as session:
            row = session.scalars(select(Customer).where(Customer.name == customer)).one()
            return row.owner.user_id if row.owner else None


@pytest.fixture
def wecom(engine, settings, clock) -> Iterator[WecomChat]:
    server = FakeWecom(clock=lambda: clock.now.timestamp(), keys={HOOK}).start()
    settings.wecom.token = TOKEN
    settings.wecom.encoding_aes_key = KEY
    settings.wecom.domain = server.url
    settings.wecom.chats = {WECOM_CHAT: {"webhook_key": HOOK}}
    settings.wecom.names = {"lisi": "李四"}
    settings.bot.admins = ["laoban"]
    yield WecomChat(Runtime(settings, engine=engine, clock=clock), server)
    server.stop()


def test_wecom_admin_appoints_a_manager_who_assigns_by_name_and_by_userid(wecom):
    assert wecom.say("/我是 王五", "wangwu") == "✅ 好的，以后叫你 王五"
    reply = wecom.say("/设置 经理 @李四", "laoban")  # 李四 from [wecom.names], never seen
    assert reply.startswith("✅ 已将 @李四 设为经理")
    assert wecom.member("lisi").role == "manager" and wecom.member("lisi").name == "李四"

    assert wecom.say("/新客户 华为", "lisi").startswith("🆕 新客户 华为")
    assert wecom.say("/分配 华为 @李四", "lisi").startswith("✅ 华为 已分配给 @李四")
    assert wecom.owner_of("华为") == "lisi"
    assert wecom.say("/分配 华为 @王五", "lisi").startswith("✅ 华为 已分配给 @王五")
    assert wecom.owner_of("华为") == "wangwu"

    assert wecom.say("/新客户 腾讯 @wangwu 30万", "lisi").startswith(
        "🆕 新客户 腾讯｜已分配｜负责人 @王五｜金额 30万"
    )
    assert wecom.owner_of("腾讯") == "wangwu"
    assert wecom.say("/目标 @王五 50万", "lisi").startswith("🎯 @王五 11月目标 50万")
    with wecom.runtime.sessions() as session:
        (target,) = session.scalars(select(Target)).all()
        assert session.get(Member, target.member_id).user_id == "wangwu"


def test_wecom_unknown_mention_is_refused_with_the_way_out(wecom):
    wecom.say("/新客户 华为", "laoban")
    reply = wecom.say("/分配 华为 @赵六", "laoban")
    assert reply == ("❌ 不认识 ＠赵六，请对方先在群里发一句 /我是 名字\n例如：/分配 华为 @李四")
    assert wecom.owner_of("华为") is None
    assert wecom.say("/我是 赵六", "zhaoliu").startswith("✅")
    assert wecom.say("/分配 华为 @赵六", "laoban").startswith("✅ 华为 已分配给 @赵六")
    assert wecom.owner_of("华为") == "zhaoliu"


def test_wecom_configured_namesakes_are_told_apart_and_never_guessed(wecom):
    wecom.runtime.settings.wecom.names = {"zw1": "张伟", "zw2": "张伟"}
    wecom.say("/我的", "zw1")
    wecom.say("/我的", "zw2")
    assert wecom.member("zw1").name == "张伟（zw1）" and wecom.member("zw2").name == "张伟（zw2）"
    wecom.say("/新客户 华为", "laoban")
    reply = wecom.say("/分配 华为 @张伟", "laoban")
    assert reply.startswith(
        "❌ ＠张伟 有 2 位：张伟（zw1）、张伟（zw2），请写完整，例如 ＠张伟（zw2）"
    )
    assert wecom.owner_of("华为") is None
    assert wecom.say("/分配 华为 @张伟（zw2）", "laoban").startswith(
        "✅ 华为 已分配给 @张伟（zw2）"
    )
    assert wecom.owner_of("华为") == "zw2"
    assert wecom.say("/分配 华为 @zw1", "laoban").startswith("✅ 华为 已分配给 @张伟（zw1）")
    assert wecom.owner_of("华为") == "zw1"


# --- Feishu: mentions by user id, many of them, names with spaces, namesakes ------------------


@pytest.fixture
def feishu(engine, settings, clock, fake) -> FeishuChat:  # noqa: F811
    configure_feishu(settings, fake)
    settings.bot.admins = ["ou_boss"]
    return FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)


def _feishu_say(feishu: FeishuChat, text: str, open_id: str, people: dict[str, str]) -> str:
    """Send ``text`` whose ``@name`` placeholders are ``@_user_N`` keys; the reply Feishu got."""
    mentions = []
    for n, (open_id_n, name) in enumerate(people.items(), 2):
        key = f"@_user_{n}"
        text = text.replace(f"<{open_id_n}>", key)
        mentions.append(mention(key, open_id_n, name))
    before = len(feishu.texts())
    response, _ = feishu.command(text, open_id=open_id, mentions=mentions)
    assert response.status_code == 200
    feishu.runtime.drain()
    texts = feishu.texts()
    assert len(texts) == before + 1, texts
    return texts[-1]


def _members(feishu: FeishuChat) -> dict[str, tuple[str, str]]:
    with feishu.runtime.sessions() as session:
        return {m.user_id: (m.name, m.role) for m in session.scalars(select(Member))}


def test_feishu_twelve_mentions_are_replaced_token_by_token(feishu):
    people = {f"ou_u{n:02d}": f"成员{n}" for n in range(2, 13)}  # @_user_2 … @_user_12
    text = "/设置 经理 " + " ".join(f"<{o}>" for o in people)
    reply = _feishu_say(feishu, text, "ou_boss", people)
    assert reply.startswith("✅ 已将 ")
    for open_id, name in people.items():
        assert f'<at user_id="{open_id}">{name}</at>' in reply
    members = _members(feishu)
    assert {o: members[o] for o in people} == {o: (n, "manager") for o, n in people.items()}


def test_feishu_name_with_a_space_can_be_assigned_and_named_owner(feishu):
    people = {"ou_tom": "Tom Li"}
    assert _feishu_say(feishu, "/新客户 华为", "ou_boss", {}).startswith("🆕")
    reply = _feishu_say(feishu, "/分配 华为 <ou_tom>", "ou_boss", people)
    assert reply.startswith('✅ 华为 已分配给 <at user_id="ou_tom">Tom Li</at>')
    reply = _feishu_say(feishu, "/新客户 腾讯 <ou_tom> 50万 展会", "ou_boss", people)
    assert reply.startswith(
        '🆕 新客户 腾讯｜已分配｜负责人 <at user_id="ou_tom">Tom Li</at>｜金额 50万｜来源 展会'
    )
    with feishu.runtime.sessions() as session:
        owners = {c.name: c.owner.user_id for c in session.scalars(select(Customer))}
    assert owners == {"华为": "ou_tom", "腾讯": "ou_tom"}


def test_feishu_namesakes_are_resolved_by_user_id_and_shown_apart(feishu):
    assert _feishu_say(feishu, "/新客户 华为", "ou_boss", {}).startswith("🆕")
    first = {"ou_zhangwei_aaaa1111": "张伟"}
    second = {"ou_zhangwei_bbbb2222": "张伟"}
    _feishu_say(feishu, "/设置 销售 <ou_zhangwei_aaaa1111>", "ou_boss", first)
    reply = _feishu_say(feishu, "/分配 华为 <ou_zhangwei_bbbb2222>", "ou_boss", second)
    assert reply.startswith('✅ 华为 已分配给 <at user_id="ou_zhangwei_bbbb2222">')
    members = _members(feishu)
    assert members["ou_zhangwei_aaaa1111"][0] == "张伟（…1111）"
    assert members["ou_zhangwei_bbbb2222"][0] == "张伟（…2222）"
    both = {**first, **second}
    text = "/设置 经理 <ou_zhangwei_aaaa1111> <ou_zhangwei_bbbb2222>"
    assert _feishu_say(feishu, text, "ou_boss", both).startswith("✅ 已将 ")
    assert {members[o][1] for o in both} == {"rep"}
    assert {_members(feishu)[o][1] for o in both} == {"manager"}


def test_feishu_mention_survives_the_numbered_question(feishu):
    _feishu_say(feishu, "/新客户 华为技术有限公司", "ou_boss", {})
    asked = _feishu_say(feishu, "/新客户 华为终端有限公司", "ou_boss", {})
    assert asked.endswith("回复 1 是，2 新建客户 华为终端有限公司")
    assert _feishu_say(feishu, "2", "ou_boss", {}).startswith("🆕 新客户 华为终端有限公司")
    people = {"ou_tom": "Tom Li"}
    question = _feishu_say(feishu, "/分配 华为 <ou_tom>", "ou_boss", people)
    assert question.startswith("🤔 “华为”对应多个客户")
    answer = _feishu_say(feishu, "2", "ou_boss", {})  # the answer carries no mention itself
    assert answer.startswith('✅ 华为终端有限公司 已分配给 <at user_id="ou_tom">Tom Li</at>')


def test_feishu_key_prefix_never_eats_a_longer_key(feishu):
    """@_user_1 (the bot) must not rewrite @_user_10 … @_user_12 (it dropped people before)."""
    keys = range(2, 13)
    feishu.command(
        "/设置 经理 " + " ".join(f"@_user_{n}" for n in keys),
        open_id="ou_boss",
        mentions=[mention(f"@_user_{n}", f"ou_p{n}", f"P{n}") for n in keys],
    )
    with feishu.runtime.sessions() as session:
        (row,) = session.scalars(select(Inbox)).all()
        payload: dict[str, Any] = row.payload
    assert payload["chat_id"] == FEISHU_CHAT
    assert payload["text"] == "/设置 经理 " + " ".join(f"@P{n}" for n in keys)
    assert [m["user_id"] for m in payload["mentions"]] == [f"ou_p{n}" for n in keys]
