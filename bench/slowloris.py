"""Benchmark: /healthz and a signed WeCom webhook while a slowloris holds many connections.

Each slow connection sends a request line and a header, then one more header line every 10 s and
never ends its headers. While they are held, the bench times fresh requests, one at a time, each
on a new connection (as a platform's webhook call arrives):
  * healthz — GET /healthz;
  * webhook — a signed, encrypted WeCom callback (stored in the inbox, answered 200; the reply
              goes to a local fake WeCom API).

Setups:
  * before — the app on waitress with the settings `genjin serve` used before bot/server.py
             (waitress defaults: 100 connections, select(), idle timeout only);
  * genjin — `genjin serve` (bot/server.py: 1000 connections, poll(), request deadline).

Reproduce:  .venv/bin/python -m bench.slowloris [--setups before genjin] [--slow 0 500]
            [--requests 20] [--timeout 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bot.adapters.wecom_crypto import WecomCrypto, sign
from tests.support.fake_wecom import FakeWecom
from tests.support.serving import free_port
from tests.support.slowloris import Slowloris, raise_open_files, wait_until

ROOT = Path(__file__).resolve().parent.parent

TOKEN = "benchT0ken"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CHAT = "wrkBENCH"
# What bot/cli.py's _web_server built before bot/server.py existed.
BEFORE = """
import sys
from waitress import create_server
from bot.app import create_app
from bot.config import load_settings
settings = load_settings()
app = create_app(settings)
create_server(app, host="127.0.0.1", port=int(sys.argv[1]), threads=settings.server.threads,
              ident="genjin", max_request_body_size=settings.server.max_body_bytes).run()
"""


def start(setup: str, port: int, workdir: Path, fake_url: str) -> subprocess.Popen:
    """Start one server process; returns once it answers /healthz."""
    (workdir / "config.toml").write_text(
        f'[wecom.chats."{CHAT}"]\nwebhook_key = "example-bench-hook"\n', encoding="utf-8"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GENJIN_CONFIG": str(workdir / "config.toml"),
        "GENJIN_DATABASE_URL": f"sqlite:///{workdir}/{setup}-{port}.db",
        "GENJIN_WECOM_TOKEN": TOKEN,
        "GENJIN_WECOM_ENCODING_AES_KEY": KEY,
        "GENJIN_WECOM_DOMAIN": fake_url,
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    if setup == "before":
        argv = [sys.executable, "-c", BEFORE, str(port)]
    else:
        argv = [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)]
    log = workdir / f"{setup}-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    if not wait_until(lambda: timed_get(f"http://127.0.0.1:{port}/healthz", 2) is not None, 60):
        proc.kill()
        raise SystemExit(f"{setup} did not start:\n{log.read_text()[-3000:]}")
    return proc


def timed_get(url: str, timeout: float) -> float | None:
    """Milliseconds until a 200 answer to GET ``url``; None when there is none within ``timeout``."""
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            ok = response.status == 200
    except (OSError, urllib.error.HTTPError):
        return None
    return (time.perf_counter() - began) * 1000 if ok else None


def timed_webhook(base: str, n: int, fake: FakeWecom, timeout: float) -> float | None:
    """Milliseconds until a signed WeCom callback is answered 200; None when it is not."""
    crypto = WecomCrypto(TOKEN, KEY, "")
    body = {
        "msgid": f"bench-{time.time_ns()}-{n}",
        "chatid": CHAT,
        "chattype": "group",
        "from": {"userid": "zhangsan"},
        "response_url": fake.response_url(f"r{n}"),
        "msgtype": "text",
        "text": {"content": f"@跟进助手 /跟进 客户{n} 电话沟通"},
    }
    enc = crypto.encrypt(json.dumps(body, ensure_ascii=False))
    ts, nonce = str(int(time.time())), f"n{n}"
    query = urllib.parse.urlencode(
        {"msg_signature": sign(TOKEN, ts, nonce, enc), "timestamp": ts, "nonce": nonce}
    )
    request = urllib.request.Request(
        f"{base}/webhook/wecom?{query}",
        data=json.dumps({"encrypt": enc}).encode(),
        headers={"Content-Type": "application/json"},
    )
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            ok = response.status == 200
    except (OSError, urllib.error.HTTPError):
        return None
    return (time.perf_counter() - began) * 1000 if ok else None


def summary(samples: list[float | None]) -> str:
    """p50 / max of the answered ones, and how many got no answer."""
    answered = sorted(s for s in samples if s is not None)
    missing = len(samples) - len(answered)
    if not answered:
        return f"no answer ({missing}/{len(samples)} timed out)"
    text = f"{statistics.median(answered):7.1f} / {answered[-1]:7.1f} ms"
    return text + (f"  ({missing} timed out)" if missing else "")


def main() -> None:
    """Run every setup × slow-connection count and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setups", nargs="+", default=["before", "genjin"])
    parser.add_argument("--slow", nargs="+", type=int, default=[0, 500])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    raise_open_files(max(args.slow) + 1024)
    fake = FakeWecom(keys={"example-bench-hook"}).start()
    print(f"{args.requests} sequential requests each, timeout {args.timeout:g} s; p50 / max")
    print(f"{'setup':8} {'slow':>5} {'held':>5} {'after':>5}  {'healthz':34} webhook", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="genjin-slowloris-") as tmp:
            for setup in args.setups:
                for slow in args.slow:
                    port = free_port()
                    proc = start(setup, port, Path(tmp), fake.url)
                    base = f"http://127.0.0.1:{port}"
                    try:
                        with Slowloris(port, slow, interval=10.0) as attack:
                            time.sleep(1.0)
                            held = attack.open()
                            health = [
                                timed_get(f"{base}/healthz", args.timeout)
                                for _ in range(args.requests)
                            ]
                            hooks = [
                                timed_webhook(base, n, fake, args.timeout)
                                for n in range(args.requests)
                            ]
                            still = attack.open()
                    finally:
                        proc.terminate()
                        proc.wait(15)
                    print(
                        f"{setup:8} {slow:5} {held:5} {still:5}  "
                        f"{summary(health):34} {summary(hooks)}",
                        flush=True,
                    )
    finally:
        fake.stop()
    print(
        "\nheld/after: slow connections still open (accepted, or waiting in the kernel's backlog)"
        " before/after the timed requests."
        "\nReproduce: .venv/bin/python -m bench.slowloris --setups "
        + " ".join(args.setups)
        + " --slow "
        + " ".join(map(str, args.slow))
        + f" --requests {args.requests} --timeout {args.timeout:g}"
    )


if __name__ == "__main__":
    main()
