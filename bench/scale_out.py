"""Benchmark: genjin as real processes under signed Feishu events, SQLite and PostgreSQL.

For each setup — `genjin serve` on SQLite, and `genjin web` plus 1, 2 or 3 `genjin worker`s on
PostgreSQL — against a local fake Feishu API (its rate limits lifted, so genjin's own capacity
is what is measured):

  1. paced: events offered at a fixed rate (open loop) → webhook ack p50/p99 and the end-to-end
     latency from the POST to the reply recorded by the fake API;
  2. burst: events posted as fast as 8 clients can → ack throughput, and end-to-end commands/s
     (first POST to the last reply recorded), plus how the commands spread over the workers.

Every event is a distinct `im.message.receive_v1` command, AES-encrypted and signed the way
Feishu does it. After each setup the bench checks that every command was stored and answered
exactly once.

Reproduce:  .venv/bin/python -m bench.scale_out [--db postgresql+psycopg://postgres@127.0.0.1:5432/test]
            [--setups sqlite pg1 pg2 pg3] [--rate 200] [--seconds 10] [--burst 3000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import text

from models.db import make_engine
from tests.support.cluster import (
    Load,
    command_events,
    feishu_env,
    genjin_cluster,
    post_events,
)
from tests.support.fake_feishu import FakeFeishu
from tests.support.feishu_testkit import BOT_OPEN_ID
from tests.support.pgschema import pg_schema
from tests.support.serving import free_port

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (its threads included) has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on this machine (the database's share of the work)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def cpu_snapshot(cluster_pids: list[int]) -> dict[str, float]:
    """CPU seconds so far: genjin web/serve, the workers, this process (clients + fake API), PostgreSQL."""
    return {
        "web": cpu_seconds(cluster_pids[0]),
        "workers": sum(cpu_seconds(pid) for pid in cluster_pids[1:]),
        "bench": cpu_seconds(os.getpid()),
        "postgres": sum(cpu_seconds(pid) for pid in postgres_pids()),
    }


def pct(values: list[float], p: int) -> float:
    """The p-th percentile (1..99)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100)[p - 1]


def wait_replies(fake: FakeFeishu, total: int, timeout: float) -> float:
    """Block until the fake has recorded ``total`` replies; returns time.monotonic() of the last."""
    deadline = time.monotonic() + timeout
    while len(fake.sent) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(fake.sent)} of {total} replies after {timeout:.0f} s")
        time.sleep(0.05)
    return max(s.at for s in fake.sent)


def end_to_end(fake: FakeFeishu, load: Load) -> list[float]:
    """ms from each POST to the reply to it recorded by the fake API."""
    return [
        (s.at - load.posted_at[s.reply_to]) * 1000
        for s in list(fake.sent)
        if s.reply_to in load.posted_at
    ]


def run_setup(name: str, db: str, workers: int, args: argparse.Namespace) -> dict[str, object]:
    """Start the processes, run the paced and burst phases, verify exactly-once, return figures."""
    run = uuid.uuid4().hex[:8]
    paced_n = int(args.rate * args.seconds)
    events = command_events(100 + paced_n + args.burst, run)
    warm, paced, burst = events[:100], events[100 : 100 + paced_n], events[100 + paced_n :]
    fake = FakeFeishu(bot_open_id=BOT_OPEN_ID, enforce_limits=False).start()
    for message_id, chat_id, _, _ in events:
        fake.register_message(message_id, chat_id)
    tmp = Path(tempfile.mkdtemp(prefix=f"genjin-bench-{name}-"))
    env = feishu_env(fake.url, fake.app_id, fake.app_secret)
    try:
        with genjin_cluster(tmp, db, workers, env, free_port()) as cluster:
            post_events(cluster.port, warm, concurrency=4)
            wait_replies(fake, len(warm), 120)

            paced_load = post_events(cluster.port, paced, concurrency=16, rate=args.rate)
            wait_replies(fake, len(warm) + len(paced), 300)
            e2e = end_to_end(fake, paced_load)

            pids = [proc.pid for proc in cluster.procs]
            before = cpu_snapshot(pids)
            burst_load = post_events(cluster.port, burst, concurrency=8)
            first = min(burst_load.posted_at.values())
            last = wait_replies(fake, len(events), 600)
            after = cpu_snapshot(pids)
            cpu_ms = {k: (after[k] - before[k]) * 1000 / len(burst) for k in before}
            time.sleep(1.0)  # a duplicate would arrive now
            replies = len(fake.sent)
            engine = make_engine(db)
            try:
                with engine.connect() as conn:
                    inbox = conn.execute(text("SELECT message_id, handled_by FROM inbox")).all()
                    outbox = conn.execute(
                        text("SELECT count(*), count(DISTINCT inbox_id) FROM outbox")
                    ).one()
            finally:
                engine.dispose()
    finally:
        fake.stop()
    burst_ids = {e[0] for e in burst}
    shares = Counter(row.handled_by for row in inbox if row.message_id in burst_ids)
    return {
        "setup": name,
        "paced_rate": paced_load.rate,
        "ack_p50": pct(paced_load.latencies, 50),
        "ack_p99": pct(paced_load.latencies, 99),
        "ack_max": max(paced_load.latencies),
        "paced_errors": len(paced_load.statuses) - paced_load.statuses.count(200),
        "e2e_p50": pct(e2e, 50),
        "e2e_p99": pct(e2e, 99),
        "burst_ack_rate": burst_load.rate,
        "burst_ack_p99": pct(burst_load.latencies, 99),
        "burst_errors": len(burst_load.statuses) - burst_load.statuses.count(200),
        "commands_per_s": len(burst) / (last - first),
        "shares": sorted(shares.values(), reverse=True),
        "cpu_ms": cpu_ms,
        "exactly_once": (
            len(inbox) == len(events)
            and len({r.message_id for r in inbox}) == len(events)
            and outbox[0] == outbox[1] == len(events)
            and replies == len(events)
        ),
    }


