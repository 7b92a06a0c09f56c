"""Settings: dataclasses loaded from config.toml, overridden by GENJIN_* environment variables.

Every key is documented in config.example.toml. A bad key or value raises ConfigError naming the
key, which the CLI prints as one line and exits with code 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.adapters import PLATFORMS, PlatformSettings

DEFAULT_DB_URL = "sqlite:///instance/genjin.db"


class ConfigError(Exception):
    """A configuration problem; the message names the offending key."""


# Keys holding credentials: an error names the key and what is wrong, never the value. Keys ending
# in secret/token/key/password are treated the same (see is_secret), so a new one is covered too.
SECRET_KEYS = frozenset(
    {
        "server.sandbox_key",
        "server.health_token",
        "board.secret",
        *(f"{p.name}.{key}" for p in PLATFORMS.values() for key in p.settings.secret_keys),
    }
)
# Keys holding URLs: shown with any password masked.
URL_KEYS = frozenset(
    {
        "database.url",
        *(f"{p.name}.{key}" for p in PLATFORMS.values() for key in p.settings.url_keys),
    }
)
# Every GENJIN_* variable that is not a GENJIN_<SECTION>_<KEY> setting; any other stops the bot.
ENV_NOT_SETTINGS = {
    "GENJIN_CONFIG": "path of config.toml (bot/cli.py)",
    "GENJIN_TEST_DATABASE_URL": "PostgreSQL for the test suite (tests/conftest.py, .ci/run)",
}
_SECRET_NAME = re.compile(r"(secret|token|key|password)$", re.IGNORECASE)


def is_secret(key: str) -> bool:
    """Whether a dotted key (``feishu.app_secret``) holds a credential that must never be shown."""
    return key in SECRET_KEYS or bool(_SECRET_NAME.search(key.rsplit(".", 1)[-1]))


def mask_url(url: str) -> str:
    """``url`` with its password (userinfo or ``password=`` query) replaced by ``***``.

    Works on malformed URLs too: the password runs from the first ``:`` of the userinfo to the
    last ``@`` before the query (or in the whole text when the password holds a ``?``), so a
    stray ``@``, ``/`` or ``?`` in it is masked as well; when in doubt, more is masked.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    end = rest.find("?") if "?" in rest else len(rest)
    at = rest.rfind("@", 0, end)
    if at < 0:
        at = rest.rfind("@")
    if at >= 0:
        user, colon, _password = rest[:at].partition(":")
        if colon:
            rest = f"{user}:***{rest[at:]}"
    masked = f"{head}{sep}{rest}"
    return re.sub(r"(?i)([?&;]password=)[^&;]*", r"\1***", masked)


