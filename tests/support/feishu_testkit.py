"""Build webhook requests exactly as Feishu sends them (see docs: shared/platforms/feishu.md §1.4, §1.5, §6.1).

* ``encrypt_event`` / ``sign`` are the inverse of lark-oapi 1.7.5's ``AESCipher`` and ``_verify_sign``:
  AES-256-CBC with key ``sha256(encrypt_key)``, a random 16-byte IV prefixed, PKCS7, base64; the signature is
  plain ``sha256(timestamp + nonce + encrypt_key + body).hexdigest()`` (not HMAC).
* ``signed_encrypted_request`` returns ``(body, headers)`` with the exact header case the SDK reads
  (``RawRequest.headers`` is a plain, case-sensitive dict).
* The event builders return v2.0 (``"schema": "2.0"``) envelopes shaped like the official samples; the
  member events follow the fields of the SDK models ``P2ImChatMemberBotAddedV1Data`` and
  ``P2ImChatMemberUserAddedV1Data``.

Uses ``pycryptodome`` (a lark-oapi dependency), so no extra package is needed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from typing import Any

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad

APP_ID = "cli_test"
TENANT_KEY = "tenant_test"
BOT_OPEN_ID = "ou_bot"
BOT_NAME = "跟进助手"

__all__ = [
    "APP_ID",
    "BOT_NAME",
    "BOT_OPEN_ID",
    "TENANT_KEY",
    "bot_added_event",
    "encrypt_event",
    "file_message_event",
    "member_added_event",
    "mention",
    "message_event",
    "post_content",
    "sign",
    "signed_encrypted_request",
    "url_verification",
]


# --- crypto -----------------------------------------------------------------------------------------


def encrypt_event(plaintext: str, encrypt_key: str) -> str:
    """``base64(iv ‖ AES-256-CBC(sha256(encrypt_key), iv, PKCS7(plaintext)))`` — the ``encrypt`` field."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    iv = os.urandom(16)
    cipher = AES.new(key, AES.MODE_CBC, iv)
    data = cipher.encrypt(pad(plaintext.encode("utf-8"), AES.block_size))
    return base64.b64encode(iv + data).decode("ascii")


