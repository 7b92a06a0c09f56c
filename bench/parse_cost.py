"""Benchmark: what understanding one message's date costs, and whether anything waits behind it.

Prints p50/p99/max of the date parse per message for ordinary notes and adversarial ones
(``明天 `` x 1000, mixed numerals, 5,000 random CJK characters, ``/日报`` with 300 characters),
then, on a fresh SQLite database, the latency of ``/healthz`` and of another chat's command while
one chat's 5,000-character date-heavy notes are being handled.

Reproduce:  .venv/bin/python -m bench.parse_cost [--runs 20] [--heavy 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.adapters.console import parse_console
from bot.app import create_app
from bot.config import Settings
from bot.runtime import Runtime
from handlers.reports import parse_past_day
from models.money import find_amounts
from models.parsing import find_when, parse_when

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

ORDINARY = [
    "报价已发 下周三回访",
    "客户说月底前给答复",
    "约了明天下午3点再去",
    "初次拜访，聊了需求，对方关心交付周期",
    "报价5.5万 下周一上午10点电话",
    "五日内回访",
    "两个礼拜内给方案",
    "12月5日签约",
    "下个月15号复盘",
    "客户出差，节后再联系",
    "春节前回款",
    "合同已盖章，回款三万，5号前到账",
    "周五前发样品",
    "昨天见了客户，明天下午3点再去",
    "12.5约见面",
    "早上十点左右打电话",
    "三点开会",
    "正月十五前后再聊",
    "週一下午三點回訪",
    "已报价\n下周三回访\n对方采购在走流程",
]


def _random_cjk(rng: random.Random, n: int) -> str:
    """``n`` random CJK unified ideographs."""
    return "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(n))


def _mixed_numerals(rng: random.Random, n: int) -> str:
    """``n`` characters of digits, Chinese numerals and date words in random order."""
    alphabet = "0123456789一二三四五六七八九十两零月日号点周天年后前内半.:/-万元 "
    return "".join(rng.choice(alphabet) for _ in range(n))


def adversarial() -> dict[str, tuple[Callable[[str, datetime], object], str]]:
    """Name → (parser, text) for the hostile inputs."""
    rng = random.Random(20261127)
    report = "/日报 " + ("昨天 11月26日 上周三 明天 " * 30)[:300]
    return {
        "明天 x 33 (99 chars)": (find_when, ("明天 " * 33)[:99]),
        "明天 x 1000 (5,000 chars)": (find_when, "明天 " * 1000),
        "mixed numerals (5,000 chars)": (find_when, _mixed_numerals(rng, 5000)),
        "random CJK (5,000 chars)": (find_when, _random_cjk(rng, 5000)),
        "/日报 300 chars": (parse_past_day, report[len("/日报 ") :]),
        "/提醒 time of 300 chars": (parse_when, report[len("/日报 ") :]),
        "amounts, money chars (5,000)": (_amounts, _money_chars(rng, 5000)),
        "amounts, 5万5 x 1,000 (5,000)": (_amounts, "5万5 " * 1000),
    }


def _money_chars(rng: random.Random, n: int) -> str:
    """``n`` characters of digits, numerals, units, currency and range marks in random order."""
    alphabet = "0123456789一二三四五六七八九十百千万亿零两多约近-~到,，.元块¥$ "
    return "".join(rng.choice(alphabet) for _ in range(n))


def _amounts(text: str, now: datetime) -> object:
    """Every amount in a note (models.money), timed like the date parsers."""
    return find_amounts(text)


def timed(
    func: Callable[[str, datetime], object], text: str, runs: int, vary: bool = False
) -> list[float]:
    """Wall times in ms of ``runs`` calls (single thread: wall ≈ CPU).

    ``vary`` appends a different dateless tag each run, so no cache (models.memo) answers a
    repeated text.
    """
    rng = random.Random(len(text))
    out = []
    for _ in range(runs):
        tag = " ref" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
        sample = text + tag if vary else text
        start = time.perf_counter()
        func(sample, NOW)
        out.append((time.perf_counter() - start) * 1000)
    return out


def figures(samples: list[float]) -> str:
    """p50 / p99 / max of samples in ms."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):8.2f} ms  p99 {p99:8.2f} ms  max {ordered[-1]:8.2f} ms"


