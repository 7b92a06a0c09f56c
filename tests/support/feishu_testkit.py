"""Build webhook requests exactly as Feishu sends them (see docs: shared/platforms/feishu.md §1.4, §1.5, §6.1).

* ``encrypt_event`` / ``sign`` are the inverse of lark-oapi 1.7.5's ``AESCipher`` and ``_verify_sign``:
  AES-256-CBC with key ``sha256(encrypt_key)``, a random 16-byte IV prefixed, PKCS7, base64; the signature is
  plain ``sha256(timestamp + nonce + encrypt_key + body).hexdigest()`` (not HMAC).
* ``signed_encrypted_request`` returns ``(body, headers)`` with the exact header case the SDK reads
  (``RawRequest.headers`` is a plain, case-sensitive dict).
* The event builders return v2.0 (``"schema": "2.0"``) envelopes shaped like the official samples; the
  member events follow the fields of the SDK models ``P2ImChatMemberBotAddedV1Data`` and
  ``P2ImChatMemberUserAddedV1Data``; ``card_action_event`` is the ``card.action.trigger`` callback of
  feishu-cards-files.md §1.2 (``header.create_time`` in microseconds).
* ``card_problems`` checks a card JSON 2.0 against the rules of feishu-cards-files.md §2.1 (the fake
  server refuses cards that break them).

Uses ``pycryptodome`` (a lark-oapi dependency), so no extra package is needed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
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
    "card_action_event",
    "card_problems",
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


def card_action_event(
    value: dict[str, Any],
    *,
    open_id: str,
    chat_id: str,
    message_id: str,
    token: str = "vt_test",
    event_id: str | None = None,
    form_value: dict[str, Any] | None = None,
    tag: str = "button",
    name: str | None = None,
    create_time_us: int | None = None,
) -> dict[str, Any]:
    """The ``card.action.trigger`` callback of a tap on a button of card ``message_id`` (the doc's
    sample, feishu-cards-files.md §1.2): ``form_value`` only for a form submit, ``timezone`` only
    when a date picker was used, ``operator.user_id`` absent (it needs an extra scope)."""
    created = create_time_us if create_time_us is not None else int(time.time() * 1_000_000)
    header = _header("card.action.trigger", token, event_id, None)
    header["create_time"] = str(created)
    action: dict[str, Any] = {"value": value, "tag": tag}
    if name:
        action["name"] = name
    if form_value is not None:
        action["form_value"] = form_value
        if any(
            isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2} [+-]\d{4}", v)
            for v in form_value.values()
        ):
            action["timezone"] = "Asia/Shanghai"
    return {
        "schema": "2.0",
        "header": header,
        "event": {
            "operator": {
                "tenant_key": TENANT_KEY,
                "open_id": open_id,
                "union_id": "on_" + open_id.removeprefix("ou_"),
            },
            "token": "c-" + secrets.token_hex(20),
            "action": action,
            "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": chat_id},
        },
    }


CARD_BYTES = 30 * 1024
CARD_COMPONENTS = 200
_TEXT_OBJECTS = {"plain_text", "lark_md"}
_NAMED = {
    "input",
    "date_picker",
    "picker_datetime",
    "picker_time",
    "select_static",
    "multi_select_static",
    "select_person",
    "multi_select_person",
    "checker",
}


def _walk(node: Any, path: tuple[str, ...] = ()) -> Any:
    """Yield (component, tags of the components around it) for every component of a card."""
    if isinstance(node, dict):
        tag = node.get("tag")
        inner = path
        if tag and tag not in _TEXT_OBJECTS:
            yield node, path
            inner = (*path, str(tag))
        for value in node.values():
            yield from _walk(value, inner)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value, path)


def card_problems(card: Any, *, updatable: bool = False) -> list[str]:
    """What is wrong with a card JSON 2.0 by the doc's rules ([] when nothing): schema, size,
    component count, tables and charts, forms at the body root with card-unique names and a submit
    button, no table/chart/form in a form, select values unique, callback values as objects;
    ``updatable``: ``config.update_multi`` must be true (a card that is PATCHed)."""
    problems: list[str] = []
    if not isinstance(card, dict) or card.get("schema") != "2.0":
        return ["not a card JSON 2.0"]
    elements = (card.get("body") or {}).get("elements")
    if not isinstance(elements, list):
        return ["body.elements missing"]
    if updatable and (card.get("config") or {}).get("update_multi") is not True:
        problems.append("config.update_multi is not true")
    size = len(json.dumps(card, ensure_ascii=False).encode("utf-8"))
    if size > CARD_BYTES:
        problems.append(f"card of {size} bytes (over 30 KB)")
    components = list(_walk(card.get("body")))
    if len(components) > CARD_COMPONENTS:
        problems.append(f"{len(components)} components (over {CARD_COMPONENTS})")
    tags = [c.get("tag") for c, _ in components]
    if tags.count("table") > 5:
        problems.append("more than 5 tables")
    if tags.count("chart") > 5:
        problems.append("more than 5 charts")
    names: list[str] = []
    for component, around in components:
        tag = component.get("tag")
        name = component.get("name")
        if isinstance(name, str) and name:
            names.append(name)
        if len(around) > 5:
            problems.append(f"{tag} nested {len(around)} deep")
        if tag == "form":
            if around:
                problems.append(f"form {name!r} inside {around[-1]}: forms sit at the body root")
            if not name:
                problems.append("a form without a name")
            inside = list(_walk(component.get("elements")))
            for child, _ in inside:
                if child.get("tag") in ("table", "chart", "form"):
                    problems.append(f"{child.get('tag')} inside form {name!r}")
                if (child.get("tag") in _NAMED or child.get("tag") == "button") and not child.get(
                    "name"
                ):
                    problems.append(f"{child.get('tag')} without a name in form {name!r}")
            if not any(
                c.get("tag") == "button" and c.get("form_action_type") == "submit"
                for c, _ in inside
            ):
                problems.append(f"form {name!r} has no submit button")
        if tag in ("select_static", "multi_select_static"):
            values = [o.get("value") for o in component.get("options") or []]
            if len(values) != len(set(values)):
                problems.append(f"select {name!r} repeats an option value")
        if tag == "button":
            text = (component.get("text") or {}).get("content", "")
            if len(text) > 100:
                problems.append("button text over 100 characters")
            for behavior in component.get("behaviors") or []:
                if behavior.get("type") == "callback" and not isinstance(
                    behavior.get("value"), dict
                ):
                    problems.append("a callback value that is not an object")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"names used twice: {repeated}")
    return problems
