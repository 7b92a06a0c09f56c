"""/导入 and /导出 in the chat, end to end: webhook → inbox → dispatcher (file download outside the
transaction) → outbox → sender (upload + file message) against the fake Feishu and WeCom servers.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook
from sqlalchemy import func, select

from bot.adapters.wecom_crypto import WecomCrypto, sign
from bot.app import create_app
from bot.runtime import Runtime
from models import Activity, Customer, Inbox, Outbox, StoredFile
from tests.support.fake_feishu import FakeFeishu  # noqa: F401  (fixture type)
from tests.support.fake_wecom import FakeWecom
from tests.support.feishu_fixtures import (
    CHAT,
    FeishuChat,
    configure_feishu,
    fake,  # noqa: F401  (fixture)
)
from tests.support.feishu_testkit import file_message_event

BOOK = Path(__file__).resolve().parent / "data" / "books" / "crm_export.xlsx"
BOSS = "ou_boss"  # an admin by platform id: a manager's rights
REP = "ou_li"


@pytest.fixture
def feishu(engine, settings, clock, fake) -> FeishuChat:  # noqa: F811
    configure_feishu(settings, fake)
    settings.bot.admins = [BOSS]
    return FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)


def _send_file(
    feishu: FeishuChat, data: bytes, name: str = "客户台账.xlsx", open_id: str = BOSS
) -> str:
    """Post a file message as ``open_id``; returns its message id."""
    feishu.count += 1
    message_id = f"om_file_{feishu.count}"
    file_key = feishu.fake.add_received_file(message_id, CHAT, name, data, open_id)
    event = file_message_event(
        file_key,
        name,
        chat_id=CHAT,
        open_id=open_id,
        token="vt_test",
        message_id=message_id,
        create_time_ms=feishu.now_ms(),
    )
    assert feishu.post_event(event).status_code == 200
    feishu.runtime.drain()
    return message_id


def _say(feishu: FeishuChat, text: str, open_id: str = BOSS, **kw: Any) -> str:
    """Send ``@bot text`` and return the text of the bot's answer to it."""
    before = len(feishu.fake.sent)
    _, event = feishu.command(text, open_id=open_id, **kw)
    feishu.runtime.drain()
    sent = feishu.fake.wait_for(before + 1)[before:]
    message_id = event["event"]["message"]["message_id"]
    answers = [s for s in sent if s.reply_to == message_id]
    assert len(answers) == 1, [s.text for s in sent]
    return answers[0].text


def _count(runtime: Runtime, model: Any) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- Feishu: /导入 -------------------------------------------------------------------------------
def test_file_message_is_stored_as_a_file_and_answered_by_nobody(feishu):
    message_id = _send_file(feishu, BOOK.read_bytes())
    with feishu.runtime.sessions() as session:
        row = session.scalars(select(Inbox).where(Inbox.message_id == message_id)).one()
    assert row.payload["kind"] == "file" and row.status == "done"
    assert row.payload["platform_data"]["file_name"] == "客户台账.xlsx"
    assert row.payload["platform_data"]["file_key"].startswith("file_v3_")
    assert feishu.fake.sent == [] and feishu.fake.downloads == 0  # nothing fetched unasked


def test_manager_previews_confirms_and_a_second_confirm_changes_nothing(feishu):
    _send_file(feishu, BOOK.read_bytes())
    preview = _say(feishu, "/导入")
    assert preview.startswith("📋 导入预览（还没有写入）")
    assert "工作表“客户”" in preview and "表头在第 4 行" in preview
    assert "/导入 确认" in preview and len(preview) < 4000
    assert _count(feishu.runtime, Customer) == 0  # nothing written before 确认
    assert feishu.fake.downloads == 1

    done = _say(feishu, "/导入 确认")
    assert done.startswith("✅ 已导入 客户台账.xlsx")
    customers = _count(feishu.runtime, Customer)
    activities = _count(feishu.runtime, Activity)
    assert customers > 200
    assert f"新建 {customers} 个" in done
    assert feishu.fake.downloads == 1  # 确认 reads the stored file

    again = _say(feishu, "/导入 确认")
    assert "已经导入过了" in again
    assert _count(feishu.runtime, Customer) == customers
    assert _count(feishu.runtime, Activity) == activities