def pipeline(heavy: int) -> None:
    """/healthz and another chat's command while one chat's heavy notes are dispatched (SQLite)."""
    settings = Settings()
    settings.database.url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    runtime = Runtime(settings, clock=lambda: NOW)
    runtime.migrate()
    client = create_app(runtime=runtime).test_client()
    words = "明天回访 下周三开会 12月5日签约 下午3点到 五日内答复 十点左右电话 正月十五前后 "
    note = "/跟进 华为 " + (words + "明天 " * 2000)[:5000]
    for i in range(heavy):  # each note differs, so each is parsed (models.memo remembers)
        text = note[:-8] + " ref" + "abcdefghijklmnop"[i % 16] * 4
        runtime.receive(parse_console("一组", "张三", text, f"heavy-{i}"))
    holds = _watch_write_lock(runtime)
    locked_parses = _watch_parses(runtime)
    done = threading.Event()

    def dispatch() -> None:
        runtime.dispatch()
        done.set()

    start = time.perf_counter()
    worker = threading.Thread(target=dispatch, daemon=True)
    worker.start()
    time.sleep(0.01)
    health: list[float] = []
    t0 = time.perf_counter()
    runtime.receive(parse_console("二组", "李四", "/跟进 腾讯 报价已发 明天回访", "other-1"))
    receive_ms = (time.perf_counter() - t0) * 1000
    answered_ms = 0.0
    while not done.is_set() or not answered_ms:
        t1 = time.perf_counter()
        status = client.get("/healthz").status_code
        health.append((time.perf_counter() - t1) * 1000)
        assert status == 200, status
        if not answered_ms and _answered(runtime, "other-1"):
            answered_ms = (time.perf_counter() - t0) * 1000
    worker.join()
    total = time.perf_counter() - start
    print(
        f"pipeline (SQLite): {heavy} notes of 5,000 date-heavy chars handled in {total:.2f} s; "
        f"meanwhile /healthz x {len(health)}: {figures(health)}"
    )
    print(
        f"  another chat's command: stored in {receive_ms:.1f} ms, "
        f"answered {answered_ms:.0f} ms after it was sent"
    )
    print(f"  SQLite write lock held per transaction ({len(holds)}): {figures(holds)}")
    print(
        f"  date/amount parses: {len(locked_parses)}, "
        f"of which under the write lock: {sum(locked_parses)}"
    )


def _watch_parses(runtime: Runtime) -> list[bool]:
    """For each date or amount parse from now on: was the write lock held? (see models.memo)."""
    from models import dates, money
    from models.db import holds_write_lock

    seen: list[bool] = []
    for module, name in ((dates, "_read"), (money, "_lex")):
        original = getattr(module, name)

        def watched(*args: object, _original: Any = original, **kwargs: object) -> object:
            seen.append(holds_write_lock(runtime.engine))
            return _original(*args, **kwargs)

        setattr(module, name, watched)
    return seen


def _watch_write_lock(runtime: Runtime) -> list[float]:
    """Every hold of the process's SQLite write lock, in ms, from now on."""
    from models.db import WRITE_LOCKS

    lock = WRITE_LOCKS[runtime.engine]
    holds: list[float] = []
    started: dict[int, float] = {}
    acquire, release = lock.acquire, lock.release

    def timed_acquire() -> None:
        acquire()
        started.setdefault(threading.get_ident(), time.perf_counter())

    def timed_release() -> None:
        me = threading.get_ident()
        if lock._depth == 1 and me in started:
            holds.append((time.perf_counter() - started.pop(me)) * 1000)
        release()

    lock.acquire, lock.release = timed_acquire, timed_release  # type: ignore[method-assign]
    return holds


def _answered(runtime: Runtime, message_id: str) -> bool:
    """True once the inbox row of ``message_id`` has been handled."""
    from sqlalchemy import select

    from models.pipeline import DONE, Inbox

    with runtime.sessions() as session:
        status = session.scalar(select(Inbox.status).where(Inbox.message_id == message_id))
    return status == DONE


def main() -> None:
    """Run and print figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20, help="repetitions per message")
    parser.add_argument("--heavy", type=int, default=10, help="5,000-char notes in the pipeline")
    args = parser.parse_args()
    find_when("明天下午3点", NOW)  # load the parsers once, outside the figures
    samples: list[float] = []
    for text in ORDINARY:
        samples += timed(find_when, text, args.runs, vary=True)
    print(f"ordinary notes ({len(ORDINARY)} x {args.runs}):".ljust(34) + figures(samples))
    for name, (func, text) in adversarial().items():
        print(f"{name}:".ljust(34) + figures(timed(func, text, max(1, args.runs // 4), True)))
    pipeline(args.heavy)
    print(
        f"reproduce: .venv/bin/python -m bench.parse_cost --runs {args.runs} --heavy {args.heavy}"
    )


if __name__ == "__main__":
    main()
