"""The CLI follows Python conventions: --version, global options anywhere, help on every option,
an SPDX license in pyproject.toml, and a `serve` start-up that ends with the address to open."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.cli import build_parser, configure_logging

ROOT = Path(__file__).resolve().parent.parent


def genjin(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run `genjin ARGS` as a subprocess, without the caller's GENJIN_* settings."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GENJIN_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**environment, **env},
    )


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's commands by name."""
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.mark.slow  # a real genjin process
def test_version_prints_the_installed_package_version(tmp_path):
    out = genjin("--version", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"genjin {version('genjin')}\n"


@pytest.mark.parametrize(
    "command",
    [["tick"], ["say", "--chat", "c", "--as", "张三", "/待办"], ["db", "current"], ["export"]],
)
def test_global_options_work_before_and_after_the_command(command):
    parser = build_parser()
    before = parser.parse_args(["--db", "sqlite:///b.db", "--config", "b.toml", *command])
    after = parser.parse_args([*command, "--db", "sqlite:///a.db", "--config", "a.toml"])
    neither = parser.parse_args(command)
    assert (before.db, before.config) == ("sqlite:///b.db", "b.toml")
    assert (after.db, after.config) == ("sqlite:///a.db", "a.toml")
    assert (neither.db, neither.config) == (None, None)
    assert before.command == after.command == command[0]


@pytest.mark.slow  # a real genjin process
def test_db_given_before_the_command_is_the_database_used(tmp_path):
    before, after, ignored = tmp_path / "before.db", tmp_path / "after.db", tmp_path / "env.db"
    env = {"GENJIN_DATABASE_URL": f"sqlite:///{ignored}"}
    first = genjin("--db", f"sqlite:///{before}", "db", "upgrade", cwd=tmp_path, **env)
    second = genjin("tick", "--at", "2026-11-27T10:00", "--db", f"sqlite:///{after}", cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.startswith("schema revision: 0")
    assert before.is_file() and after.is_file() and not ignored.exists()


def test_every_option_and_command_has_help_text():
    parser = build_parser()
    missing = []
    for name, command in {"genjin": parser, **subcommands(parser)}.items():
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"genjin {a.dest}" for a in action._choices_actions if not a.help]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {action.option_strings or action.dest}")
    assert missing == []


@pytest.mark.parametrize("command", ["", *subcommands(build_parser())])
def test_help_of_each_command_exits_0(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([command, "-h"] if command else ["-h"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--db URL" in text and "--config PATH" in text


def test_pyproject_license_is_an_spdx_string():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    license_ = pyproject["project"]["license"]
    assert isinstance(license_, str) and re.fullmatch(r"[A-Za-z0-9.+-]+", license_), license_
    # SPDX strings in project.license need setuptools 77 or newer to build.
    (setuptools,) = [r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")]
    floor = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert floor and int(floor.group(1)) >= 77, setuptools


@pytest.fixture
def restore_logging():
    """configure_logging changes process-wide loggers: put them back after the test."""
    names = ["", "apscheduler", "alembic.runtime.plugins", "alembic.runtime.migration"]
    saved = {n: (logging.getLogger(n).level, list(logging.getLogger(n).filters)) for n in names}
    yield
    for name, (level, filters) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.filters[:] = filters


def test_scheduler_and_alembic_chatter_is_off_after_start_up_configuration(restore_logging):
    configure_logging("serve")
    configure_logging("serve")  # idempotent: one filter, not two
    for name in ("apscheduler.executors.default", "apscheduler.scheduler"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
    migration = logging.getLogger("alembic.runtime.migration")
    assert len(migration.filters) == 1

    def record(message: str) -> logging.LogRecord:
        return migration.makeRecord(migration.name, logging.INFO, "", 0, message, (), None)

    assert not migration.filter(record("Context impl SQLiteImpl."))
    assert migration.filter(record("Running upgrade 0004 -> 0005, outbox indexes"))


@pytest.mark.slow  # a real genjin process
def test_serve_prints_the_sandbox_address_last_and_no_scheduler_lines(tmp_path):
    from tests.support.serving import genjin_serve

    with genjin_serve(tmp_path, {"GENJIN_DATABASE_URL": f"sqlite:///{tmp_path}/s.db"}) as served:
        time.sleep(1.5)  # the heartbeat's first runs (at start) would have logged by now
        lines = served.output().splitlines()
    assert lines[-1] == f"跟进助手已启动 · sandbox page / 本地试用页面: {served.base}/"
    assert lines[-2] == f"health check: {served.base}/healthz"
    chatter = [x for x in lines if "apscheduler" in x or "Context impl" in x or "DDL" in x]
    assert chatter == []


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_passes_port_and_host_to_serve():
    def planned(*variables: str) -> str:
        out = subprocess.run(
            ["make", "--no-print-directory", "-n", "run", *variables],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        return out.stdout.splitlines()[-1]

    assert planned("PORT=8080", "HOST=0.0.0.0").endswith("genjin serve --host 0.0.0.0 --port 8080")
    assert planned("PORT=", "HOST=").endswith("genjin serve")
