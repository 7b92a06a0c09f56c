"""Settings: TOML file, GENJIN_* overrides, one clear error line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import (
    ENV_NOT_SETTINGS,
    SECRET_KEYS,
    ConfigError,
    is_secret,
    load_settings,
    mask_url,
)

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_need_no_file():
    settings = load_settings(env={})
    assert settings.database.url == "sqlite:///instance/genjin.db"
    assert settings.bot.timezone == "Asia/Shanghai"
    assert settings.sandbox_enabled()


def test_example_config_loads_and_documents_every_key():
    import dataclasses

    settings = load_settings(ROOT / "config.example.toml", env={})
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for section, value in settings.sections().items():  # with every platform's section
        assert f"[{section}]" in text
        if not dataclasses.is_dataclass(value):  # [stages]: one key per stage
            assert all(f'\n"{stage}" =' in text for stage in value)
            continue
        for key in dataclasses.fields(value):
            assert f"\n{key.name} =" in text or f"\n# {key.name} =" in text, f"{section}.{key.name}"


def test_file_values_and_env_overrides(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[bot]\nadmins = ["老板"]\ntimezone = "Asia/Urumqi"\n[server]\nport = 9000\n',
        encoding="utf-8",
    )
    env = {"GENJIN_BOT_ADMINS": "王总, 李总", "GENJIN_DATABASE_URL": "sqlite:///x.db"}
    settings = load_settings(path, env=env)
    assert settings.bot.admins == ["王总", "李总"]
    assert settings.bot.timezone == "Asia/Urumqi"
    assert settings.server.port == 9000
    assert settings.database.url == "sqlite:///x.db"
    assert load_settings(path, env=env, db_url="sqlite:///y.db").database.url == "sqlite:///y.db"


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ('[bot]\ntimezone = "Mars/Base"\n', {}, "bot.timezone"),
        ('[bot]\nadmin = ["x"]\n', {}, "unknown key bot.admin"),
        ('[server]\nport = "abc"\n', {}, "server.port"),
        ("[server]\nport = 70000\n", {}, "server.port"),
        ('[server]\nsandbox = "maybe"\n', {}, "server.sandbox"),
        ('[robot]\nname = "x"\n', {}, "unknown section [robot]"),
        ("[bot\n", {}, "not valid TOML"),
        ("", {"GENJIN_SERVER_PORT": "eighty"}, "server.port"),
        ("", {"GENJIN_DATABASE_URL": "genjin.db"}, "database.url"),
        ("", {"GENJIN_SENDER_GIVE_UP_AFTER_HOURS": "0"}, "sender.give_up_after_hours"),
        ("", {"GENJIN_SERVER_SIGNED_MAX_AGE_SECONDS": "0"}, "server.signed_max_age_seconds"),
        ('[jobs]\ndigest_time = "25:00"\n', {}, "jobs.digest_time"),
        ('[jobs]\ndisabled = ["daily"]\n', {}, "jobs.disabled"),
        ('[calendar]\nholidays = ["2027-02-30"]\n', {}, "calendar.holidays"),
        ('[calendar]\noffice_start = "19:00"\n', {}, "calendar.office_start"),
        ('[stages]\n"已报价" = 0\n', {}, "stages.已报价"),
        ('[stages]\n"谈判" = 3\n', {}, "stages.谈判"),
    ],
)
def test_bad_config_names_the_key(tmp_path, content, env, message):
    path = tmp_path / "config.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(path, env=env)


def test_cli_prints_one_error_line_and_exits_2(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[server]\nport = "abc"\n', encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "say",
            "--config",
            str(path),
            "--chat",
            "a",
            "--as",
            "b",
            "/帮助",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "genjin: config: server.port has an invalid value 'abc' (expected int)"
    ]
    assert result.stdout == ""


def test_missing_config_file_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "current", "--config", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "not found" in result.stderr


# -- secrets never echoed; URLs shown without their password --------------------------------------
SECRET = "S3cretValue998877"


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_a_secret_with_a_wrong_type_is_named_but_never_shown(tmp_path, key):
    section, name = key.split(".")
    path = tmp_path / "config.toml"
    path.write_text(f'[{section}]\n{name} = ["{SECRET}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = str(caught.value)
    assert key in message and "not shown" in message
    assert SECRET not in message


def test_webhook_keys_given_as_an_environment_value_are_not_echoed():
    env = {"GENJIN_WECOM_CHATS": f'{{"wrkA": {{"webhook_key": "{SECRET}"}}}}'}
    with pytest.raises(ConfigError, match="wecom.chats") as caught:
        load_settings(env=env)
    assert SECRET not in str(caught.value)


def test_keys_that_look_secret_are_treated_as_secret():
    assert all(is_secret(key) for key in SECRET_KEYS)
    assert is_secret('wecom.chats."wrkA".webhook_key') and is_secret("database.password")
    assert not is_secret("feishu.app_id") and not is_secret("server.port")


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg//admin:{SECRET}@db/genjin",  # "://" missing
        f"postgresql+psycopg://admin:{SECRET}@db:port/genjin",  # port not a number
        f"mysqlx://admin:{SECRET}@db/genjin",  # no such database type
        f"admin:{SECRET}@db/genjin",
    ],
)
def test_a_malformed_database_url_never_shows_its_password(url):
    with pytest.raises(ConfigError, match="database.url") as caught:
        load_settings(env={"GENJIN_DATABASE_URL": url})
    assert SECRET not in str(caught.value) and "admin:***@" in str(caught.value)


def test_a_platform_domain_with_a_password_is_masked():
    env = {
        "GENJIN_FEISHU_APP_ID": "cli_x",
        "GENJIN_FEISHU_APP_SECRET": SECRET,
        "GENJIN_FEISHU_VERIFICATION_TOKEN": SECRET,
        "GENJIN_FEISHU_DOMAIN": f"ftp://u:{SECRET}@open.feishu.cn",
    }
    with pytest.raises(ConfigError, match="feishu.domain") as caught:
        load_settings(env=env)
    assert SECRET not in str(caught.value) and "u:***@open.feishu.cn" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:p4ss@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
        ("postgresql://u:p@ss/w@h/db", "postgresql://u:***@h/db"),  # unescaped @ and /
        ("postgresql://u:pw?x@h/db", "postgresql://u:***@h/db"),  # unescaped ?
        (
            "postgresql://u@h/db?password=p4ss&sslmode=require",
            "postgresql://u@h/db?password=***&sslmode=require",
        ),
        ("sqlite:///instance/genjin.db", "sqlite:///instance/genjin.db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ],
)
def test_mask_url(url, shown):
    assert mask_url(url) == shown


# -- GENJIN_* variables: a misspelled one stops the bot like an unknown key ------------------------
# Misspellings the tests use on purpose (here and in test_cli.py).
TYPOS = {
    "GENJIN_DATABSE_URL",
    "GENJIN_FEISHU_APPSECRET",
    "GENJIN_TEST_DATABSE_URL",
    "GENJIN_COLOUR",
}


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("GENJIN_DATABSE_URL", "did you mean GENJIN_DATABASE_URL?"),
        ("GENJIN_FEISHU_APPSECRET", "did you mean GENJIN_FEISHU_APP_SECRET?"),
        ("genjin_server_port", "did you mean GENJIN_SERVER_PORT?"),
        ("GENJIN_TEST_DATABSE_URL", "did you mean GENJIN_TEST_DATABASE_URL?"),
        ("GENJIN_COLOUR", "settings are GENJIN_<SECTION>_<KEY>, see config.example.toml"),
    ],
)
def test_unknown_environment_variable_is_refused_with_a_hint(name, hint):
    with pytest.raises(ConfigError) as caught:
        load_settings(env={name: SECRET})
    assert str(caught.value) == f"config: unknown environment variable {name} ({hint})"


def test_non_setting_variables_are_allowed():
    env = {name: "x" for name in ENV_NOT_SETTINGS} | {"GENJINX": "1", "PATH": "/bin"}
    assert load_settings(env=env).database.url == "sqlite:///instance/genjin.db"


def test_every_genjin_variable_the_project_mentions_is_known():
    """The README, docs, tests, benchmarks and CI use only names the check accepts."""
    import dataclasses
    import re

    settings = load_settings(env={})
    known = set(ENV_NOT_SETTINGS) | {
        f"GENJIN_{section}_{key.name}".upper()
        for section, value in settings.sections().items()
        if dataclasses.is_dataclass(value)
        for key in dataclasses.fields(value)
    }
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "config.example.toml"]
    for folder in ("docs", "tests", "bench", ".ci", "bot"):
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix != ".pyc"]
    mentioned = set()
    for file in files:
        text = file.read_text(encoding="utf-8", errors="ignore")
        mentioned |= set(re.findall(r"\bGENJIN_[A-Z0-9_]*[A-Z0-9]\b(?![_*<])", text))
    mentioned -= TYPOS
    assert mentioned and mentioned <= known, sorted(mentioned - known)


def test_unreadable_config_file_is_one_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path, env={})  # a directory
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[bot]\nname = "\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, env={})
