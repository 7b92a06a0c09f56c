"""One adapter contract: every platform is an Adapter in one table, and nothing else names it.

A platform added to ``bot.adapters.PLATFORMS`` (here a tiny in-test one) gets its config section,
its environment variables, its validation, its adapter in the runtime and its webhook route
without a line changed in bot/config.py, bot/runtime.py, bot/app.py or bot/webhook.py.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Request, Response
from sqlalchemy import select

from bot.adapters import PLATFORMS, Adapter, Platform, PlatformSettings
from bot.adapters.base import OutboundItem, SendResult, WebhookAnswer
from bot.adapters.console import ConsoleAdapter
from bot.adapters.render import fit_card
from bot.app import create_app
from bot.config import ConfigError, Settings, load_settings
from bot.messages import Card, CardSection, IncomingMessage
from bot.runtime import Runtime
from models.member import Member
from models.pipeline import SENT, Inbox, Outbox

ROOT = Path(__file__).resolve().parent.parent
NEUTRAL = ("bot/runtime.py", "bot/config.py", "bot/app.py", "bot/webhook.py")
# In two parts: tests/test_config.py checks that every GENJIN_* name written here is a setting.
TINY_TOKEN = "GENJIN_" + "TINY_TOKEN"


# -- the table ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_platform_in_the_table_implements_the_adapter_contract(name):
    platform = PLATFORMS[name]
    adapter = platform.adapter_class()
    assert issubclass(adapter, Adapter) and not inspect.isabstract(adapter)
    assert adapter.platform == name
    assert issubclass(platform.settings, PlatformSettings) and dataclasses.is_dataclass(
        platform.settings
    )
    assert platform.settings().enabled is False  # a default section configures nothing
    assert platform.webhook_path == f"/webhook/{name}"


def test_the_console_is_an_adapter_without_webhook_or_optional_capabilities():
    console = ConsoleAdapter()
    assert isinstance(console, Adapter)
    assert console.member_names("c") is None
    assert console.start_long_connection(lambda message: None) is None
    assert console.prefetch() is None and console.stop_long_connection() is None


def test_an_adapter_without_send_cannot_be_built():
    class Deaf(Adapter):
        platform = "deaf"

        @classmethod
        def from_settings(cls, settings: Settings, clock: Callable[[], float]) -> Deaf:
            return cls()

        def parse_request(self, req: Request) -> None:
            return None

    with pytest.raises(TypeError, match="send"):
        Deaf()  # type: ignore[abstract]


def _names_in(path: str) -> set[str]:
    """Imported modules and names, identifiers, attributes and non-docstring strings of a file."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names |= {node.module or "", *(a.name for a in node.names)}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.asname or "")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            names.add(node.value)
    return names


@pytest.mark.parametrize("path", NEUTRAL)
def test_runtime_config_and_web_app_name_no_platform(path):
    platforms = {"feishu", "wecom", "lark", *PLATFORMS}
    named = {n for n in _names_in(path) if any(p in n.lower() for p in platforms)}
    assert named == set(), f"{path} names a platform: {sorted(named)}"


@pytest.mark.parametrize("path", [*NEUTRAL, "bot/adapters/__init__.py", "bot/sender.py"])
def test_nothing_asks_an_adapter_what_it_can_do(path):
    assert "hasattr(" not in (ROOT / path).read_text(encoding="utf-8")


# -- a new platform is one table entry ------------------------------------------------------------
@dataclasses.dataclass
class TinySettings(PlatformSettings):
    """[tiny]: a platform that exists only in this test."""

    secret_keys = ("token",)

    token: str = ""
    greeting: str = "hi"

    @property
    def enabled(self) -> bool:
        return bool(self.token)

    def validate(self) -> None:
        if self.token == "bad":
            raise ConfigError("config: tiny.token must not be bad")


