"""[wecom]: the settings section of the WeCom platform (see bot/adapters/wecom.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.adapters.base import PlatformSettings


@dataclass
class WecomSettings(PlatformSettings):
    """[wecom]: the WeCom intelligent robot (callback or long connection), the push webhooks."""

    secret_keys = ("token", "encoding_aes_key", "secret", "chats")  # chats: webhook keys
    url_keys = ("domain", "ws_url")
    private_sends = True  # over the long connection only: aibot_send_msg to a userid

    token: str = ""
    encoding_aes_key: str = ""
    receive_id: str = ""
    mode: str = "webhook"  # "ws": the robot's long connection (bot_id + secret, no public URL)
    bot_id: str = ""
    secret: str = ""
    ws_url: str = "wss://openws.work.weixin.qq.com"
    domain: str = "https://qyapi.weixin.qq.com"
    timeout_seconds: float = 10.0
    chats: dict[str, dict[str, str]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Configured: the callback token and EncodingAESKey, or in ws mode the bot_id."""
        if self.mode == "ws":
            return bool(self.bot_id)
        return bool(self.token and self.encoding_aes_key)

    def sends_private(self) -> bool:
        """Only the long connection can post to one person (the callback robot cannot)."""
        return self.mode == "ws"

    def webhook_key(self, chat_id: str) -> str:
        """The push-webhook key configured for a chat ('' when none)."""
        return str((self.chats.get(chat_id) or {}).get("webhook_key", ""))

    def validate(self) -> None:
        """[wecom] checks, each naming its key."""
        from bot.config import ConfigError, check_service_url  # bot.config imports this module

        if self.mode not in ("webhook", "ws"):
            raise ConfigError('config: wecom.mode must be "webhook" or "ws"')
        if self.mode == "ws":
            if not self.bot_id.strip():
                raise ConfigError('config: wecom.bot_id is required when wecom.mode is "ws"')
            if not self.secret.strip():
                raise ConfigError(
                    'config: wecom.secret is required when wecom.mode is "ws" '
                    "(the robot's long-connection Secret)"
                )
            local = r"ws://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?"
            if not re.fullmatch(rf"(wss://[^/\s]+|{local})(/\S*)?", self.ws_url):
                raise ConfigError(
                    "config: wecom.ws_url must be wss://host (ws:// only for localhost)"
                )
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