def _shown(key: str, value: Any) -> str:
    """A value as an error message may show it: never a secret, URLs without their password."""
    if is_secret(key):
        return "(not shown: a secret)"
    if key in URL_KEYS and isinstance(value, str):
        return repr(mask_url(value))
    return repr(value)


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
    # Access key the sandbox requires when it is switched on for a non-loopback bind.
    sandbox_key: str = ""
    # Extra Host header values accepted besides the bind address and loopback names.
    allowed_hosts: list[str] = field(default_factory=list)
    # Connections the WSGI server keeps open at once, and the idle/incomplete-request timeouts.
    connection_limit: int = 1000
    channel_timeout_seconds: int = 30
    # Signed webhook requests (Feishu, WeCom) older or newer than this are refused.
    signed_max_age_seconds: int = 3600
    # /healthz and /metrics: "open", "loopback" (only from 127.0.0.1/::1) or "token".
    health_access: str = "open"
    health_token: str = ""
    # Where people reach this server (the board's links start with it); "" = the bind address.
    public_url: str = ""

    def base_url(self) -> str:
        """The start of the board's links: public_url, or http://host:port of the bind."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # listening everywhere: this machine answers locally
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


@dataclass
class SenderSettings:
    """[sender]: delivery retries of the outbox."""

    give_up_after_hours: float = 12.0
    lease_seconds: float = 30.0
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 600.0
    concurrency: int = 8


@dataclass
class PipelineSettings:
    """[pipeline]: retention of the inbox/outbox and the thresholds /healthz alarms on."""

    retention_days: int = 30
    inbox_stuck_seconds: int = 300
    outbox_stuck_seconds: int = 600


@dataclass
class CalendarSettings:
    """[calendar]: working days and office hours (China's holidays come from chinesecalendar)."""

    holidays: list[str] = field(default_factory=list)
    workdays: list[str] = field(default_factory=list)
    office_start: str = "09:00"
    office_end: str = "18:00"


@dataclass
class JobsSettings:
    """[jobs]: the scheduled reports and reminders (each chat can override with /设置).

    Besides these, one "HH:MM" key per job run at a time of day (digest_time = "18:00", …): the
    job table (handlers/jobs/table.py) declares them, ``jobs_settings`` adds them as fields.
    """

    sla_hours: float = 2.0
    quiet_days: int = 3
    grace_hours: float = 2.0
    lead_minutes: int = 15  # a follow-up with a time of day is reminded this many minutes before
    disabled: list[str] = field(default_factory=list)

    def time(self, key: str) -> str:
        """The "HH:MM" of a job's time key (``digest_time``)."""
        return str(getattr(self, key))


def jobs_settings() -> JobsSettings:
    """[jobs] with a field per time key of the job table, each at its default."""
    from handlers.jobs.table import time_defaults  # the table's builders import this module

    return _jobs_class(tuple(time_defaults().items()))()


@functools.cache
def _jobs_class(times: tuple[tuple[str, str], ...]) -> type[JobsSettings]:
    """The JobsSettings dataclass with one str field per (time key, default)."""
    fields = [(key, str, field(default=default)) for key, default in times]
    cls = dataclasses.make_dataclass("JobsSettings", fields, bases=(JobsSettings,))
    cls.__module__, cls.__doc__ = __name__, JobsSettings.__doc__
    return cls


@dataclass
class PoolSettings:
    """[pool]: the lead pool (公海) — claiming caps, and reclaiming customers left without follow-up.

    ``reclaim_days``: per open stage, working days without a follow-up after which the owner's
    customer goes back to the pool (empty: never). ``block_days``: working days the previous
    owner may not claim it again. ``max_open_per_rep``: open customers a rep may own when
    claiming one (0: no cap).
    """

    reclaim_days: dict[str, int] = field(default_factory=dict)
    block_days: int = 5
    max_open_per_rep: int = 0


MAX_LINK_TTL_HOURS = 90 * 24  # a board link lives at most 90 days


@dataclass
class BoardSettings:
    """[board]: the manager's board (bot/board/); off while there is no secret.

    ``secret`` signs the links and session cookies (HMAC-SHA256, at least 32 characters);
    ``genjin serve`` on SQLite generates one into ``board.secret`` (0600) next to the database
    when none is configured (bot/board/access.py). ``link_ttl_hours``: how long a link from
    /看板 works, and the session it opens.
    """

    secret: str = ""
    link_ttl_hours: float = 168.0


DEFAULT_GRADES = {"A": "重点", "B": "普通", "C": "观望", "D": "低意向"}
MAX_LEAD_MINUTES = 240  # jobs.lead_minutes and /设置 提前提醒: at most four hours ahead


@dataclass
class BookSettings:
    """[book]: the customer grades /等级 accepts (a capital letter each) and what each means."""

    grades: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_GRADES))


DEFAULT_STAGE_LIMITS = {
    "线索": 2,
    "已分配": 2,
    "跟进中": 7,
    "已报价": 10,
    "已签约": 15,
    "已回款": 30,
}


def _platform_sections() -> dict[str, PlatformSettings]:
    """A default section for every platform in the table (bot.adapters.PLATFORMS)."""
    return {name: platform.settings() for name, platform in PLATFORMS.items()}


