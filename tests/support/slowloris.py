"""A slowloris on loopback: many connections that each trickle a request that never completes.

Each connection sends a request line and one header, then one more header line every
``interval`` seconds, and never the blank line that ends the headers. Used by the end-to-end test
of `genjin serve` and by ``bench/slowloris.py``.
"""

from __future__ import annotations

import resource
import select
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft open-files limit toward ``wanted``; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


class Slowloris:
    """``count`` slow connections to ``127.0.0.1:port``; ``open()`` says how many the server holds."""

    def __init__(self, port: int, count: int, interval: float = 10.0) -> None:
        self.port = port
        self.count = count
        self.interval = interval
        self.sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._trickle, name="slowloris", daemon=True)

    def __enter__(self) -> Slowloris:
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            self.sockets.append(sock)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.interval + 5)
        with self._lock:
            for sock in self.sockets:
                with suppress(OSError):
                    sock.close()
            self.sockets.clear()

    def _trickle(self) -> None:
        """One more header line on every connection each ``interval`` seconds."""
        n = 0
        while not self._stop.wait(self.interval):
            n += 1
            with self._lock:
                for sock in self.sockets:
                    with suppress(OSError):
                        sock.send(b"X-Slow-%d: still coming\r\n" % n)

    def open(self) -> int:
        """How many connections the server still holds open (a closed one reads as EOF)."""
        with self._lock:
            held = 0
            for sock in self.sockets:
                poller = select.poll()
                poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
                if not poller.poll(0):
                    held += 1
                    continue
                try:
                    sock.setblocking(False)
                    data = sock.recv(1024)
                except BlockingIOError:
                    held += 1
                    continue
                except OSError:
                    continue
                finally:
                    with suppress(OSError):
                        sock.setblocking(True)
                if data:  # the server answered something (an error) and may still close
                    held += 1
            return held


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