class TinyAdapter(Adapter):
    """Posts are JSON ``{"chat", "user", "id", "text"}`` signed by the token in a header."""

    platform = "tiny"
    sent: list[OutboundItem]

    def __init__(self, settings: TinySettings) -> None:
        self.settings = settings
        self.sent = []

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float]) -> TinyAdapter:
        section = settings.platform_sections["tiny"]
        assert isinstance(section, TinySettings)
        return cls(section)

    def parse_request(self, req: Request) -> WebhookAnswer:
        if req.headers.get("X-Tiny-Token") != self.settings.token:
            return [], Response("forbidden", 403)
        body = json.loads(req.get_data())
        message = IncomingMessage(
            platform="tiny",
            chat_id=body["chat"],
            message_id=body["id"],
            sender_id=body["user"],
            text=body["text"],
            platform_data={"reply_token": f"answer-{body['id']}"},
        )
        return [message], Response("ok", 200)

    def send(self, item: OutboundItem) -> SendResult:
        self.sent.append(item)
        return SendResult(ok=True, message_id=f"tiny-{len(self.sent)}")

    def member_names(self, chat_id: str) -> dict[str, str] | None:
        return {"u1": "小明"}

    def start_long_connection(self, receive: Callable[[IncomingMessage], object]) -> None:
        return None


@pytest.fixture
def tiny(monkeypatch):
    """The tiny platform, registered in the table for one test."""
    monkeypatch.setitem(
        PLATFORMS, "tiny", Platform("tiny", TinySettings, f"{__name__}:TinyAdapter")
    )