def test_reply_to_a_file_message_imports_that_file(feishu):
    csv = "客户名称,负责人,阶段\n甲公司,,意向\n乙公司,,报价\n".encode()
    first = _send_file(feishu, csv, name="两个客户.csv")
    _send_file(feishu, BOOK.read_bytes())  # a later file: the reply still means the first
    preview = _say(feishu, "/导入", parent_id=first)
    assert "文件 两个客户.csv" in preview and "新建 2 个" in preview
    assert "已导入" in _say(feishu, "/导入 确认")
    assert {c.name for c in _customers(feishu.runtime)} == {"甲公司", "乙公司"}


def test_reply_to_a_file_the_bot_never_received_reads_the_message_first(feishu):
    csv = "客户名称,阶段\n丙公司,意向\n".encode()
    feishu.fake.add_received_file("om_unseen", CHAT, "丙.csv", csv, BOSS)
    preview = _say(feishu, "/导入", parent_id="om_unseen")
    assert "文件 丙.csv" in preview and "新建 1 个" in preview
    assert feishu.fake.hits("/open-apis/im/v1/messages/om_unseen", "GET") == 2  # message, file


def test_cancel_drops_the_preview(feishu):
    _send_file(feishu, "客户名称,阶段\n丁公司,意向\n".encode(), name="丁.csv")
    _say(feishu, "/导入")
    assert "已取消导入 丁.csv" in _say(feishu, "/导入 取消")
    assert "没有待确认的导入" in _say(feishu, "/导入 确认")
    assert _count(feishu.runtime, Customer) == 0


def test_rep_is_refused_with_the_reason_and_an_example(feishu):
    _send_file(feishu, BOOK.read_bytes(), open_id=REP)
    answer = _say(feishu, "/导入", open_id=REP)
    assert answer.startswith("❌ 只有经理或管理员可以导入客户表")
    assert "例如：/导入 确认" in answer
    assert feishu.fake.downloads == 0


def test_oversize_file_is_refused_and_nothing_is_kept(feishu):
    _send_file(feishu, b"x" * (5 * 1024 * 1024 + 1), name="大表.xlsx")
    answer = _say(feishu, "/导入")
    assert answer.startswith("❌ 文件太大") and "最多 5 MB" in answer
    with feishu.runtime.sessions() as session:
        (stored,) = session.scalars(select(StoredFile)).all()
        assert stored.data == b"" and stored.error
    assert _count(feishu.runtime, Customer) == 0


def test_no_file_and_not_a_book_are_explained(feishu):
    assert "没找到要导入的文件" in _say(feishu, "/导入")
    _send_file(feishu, b"%PDF-1.4 ...", name="合同.pdf")
    assert "不是 .xlsx 或 .csv 文件" in _say(feishu, "/导入")
    assert feishu.fake.downloads == 0


# -- Feishu: /导出 -------------------------------------------------------------------------------
def _customers(runtime: Runtime) -> list[Customer]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Customer).order_by(Customer.id)))


def _sheet_names_and_rows(data: bytes, sheet: str) -> tuple[list[str], list[list[Any]]]:
    workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return workbook.sheet_names, workbook.get_sheet_by_name(sheet).to_python()


def test_manager_export_posts_the_whole_book_as_an_xlsx_file(feishu):
    _say(feishu, "/跟进 华为 报价已发", open_id="ou_zhang")
    _say(feishu, "/跟进 腾讯 约了拜访", open_id=REP)
    before = len(feishu.fake.sent)
    _, event = feishu.command("/导出", open_id=BOSS)
    feishu.runtime.drain()
    (sent,) = feishu.fake.wait_for(before + 1)[before:]
    assert sent.msg_type == "file" and sent.reply_to == event["event"]["message"]["message_id"]
    ((message, upload),) = feishu.fake.files_sent()
    assert message is sent and upload.file_type == "stream"
    assert upload.file_name.endswith(".xlsx") and "客户表" in upload.file_name
    names, rows = _sheet_names_and_rows(upload.data, "客户")
    assert names == ["客户", "跟进记录", "目标"]
    assert rows[0][0] == "客户名称" and {r[0] for r in rows[1:]} == {"华为", "腾讯"}
    assert load_workbook(io.BytesIO(upload.data), read_only=True).sheetnames[0] == "客户"
    with feishu.runtime.sessions() as session:
        row = session.scalars(select(Outbox).where(Outbox.id == sent_row_id(session))).one()
        assert sent.uuid == row.key  # the outbox key is the send's idempotency key
        assert "file" in row.payload and len(json.dumps(row.payload)) < 1000  # no bytes in it


