"""Benchmark: sender throughput against the fake Feishu API's enforced rate limits.

The fake Feishu server (tests/support/fake_feishu.py) enforces Feishu's limits (5 messages/s per chat,
50/s per app) and counts every request over them as a violation. N messages for C chats are
queued in the outbox; the sender delivers them in real time. Printed: messages per second against
the limit that applies, and the number of violations (must be 0).

``--latency-ms`` makes every message request take that long at the fake (the real API is tens of
milliseconds away); ``--concurrency`` is ``sender.concurrency`` (chats sent to at once).

Reproduce:  .venv/bin/python -m bench.sender [--chats 1 12] [--messages 300] [--latency-ms 0 100]
            [--concurrency 1 8]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bench.benchdb import bench_engine
from bot.config import Settings
from bot.messages import OutgoingMessage
from bot.outbox import enqueue
from bot.runtime import Runtime
from models.db import upgrade
from tests.support.fake_feishu import FakeFeishu


def run(chats: int, messages: int, latency_ms: int, concurrency: int) -> None:
    """Queue, deliver, print."""
    fake = FakeFeishu(bot_open_id="ou_bot").start()
    fake.delay = latency_ms / 1000
    settings = Settings()
    settings.sender.concurrency = concurrency
    settings.feishu.app_id, settings.feishu.app_secret = fake.app_id, fake.app_secret
    settings.feishu.verification_token, settings.feishu.domain = "t", fake.url
    settings.feishu.bot_open_id = "ou_bot"
    try:
        with bench_engine(None, "sender") as engine:
            upgrade(engine)
            runtime = Runtime(settings, engine=engine)
            runtime.send_in_parallel()
            now = datetime.now(UTC)
            with runtime.sessions() as session, session.begin():
                for i in range(messages):
                    enqueue(
                        session,
                        "feishu",
                        f"oc_{i % chats}",
                        [OutgoingMessage(f"消息 {i}")],
                        f"b{i}",
                        now,
                    )
            start = time.perf_counter()
            while len(fake.sent) < messages and time.perf_counter() - start < 120:
                if runtime.deliver() == 0:
                    time.sleep(0.02)
            elapsed = time.perf_counter() - start
    finally:
        fake.stop()
    limit = min(5 * chats, 50)
    rate = len(fake.sent) / elapsed
    print(
        f"{chats:>3} chats, {latency_ms:>3} ms per request, {concurrency} at once: "
        f"{len(fake.sent)} messages in {elapsed:.1f} s = {rate:.1f}/s "
        f"against a limit of {limit}/s ({rate / limit:.0%}), violations {fake.violations}"
    )


def main() -> None:
    """Run for each chat count."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, nargs="+", default=[1, 12])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8])
    args = parser.parse_args()
    for latency in args.latency_ms:
        for concurrency in args.concurrency:
            for chats in args.chats:
                run(
                    chats,
                    args.messages if chats > 1 else min(args.messages, 60),
                    latency,
                    concurrency,
                )
    print(
        "reproduce: .venv/bin/python -m bench.sender --chats",
        *args.chats,
        "--messages",
        args.messages,
        "--latency-ms",
        *args.latency_ms,
        "--concurrency",
        *args.concurrency,
    )


if __name__ == "__main__":
    main()
