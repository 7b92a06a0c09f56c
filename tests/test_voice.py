"""Voice notes: shown back, saved only on ``1`` (WeCom transcripts, Feishu speech-to-text)."""

from __future__ import annotations

import io
import json
import math
import struct
import wave
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.adapters.wecom_crypto import WecomCrypto, sign
from bot.app import create_app
from bot.runtime import Runtime
from models import Activity, Customer, StoredFile
from tests.support.fake_wecom import FakeWecom, voice_callback
from tests.support.feishu_fixtures import (
    FeishuChat,
    configure_feishu,
    fake,  # noqa: F401  (fixture)
)
from tests.support.feishu_testkit import audio_message_event, message_event

WECOM_TOKEN = "wecomtoken"
WECOM_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
NONCE = "nonce1"
P2P = "oc_p2p_zhang"
ZHANG = "ou_zhang"


def _count(runtime: Runtime, model: Any) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _logged(runtime: Runtime, words: str) -> int:
    """How many activities record ``words``."""
    with runtime.sessions() as session:
        query = select(func.count()).select_from(Activity).where(Activity.text.contains(words))
        return session.scalar(query) or 0


# -- WeCom: the transcript arrives with the message ---------------------------------------------
@pytest.fixture
def wecom_fake(clock) -> Iterator[FakeWecom]:
    server = FakeWecom(clock=lambda: clock.now.timestamp()).start()
    yield server
    server.stop()


@pytest.fixture
def wecom(engine, settings, clock, wecom_fake) -> Callable[..., str]:
    """Post a single-chat callback from ``zhangsan`` (text, or voice with ``voice=True``)."""
    settings.wecom.token = WECOM_TOKEN
    settings.wecom.encoding_aes_key = WECOM_KEY
    settings.wecom.domain = wecom_fake.url
    settings.wecom.timeout_seconds = 5.0
    runtime = Runtime(settings, engine=engine, clock=clock)
    client = create_app(settings, runtime).test_client()
    crypto = WecomCrypto(WECOM_TOKEN, WECOM_KEY, "")
    count = iter(range(1, 1000))

    def say(text: str, voice: bool = False, group: bool = False) -> str:
        msgid = f"msg-{next(count)}"
        url = wecom_fake.response_url(f"r{msgid}")
        if voice:
            body = voice_callback(text, "zhangsan", msgid, url)
        else:
            body = {
                "msgid": msgid,
                "aibotid": "AIBOTID",
                "chattype": "single",
                "from": {"userid": "zhangsan"},
                "response_url": url,
                "msgtype": "text",
                "text": {"content": text},
            }
            if group:  # in the team's group, addressed to the bot
                body |= {"chattype": "group", "chatid": "wr_team"}
                body["text"] = {"content": f"@跟进助手 {text}"}
        enc = crypto.encrypt(json.dumps(body, ensure_ascii=False))
        ts = str(int(runtime.clock().timestamp()))
        query = {"msg_signature": sign(WECOM_TOKEN, ts, NONCE, enc), "timestamp": ts}
        response = client.post(
            "/webhook/wecom", query_string={**query, "nonce": NONCE}, json={"encrypt": enc}
        )
        assert response.status_code == 200
        runtime.drain()
        return str(wecom_fake.responses()[-1].content)

    say.runtime = runtime  # type: ignore[attr-defined]
    say("/我的", group=True)  # zhangsan is in a team: the single chat is his desk on its book
    return say


def test_wecom_voice_is_shown_back_and_saved_only_on_1(wecom):
    asked = wecom("跟进华为，报价已发，下周三回访。", voice=True)
    assert "我听到的是：「跟进华为，报价已发，下周三回访。」" in asked
    assert "将记录为：/跟进华为 报价已发 下周三回访" in asked and "回复 1 记录" in asked
    assert _count(wecom.runtime, Customer) == 0 and _count(wecom.runtime, Activity) == 0
    saved = wecom("1")
    assert "新客户 华为 已建档" in saved and "下次跟进 12月2日" in saved
    shown = wecom("/客户 华为")
    assert "报价已发" in shown
    assert _logged(wecom.runtime, "报价已发") == 1


def test_wecom_voice_naming_a_known_customer_is_a_follow_up(wecom):
    wecom("/跟进 华为 初次拜访")
    asked = wecom("华为 报价已发", voice=True)
    assert "将记录为：/跟进 华为 报价已发" in asked
    wecom("1")
    assert _logged(wecom.runtime, "报价已发") == 1 and _count(wecom.runtime, Customer) == 1


def test_wecom_voice_cancelled_with_2_stores_nothing(wecom):
    wecom("跟进 华为 报价已发", voice=True)
    assert "已取消" in wecom("2")
    assert "没看懂" in wecom("1")  # the question is gone: a bare 1 means nothing now
    assert _count(wecom.runtime, Customer) == 0 and _count(wecom.runtime, Activity) == 0


def test_wecom_voice_left_unconfirmed_stores_nothing_and_expires(wecom, clock):
    wecom("跟进 华为 报价已发", voice=True)
    assert "回复 1 记录" in wecom("3")  # not 1 or 2: asked again
    wecom("/帮助")  # anything else runs as usual; the question waits
    assert _count(wecom.runtime, Customer) == 0 and _count(wecom.runtime, Activity) == 0
    clock.advance(minutes=11)
    assert "已过期" in wecom("1")
    assert _count(wecom.runtime, Customer) == 0 and _count(wecom.runtime, Activity) == 0


