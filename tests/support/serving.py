"""Run `genjin serve` as a real process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 5) -> dict[str, Any]:
    """GET a JSON document."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class Served:
    """A running `genjin serve`: its base URL, log file and process."""

    base: str
    log: Path
    proc: subprocess.Popen

    def output(self) -> str:
        """Everything the server printed so far."""
        return self.log.read_text(errors="replace")


@contextmanager
def genjin_serve(
    tmp_path: Path, env: dict[str, str], unset: tuple[str, ...] = (), command: str = "serve"
) -> Iterator[Served]:
    """Start `genjin serve` (or `web`) with ``env`` on top of ours; stop it (kill if needed) after."""
    port = free_port()
    environment = {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **env,
    }
    for name in ("GENJIN_CONFIG", *unset):
        environment.pop(name, None)
    log = tmp_path / f"{command}-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", command, "--port", str(port)],
            env=environment,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", log, proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"genjin serve exited ({proc.returncode}):\n{served.output()}")
            try:
                get_json(f"{served.base}/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"genjin serve did not answer /healthz:\n{served.output()}")
                time.sleep(0.1)
        yield served
    finally:
        stop_processes([proc])


def stop_processes(procs: list[subprocess.Popen], timeout: float = 15) -> None:
    """SIGTERM every process still running, then wait; kill the ones that do not stop in time."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
