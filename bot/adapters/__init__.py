"""The table of chat platforms: the one place that names them.

A platform's name is its config section (``[feishu]``), its ``GENJIN_FEISHU_*`` variables, its
webhook path (``/webhook/feishu``) and the ``platform`` of its chats and pipeline rows. The
runtime, the web app and the config loader loop over ``PLATFORMS``; adding a platform is an
adapter module, its settings section and one line here (see bot/adapters/base.py).

The adapter class is named as ``"module:Class"`` and imported only when the platform is
configured: platform SDKs are slow to import, and bot.config reads this table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from bot.adapters.base import Adapter, PlatformSettings
from bot.adapters.feishu_settings import FeishuSettings
from bot.adapters.wecom_settings import WecomSettings


@dataclass(frozen=True)
class Platform:
    """One chat platform: its name, its settings section and where its adapter lives."""

    name: str
    settings: type[PlatformSettings]
    adapter: str  # "module:Class" of an Adapter subclass

    @property
    def webhook_path(self) -> str:
        """Where the platform posts its events (answered by bot.webhook)."""
        return f"/webhook/{self.name}"

    def adapter_class(self) -> type[Adapter]:
        """The adapter class (imports its module)."""
        module, _, name = self.adapter.partition(":")
        cls = getattr(importlib.import_module(module), name)
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise TypeError(f"{self.adapter} is not an Adapter subclass")
        return cls


def _table(*platforms: Platform) -> dict[str, Platform]:
    return {p.name: p for p in platforms}


PLATFORMS: dict[str, Platform] = _table(
    Platform("feishu", FeishuSettings, "bot.adapters.feishu:FeishuAdapter"),
    Platform("wecom", WecomSettings, "bot.adapters.wecom:WecomAdapter"),
)

__all__ = ["PLATFORMS", "Adapter", "Platform", "PlatformSettings"]
