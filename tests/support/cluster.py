"""genjin as real processes (`serve`, or `web` plus N `worker`s) fed signed Feishu events.

Shared by the scale-out tests and `bench/scale_out.py`: the process set pointed at a fake Feishu
API (in a schema from tests.support.pgschema on PostgreSQL), realistic command events signed and encrypted the way Feishu
does it, and keep-alive clients that post them (as fast as they can, or at a fixed rate).
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.feishu_testkit import (
    BOT_OPEN_ID,
    mention,
    message_event,
    signed_encrypted_request,
)
from tests.support.serving import stop_processes

ROOT = Path(__file__).resolve().parent.parent
KEY, TOKEN = "cluster_encrypt_key", "cluster_token"
NOTES = ["电话沟通，报价已发 下周三回访", "约了明天下午3点见面", "发了资料", "客户说预算5万 月底定"]


def feishu_env(fake_url: str, app_id: str, app_secret: str) -> dict[str, str]:
    """Environment that points genjin at a fake Feishu API (its rate limits lifted: see callers)."""
    return {
        "GENJIN_FEISHU_APP_ID": app_id,
        "GENJIN_FEISHU_APP_SECRET": app_secret,
        "GENJIN_FEISHU_VERIFICATION_TOKEN": TOKEN,
        "GENJIN_FEISHU_ENCRYPT_KEY": KEY,
        "GENJIN_FEISHU_DOMAIN": fake_url,
        "GENJIN_FEISHU_BOT_OPEN_ID": BOT_OPEN_ID,
        "GENJIN_FEISHU_CHAT_QPS": "10000",
        "GENJIN_FEISHU_APP_QPS": "10000",
    }


Event = tuple[str, str, bytes, dict[str, str]]  # message_id, chat_id, body, headers


def command_events(count: int, run: str, chats: int = 20, customers: int = 300) -> list[Event]:
    """``count`` distinct command events: (message_id, chat_id, body, headers), signed and encrypted.

    The mix a team produces: follow-ups (new and known customers, dates, amounts), lookups and lists.
    """
    out = []
    for i in range(count):
        customer = f"客户{(i * 7) % customers:03d}"
        roll = i % 20
        if roll < 15:
            line = f"/跟进 {customer} {NOTES[i % len(NOTES)]}"
        elif roll < 18:
            line = f"/客户 {customer}"
        else:
            line = "/我的"
        message_id, chat_id = f"om_{run}_{i}", f"oc_{run}_{i % chats}"
        event = message_event(
            f"@_user_1 {line}",
            chat_id=chat_id,
            open_id=f"ou_rep_{i % 10}",
            token=TOKEN,
            message_id=message_id,
            mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
        )
        body, headers = signed_encrypted_request(event, KEY)
        out.append((message_id, chat_id, body, headers))
    return out


@dataclass
class Load:
    """What the clients saw: latency of each POST (ms), its status, and the wall time."""

    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    seconds: float = 0.0
    posted_at: dict[str, float] = field(default_factory=dict)  # message_id → time.monotonic()

    @property
    def rate(self) -> float:
        """Acknowledged events per second."""
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def post_events(
    port: int,
    events: list[Event],
    concurrency: int = 8,
    rate: float | None = None,
) -> Load:
    """POST every event to /webhook/feishu over ``concurrency`` keep-alive connections.

    With ``rate``, event i is due at start + i / rate (an open-loop schedule: a slow answer does not
    slow the offered load down); latency counts from the moment the POST was made.
    """
    load = Load()
    lock = threading.Lock()
    next_index = iter(range(len(events)))
    start = time.perf_counter()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[tuple[float, int, str, float]] = []
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            if rate:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            message_id, _, body, headers = events[i]
            posted, began = time.monotonic(), time.perf_counter()
            try:
                conn.request("POST", "/webhook/feishu", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = 0
            mine.append(((time.perf_counter() - began) * 1000, status, message_id, posted))
        conn.close()
        with lock:
            for latency, status, message_id, posted in mine:
                load.latencies.append(latency)
                load.statuses.append(status)
                load.posted_at[message_id] = posted

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.seconds = time.perf_counter() - start
    return load


@dataclass
class Cluster:
    """Running genjin processes: the web port, every process and its log file."""

    port: int
    procs: list[subprocess.Popen]
    logs: list[Path]

    def output(self) -> str:
        """Everything the processes printed."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.logs)


def _wait_healthy(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"genjin exited ({proc.returncode}):\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"genjin did not answer /healthz:\n{log.read_text()}") from None
            time.sleep(0.1)


@contextmanager
def genjin_cluster(
    tmp: Path, db_url: str, workers: int, env: dict[str, str], port: int
) -> Iterator[Cluster]:
    """``workers`` = 0: one `genjin serve`; otherwise `genjin web` plus that many `genjin worker`s.

    Workers start after the web process has migrated the schema, and poll every 0.1 s when idle.
    """
    environment = {
        **os.environ,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "GENJIN_DATABASE_URL": db_url,
        **env,
    }
    environment.pop("GENJIN_CONFIG", None)
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []

    def spawn(name: str, args: list[str]) -> subprocess.Popen:
        log = tmp / f"{name}.log"
        logs.append(log)
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", *args],
                env=environment,
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        return proc

    try:
        first = spawn(
            "web" if workers else "serve", ["web" if workers else "serve", "--port", str(port)]
        )
        _wait_healthy(port, first, logs[0])
        for n in range(workers):
            spawn(f"worker{n}", ["worker", "--poll", "0.1"])
        deadline = time.monotonic() + 60
        for proc, log in zip(procs[1:], logs[1:], strict=True):  # ready once parsers are loaded
            while "genjin worker running" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{log.name} did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield Cluster(port, procs, logs)
    finally:
        stop_processes(procs)
