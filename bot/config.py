"""Settings: dataclasses loaded from config.toml, overridden by GENJIN_* environment variables.

Every key is documented in config.example.toml. A bad key or value raises ConfigError naming the
key, which the CLI prints as one line and exits with code 2.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DB_URL = "sqlite:///instance/genjin.db"


class ConfigError(Exception):
    """A configuration problem; the message names the offending key."""


@dataclass
class BotSettings:
    """[bot]: identity, time zone and admins."""

    name: str = "跟进助手"
    timezone: str = "Asia/Shanghai"
    admins: list[str] = field(default_factory=list)
    undo_hours: int = 24


@dataclass
class DatabaseSettings:
    """[database]: where the data lives."""

    url: str = DEFAULT_DB_URL


@dataclass
class ServerSettings:
    """[server]: the web server of `genjin serve`."""

    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 8
    sandbox: str = "auto"
    max_body_bytes: int = 1_048_576


@dataclass
class SenderSettings:
    """[sender]: delivery retries of the outbox."""

    give_up_after_hours: float = 12.0
    lease_seconds: float = 30.0
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 600.0
    concurrency: int = 8


@dataclass
class CalendarSettings:
    """[calendar]: working days and office hours (China's holidays come from chinesecalendar)."""

    holidays: list[str] = field(default_factory=list)
    workdays: list[str] = field(default_factory=list)
    office_start: str = "09:00"
    office_end: str = "18:00"


@dataclass
class JobsSettings:
    """[jobs]: the scheduled reports and reminders (each chat can override with /设置)."""

    digest_time: str = "18:00"
    nudge_time: str = "09:30"
    stalled_time: str = "10:00"
    weekly_time: str = "17:00"
    sla_hours: float = 2.0
    quiet_days: int = 3
    grace_hours: float = 2.0
    disabled: list[str] = field(default_factory=list)


JOB_NAMES = ("daily_digest", "morning_nudges", "response_sla", "stalled_deals", "weekly_review")
DEFAULT_STAGE_LIMITS = {
    "线索": 2,
    "已分配": 2,
    "跟进中": 7,
    "已报价": 10,
    "已签约": 15,
    "已回款": 30,
}


@dataclass
class FeishuSettings:
    """[feishu]: the Feishu/Lark app (secrets preferably from GENJIN_FEISHU_* variables)."""

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

    @property
    def enabled(self) -> bool:
        """Configured when an app id is set."""
        return bool(self.app_id)


@dataclass
class WecomSettings:
    """[wecom]: the WeCom intelligent robot (callback) and the groups' push webhooks."""

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


@dataclass
class Settings:
    """All settings; pass an instance to create_app/Runtime (tests build their own)."""

    bot: BotSettings = field(default_factory=BotSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    sender: SenderSettings = field(default_factory=SenderSettings)
    feishu: FeishuSettings = field(default_factory=FeishuSettings)
    wecom: WecomSettings = field(default_factory=WecomSettings)
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)
    stages: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_STAGE_LIMITS))

    @property
    def tz(self) -> ZoneInfo:
        """The default chat time zone."""
        return ZoneInfo(self.bot.timezone)

    def sandbox_enabled(self) -> bool:
        """The sandbox page is on when asked, or by default while no chat platform is configured."""
        if self.server.sandbox == "auto":
            return not self.platforms()
        return self.server.sandbox == "on"

    def platforms(self) -> list[str]:
        """Configured chat platforms."""
        platforms = ["feishu"] if self.feishu.enabled else []
        if self.wecom.enabled:
            platforms.append("wecom")
        return platforms


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check/convert one value to the type of its default."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return value.lower() in ("1", "true", "yes", "on")
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(default, list):
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, dict):  # tables come from TOML only, never from the environment
        if isinstance(value, dict):
            return dict(value)
    raise ConfigError(
        f"config: {key} has an invalid value {value!r} (expected {type(default).__name__})"
    )


def _apply(section_obj: Any, section: str, values: Mapping[str, Any]) -> None:
    """Copy a TOML table onto a settings dataclass, refusing unknown keys."""
    known = {f.name: f for f in dataclasses.fields(section_obj)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"config: unknown key {section}.{key}")
        setattr(section_obj, key, _coerce(f"{section}.{key}", value, getattr(section_obj, key)))


def _apply_stages(limits: dict[str, int], values: Mapping[str, Any]) -> None:
    """[stages]: working days a customer may stay in each stage before it counts as stalled."""
    for stage, days in values.items():
        if stage not in DEFAULT_STAGE_LIMITS:
            known = "、".join(DEFAULT_STAGE_LIMITS)
            raise ConfigError(f"config: stages.{stage} is not a stage with a limit ({known})")
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            raise ConfigError(f"config: stages.{stage} must be a whole number of working days ≥ 1")
        limits[stage] = days


def _check_time(key: str, value: str) -> None:
    """HH:MM, 00:00–23:59."""
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ConfigError(f"config: {key} {value!r} must be a time like 18:00")


