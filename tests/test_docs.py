"""The README documents every chat command the registry has, so docs cannot drift from code."""

from pathlib import Path

import handlers
from handlers import registry

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_lists_every_command_with_its_example():
    handlers.load_all()
    for cmd in registry.commands():
        assert f"`/{cmd.name}" in README, cmd.name
        assert cmd.example in README, cmd.example


def test_readme_shows_the_two_commands():
    assert "make run" in README and "make test" in README