@dataclass
class Settings:
    """All settings; pass an instance to create_app/Runtime (tests build their own)."""

    bot: BotSettings = field(default_factory=BotSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    sender: SenderSettings = field(default_factory=SenderSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    # [feishu], [wecom], …: one section per platform of the table, also read as settings.feishu.
    platform_sections: dict[str, PlatformSettings] = field(default_factory=_platform_sections)
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    jobs: JobsSettings = field(default_factory=jobs_settings)
    stages: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_STAGE_LIMITS))
    book: BookSettings = field(default_factory=BookSettings)
    pool: PoolSettings = field(default_factory=PoolSettings)
    board: BoardSettings = field(default_factory=BoardSettings)

    @property
    def tz(self) -> ZoneInfo:
        """The default chat time zone."""
        return ZoneInfo(self.bot.timezone)

    def sandbox_enabled(self) -> bool:
        """The sandbox page is on when asked, or by default while no chat platform is configured."""
        if self.server.sandbox == "auto":  # never by default where others can reach it
            return not self.platforms() and is_loopback_host(self.server.host)
        return self.server.sandbox == "on"

    def platforms(self) -> list[str]:
        """Configured chat platforms."""
        return [name for name, section in self.platform_sections.items() if section.enabled]

    def can_send_private(self, platform: str) -> bool:
        """Whether the platform's adapter can message one person privately (send_private)."""
        section = self.platform_sections.get(platform)
        return section is not None and section.sends_private()

    def sections(self) -> dict[str, Any]:
        """Every config section by name: the fixed ones, then each platform's."""
        fixed = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name != "platform_sections"
        }
        return {**fixed, **self.platform_sections}

    def __getattr__(self, name: str) -> Any:
        """A platform's section as an attribute: ``settings.wecom.names``."""
        sections = self.__dict__.get("platform_sections") or {}
        if name in sections:
            return sections[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


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
        f"config: {key} has an invalid value {_shown(key, value)} "
        f"(expected {type(default).__name__})"
    )


def _apply(section_obj: Any, section: str, values: Mapping[str, Any]) -> None:
    """Copy a TOML table onto a settings dataclass, refusing unknown keys."""
    known = {f.name: f for f in dataclasses.fields(section_obj)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"config: unknown key {section}.{key}{_did_you_mean(key, known)}")
        setattr(section_obj, key, _coerce(f"{section}.{key}", value, getattr(section_obj, key)))


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean x?)`` for the closest known name, or ''."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _check_environment(env: Mapping[str, str], settings_names: Iterable[str]) -> None:
    """A GENJIN_* variable that is no setting and not in ENV_NOT_SETTINGS stops the bot (a typo)."""
    known = {*settings_names, *ENV_NOT_SETTINGS}
    for name in sorted(env):
        if not name.upper().startswith("GENJIN_") or name in known:
            continue
        suffixes = {k.removeprefix("GENJIN_"): k for k in known}
        close = difflib.get_close_matches(name.upper().removeprefix("GENJIN_"), list(suffixes), n=1)
        hint = (
            f"did you mean {suffixes[close[0]]}?"
            if close
            else "settings are GENJIN_<SECTION>_<KEY>, see config.example.toml"
        )
        raise ConfigError(f"config: unknown environment variable {name} ({hint})")


def _check_database_url(url: str) -> None:
    """database.url: a URL SQLAlchemy parses, of a database it knows (shown without password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "e.g. sqlite:///instance/genjin.db or postgresql+psycopg://user:password@host/genjin"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"config: database.url {mask_url(url)!r} is not a database URL ({example})"
        ) from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            f"config: database.url {mask_url(url)!r} names an unknown database type "
            f"{parsed.drivername!r} ({example})"
        ) from None


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


def is_loopback_host(host: str) -> bool:
    """Whether a bind address (or host name) is reachable from this machine only."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_host_name(host: str) -> bool:
    """A DNS name or an IP address (IPv6 with or without brackets), without port or scheme."""
    if re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?", host):
        return True
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
    except ValueError:
        return False
    return True


