"""Fetching a received file for a command, outside any transaction (see bot.messages.FileNeeded).

The dispatcher calls ``fetch`` after rolling back the message that raised FileNeeded; the file's
bytes, or the reason they could not be had, are stored as a StoredFile for the retry to read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.base import Adapter, FileFetchError
from bot.messages import FileNeeded
from models.stored_file import StoredFile, received_key

log = logging.getLogger(__name__)


def fetch(
    sessions: sessionmaker[Session],
    adapters: Mapping[str, Adapter],
    request: FileNeeded,
    now: datetime,
) -> None:
    """Download the file ``request`` names and store it (or why not) under its received key."""
    name, data, error = request.name, b"", ""
    adapter = adapters.get(request.platform)
    try:
        if adapter is None:
            raise FileFetchError("这个平台的机器人收不到文件")
        if request.transcribe:  # a voice note: what is kept is its text
            text = adapter.transcribe(
                request.chat_id, request.message_id, request.file_key, request.limit
            )
            name, data = request.name, text.encode("utf-8")
        else:
            name, data = adapter.download_file(
                request.chat_id, request.message_id, request.file_key, request.limit
            )
        if (
            not request.transcribe and len(data) > request.limit
        ):  # the adapter's own check, made sure
            raise FileFetchError(_too_big(len(data), request.limit))
    except FileFetchError as exc:
        error = str(exc) or "文件下载失败"
    except Exception as exc:  # a network error or an adapter bug: the command answers it
        log.exception("downloading %s:%s failed", request.platform, request.message_id)
        error = (
            f"语音识别失败（{type(exc).__name__}），请稍后再发一次或打字"
            if request.transcribe
            else f"文件下载失败（{type(exc).__name__}），请稍后再发一次 /导入"
        )
    key = received_key(request.platform, request.message_id)
    with sessions() as session, session.begin():
        session.execute(delete(StoredFile).where(StoredFile.key == key))
        session.add(
            StoredFile(
                key=key,
                platform=request.platform,
                chat_external_id=request.chat_id,
                name=(name or request.name or "文件")[:200],
                size=len(data),
                data=data,
                error=error[:2000],
                for_message=request.for_message if error else "",
                created_at=now,
            )
        )


def _too_big(size: int, limit: int) -> str:
    """The refusal of a file over the limit."""
    return f"文件太大（{size / 1048576:.1f} MB），最多 {limit / 1048576:.0f} MB"
