"""Chat commands: one module each, registered with ``@command`` (see registry.py)."""

from __future__ import annotations

import importlib

MODULES = (
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


def load_all() -> None:
    """Import every command module so its commands register (idempotent)."""
    for name in MODULES:
        importlib.import_module(f"handlers.{name}")
