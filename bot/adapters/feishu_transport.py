"""Keep-alive connections for lark-oapi's synchronous calls.

lark-oapi 1.7 sends every request with the module-level ``requests.request(...)``
(``lark_oapi/core/http/transport.py``): a new ``Session`` and a new TCP (and TLS) connection per
call, and a scan of the whole environment for proxy settings each time. At a reply per command
that is most of the sending cost. ``install()`` gives the transport a stand-in whose ``request``
goes through one keep-alive session per thread, with the proxy settings for each host looked
up once (``HTTPS_PROXY``/``NO_PROXY`` still apply, as requests reads them).

The stand-in only replaces the name ``requests`` inside that one SDK module. If a later SDK
version stops calling ``requests.request`` there, nothing breaks: its own transport is used.
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

_installed = False
_install_lock = threading.Lock()


class PooledRequests:
    """The subset of the ``requests`` module the SDK transport calls: ``request(...)``."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}
        self._verify: str | bool = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.trust_env = False  # proxies and CA bundle are settled once, below
            self._local.session = session
        return session

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """requests.request with a pooled connection."""
        parts = urlsplit(url)
        base = (parts.scheme, parts.netloc)
        proxies = self._proxies.get(base)
        if proxies is None:
            from requests.utils import get_environ_proxies

            proxies = self._proxies[base] = dict(get_environ_proxies(url))
        kwargs.setdefault("proxies", proxies)
        kwargs.setdefault("verify", self._verify)
        return self._session().request(method, url, **kwargs)


def install() -> bool:
    """Point lark-oapi's sync transport at pooled connections (once per process)."""
    global _installed
    with _install_lock:
        if _installed:
            return True
        from lark_oapi.core.http import transport  # type: ignore[import-untyped]

        if getattr(getattr(transport, "requests", None), "request", None) is None:
            return False  # not the transport this was written for: leave it alone
        transport.requests = PooledRequests()
        _installed = True
        return True
