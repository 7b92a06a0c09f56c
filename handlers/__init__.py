"""Chat commands: one module each, registered with ``@command`` (see registry.py).

``load_all`` imports every module of this package, so a command module registers by existing;
``HELP_ORDER`` only says in which order /帮助 lists them; a module not named there is listed after
the named ones of its group.
"""

from __future__ import annotations

import importlib
import pkgutil

HELP_ORDER = (
    "follow_up",
    "new_customer",
    "assign",
    "stage",
    "remind",
    "customer",
    "mine",
    "undo",
    "settings",
    "alias",
    "reports",
    "target",
    "whoami",
    "help",
)


def discovered() -> list[str]:
    """The modules of this package (subpackages such as ``jobs`` are not commands)."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.ispkg)


def load_all() -> None:
    """Import every command module so its commands register, in /帮助 order (idempotent)."""
    for name in dict.fromkeys([*HELP_ORDER, *discovered()]):
        importlib.import_module(f"{__name__}.{name}")
