"""[wecom]: the settings section of the WeCom platform (see bot/adapters/wecom.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.adapters.base import PlatformSettings


@dataclass
class WecomSettings(PlatformSettings):
    """[wecom]: the WeCom intelligent robot (callback) and the groups' push webhooks."""

    secret_keys = ("token", "encoding_aes_key", "chats")  # chats: its tables hold webhook keys
    url_keys = ("domain",)

    token: str = ""
    encoding_aes_key: str = ""
    receive_id: str = ""
    domain: str = "https://qyapi.weixin.qq.com"
    timeout_seconds: float = 10.0
    chats: dict[str, dict[str, str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Configured when the callback token and EncodingAESKey are set."""
        return bool(self.token and self.encoding_aes_key)

    def webhook_key(self, chat_id: str) -> str:
        """The push-webhook key configured for a chat ('' when none)."""
        return str((self.chats.get(chat_id) or {}).get("webhook_key", ""))

    def validate(self) -> None:
        """[wecom] checks, each naming its key."""
        from bot.config import ConfigError, check_service_url  # bot.config imports this module

        if self.encoding_aes_key and not re.fullmatch(r"[A-Za-z0-9+/]{43}", self.encoding_aes_key):
            raise ConfigError("config: wecom.encoding_aes_key must be 43 characters of base64")
        if bool(self.token) != bool(self.encoding_aes_key):
            raise ConfigError("config: wecom.token and wecom.encoding_aes_key must be set together")
        check_service_url("wecom.domain", self.domain)
        if self.timeout_seconds <= 0:
            raise ConfigError("config: wecom.timeout_seconds must be positive")
        for chat_id, chat in self.chats.items():
            if not isinstance(chat, dict):
                raise ConfigError(f'config: wecom.chats."{chat_id}" must be a table')
            for key, value in chat.items():
                if key != "webhook_key":
                    raise ConfigError(f'config: unknown key wecom.chats."{chat_id}".{key}')
                if not isinstance(value, str) or not value.strip():
                    raise ConfigError(
                        f'config: wecom.chats."{chat_id}".webhook_key must be a non-empty string'
                    )
        for user_id, name in self.names.items():
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f'config: wecom.names."{user_id}" must be a non-empty string')
