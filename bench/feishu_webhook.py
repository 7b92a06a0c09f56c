"""Benchmark: Feishu webhook ack latency and throughput, genjin vs the SDK's own floor.

Both servers run as separate processes on loopback with the same WSGI server and thread count:
  * floor  — lark-oapi's EventDispatcherHandler (decrypt + verify) with a no-op handler;
  * genjin — `genjin serve` (SQLite, workers on): verify, normalise, commit to the inbox, 200,
             while its workers dispatch and send replies to a local fake Feishu API.
Every request is a distinct, signed and encrypted im.message.receive_v1 event, built beforehand.

Setups: ``sqlite`` is `genjin serve` on SQLite; ``pg1``, ``pg2`` … are `genjin web` plus that many
`genjin worker`s on PostgreSQL (a private schema, dropped afterwards).

Reproduce:  .venv/bin/python -m bench.feishu_webhook [--events 1500] [--concurrency 1 8 32]
            [--setups sqlite pg1 pg2]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.support.cluster import feishu_env, genjin_cluster
from tests.support.fake_feishu import FakeFeishu
from tests.support.feishu_testkit import (
    BOT_OPEN_ID,
    mention,
    message_event,
    signed_encrypted_request,
)
from tests.support.pgschema import pg_schema
from tests.support.serving import free_port

ROOT = Path(__file__).resolve().parent.parent

KEY, TOKEN = "bench_encrypt_key", "bench_token"


def wait_up(port: int) -> None:
    """Block until the server answers /healthz."""
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on {port} did not start")


def requests_for(count: int, run: str) -> list[tuple[bytes, dict[str, str]]]:
    """Signed, encrypted, distinct command events."""
    out = []
    for i in range(count):
        event = message_event(
            f"@_user_1 /跟进 客户{i % 300:03d} 报价已发 下周三回访",
            chat_id=f"oc_bench_{i % 20}",
            open_id=f"ou_rep_{i % 10}",
            token=TOKEN,
            message_id=f"om_{run}_{i}",
            mentions=[mention("@_user_1", BOT_OPEN_ID, "跟进助手")],
        )
        out.append(signed_encrypted_request(event, KEY))
    return out


def load(
    port: int, reqs: list[tuple[bytes, dict[str, str]]], concurrency: int
) -> tuple[list[float], float, int]:
    """POST every request with ``concurrency`` keep-alive clients; (latencies ms, seconds, errors)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    chunks = [reqs[i::concurrency] for i in range(concurrency)]

    def worker(chunk: list[tuple[bytes, dict[str, str]]]) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], 0
        for body, headers in chunk:
            start = time.perf_counter()
            conn.request("POST", "/webhook/feishu", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - start) * 1000)
            bad += response.status != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - start, errors


def figures(latencies: list[float], seconds: float) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, events/s)."""
    q = statistics.quantiles(latencies, n=100)
    return q[49], q[98], len(latencies) / seconds


def main() -> None:
    """Run the floor and each genjin setup, load them in turn, print the table and the ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--setups",
        nargs="+",
        default=["sqlite"],
        help="sqlite (genjin serve), pgN (genjin web + N workers on PostgreSQL)",
    )
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    fake = FakeFeishu(bot_open_id=BOT_OPEN_ID, enforce_limits=False).start()
    floor_port = free_port()
    floor = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "feishu_floor_app.py"), str(floor_port), KEY, TOKEN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        **feishu_env(fake.url, fake.app_id, fake.app_secret),
        "GENJIN_FEISHU_VERIFICATION_TOKEN": TOKEN,
        "GENJIN_FEISHU_ENCRYPT_KEY": KEY,
    }
    rows: dict[tuple[str, int], tuple[float, float, float]] = {}
    run = 0
    try:
        wait_up(floor_port)
        print(f"{args.events} signed+encrypted events per run, loopback, 2-core machine")
        print(
            f"{'server':32} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'events/s':>9} {'errors':>6}"
        )

        def measure(name: str, port: int) -> None:
            nonlocal run
            for concurrency in args.concurrency:
                run += 1
                reqs = requests_for(args.events, f"{os.getpid()}_{run}")
                load(port, reqs[:50], concurrency)  # warm-up
                lat, secs, errors = load(port, reqs[50:], concurrency)
                p50, p99, rate = figures(lat, secs)
                rows[(name, concurrency)] = (p50, p99, rate)
                print(f"{name:32} {concurrency:>4} {p50:8.2f} {p99:8.2f} {rate:9.0f} {errors:>6}")

        measure("floor (SDK only)", floor_port)
        for setup in args.setups:
            tmp = Path(tempfile.mkdtemp(prefix=f"genjin-webhook-{setup}-"))
            if setup == "sqlite":
                with genjin_cluster(tmp, f"sqlite:///{tmp}/bench.db", 0, env, free_port()) as c:
                    measure("genjin serve, SQLite", c.port)
                continue
            workers = int(setup.removeprefix("pg"))
            with pg_schema(args.db, "genjin_bench") as schema:
                with genjin_cluster(tmp, schema.url, workers, env, free_port()) as c:
                    measure(f"genjin web + {workers} worker(s), PG", c.port)
        print("ratio genjin/floor (p99, throughput):")
        for (name, concurrency), (_, p99, rate) in rows.items():
            if name.startswith("floor"):
                continue
            f = rows[("floor (SDK only)", concurrency)]
            print(
                f"  {name:32} concurrency {concurrency:>2}: p99 x{p99 / f[1]:.2f}, throughput x{rate / f[2]:.2f}"
            )
        print(
            "reproduce: .venv/bin/python -m bench.feishu_webhook --events",
            args.events,
            "--concurrency",
            *args.concurrency,
            "--setups",
            *args.setups,
        )
    finally:
        floor.terminate()
        floor.wait(10)
        fake.stop()


if __name__ == "__main__":
    main()
