"""[feishu]: the settings section of the Feishu/Lark platform (see bot/adapters/feishu.py)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.adapters.base import PlatformSettings


@dataclass
class FeishuSettings(PlatformSettings):
    """[feishu]: the Feishu/Lark app (secrets preferably from GENJIN_FEISHU_* variables)."""

    secret_keys = ("app_secret", "verification_token", "encrypt_key")
    url_keys = ("domain",)
    private_sends = True  # im/v1/messages?receive_id_type=open_id (the app's availability range)

    app_id: str = ""
    app_secret: str = ""
    verification_token: str = ""
    encrypt_key: str = ""
    mode: str = "webhook"
    domain: str = "https://open.feishu.cn"
    bot_open_id: str = ""
    chat_qps: float = 5.0
    app_qps: float = 50.0
    timeout_seconds: float = 10.0
    speech: str = "off"  # "on": voice notes go through Feishu speech-to-text (needs PyAV)

    @property
    def enabled(self) -> bool:
        """Configured when an app id is set."""
        return bool(self.app_id)

    def validate(self) -> None:
        """[feishu] checks, each naming its key."""
        from bot.config import ConfigError, check_service_url  # bot.config imports this module

        if self.mode not in ("webhook", "ws"):
            raise ConfigError('config: feishu.mode must be "webhook" or "ws"')
        if self.enabled:
            if not self.app_secret:
                raise ConfigError("config: feishu.app_secret is required when feishu.app_id is set")
            if self.mode == "webhook" and not self.verification_token:
                raise ConfigError(
                    "config: feishu.verification_token is required in webhook mode "
                    "(events carry it; without it every event is refused)"
                )
            check_service_url("feishu.domain", self.domain)
        if self.speech not in ("on", "off"):
            raise ConfigError('config: feishu.speech must be "on" or "off"')
        if self.chat_qps <= 0 or self.app_qps <= 0:
            raise ConfigError("config: feishu.chat_qps and feishu.app_qps must be positive")