def test_wecom_voice_without_customer_or_command_is_refused(wecom):
    answer = wecom("今天天气不错", voice=True)
    assert "没听出是哪个客户" in answer
    assert "没看懂" in wecom("1")  # nothing was asked
    assert _count(wecom.runtime, Customer) == 0


def test_transcript_with_markup_is_escaped(wecom):
    answer = wecom('跟进 华为 <at user_id="all">所有人</at> **重要** @李四', voice=True)
    assert "<at" not in answer and "@李四" not in answer
    assert "＜at" in answer and "＠李四" in answer
    assert _count(wecom.runtime, Customer) == 0


def test_wecom_voice_markdown_is_inert_on_the_wire(wecom, wecom_fake):
    wecom("跟进 华为 **重要** [链接](http://x)", voice=True)
    wire = wecom_fake.responses()[-1].body
    assert "**重要**" not in json.dumps(wire, ensure_ascii=False)


# -- Feishu: download, convert, speech-to-text ---------------------------------------------------
def _wav(seconds: float = 1.0) -> bytes:
    """A 16 kHz mono 16-bit WAV tone (what the converter reads without PyAV)."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(i / 10))) for i in range(int(16000 * seconds))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(frames)
    return out.getvalue()


@pytest.fixture
def feishu(engine, settings, clock, fake) -> FeishuChat:  # noqa: F811
    configure_feishu(settings, fake)
    chat = FeishuChat(Runtime(settings, engine=engine, clock=clock), fake)
    chat.command("/我的", open_id=ZHANG)  # in the team's group: the private chat is his desk
    chat.runtime.drain()
    return chat


def _p2p(feishu: FeishuChat, event: dict[str, Any]) -> str:
    """Post ``event`` in the private chat and return the bot's one answer to it."""
    before = len(feishu.fake.sent)
    feishu.fake.note_event(event)
    assert feishu.post_event(event).status_code == 200
    feishu.runtime.drain()
    sent = feishu.fake.wait_for(before + 1)[before:]
    message_id = event["event"]["message"]["message_id"]
    answers = [s.text for s in sent if s.reply_to == message_id]
    assert len(answers) == 1, [s.text for s in sent]
    return answers[0]


def _voice(feishu: FeishuChat, audio: bytes) -> str:
    feishu.count += 1
    message_id = f"om_voice_{feishu.count}"
    file_key = feishu.fake.add_received_file(message_id, P2P, "", audio, ZHANG)
    event = audio_message_event(
        file_key, chat_id=P2P, open_id=ZHANG, message_id=message_id, create_time_ms=feishu.now_ms()
    )
    return _p2p(feishu, event)


def _type(feishu: FeishuChat, text: str) -> str:
    feishu.count += 1
    event = message_event(
        text,
        chat_id=P2P,
        open_id=ZHANG,
        chat_type="p2p",
        message_id=f"om_text_{feishu.count}",
        create_time_ms=feishu.now_ms(),
    )
    return _p2p(feishu, event)


def test_feishu_voice_is_transcribed_confirmed_and_logged(feishu):
    feishu.runtime.settings.feishu.speech = "on"
    feishu.fake.speech_text = "跟进腾讯，演示做完了，下周五签约。"
    asked = _voice(feishu, _wav())
    assert "我听到的是：「跟进腾讯，演示做完了，下周五签约。」" in asked
    assert feishu.fake.recognized == [_wav()[44:]]  # the WAV's PCM frames, base64 on the wire
    assert _count(feishu.runtime, Activity) == 0 and _count(feishu.runtime, StoredFile) == 0
    assert "腾讯" in _type(feishu, "1")
    assert "演示做完了" in _type(feishu, "/客户 腾讯")
    assert _logged(feishu.runtime, "演示做完了") == 1


def test_feishu_voice_with_speech_off_says_how_to_turn_it_on(feishu):
    answer = _voice(feishu, _wav())
    assert 'speech = "on"' in answer and "speech_to_text:speech" in answer
    assert "\n" not in answer.strip()
    assert feishu.fake.downloads == 0 and feishu.fake.recognized == []
    assert _count(feishu.runtime, StoredFile) == 0 and _count(feishu.runtime, Customer) == 0


def test_feishu_speech_error_is_answered_and_nothing_kept(feishu):
    feishu.runtime.settings.feishu.speech = "on"
    feishu.fake.speech_code = 99991672
    answer = _voice(feishu, _wav())
    assert "speech_to_text:speech" in answer
    assert _count(feishu.runtime, StoredFile) == 0 and _count(feishu.runtime, Customer) == 0


def test_feishu_ogg_opus_note_is_decoded_to_16k_pcm(feishu):
    av = pytest.importorskip("av")
    out = io.BytesIO()
    with av.open(out, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48000, layout="mono")
        samples = 48000 * 2
        import numpy as np

        tone = (np.sin(np.arange(samples) / 20) * 8000).astype("int16").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate = 48000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    ogg = out.getvalue()
    assert ogg[:4] == b"OggS"
    feishu.runtime.settings.feishu.speech = "on"
    feishu.fake.speech_text = "跟进腾讯 演示做完了"
    assert "我听到的是" in _voice(feishu, ogg)
    (pcm,) = feishu.fake.recognized
    assert abs(len(pcm) - 2 * 32000) < 32000 // 5  # about 2 s of 16 kHz s16le
