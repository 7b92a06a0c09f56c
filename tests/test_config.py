"""Settings: TOML file, GENJIN_* overrides, one clear error line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

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
    for section in dataclasses.fields(settings):
        assert f"[{section.name}]" in text
        value = getattr(settings, section.name)
        if not dataclasses.is_dataclass(value):  # [stages]: one key per stage
            assert all(f'\n"{stage}" =' in text for stage in value)
            continue
        for key in dataclasses.fields(value):
            assert f"\n{key.name} =" in text or f"\n# {key.name} =" in text, (
                f"{section.name}.{key.name}"
            )


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