def sent_row_id(session: Any) -> int:
    """The outbox row of the last file message."""
    rows = session.scalars(select(Outbox).order_by(Outbox.id.desc())).all()
    return next(r.id for r in rows if r.payload.get("file"))


def test_rep_export_holds_only_their_customers(feishu):
    _say(feishu, "/跟进 华为 报价已发", open_id="ou_zhang")
    _say(feishu, "/跟进 腾讯 约了拜访", open_id=REP)
    _say(feishu, "/导出", open_id=REP)
    ((_, upload),) = feishu.fake.files_sent()
    assert "的客户" in upload.file_name
    _, rows = _sheet_names_and_rows(upload.data, "客户")
    assert [r[0] for r in rows[1:]] == ["腾讯"]
    _, history = _sheet_names_and_rows(upload.data, "跟进记录")
    assert {r[1] for r in history[1:]} == {"腾讯"}


def test_a_retried_file_send_posts_once(feishu):
    _say(feishu, "/跟进 华为 报价已发", open_id="ou_zhang")
    before = len(feishu.fake.sent)
    feishu.fake.fail_next(1)  # the file message fails once, after its upload went through
    feishu.command("/导出", open_id=BOSS)
    feishu.runtime.drain()
    feishu.runtime.clock.advance(seconds=5)  # past the back-off
    feishu.runtime.drain()
    feishu.fake.wait_for(before + 1)
    assert len(feishu.fake.files_sent()) == 1
    assert len(feishu.fake.uploads) == 1  # the retry re-used the upload


# -- WeCom ----------------------------------------------------------------------------------------
WECOM_TOKEN = "t0k3n"
WECOM_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
NONCE = "n123"
WECOM_CHAT = "wrkSFfCgAAxxxx"
HOOK = "hook-key-1"


@pytest.fixture
def wecom_fake(clock) -> Any:
    server = FakeWecom(clock=lambda: clock.now.timestamp(), keys={HOOK}).start()
    yield server
    server.stop()


@pytest.fixture
def wecom(engine, settings, clock, wecom_fake) -> Any:
    settings.wecom.token = WECOM_TOKEN
    settings.wecom.encoding_aes_key = WECOM_KEY
    settings.wecom.domain = wecom_fake.url
    settings.wecom.timeout_seconds = 5.0
    settings.wecom.chats = {WECOM_CHAT: {"webhook_key": HOOK}}
    settings.bot.admins = ["boss"]
    runtime = Runtime(settings, engine=engine, clock=clock)
    client = create_app(settings, runtime).test_client()
    crypto = WecomCrypto(WECOM_TOKEN, WECOM_KEY, "")
    count = iter(range(1, 1000))

    def say(text: str, user: str = "boss") -> None:
        msgid = f"msg-{next(count)}"
        body = {
            "msgid": msgid,
            "aibotid": "AIBOT",
            "chatid": WECOM_CHAT,
            "chattype": "group",
            "from": {"userid": user},
            "response_url": wecom_fake.response_url(f"r{msgid}"),
            "msgtype": "text",
            "text": {"content": f"@跟进助手 {text}"},
        }
        enc = crypto.encrypt(json.dumps(body, ensure_ascii=False))
        ts = str(int(runtime.clock().timestamp()))
        query = {"msg_signature": sign(WECOM_TOKEN, ts, NONCE, enc), "timestamp": ts}
        response = client.post(
            "/webhook/wecom", query_string={**query, "nonce": NONCE}, json={"encrypt": enc}
        )
        assert response.status_code == 200
        runtime.drain()

    say.runtime = runtime  # type: ignore[attr-defined]
    return say


def test_wecom_export_goes_through_upload_media_and_a_file_message(wecom, wecom_fake):
    wecom("/跟进 华为 报价已发", user="zhangsan")
    wecom("/导出")
    ((message, media),) = wecom_fake.files(HOOK)
    assert message.body == {"msgtype": "file", "file": {"media_id": media.media_id}}
    assert media.filename.endswith(".xlsx") and "客户表" in media.filename
    _, rows = _sheet_names_and_rows(media.data, "客户")
    assert [r[0] for r in rows[1:]] == ["华为"]


def test_wecom_import_explains_the_command_line(wecom, wecom_fake):
    wecom("/导入")
    answer = wecom_fake.responses()[-1].content
    assert "企业微信的智能机器人在群里收不到文件" in answer and "genjin import" in answer
    assert "\n" not in answer.strip()