def main() -> None:
    """Run the chosen setups and print one table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=PG_DEFAULT, help="PostgreSQL URL for the pg setups")
    parser.add_argument("--setups", nargs="+", default=["sqlite", "pg1", "pg2", "pg3"])
    parser.add_argument("--rate", type=float, default=200.0, help="paced phase: events/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="paced phase: duration")
    parser.add_argument("--burst", type=int, default=3000, help="burst phase: events")
    args = parser.parse_args()
    rows = []
    for setup in args.setups:
        if setup == "sqlite":
            db = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
            rows.append(run_setup("SQLite, serve", db, 0, args))
        else:
            workers = int(setup.removeprefix("pg"))
            with pg_schema(args.db, "genjin_bench") as schema:
                name = f"PostgreSQL, web + {workers} worker(s)"
                rows.append(run_setup(name, schema.url, workers, args))
        row = rows[-1]
        print(
            f"{row['setup']}: paced {row['paced_rate']:.0f} events/s: ack p50 {row['ack_p50']:.1f} ms "
            f"p99 {row['ack_p99']:.1f} ms (max {row['ack_max']:.0f}, non-200 {row['paced_errors']}), "
            f"end to end p50 {row['e2e_p50']:.0f} ms p99 {row['e2e_p99']:.0f} ms | burst of "
            f"{args.burst}: ack {row['burst_ack_rate']:.0f} events/s (p99 {row['burst_ack_p99']:.0f} ms, "
            f"non-200 {row['burst_errors']}), end to end {row['commands_per_s']:.0f} commands/s, "
            f"per worker {row['shares']}, exactly once: {row['exactly_once']}; CPU ms per command: "
            + ", ".join(f"{k} {v:.1f}" for k, v in row["cpu_ms"].items())
            + f", total {sum(row['cpu_ms'].values()):.1f}",
            flush=True,
        )
    print()
    print(
        "| setup | paced rate | ack p50 / p99 | e2e p50 / p99 | burst ack | burst e2e "
        "| commands per worker | CPU ms per command (web / workers / bench / PostgreSQL) "
        "| exactly once |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['setup']} | {row['paced_rate']:.0f}/s | {row['ack_p50']:.1f} / {row['ack_p99']:.1f} ms "
            f"| {row['e2e_p50']:.0f} / {row['e2e_p99']:.0f} ms | {row['burst_ack_rate']:.0f}/s "
            f"| {row['commands_per_s']:.0f} commands/s | {' / '.join(map(str, row['shares']))} "
            f"| {' / '.join(f'{v:.1f}' for v in row['cpu_ms'].values())} "
            f"| {'yes' if row['exactly_once'] else 'NO'} |"
        )
    print(
        f"reproduce: .venv/bin/python -m bench.scale_out --setups {' '.join(args.setups)} "
        f"--rate {args.rate:g} --seconds {args.seconds:g} --burst {args.burst}"
        + (f" --db {args.db}" if args.db != PG_DEFAULT else "")
    )


if __name__ == "__main__":
    main()
