"""The layering rule, checked on the source: models ← handlers ← bot.

- ``models/`` (tables, domain rules, report queries) imports neither ``bot`` nor ``handlers``.
- ``handlers/`` (what the bot says) may use only the leaf types ``bot.messages`` and ``bot.config``.
- ``bot/`` (the machine) calls into ``handlers/`` only at its two entry points: the router and the
  job table.

Every import counts, including the ones inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANDLERS_MAY_USE = {"bot.messages", "bot.config"}
BOT_MAY_USE = {"handlers.router", "handlers.jobs"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``; ``from a import b`` also yields ``a.b``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _allowed(module: str, allowed: set[str]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


def _violations(package: str) -> list[str]:
    out: list[str] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        for line, module in _imports(path):
            top = _top(module)
            if top == package or top not in {"bot", "handlers", "models"}:
                continue
            if package == "models":
                bad = True
            elif package == "handlers":
                # `from bot import messages` yields "bot" and "bot.messages": judge the full names.
                bad = top == "bot" and module != "bot" and not _allowed(module, HANDLERS_MAY_USE)
            else:
                bad = (
                    top == "handlers" and module != "handlers" and not _allowed(module, BOT_MAY_USE)
                )
            if bad:
                out.append(f"{name}:{line} imports {module}")
    return out


@pytest.mark.parametrize("package", ["models", "handlers", "bot"])
def test_imports_point_one_way(package: str) -> None:
    assert _violations(package) == []


def test_the_checker_sees_a_wrong_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A models module importing bot (even inside a function) is caught."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "x.py").write_text("def f():\n    from bot.sender import _lease\n")
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "y.py").write_text("from bot import runtime\nfrom bot import config\n")
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "z.py").write_text("import handlers.format\nfrom handlers import router\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert _violations("models") == [
        "models/x.py:2 imports bot.sender",
        "models/x.py:2 imports bot.sender._lease",
    ]
    assert _violations("handlers") == ["handlers/y.py:1 imports bot.runtime"]
    assert _violations("bot") == ["bot/z.py:1 imports handlers.format"]