def sign(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """``X-Lark-Signature``: plain SHA-256 hex of ``timestamp + nonce + encrypt_key`` then the raw body."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


def signed_encrypted_request(
    event: dict[str, Any],
    encrypt_key: str,
    timestamp: str | int | None = None,
    nonce: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The POST Feishu makes to the webhook: ``{"encrypt": ...}`` body plus signed headers.

    ``timestamp`` is seconds since the epoch (Feishu sends seconds); default the wall clock, right
    only for a real ``genjin serve``: in-process tests pass the runtime's clock. ``nonce`` default random.
    """
    plaintext = json.dumps(event, ensure_ascii=False)
    body = json.dumps({"encrypt": encrypt_event(plaintext, encrypt_key)}).encode("utf-8")
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce if nonce is not None else str(secrets.randbelow(2**31))
    headers = {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": sign(ts, nonce, encrypt_key, body),
        "X-Request-Id": secrets.token_hex(16),
    }
    return body, headers


# --- payload builders -------------------------------------------------------------------------------


def _now_ms() -> int:
    """The wall clock in ms: the default stamp, for a real ``genjin serve`` (in-process tests pass
    ``create_time_ms`` from the runtime's clock, e.g. ``FeishuChat.now_ms()``)."""
    return int(time.time() * 1000)


def _header(event_type: str, token: str, event_id: str | None, create_time_ms: int | None) -> dict:
    return {
        "event_id": event_id or secrets.token_hex(16),
        "event_type": event_type,
        "create_time": str(create_time_ms if create_time_ms is not None else _now_ms()),
        "token": token,
        "app_id": APP_ID,
        "tenant_key": TENANT_KEY,
    }


def _user_id(open_id: str) -> dict[str, str]:
    # union_id/user_id are derived so they are stable per open_id; user_id is "" as it is without the
    # contact:user.employee_id:readonly scope.
    return {"union_id": "on_" + open_id.removeprefix("ou_"), "user_id": "", "open_id": open_id}


def mention(key: str, open_id: str, name: str) -> dict[str, Any]:
    """A ``message.mentions[]`` entry; ``key`` is the placeholder in the text, e.g. ``"@_user_1"``."""
    return {"key": key, "id": _user_id(open_id), "name": name, "tenant_key": TENANT_KEY}


def post_content(title: str, paragraphs: list[Any]) -> dict[str, Any]:
    """Rich-text (``post``) content as it arrives in ``im.message.receive_v1`` (no locale wrapper).

    Each paragraph is a list of elements, or a bare ``str`` for a one-text-element paragraph; inside a
    paragraph a ``str`` becomes ``{"tag": "text", "text": s}`` and a ``dict`` is used as is, e.g.
    ``{"tag": "at", "user_id": "@_user_1", "user_name": "跟进助手"}``. In received posts Feishu puts the
    mention placeholder key (matching ``mentions[].key``) in the at element's ``user_id`` [report].
    """
    content: list[list[dict[str, Any]]] = []
    for para in paragraphs:
        items = [para] if isinstance(para, str | dict) else list(para)
        content.append(
            [{"tag": "text", "text": it} if isinstance(it, str) else dict(it) for it in items]
        )
    return {"title": title, "content": content}


def message_event(
    text: str,
    *,
    chat_id: str = "oc_test_chat",
    open_id: str = "ou_sender",
    token: str = "vt_test",
    message_id: str | None = None,
    event_id: str | None = None,
    mentions: list[dict[str, Any]] | None = None,
    chat_type: str = "group",
    message_type: str = "text",
    content: dict[str, Any] | str | None = None,
    create_time_ms: int | None = None,
    parent_id: str = "",
) -> dict[str, Any]:
    """A v2 ``im.message.receive_v1`` event (the realistic payload of feishu.md §1.5).

    ``content`` overrides the message content: a dict is JSON-encoded, a str is used verbatim. Without it,
    text messages get ``{"text": text}`` and ``post`` messages ``post_content("", [text])``.
    ``create_time_ms`` sets both the header and the message times (ms epoch, sent as strings).
    ``parent_id`` (and ``root_id``) name the message this one replies to.
    """
    now = create_time_ms if create_time_ms is not None else _now_ms()
    if content is None:
        content = post_content("", [text]) if message_type == "post" else {"text": text}
    content_str = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return {
        "schema": "2.0",
        "header": _header("im.message.receive_v1", token, event_id, now),
        "event": {
            "sender": {
                "sender_id": _user_id(open_id),
                "sender_type": "user",
                "tenant_key": TENANT_KEY,
            },
            "message": {
                "message_id": message_id or "om_" + secrets.token_hex(16),
                "root_id": parent_id,
                "parent_id": parent_id,
                "create_time": str(now),
                "update_time": str(now),
                "chat_id": chat_id,
                "chat_type": chat_type,
                "message_type": message_type,
                "content": content_str,
                "mentions": list(mentions or []),
            },
        },
    }


def file_message_event(
    file_key: str,
    file_name: str,
    *,
    chat_id: str = "oc_test_chat",
    open_id: str = "ou_sender",
    token: str = "vt_test",
    message_id: str | None = None,
    create_time_ms: int | None = None,
) -> dict[str, Any]:
    """A file posted to a chat (feishu-cards-files.md §3.3): ``message_type`` "file", content
    ``{"file_key", "file_name"}``, no mentions (a file cannot @ anyone)."""
    return message_event(
        "",
        chat_id=chat_id,
        open_id=open_id,
        token=token,
        message_id=message_id,
        message_type="file",
        content={"file_key": file_key, "file_name": file_name},
        create_time_ms=create_time_ms,
    )


def audio_message_event(
    file_key: str,
    duration_ms: int = 3000,
    *,
    chat_id: str = "oc_test_chat",
    open_id: str = "ou_sender",
    token: str = "vt_test",
    message_id: str | None = None,
    chat_type: str = "p2p",
    create_time_ms: int | None = None,
) -> dict[str, Any]:
    """A voice note (feishu-cards-files.md §3.3, §5.2): ``message_type`` "audio", content
    ``{"file_key", "duration"}`` (ms), no mentions; by default in a private chat with the bot."""
    return message_event(
        "",
        chat_id=chat_id,
        open_id=open_id,
        token=token,
        message_id=message_id,
        chat_type=chat_type,
        message_type="audio",
        content={"file_key": file_key, "duration": duration_ms},
        create_time_ms=create_time_ms,
    )


def url_verification(challenge: str, token: str) -> dict[str, str]:
    """The URL check Feishu sends when the request URL is saved; answer ``{"challenge": challenge}``."""
    return {"challenge": challenge, "token": token, "type": "url_verification"}


def bot_added_event(
    chat_id: str,
    token: str = "vt_test",
    *,
    operator_open_id: str = "ou_operator",
    name: str = "销售一组",
    external: bool = False,
    event_id: str | None = None,
) -> dict[str, Any]:
    """v2 ``im.chat.member.bot.added_v1``: the bot was added to ``chat_id`` (``name`` is the group name)."""
    return {
        "schema": "2.0",
        "header": _header("im.chat.member.bot.added_v1", token, event_id, None),
        "event": {
            "chat_id": chat_id,
            "operator_id": _user_id(operator_open_id),
            "external": external,
            "operator_tenant_key": TENANT_KEY,
            "name": name,
            "i18n_names": {"zh_cn": name, "en_us": "", "ja_jp": ""},
        },
    }


def member_added_event(
    chat_id: str,
    users: dict[str, str] | list[tuple[str, str]] | list[dict[str, Any]],
    token: str = "vt_test",
    *,
    operator_open_id: str = "ou_operator",
    name: str = "销售一组",
    external: bool = False,
    event_id: str | None = None,
) -> dict[str, Any]:
    """v2 ``im.chat.member.user.added_v1``.

    ``users`` maps open_id → display name, or is ``[(open_id, name), ...]``, or already-shaped entries
    ``[{"name", "tenant_key", "user_id": {"open_id", "union_id", "user_id"}}, ...]`` (used as is).
    """
    items = list(users.items()) if isinstance(users, dict) else list(users)
    entries = [
        dict(u)
        if isinstance(u, dict)
        else {"name": u[1], "tenant_key": TENANT_KEY, "user_id": _user_id(u[0])}
        for u in items
    ]
    return {
        "schema": "2.0",
        "header": _header("im.chat.member.user.added_v1", token, event_id, None),
        "event": {
            "chat_id": chat_id,
            "operator_id": _user_id(operator_open_id),
            "external": external,
            "operator_tenant_key": TENANT_KEY,
            "users": entries,
            "name": name,
            "i18n_names": {"zh_cn": name, "en_us": "", "ja_jp": ""},
        },
    }
