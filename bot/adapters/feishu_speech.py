"""Feishu voice notes to text: the downloaded audio as 16 kHz mono PCM, then ``file_recognize``.

Feishu voice messages download as Ogg/Opus. The speech API takes only ``format: "pcm"`` (16-bit
little-endian, 16 kHz, mono, base64) of at most 60 s a call, so Ogg is decoded with PyAV
(``pip install av``: FFmpeg's libraries ship in its wheel, no system ffmpeg), which is optional
and only needed with ``[feishu] speech = "on"``. A WAV file of 16 kHz mono 16-bit PCM is read
with the standard library (no PyAV needed).
"""

from __future__ import annotations

import base64
import io
import secrets
import string
import wave
from typing import Any

from lark_oapi.api.speech_to_text.v1 import (  # type: ignore[import-untyped]
    FileConfig,
    FileRecognizeSpeechRequest,
    FileRecognizeSpeechRequestBody,
    Speech,
)

from bot.adapters.base import FileFetchError

RATE = 16000
BYTES_PER_SECOND = RATE * 2  # s16le mono
CHUNK_SECONDS = 60  # the API is meant for audio of up to 60 s a call
SPEECH_OFF = (
    '🎤 没有开启语音识别：请在 config.toml 的 [feishu] 设置 speech = "on"，'
    "并在飞书开放平台给应用开通权限 speech_to_text:speech（免费版飞书不支持），或直接打字"
)
NO_PYAV = "服务器缺少 PyAV，无法转换飞书语音（管理员请执行 pip install av），请先打字发送"
SPEECH_ERRORS = {
    1040101: "语音参数不对",
    1040102: "飞书语音识别服务暂时不可用，请稍后再发",
    99991672: "应用没有语音识别权限 speech_to_text:speech，请管理员在飞书开放平台开通",
}
_ID_CHARS = string.ascii_letters + string.digits


def to_pcm16k(data: bytes) -> bytes:
    """The audio as 16 kHz mono s16le PCM; raises FileFetchError for what cannot be read."""
    if data[:4] == b"OggS":
        return _ogg_to_pcm(data)
    if data[:4] == b"RIFF":
        return _wav_to_pcm(data)
    raise FileFetchError("语音格式读不了（不是 Ogg 也不是 WAV），请打字发送")


def _ogg_to_pcm(data: bytes) -> bytes:
    """Ogg/Opus decoded and resampled by PyAV."""
    try:
        import av  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise FileFetchError(NO_PYAV) from None
    out = bytearray()
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            for frame in container.decode(audio=0):
                for f in resampler.resample(frame):
                    out += bytes(f.planes[0])[: f.samples * 2]
            for f in resampler.resample(None):
                out += bytes(f.planes[0])[: f.samples * 2]
    except av.FFmpegError as exc:
        raise FileFetchError(f"语音解码失败（{type(exc).__name__}），请打字发送") from None
    return bytes(out)


def _wav_to_pcm(data: bytes) -> bytes:
    """The frames of a 16 kHz mono 16-bit WAV file."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
                raise FileFetchError("WAV 语音须为 16 kHz 单声道 16 位，请打字发送")
            return w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        raise FileFetchError("WAV 语音读不了，请打字发送") from None


def recognize(client: Any, pcm: bytes) -> str:
    """The text of ``pcm``, in ≤ 60 s calls of ``speech_to_text/v1/speech/file_recognize``."""
    step = CHUNK_SECONDS * BYTES_PER_SECOND
    parts = []
    for start in range(0, len(pcm), step):
        parts.append(_recognize_one(client, pcm[start : start + step]))
    return "".join(parts).strip()


def _recognize_one(client: Any, pcm: bytes) -> str:
    """One call: base64 PCM in, ``recognition_text`` out."""
    file_id = "".join(secrets.choice(_ID_CHARS) for _ in range(16))
    body = (
        FileRecognizeSpeechRequestBody.builder()
        .speech(Speech.builder().speech(base64.b64encode(pcm).decode("ascii")).build())
        .config(FileConfig.builder().file_id(file_id).format("pcm").engine_type("16k_auto").build())
        .build()
    )
    request = FileRecognizeSpeechRequest.builder().request_body(body).build()
    try:
        resp = client.speech_to_text.v1.speech.file_recognize(request)
    except Exception as exc:
        raise FileFetchError(f"语音识别失败（{type(exc).__name__}），请稍后再发或打字") from None
    if not resp.success():
        reason = SPEECH_ERRORS.get(resp.code, f"code={resp.code} {resp.msg or ''}".strip())
        raise FileFetchError(f"语音识别失败：{reason}")
    return str((resp.data.recognition_text if resp.data else "") or "")
