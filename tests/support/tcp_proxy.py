"""A small threaded TCP proxy on loopback, for cutting a process off from its database.

``TcpProxy(5432)`` listens on ``127.0.0.1:<free port>`` and forwards every connection to the
target. ``cut()`` closes every open connection and answers new ones by closing them at once (the
client sees "server closed the connection unexpectedly"); ``restore()`` forwards again.
``TcpProxy(port, delay=0.4)`` holds every client→server chunk that long, like a slow link.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import suppress


class TcpProxy:
    """Forward ``127.0.0.1:port`` → ``target_host:target_port``; can be cut and restored."""

    def __init__(
        self, target_port: int, target_host: str = "127.0.0.1", delay: float = 0.0
    ) -> None:
        self.target = (target_host, target_port)
        self.delay = delay  # seconds each client→server chunk is held
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._cut = threading.Event()
        self._stop = threading.Event()
        self.accepted = 0
        self.refused = 0
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"tcp-proxy:{self.port}", daemon=True
        )
        self._acceptor.start()

    # -- control -------------------------------------------------------------------------------
    def cut(self) -> None:
        """Close every open connection; new ones are accepted and closed straight away."""
        self._cut.set()
        self._close_all()

    def restore(self) -> None:
        """Forward new connections again."""
        self._cut.clear()

    @property
    def is_cut(self) -> bool:
        """Whether the proxy is refusing connections."""
        return self._cut.is_set()

    def open_connections(self) -> int:
        """Sockets (both sides) currently forwarded."""
        with self._lock:
            return len(self._sockets)

    def close(self) -> None:
        """Stop listening, close every connection and join the threads."""
        self._stop.set()
        self._acceptor.join(5)
        with suppress(OSError):
            self._listener.close()
        self._close_all()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------
    def _close_all(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            _kill(sock)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set() or self._stop.is_set():
                self.refused += 1
                _kill(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self.refused += 1
                _kill(client)
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                if self._cut.is_set():  # cut while we were connecting
                    _kill(client)
                    _kill(upstream)
                    continue
                self.accepted += 1
                self._sockets.update((client, upstream))
                self._threads = [t for t in self._threads if t.is_alive()]
                for src, dst, delay in ((client, upstream, self.delay), (upstream, client, 0.0)):
                    thread = threading.Thread(
                        target=self._pump,
                        args=(src, dst, delay),
                        name="tcp-proxy-pump",
                        daemon=True,
                    )
                    self._threads.append(thread)
                    thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket, delay: float) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(src)
                self._sockets.discard(dst)
            _kill(src)
            _kill(dst)


def _kill(sock: socket.socket) -> None:
    """Shut a socket down both ways (wakes a thread blocked in recv) and close it."""
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()