def validate_server(server: ServerSettings) -> None:
    """[server] web checks; create_app repeats them after a --host given on the command line."""
    if server.sandbox_key and len(server.sandbox_key) < 16:
        raise ConfigError("config: server.sandbox_key must be at least 16 characters")
    if server.sandbox == "on" and not is_loopback_host(server.host) and not server.sandbox_key:
        raise ConfigError(
            f'config: server.sandbox_key is required when server.sandbox = "on" and server.host '
            f"{server.host!r} is not loopback (anyone reaching the port could post as any member)"
        )
    for host in server.allowed_hosts:
        if not _is_host_name(host):
            raise ConfigError(
                f"config: server.allowed_hosts entry {host!r} must be a host name such as "
                "bot.example.com (no scheme, port or path)"
            )
    if not 10 <= server.connection_limit <= 100_000:
        raise ConfigError("config: server.connection_limit must be between 10 and 100000")
    if not 1 <= server.channel_timeout_seconds <= 3600:
        raise ConfigError("config: server.channel_timeout_seconds must be between 1 and 3600")
    if server.public_url and not re.fullmatch(
        r"https?://[^/\s?#@]+(/[^\s?#]*)?", server.public_url
    ):
        raise ConfigError(
            f"config: server.public_url {server.public_url!r} must be an address such as "
            "https://bot.example.com or https://example.com/genjin (no query or #)"
        )


def _validate_health_and_pipeline(server: ServerSettings, pipeline: PipelineSettings) -> None:
    """Who may read /healthz and /metrics (the token is never shown), and the [pipeline] limits."""
    if server.health_access not in ("open", "loopback", "token"):
        raise ConfigError('config: server.health_access must be "open", "loopback" or "token"')
    if server.health_access == "token" and len(server.health_token) < 16:
        raise ConfigError(
            "config: server.health_token of at least 16 characters is required when "
            'server.health_access = "token" (GENJIN_SERVER_HEALTH_TOKEN)'
        )
    if pipeline.retention_days < 1:
        raise ConfigError("config: pipeline.retention_days must be at least 1")
    for key in ("inbox_stuck_seconds", "outbox_stuck_seconds"):
        if getattr(pipeline, key) < 1:
            raise ConfigError(f"config: pipeline.{key} must be at least 1")


def _validate(settings: Settings) -> None:
    """Cross-field checks, each naming its key."""
    _validate_jobs(settings.jobs)
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
    try:
        ZoneInfo(settings.bot.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"config: bot.timezone {settings.bot.timezone!r} is not a known time zone"
        ) from None
    if settings.server.sandbox not in ("auto", "on", "off"):
        raise ConfigError('config: server.sandbox must be "auto", "on" or "off"')
    validate_server(settings.server)
    if not 0 < settings.server.port < 65536:
        raise ConfigError(f"config: server.port {settings.server.port} is out of range")
    if settings.server.signed_max_age_seconds < 60:
        raise ConfigError(
            "config: server.signed_max_age_seconds must be at least 60 (platforms stamp "
            "requests in seconds, and clocks drift)"
        )
    if settings.sender.lease_seconds < 5:
        raise ConfigError("config: sender.lease_seconds must be at least 5")
    if not 1 <= settings.sender.concurrency <= 64:
        raise ConfigError("config: sender.concurrency must be between 1 and 64")
    if settings.sender.give_up_after_hours <= 0:
        raise ConfigError("config: sender.give_up_after_hours must be positive")
    _validate_health_and_pipeline(settings.server, settings.pipeline)
    _validate_pool(settings.pool)
    _validate_book(settings.book)
    _validate_board(settings.board)
    if settings.bot.undo_hours < 1:
        raise ConfigError("config: bot.undo_hours must be at least 1")
    for section in settings.platform_sections.values():
        section.validate()
    _check_database_url(settings.database.url)


def _validate_jobs(jobs: JobsSettings) -> None:
    """[jobs] checks: every time key of the job table, jobs.disabled names jobs, the limits."""
    from handlers.jobs.table import job_names, time_defaults

    for key in time_defaults():
        _check_time(f"jobs.{key}", jobs.time(key))
    names = job_names()
    unknown = set(jobs.disabled) - set(names)
    if unknown:
        raise ConfigError(
            f"config: jobs.disabled has unknown jobs {sorted(unknown)} (known: {', '.join(names)})"
        )
    if jobs.sla_hours <= 0 or jobs.grace_hours < 0 or jobs.quiet_days < 1:
        raise ConfigError(
            "config: jobs.sla_hours and jobs.quiet_days must be positive, jobs.grace_hours ≥ 0"
        )
    if not 0 <= jobs.lead_minutes <= MAX_LEAD_MINUTES:
        raise ConfigError(f"config: jobs.lead_minutes must be 0–{MAX_LEAD_MINUTES} (minutes)")


