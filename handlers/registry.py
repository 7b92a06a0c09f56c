"""Command registry: ``@command`` tags a plain ``(ctx, args)`` function; help is generated from it."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.messages import OutgoingMessage

if TYPE_CHECKING:
    from handlers.context import Context

# Every command answers with one message (a CommandError's text is the other way to answer).
Handler = Callable[["Context", str], OutgoingMessage]


class Group(StrEnum):
    """Where /帮助 lists a command, in this order; the value is the Chinese heading."""

    RECORD = "记录"
    VIEW = "查看"
    MANAGE = "管理"

    @property
    def label(self) -> str:
        """The heading shown in /帮助."""
        return self.value


class CommandError(Exception):
    """An expected failure; its text is the reply, and the command's changes are rolled back."""


class UsageError(CommandError):
    """A malformed command: a one-line reason plus a correct example."""

    def __init__(self, reason: str, example: str) -> None:
        super().__init__(f"❌ {reason}\n例如：{example}")
        self.reason = reason
        self.example = example


@dataclass(frozen=True)
class Command:
    """A registered chat command."""

    name: str
    func: Handler
    aliases: tuple[str, ...]
    usage: str
    summary: str
    example: str
    who: str
    group: Group

    def usage_error(self, reason: str) -> UsageError:
        """A UsageError carrying this command's example."""
        return UsageError(reason, self.example)


_COMMANDS: dict[str, Command] = {}
_LOOKUP: dict[str, Command] = {}


def command(
    name: str,
    *,
    usage: str,
    summary: str,
    example: str,
    aliases: tuple[str, ...] = (),
    who: str = "所有人",
    group: Group = Group.RECORD,
) -> Callable[[Handler], Handler]:
    """Register ``func`` as the chat command ``/name`` (and its aliases).

    ``group`` is a Group: the type checker refuses a bare string, and ``Group(group)`` fails at
    import on an unknown one, so no command can drop out of /帮助.
    """

    def decorate(func: Handler) -> Handler:
        cmd = Command(name, func, tuple(aliases), usage, summary, example, who, Group(group))
        for word in (name, *aliases):
            key = word.casefold()
            if key in _LOOKUP and _LOOKUP[key].func is not func:
                raise ValueError(f"command word {word!r} registered twice")
            _LOOKUP[key] = cmd
        _COMMANDS[name] = cmd
        func.command = cmd  # type: ignore[attr-defined]
        return func

    return decorate


def commands() -> list[Command]:
    """All commands in registration order."""
    return list(_COMMANDS.values())


def get(name: str) -> Command | None:
    """A command by name or alias."""
    return _LOOKUP.get(name.casefold().lstrip("/"))


def resolve(text: str) -> tuple[Command, str] | None:
    """Longest command word that prefixes ``text`` (no slash); ``/跟进华为`` needs no space.

    ASCII aliases need a word boundary so ``/gjx`` is not ``/gj``.
    """
    folded = text.casefold()
    best: tuple[Command, str] | None = None
    best_len = 0
    for word, cmd in _LOOKUP.items():
        if len(word) <= best_len or not folded.startswith(word):
            continue
        following = text[len(word) : len(word) + 1]
        if word.isascii() and following and (following.isascii() and following.isalnum()):
            continue
        best, best_len = (cmd, text[len(word) :].strip()), len(word)
    return best


def first_word(text: str) -> str:
    """The first word of a command line (what the user typed as the command)."""
    return text.split(maxsplit=1)[0] if text.split() else ""


def suggest(word: str) -> str | None:
    """The closest command name for an unknown word, errbot-style 'did you mean'."""
    words = list(_LOOKUP)
    folded = word.casefold()
    for cutoff_len in range(len(folded), 0, -1):
        prefix = folded[:cutoff_len]
        hits = [w for w in words if w.startswith(prefix) and not w.isascii()]
        if len(prefix) >= 2 and len(hits) == 1:
            return _LOOKUP[hits[0]].name
    close = difflib.get_close_matches(folded, words, n=1, cutoff=0.5)
    return _LOOKUP[close[0]].name if close else None
