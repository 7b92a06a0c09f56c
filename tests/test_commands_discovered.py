"""A command is one module: it is loaded by being in the handlers package, not by a name list."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import handlers
from handlers import registry


def test_help_order_names_only_modules_with_commands() -> None:
    """HELP_ORDER only orders /帮助: no stale names in it (a new module needs no entry)."""
    handlers.load_all()
    defining = {cmd.func.__module__.removeprefix("handlers.") for cmd in registry.commands()}
    assert set(handlers.HELP_ORDER) <= defining


PROBE = """
from bot.messages import OutgoingMessage
from handlers.registry import Group, command


@command("探针", usage="/探针", summary="只在测试里存在的命令", example="/探针", group=Group.VIEW)
def probe(ctx, args):
    return OutgoingMessage("🔎 探针收到")
"""


def test_a_new_command_module_alone_is_routed_and_listed_in_help(
    chat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adding a command is one module (plus its test and README row): nothing else to edit."""
    (tmp_path / "zz_probe_cmd.py").write_text(PROBE, encoding="utf-8")
    monkeypatch.setattr(handlers, "__path__", [*handlers.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_COMMANDS", dict(registry._COMMANDS))
    monkeypatch.setattr(registry, "_LOOKUP", dict(registry._LOOKUP))
    try:
        handlers.load_all()
        assert chat.reply("/探针") == "🔎 探针收到"
        lines = chat.reply("/帮助").split("\n")
        view = lines[lines.index("【查看】") + 1 : lines.index("【管理】")]
        assert view[-1].split()[0] == "/探针"  # after the ordered ones
    finally:
        sys.modules.pop("handlers.zz_probe_cmd", None)
        if hasattr(handlers, "zz_probe_cmd"):
            delattr(handlers, "zz_probe_cmd")


def test_every_module_of_the_package_is_loaded() -> None:
    handlers.load_all()
    assert "follow_up" in handlers.discovered()
    assert "jobs" not in handlers.discovered()  # a subpackage, not a command
    assert [n for n in handlers.discovered() if f"handlers.{n}" not in sys.modules] == []


def test_a_module_missing_from_help_order_is_loaded_all_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "zz_probe.py").write_text("LOADED = True\n", encoding="utf-8")
    monkeypatch.setattr(handlers, "__path__", [*handlers.__path__, str(tmp_path)])
    try:
        handlers.load_all()
        assert sys.modules["handlers.zz_probe"].LOADED
    finally:
        sys.modules.pop("handlers.zz_probe", None)
        if hasattr(handlers, "zz_probe"):
            delattr(handlers, "zz_probe")


def test_help_lists_commands_in_help_order(chat) -> None:
    lines = chat.reply("/帮助").split("\n")
    record = lines[lines.index("【记录】") + 1 : lines.index("【查看】")]
    assert [line.split()[0] for line in record[:3]] == ["/跟进", "/新客户", "/分配"]
