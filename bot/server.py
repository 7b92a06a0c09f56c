"""The production web server: waitress, sized and timed for a bot that slow clients must not hold.

Waitress buffers a whole request before a worker thread sees it, so slow clients cost no threads;
they cost connections. Out of the box waitress keeps 100 of them, watches them with ``select()``
(which cannot see descriptors above 1024) and closes only *idle* ones, so ~100 clients that each
trickle one header line every few seconds (a slowloris) fill every slot, and ``/healthz`` and the
webhooks go unanswered until they leave. Here:

- ``server.connection_limit`` connections (default 1000), watched with ``poll()``, and the
  process's open-files soft limit raised to cover them;
- a connection idle for ``server.channel_timeout_seconds`` is closed (waitress's own timeout), and
  so is one whose request has not *completely* arrived that long after its first byte: a client
  that sends a header line every 10 s is never idle, but it is late (``DeadlineChannel``).

On a public network a reverse proxy belongs in front all the same (docs/operations.md).
"""

from __future__ import annotations

import logging
import resource
import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from bot.config import Settings

log = logging.getLogger(__name__)

# Descriptors beyond the connection limit: database, log files, sockets to the platforms.
FD_HEADROOM = 256
# Seconds between sweeps for idle and late connections: a late one lives at most this much longer.
SWEEP_SECONDS = 1


class DeadlineChannel(HTTPChannel):
    """A waitress channel that remembers when the request it is still reading began."""

    request_started: float | None = None  # time.time() of the first byte of the partial request

    def received(self, data: bytes) -> bool:
        """Parse incoming bytes (waitress), noting when a new request starts and when it is whole."""
        if self.request is None:
            self.request_started = time.time()
        result = super().received(data)
        if self.request is None:  # every byte so far belongs to complete requests
            self.request_started = None
        return result


class DeadlineServer(TcpWSGIServer):
    """A waitress TCP server that also closes connections whose request is late (slowloris)."""

    channel_class = DeadlineChannel

    def maintenance(self, now: float) -> None:
        """Waitress closes idle connections; close those whose request is still incomplete too."""
        super().maintenance(now)
        cutoff = now - self.adj.channel_timeout
        late = [
            channel
            for channel in self.active_channels.values()
            if isinstance(channel, DeadlineChannel)
            and channel.request_started is not None
            and channel.request_started < cutoff
            and not channel.requests
            and not channel.will_close
        ]
        for channel in late:
            channel.will_close = True  # the loop closes it at its next turn
        if late:
            log.warning(
                "closed %d connection(s) whose request did not arrive within %s s (slow clients)",
                len(late),
                self.adj.channel_timeout,
            )


class DeadlineMultiServer(MultiSocketServer):
    """Several listening sockets (a name that resolves to IPv4 and IPv6) in one loop."""

    @property
    def effective_port(self) -> int:
        """The port of the first socket, as the single-socket server has it."""
        return int(self.effective_listen[0][1])


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE toward ``wanted`` (never above the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit to %s: %s", target, exc)
    return soft


def web_server(app: Any, settings: Settings) -> Any:
    """A waitress server for the app, hardened against slow and numerous clients."""
    server = settings.server
    limit = server.connection_limit
    files = raise_open_files_limit(limit + FD_HEADROOM)
    if files != resource.RLIM_INFINITY and files < limit + FD_HEADROOM:
        allowed = max(10, files - FD_HEADROOM)
        log.warning(
            "server.connection_limit %s is more than the open-files limit %s allows; using %s "
            "(raise it: LimitNOFILE= in the systemd unit, or ulimit -n)",
            limit,
            files,
            allowed,
        )
        limit = allowed
    adj = Adjustments(
        host=server.host,
        port=server.port,
        threads=server.threads,
        ident="genjin",
        # Chunked bodies too: waitress counts them as they arrive and stops at the limit.
        max_request_body_size=server.max_body_bytes,
        connection_limit=limit,
        channel_timeout=server.channel_timeout_seconds,
        cleanup_interval=SWEEP_SECONDS,
        asyncore_use_poll=True,  # select() fails on descriptors above 1024
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict[int, Any] = {}
    servers = [
        DeadlineServer(app, socket_map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
        for sockinfo in adj.listen
    ]
    if len(servers) == 1:
        return servers[0]
    listening = [(s.effective_host, s.effective_port) for s in servers]
    return DeadlineMultiServer(socket_map, adj, listening, dispatcher, servers[-1].log_info)
