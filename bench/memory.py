"""Benchmark: resident memory of `genjin serve`, idle and under load.

Starts `genjin serve` (SQLite, sandbox on, workers and scheduler running) as a separate process,
reads its VmRSS / VmHWM from /proc once it is idle, then posts --messages commands through the
sandbox API (the full pipeline) and reads the peak again.

Reproduce:  .venv/bin/python -m bench.memory [--messages 2000] [--feishu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.serving import free_port


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in MB."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            figures[key] = int(value.split()[0]) // 1024
    return figures


def main() -> None:
    """Measure idle and loaded memory."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument(
        "--feishu", action="store_true", help="also configure Feishu (imports lark-oapi)"
    )
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    port = free_port()
    env = {
        **os.environ,
        "GENJIN_DATABASE_URL": f"sqlite:///{tmp}/m.db",
        "GENJIN_SERVER_SANDBOX": "on",
    }
    if args.feishu:
        env.update(
            {
                "GENJIN_FEISHU_APP_ID": "cli_bench",
                "GENJIN_FEISHU_APP_SECRET": "x",
                "GENJIN_FEISHU_VERIFICATION_TOKEN": "t",
                "GENJIN_FEISHU_BOT_OPEN_ID": "ou_bot",
                "GENJIN_FEISHU_DOMAIN": f"http://127.0.0.1:{free_port()}",
            }
        )
    env.pop("GENJIN_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(3)  # idle: workers waiting, scheduler ticking
        idle = memory(proc.pid)
        for i in range(args.messages):
            body = json.dumps(
                {
                    "chat": f"销售{i % 20}组",
                    "as": f"rep{i % 7}",
                    "text": f"/跟进 客户{i % 300:03d} 报价已发 下周三回访 {i % 9}万",
                }
            ).encode()
            request = urllib.request.Request(
                f"{base}/sandbox/api/send", data=body, headers={"Content-Type": "application/json"}
            )
            urllib.request.urlopen(request, timeout=10).read()
        while json.loads(urllib.request.urlopen(f"{base}/healthz", timeout=5).read())[
            "inbox_pending"
        ]:
            time.sleep(0.2)
        loaded = memory(proc.pid)
        print(f"genjin serve ({'Feishu configured' if args.feishu else 'console/sandbox'}):")
        print(f"  idle: RSS {idle['VmRSS']} MB (peak so far {idle['VmHWM']} MB)")
        print(
            f"  after {args.messages} commands: RSS {loaded['VmRSS']} MB, peak {loaded['VmHWM']} MB"
        )
        print(
            "reproduce: .venv/bin/python -m bench.memory --messages",
            args.messages,
            "--feishu" if args.feishu else "",
        )
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