def _validate(settings: Settings) -> None:
    """Cross-field checks, each naming its key."""
    for key in ("digest_time", "nudge_time", "stalled_time", "weekly_time"):
        _check_time(f"jobs.{key}", getattr(settings.jobs, key))
    _check_time("calendar.office_start", settings.calendar.office_start)
    _check_time("calendar.office_end", settings.calendar.office_end)
    if settings.calendar.office_start >= settings.calendar.office_end:
        raise ConfigError("config: calendar.office_start must be before calendar.office_end")
    for key in ("holidays", "workdays"):
        for value in getattr(settings.calendar, key):
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ConfigError(
                    f"config: calendar.{key} entry {value!r} must be a date like 2027-01-01"
                )
            try:
                date.fromisoformat(value)
            except ValueError:
                raise ConfigError(
                    f"config: calendar.{key} entry {value!r} is not a real date"
                ) from None
    both = set(settings.calendar.holidays) & set(settings.calendar.workdays)
    if both:
        raise ConfigError(
            f"config: calendar.holidays and calendar.workdays both list {sorted(both)[0]}"
        )
    unknown = set(settings.jobs.disabled) - set(JOB_NAMES)
    if unknown:
        raise ConfigError(
            f"config: jobs.disabled has unknown jobs {sorted(unknown)} (known: {', '.join(JOB_NAMES)})"
        )
    if (
        settings.jobs.sla_hours <= 0
        or settings.jobs.grace_hours < 0
        or settings.jobs.quiet_days < 1
    ):
        raise ConfigError(
            "config: jobs.sla_hours and jobs.quiet_days must be positive, jobs.grace_hours ≥ 0"
        )
    try:
        ZoneInfo(settings.bot.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"config: bot.timezone {settings.bot.timezone!r} is not a known time zone"
        ) from None
    if settings.server.sandbox not in ("auto", "on", "off"):
        raise ConfigError('config: server.sandbox must be "auto", "on" or "off"')
    if not 0 < settings.server.port < 65536:
        raise ConfigError(f"config: server.port {settings.server.port} is out of range")
    if settings.sender.lease_seconds < 5:
        raise ConfigError("config: sender.lease_seconds must be at least 5")
    if not 1 <= settings.sender.concurrency <= 64:
        raise ConfigError("config: sender.concurrency must be between 1 and 64")
    if settings.sender.give_up_after_hours <= 0:
        raise ConfigError("config: sender.give_up_after_hours must be positive")
    if settings.bot.undo_hours < 1:
        raise ConfigError("config: bot.undo_hours must be at least 1")
    feishu = settings.feishu
    if feishu.mode not in ("webhook", "ws"):
        raise ConfigError('config: feishu.mode must be "webhook" or "ws"')
    if feishu.enabled:
        if not feishu.app_secret:
            raise ConfigError("config: feishu.app_secret is required when feishu.app_id is set")
        if feishu.mode == "webhook" and not feishu.verification_token:
            raise ConfigError(
                "config: feishu.verification_token is required in webhook mode "
                "(events carry it; without it every event is refused)"
            )
        if not re.fullmatch(
            r"https://[^/\s]+|http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?", feishu.domain
        ):
            raise ConfigError(
                f"config: feishu.domain {feishu.domain!r} must be https://host (http only for localhost)"
            )
    if feishu.chat_qps <= 0 or feishu.app_qps <= 0:
        raise ConfigError("config: feishu.chat_qps and feishu.app_qps must be positive")
    _validate_wecom(settings.wecom)
    if "://" not in settings.database.url:
        raise ConfigError(f"config: database.url {settings.database.url!r} is not a database URL")


def _validate_wecom(wecom: WecomSettings) -> None:
    """[wecom] checks, each naming its key."""
    if wecom.encoding_aes_key and not re.fullmatch(r"[A-Za-z0-9+/]{43}", wecom.encoding_aes_key):
        raise ConfigError("config: wecom.encoding_aes_key must be 43 characters of base64")
    if bool(wecom.token) != bool(wecom.encoding_aes_key):
        raise ConfigError("config: wecom.token and wecom.encoding_aes_key must be set together")
    if not re.fullmatch(
        r"https://[^/\s]+|http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?", wecom.domain
    ):
        raise ConfigError(
            f"config: wecom.domain {wecom.domain!r} must be https://host (http only for localhost)"
        )
    if wecom.timeout_seconds <= 0:
        raise ConfigError("config: wecom.timeout_seconds must be positive")
    for chat_id, chat in wecom.chats.items():
        if not isinstance(chat, dict):
            raise ConfigError(f'config: wecom.chats."{chat_id}" must be a table')
        for key, value in chat.items():
            if key != "webhook_key":
                raise ConfigError(f'config: unknown key wecom.chats."{chat_id}".{key}')
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    f'config: wecom.chats."{chat_id}".webhook_key must be a non-empty string'
                )
    for user_id, name in wecom.names.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f'config: wecom.names."{user_id}" must be a non-empty string')


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    db_url: str | None = None,
) -> Settings:
    """Load settings from a TOML file (optional), then GENJIN_<SECTION>_<KEY> environment overrides.

    ``GENJIN_DATABASE_URL`` and ``GENJIN_BOT_ADMINS`` (comma-separated) follow the same rule;
    ``db_url`` (the CLI's --db) wins over both.
    """
    env = os.environ if env is None else env
    settings = Settings()
    if path is not None:
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config: file {file} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config: {file} is not valid TOML ({exc})") from None
        sections = {f.name for f in dataclasses.fields(settings)}
        for section, values in data.items():
            if section not in sections or not isinstance(values, dict):
                raise ConfigError(f"config: unknown section [{section}]")
            if section == "stages":
                _apply_stages(settings.stages, values)
            else:
                _apply(getattr(settings, section), section, values)
    for f in dataclasses.fields(settings):
        section_obj = getattr(settings, f.name)
        if not dataclasses.is_dataclass(section_obj):
            continue
        for sub in dataclasses.fields(section_obj):
            name = f"GENJIN_{f.name}_{sub.name}".upper()
            if name in env:
                _apply(section_obj, f.name, {sub.name: env[name]})
    if db_url:
        settings.database.url = db_url
    _validate(settings)
    return settings