def _validate_pool(pool: PoolSettings) -> None:
    """[pool] checks: reclaim_days names open stages with whole working days, the limits ≥ 0."""
    from models.stages import LADDER, Status, status_for

    open_stages = [stage for stage in LADDER if status_for(stage) is Status.OPEN]
    for stage, days in pool.reclaim_days.items():
        if stage not in open_stages:
            known = "、".join(open_stages)
            raise ConfigError(
                f"config: pool.reclaim_days: {stage!r} is not an open stage ({known})"
            )
        if not isinstance(days, int) or isinstance(days, bool) or days < 3:
            raise ConfigError(
                f"config: pool.reclaim_days.{stage} must be a whole number of working days ≥ 3 "
                "(the owner is warned 2 working days before)"
            )
    if pool.block_days < 0 or pool.max_open_per_rep < 0:
        raise ConfigError("config: pool.block_days and pool.max_open_per_rep must be ≥ 0")


def _validate_board(board: BoardSettings) -> None:
    """[board] checks: a secret long enough to sign with (never shown), a sane link lifetime."""
    if board.secret and len(board.secret) < 32:
        raise ConfigError(
            "config: board.secret must be at least 32 characters (e.g. python3 -c "
            '"import secrets; print(secrets.token_urlsafe(32))"; GENJIN_BOARD_SECRET)'
        )
    if not 0.25 <= board.link_ttl_hours <= MAX_LINK_TTL_HOURS:
        raise ConfigError(
            f"config: board.link_ttl_hours must be between 0.25 and {MAX_LINK_TTL_HOURS} "
            "(hours; 168 = 7 days)"
        )


def _validate_book(book: BookSettings) -> None:
    """[book] checks: grades are capital letters A–Z, each with a short meaning."""
    if not book.grades:
        raise ConfigError('config: book.grades must name at least one grade, e.g. A = "重点"')
    for grade, meaning in book.grades.items():
        if not re.fullmatch(r"[A-Z]", grade):
            raise ConfigError(f"config: book.grades: {grade!r} must be one capital letter A–Z")
        if not isinstance(meaning, str) or not 1 <= len(meaning.strip()) <= 10:
            raise ConfigError(f"config: book.grades.{grade} must be a meaning of 1–10 characters")


def check_service_url(key: str, url: str) -> None:
    """A platform's API base URL: https://host, or http for this machine only (tests, fakes)."""
    if not re.fullmatch(r"https://[^/\s]+|http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?", url):
        raise ConfigError(
            f"config: {key} {_shown(key, url)} must be https://host (http only for localhost)"
        )


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
            raise ConfigError(
                f"config: file {file} not found (give --config PATH or GENJIN_CONFIG, "
                "or start from config.example.toml)"
            ) from None
        except OSError as exc:
            raise ConfigError(f"config: cannot read {file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config: {file} is not UTF-8 text; save it as UTF-8") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config: {file} is not valid TOML ({exc})") from None
        sections = settings.sections()
        for section, values in data.items():
            if section not in sections or not isinstance(values, dict):
                raise ConfigError(f"config: unknown section [{section}]")
            if section == "stages":
                _apply_stages(settings.stages, values)
            else:
                _apply(sections[section], section, values)
    env_names: list[str] = []
    for section, section_obj in settings.sections().items():
        if not dataclasses.is_dataclass(section_obj):
            continue
        for sub in dataclasses.fields(section_obj):
            name = f"GENJIN_{section}_{sub.name}".upper()
            env_names.append(name)
            if name in env:
                _apply(section_obj, section, {sub.name: env[name]})
    _check_environment(env, env_names)
    if db_url:
        settings.database.url = db_url
    _validate(settings)
    return settings
