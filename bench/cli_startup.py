"""Benchmark: how fast `genjin say` starts and answers in a fresh process.

Reproduce:  .venv/bin/python -m bench.cli_startup [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], env_db: str) -> float:
    """Wall time of one process in ms."""
    start = time.perf_counter()
    subprocess.run(cmd + ["--db", env_db], check=True, capture_output=True)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    """Run and print figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    db = f"sqlite:///{tempfile.mkdtemp()}/cli.db"
    base = [sys.executable, "-m", "bot.cli", "say", "--chat", "c", "--as", "张三"]
    timed(base + ["/帮助"], db)  # create and migrate the database once
    help_runs = [timed(base + ["/帮助"], db) for _ in range(args.runs)]
    follow_runs = [
        timed(base + [f"/跟进 客户{i} 报价已发 下周三回访"], db) for i in range(args.runs)
    ]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import bot.cli"], check=True)
    import_ms = (time.perf_counter() - start) * 1000
    print(f"python -c 'import bot.cli': {import_ms:.0f} ms")
    print(f"genjin say /帮助: median {statistics.median(help_runs):.0f} ms over {args.runs} runs")
    print(
        f"genjin say /跟进 (loads the date parser): median {statistics.median(follow_runs):.0f} ms"
    )
    print(f"reproduce: .venv/bin/python -m bench.cli_startup --runs {args.runs}")


if __name__ == "__main__":
    main()