def test_a_new_platform_gets_its_config_section_and_variables(tiny, tmp_path):
    settings = load_settings(env={TINY_TOKEN: "t0k"})
    assert settings.tiny.token == "t0k" and settings.tiny.greeting == "hi"
    assert "tiny" in settings.platforms() and "tiny" in settings.sections()
    assert not settings.sandbox_enabled()  # a platform is configured
    path = tmp_path / "config.toml"
    path.write_text('[tiny]\ntoken = "abc"\ngreeting = "你好"\n', encoding="utf-8")
    assert load_settings(path, env={}).tiny.greeting == "你好"
    path.write_text('[tiny]\ntokn = "abc"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key tiny\.tokn \(did you mean token\?\)"):
        load_settings(path, env={})
    with pytest.raises(ConfigError, match="tiny.token must not be bad"):
        load_settings(env={TINY_TOKEN: "bad"})


def test_without_the_table_entry_the_section_is_unknown(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[tiny]\ntoken = "abc"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown section \[tiny\]"):
        load_settings(path, env={})
    with pytest.raises(ConfigError, match=TINY_TOKEN):
        load_settings(env={TINY_TOKEN: "abc"})


def test_a_new_platform_is_served_by_the_runtime_and_the_webhook(tiny, engine, clock):
    settings = load_settings(env={TINY_TOKEN: "t0k"})
    runtime = Runtime(settings, engine=engine, clock=clock)
    adapter = runtime.adapters["tiny"]
    assert isinstance(adapter, TinyAdapter) and adapter.settings is settings.tiny
    client = create_app(settings, runtime).test_client()
    body = {"chat": "g1", "user": "u1", "id": "m1", "text": "/帮助"}
    assert client.post("/webhook/tiny", json=body).status_code == 403  # no token
    answer = client.post("/webhook/tiny", json=body, headers={"X-Tiny-Token": "t0k"})
    assert answer.status_code == 200 and answer.data == b"ok"
    runtime.drain()
    with runtime.sessions() as session:
        (row,) = session.scalars(select(Inbox)).all()
        assert row.platform == "tiny" and row.payload["platform_data"] == {
            "reply_token": "answer-m1"
        }
        (reply,) = session.scalars(select(Outbox)).all()
        assert reply.platform == "tiny" and reply.reply_token == "answer-m1"
        assert reply.status == SENT and reply.payload == adapter.sent[0].message.to_payload()
    (item,) = adapter.sent
    assert item.chat_id == "g1" and item.reply_to == "m1" and item.reply_token == "answer-m1"
    assert runtime.refresh_names() == 1  # member_names, asked through the contract
    with runtime.sessions() as session:
        assert session.scalar(select(Member.name).where(Member.user_id == "u1")) == "小明"


def test_a_platform_without_webhook_or_configuration_is_404(tiny, runtime):
    client = create_app(runtime.settings, runtime).test_client()
    assert "tiny" not in runtime.adapters  # not configured: no adapter
    assert client.post("/webhook/tiny", json={}).status_code == 404
    assert client.post("/webhook/console", json={}).status_code == 404  # no webhook


def test_long_connections_are_started_and_watched_through_the_contract(tiny, engine, clock):
    """A stopped long connection degrades /healthz, named by its platform."""

    class Connected(TinyAdapter):
        def start_long_connection(self, receive):  # type: ignore[override]
            thread = threading.Thread(target=lambda: None)
            thread.start()
            thread.join()
            return thread

    settings = load_settings(env={TINY_TOKEN: "t0k"})
    runtime = Runtime(
        settings, engine=engine, clock=clock, adapters={"tiny": Connected(settings.tiny)}
    )
    assert "tiny_long_connection" not in runtime.health()
    runtime.start(poll=0.05)
    try:
        health = runtime.health()
    finally:
        runtime.stop()
    assert health["tiny_long_connection"] == "stopped" and health["status"] == "degraded"
    assert "tiny: the long connection stopped" in health["reasons"]


# -- the neutral message type ---------------------------------------------------------------------
def test_an_inbox_row_stored_with_the_old_reply_token_field_still_loads():
    old = {
        "platform": "wecom",
        "chat_id": "c",
        "message_id": "m",
        "sender_id": "u",
        "text": "/帮助",
        "sender_name": "",
        "mentions": [{"user_id": "u2", "name": "李四"}],
        "to_me": True,
        "chat_type": "group",
        "chat_name": "",
        "sent_at": "",
        "reply_token": "https://example.invalid/response",
        "kind": "message",
    }
    message = IncomingMessage.from_payload(old)
    assert message.platform_data == {"reply_token": "https://example.invalid/response"}
    assert message.reply_token == "https://example.invalid/response"
    assert "reply_token" not in message.to_payload()
    assert IncomingMessage.from_payload(message.to_payload()) == message


# -- fitting a card -------------------------------------------------------------------------------
def test_a_card_is_cut_by_halving_lines_per_section_until_it_fits():
    card = Card("t", [CardSection("a", [f"line {i}" for i in range(40)]), CardSection("b", ["x"])])
    budgets: list[int | None] = []

    def render(budget: int | None) -> int:
        budgets.append(budget)
        return sum(min(len(s.lines), budget or len(s.lines)) for s in card.sections)

    assert fit_card(card, render, lambda lines: lines, 12) == (11, True)
    assert budgets == [None, 20, 10]


def test_a_card_that_never_fits_stops_at_the_floor():
    card = Card("t", [CardSection("", ["x" * 100]) for _ in range(50)])
    calls: list[int | None] = []
    rendered, fits = fit_card(card, lambda b: calls.append(b) or 5000, lambda n: n, 100, floor=1)
    assert (rendered, fits) == (5000, False) and calls == [None]


@pytest.mark.parametrize(
    ("payload", "token"),
    [
        (
            {"platform_data": {"reply_token": "https://example.invalid/r1"}},
            "https://example.invalid/r1",
        ),
        ({"reply_token": "https://example.invalid/old"}, "https://example.invalid/old"),
        ({"platform_data": "garbage", "text": "x"}, ""),
        ({}, ""),
        (["not", "a", "dict"], ""),
    ],
)
def test_the_apology_for_a_failed_row_finds_its_reply_token(payload, token):
    """A row that failed for good is apologised for through the token it came with, any shape."""
    from bot.messages import reply_token_of

    assert reply_token_of(payload) == token
