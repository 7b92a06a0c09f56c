"""Voice notes: what the bot heard is shown back and only counts once the sender confirms it.

A voice note (``IncomingMessage.kind`` VOICE) brings a transcript: WeCom sends one; on Feishu the
dispatcher fetches it outside the transaction (``FileNeeded(transcribe=True)``, the adapter's
speech-to-text) and this module reads it back from its StoredFile, which it then deletes.

The transcript is read as a typed line:
- it starts with a command word (跟进、新客户、提醒 …): that command, as if ``/`` were typed;
- it starts with a customer of this chat: ``/跟进 <transcript>``;
- anything else is refused (nothing is guessed): say the customer or the command first, or type.

The reply shows the transcript and the line it will run, and asks ``1`` 记录 / ``2`` 取消. The
question is kept in ``member.pending`` for PENDING_MINUTES: ``1`` runs the line through the router
(exactly as if it had been typed then), ``2`` drops it; any other message is handled as usual and
leaves the question open until it expires or another question replaces it. Until ``1`` nothing
is stored: no customer, no activity, not the transcript.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.messages import FILE_KEY, FileNeeded, IncomingMessage, OutgoingMessage
from handlers import registry
from models.chat import Chat
from models.customer import Customer, live
from models.names import Candidate, split_known_prefix
from models.parsing import normalize_name, normalize_text, sanitize_user_text, split_first
from models.stored_file import StoredFile, received_key

PENDING_MINUTES = 10
MAX_AUDIO_BYTES = 5 * 1048576  # a 60 s Ogg/Opus note is ~100 KB; WAV/PCM of 60 s is ~2 MB

CONFIRM = (
    "🎤 我听到的是：「{heard}」\n将记录为：{line}\n回复 1 记录，回复 2 取消（{minutes} 分钟内有效）"
)
NOT_PLACED = (
    "🎤 我听到的是：「{heard}」\n"
    "没听出是哪个客户。语音请先说客户名或命令，例如“华为 报价已发 下周三回访”、"
    "“跟进 新客户名 初次拜访”；也可以直接打字：/跟进 客户 内容"
)
NOT_HEARD = "🎤 这条语音没有听出文字，请再说一遍，或直接打字：/跟进 客户 内容"
SAVED_NOTHING = "🗑️ 已取消，这条语音没有记录"
EXPIRED = "⌛ 这条语音的确认已过期（{minutes} 分钟），没有记录，请重新发送"
ASK_AGAIN = "❓ 请回复 1 记录这条语音，或回复 2 取消"

_PUNCTUATION = re.compile(r"[，。、；！？…]+")  # a recogniser's pauses, read as spaces
_CHOICE = re.compile(r"^/?\s*(?:选|选择|第)?\s*(\d{1,2})\s*(?:个)?$")


class Answer(NamedTuple):
    """What a message means to an open voice question.

    ``line``: run it (the sender said 1); ``reply``: answer this instead of running anything;
    ``keep``: the question stays open after this message.
    """

    line: str = ""
    reply: OutgoingMessage | None = None
    keep: bool = False


def question_of(pending: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The open voice-note confirmation ``member.pending`` holds, if that is what it holds."""
    return pending if pending and "voice_line" in pending else None


def offer(
    session: Session, chat: Chat, message: IncomingMessage, now: datetime
) -> tuple[OutgoingMessage, dict[str, Any] | None]:
    """The reply to a voice note, and the question to keep on the sender (None: nothing to ask).

    Raises FileNeeded when the note's transcript is still to be made (Feishu).
    """
    heard = message.text
    if not heard and message.platform_data.get(FILE_KEY):
        heard, error = _transcript(session, message)
        if error:
            return OutgoingMessage(f"❌ {error}"), None
    heard = normalize_text(heard)
    if not heard:
        return OutgoingMessage(NOT_HEARD), None
    shown = sanitize_user_text(heard, 300)
    line = command_line(session, chat, heard)
    if line is None:
        return OutgoingMessage(NOT_PLACED.format(heard=shown)), None
    question = {
        "voice_line": line,
        "expires_at": (now + timedelta(minutes=PENDING_MINUTES)).isoformat(),
    }
    text = CONFIRM.format(heard=shown, line=sanitize_user_text(line, 300), minutes=PENDING_MINUTES)
    return OutgoingMessage(text), question


def command_line(session: Session, chat: Chat, heard: str) -> str | None:
    """The typed line a transcript stands for: a command, a /跟进 of a known customer, or None."""
    spoken = _PUNCTUATION.sub(" ", heard.replace("\n", " ")).strip(" /")
    spoken = re.sub(r"\s+", " ", spoken)
    if not spoken:
        return None
    if registry.resolve(spoken) is not None:
        return f"/{spoken}"
    if _starts_with_customer(session, chat, spoken):
        return f"/跟进 {spoken}"
    return None


def answer(pending: Mapping[str, Any], text: str, now: datetime) -> Answer:
    """What ``text`` does to an open voice question (see Answer); a bare number is an answer."""
    open_ = datetime.fromisoformat(pending["expires_at"]) >= now
    match = _CHOICE.match(text.strip())
    if match is None:
        return Answer(keep=open_)  # handled as usual; the question waits
    if not open_:
        return Answer(reply=OutgoingMessage(EXPIRED.format(minutes=PENDING_MINUTES)))
    choice = int(match.group(1))
    if choice == 1:
        return Answer(line=str(pending["voice_line"]))
    if choice == 2:
        return Answer(reply=OutgoingMessage(SAVED_NOTHING))
    return Answer(reply=OutgoingMessage(ASK_AGAIN), keep=True)


def _transcript(session: Session, message: IncomingMessage) -> tuple[str, str]:
    """(transcript, error) of a note the adapter transcribed; raises FileNeeded the first time.

    The stored text is deleted once read: an unconfirmed note leaves nothing behind.
    """
    key = received_key(message.platform, message.message_id)
    stored = session.scalars(select(StoredFile).where(StoredFile.key == key)).first()
    if stored is None:
        raise FileNeeded(
            message.platform,
            message.chat_id,
            message.message_id,
            message.platform_data[FILE_KEY],
            "语音",
            message.message_id,
            MAX_AUDIO_BYTES,
            transcribe=True,
        )
    session.execute(delete(StoredFile).where(StoredFile.key == key))
    if stored.error:
        return "", stored.error
    return stored.data.decode("utf-8", "replace"), ""


def _starts_with_customer(session: Session, chat: Chat, spoken: str) -> bool:
    """Whether the first word names a live customer of the chat (exactly, or as a known prefix)."""
    first, _ = split_first(spoken)
    rows = session.execute(
        select(Customer.id, Customer.name, Customer.aliases).where(
            Customer.chat_id == chat.id, live()
        )
    ).all()
    candidates = [Candidate(id_, name, tuple(aliases or ())) for id_, name, aliases in rows]
    key = normalize_name(first)
    if any(key in {normalize_name(n) for n in c.names} for c in candidates):
        return True
    return split_known_prefix(spoken, candidates) is not None
