"""Benchmark: the durable pipeline on a real database.

Measures (1) the acknowledge path — committing an incoming message to the inbox, which is all a
webhook does before its 200 — as p50/p99 latency, and (2) end-to-end command throughput:
dispatching realistic commands (parse, match, domain rows, outbox) and delivering the replies
through the console adapter.

With ``--processes N`` (PostgreSQL), N forked processes dispatch and deliver the stored
messages side by side, as N `genjin worker`s would.

Reproduce:  .venv/bin/python -m bench.pipeline [--db URL] [--messages 1000] [--processes 1]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from bench.benchdb import bench_engine
from bot.adapters.console import parse_console
from bot.config import Settings
from bot.runtime import Runtime
from models.pipeline import PENDING, SENT, Inbox, Outbox

NOTES = [
    "电话沟通，报价已发 下周三回访",
    "约了明天下午3点见面",
    "发了资料",
    "客户说预算5万 月底定",
    "拜访了采购",
]


def messages(count: int, customers: int = 40) -> list[str]:
    """A realistic mix: follow-ups on ``customers`` customers per chat, lookups, lists, help."""
    rng = random.Random(7)
    out = []
    for _ in range(count):
        roll = rng.random()
        customer = f"客户{rng.randrange(customers):03d}"
        if roll < 0.75:
            out.append(f"/跟进 {customer} {rng.choice(NOTES)}")
        elif roll < 0.9:
            out.append(f"/客户 {customer}")
        elif roll < 0.97:
            out.append("/我的")
        else:
            out.append("/帮助")
    return out


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--chats", type=int, default=20, help="group chats the messages come from")
    parser.add_argument(
        "--processes", type=int, default=1, help="dispatching processes (PostgreSQL)"
    )
    args = parser.parse_args()
    with bench_engine(args.db, "pipeline") as engine:
        run_benchmark(engine, args)


def run_benchmark(engine, args: argparse.Namespace) -> None:
    """Store, dispatch and deliver the messages; print the figures."""
    settings = Settings()
    runtime = Runtime(settings, engine=engine)
    runtime.migrate()
    lines = messages(args.messages)
    reps = ["张三", "李四", "王五", "赵六"]
    run = f"{time.time_ns()}"
    # Warm up: jionlp and rapidfuzz load on first use.
    runtime.say("warmup", "张三", "/跟进 预热客户 明天回访")

    ack = []
    for i, line in enumerate(lines):
        message = parse_console(
            f"销售{i % args.chats + 1}组",
            reps[i % len(reps)],
            line,
            f"bench-{run}-{i}",
            sent_at=datetime.now(UTC).isoformat(),
        )
        start = time.perf_counter()
        runtime.receive(message)
        ack.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    if args.processes > 1:
        if runtime.engine.dialect.name == "sqlite":
            raise SystemExit("--processes needs PostgreSQL: SQLite serves a single process")
        drain_in_processes(runtime, args.processes)
    else:
        runtime.drain()
    elapsed = time.perf_counter() - start

    q = statistics.quantiles(ack, n=100)
    print(f"backend: {runtime.engine.dialect.name}, messages: {len(lines)}")
    print(f"inbox commit (ack path): p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, max {max(ack):.2f} ms")
    print(
        f"dispatch + deliver in {args.processes} process(es): {len(lines) / elapsed:.0f} commands/s "
        f"({elapsed:.2f} s in total)"
    )
    with runtime.sessions() as session:
        left = session.scalar(
            select(func.count()).select_from(Inbox).where(Inbox.status == PENDING)
        )
        replies = session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.status == SENT)
        )
    print(f"left pending: {left}, replies sent: {replies} (one per command, plus the warm-up)")
    print(
        f"reproduce: .venv/bin/python -m bench.pipeline --messages {args.messages}"
        + (f" --db {args.db}" if args.db else "")
        + f" --chats {args.chats}"
        + (f" --processes {args.processes}" if args.processes > 1 else "")
    )


def drain_in_processes(runtime: Runtime, processes: int) -> None:
    """Fork ``processes`` children that each drain the shared inbox; wait for all of them."""
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # child: own connections, same database (parsers already warm)
            code = 1
            try:
                runtime.engine.dispose(close=False)
                runtime.drain()
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        children.append(pid)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        if status:
            raise SystemExit(f"a dispatching process failed ({status})")


if __name__ == "__main__":
    main()
