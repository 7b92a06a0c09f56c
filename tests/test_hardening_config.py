"""Private data files: the SQLite database with its -wal and -shm, the serve lock and backups are
0600 and the directories genjin creates 0700, whatever the umask; looser files are fixed on start.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from bot.config import Settings
from models.db import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under this umask (restored afterwards)."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _write(connection: Connection) -> None:
    connection.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
    connection.execute(text("INSERT INTO t VALUES (1)"))
    connection.commit()


def test_database_wal_and_shm_are_private_whatever_the_umask(tmp_path, umask):
    db = tmp_path / "data" / "nested" / "genjin.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:  # an open connection keeps -wal and -shm in place
            _write(connection)
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            assert {path.name: _mode(path) for path in files} == {
                "genjin.db": 0o600,
                "genjin.db-wal": 0o600,
                "genjin.db-shm": 0o600,
            }
    finally:
        engine.dispose()
    assert _mode(tmp_path / "data") == 0o700 and _mode(db.parent) == 0o700


def test_an_existing_directory_is_left_alone(tmp_path, umask):
    tmp_path.chmod(0o755)
    engine = make_engine(f"sqlite:///{tmp_path / 'genjin.db'}")
    engine.dispose()
    assert _mode(tmp_path) == 0o755 and _mode(tmp_path / "genjin.db") == 0o600


def test_files_readable_by_others_are_fixed_on_start_with_a_log_line(tmp_path, caplog):
    db = tmp_path / "genjin.db"
    first = make_engine(f"sqlite:///{db}")
    try:
        with first.connect() as connection:
            _write(connection)
            files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
            for path in files:
                path.chmod(0o644)  # as an older genjin left them
            caplog.set_level(logging.WARNING, logger="models.db")
            make_engine(f"sqlite:///{db}").dispose()  # the next start
            assert [_mode(path) for path in files] == [0o600, 0o600, 0o600]
    finally:
        first.dispose()
    fixed = [r.getMessage() for r in caplog.records if "readable by other users" in r.getMessage()]
    assert len(fixed) == 3 and all("644" in line and "now 600" in line for line in fixed)


def test_serve_lock_is_private(tmp_path, umask):
    from bot.cli import _single_process

    settings = Settings()
    settings.database.url = f"sqlite:///{tmp_path / 'new' / 'genjin.db'}"
    handle = _single_process(settings, "serve")
    try:
        assert _mode(tmp_path / "new" / "genjin.db.serve.lock") == 0o600
        assert _mode(tmp_path / "new") == 0o700
    finally:
        handle.close()


def _genjin(args: list[str], cwd: Path, mask: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GENJIN_CONFIG"}
    env["GENJIN_DATABASE_URL"] = f"sqlite:///{cwd}/instance/genjin.db"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        umask=mask,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow  # real genjin processes
@pytest.mark.parametrize("mask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_cli_database_and_backup_are_private(tmp_path, mask):
    _genjin(["say", "--chat", "c", "--as", "张三", "/跟进 华为 报价已发"], tmp_path, mask)
    assert _mode(tmp_path / "instance") == 0o700
    assert _mode(tmp_path / "instance" / "genjin.db") == 0o600
    backup = tmp_path / "backups" / "2026" / "b.db"
    _genjin(["db", "backup", str(backup)], tmp_path, mask)
    assert _mode(backup) == 0o600
    assert _mode(backup.parent) == 0o700 and _mode(backup.parent.parent) == 0o700
