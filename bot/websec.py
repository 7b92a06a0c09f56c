"""Web hardening shared by every route: the Host check, security headers, one log line per 4xx.

The Host check stops DNS rebinding: a web page on ``evil.example`` whose name is made to resolve
to 127.0.0.1 can make the admin's browser talk to a loopback sandbox, but the browser still sends
``Host: evil.example``. Accepted names: the bind address, localhost, 127.0.0.1, [::1], and
``server.allowed_hosts``. The sandbox is always checked. Webhooks are checked only once
``allowed_hosts`` is set: platforms call the public name, which a proxy may or may not pass on,
and a request they sign proves itself, so an upgrade must not silently refuse every message.
``/healthz`` and ``/metrics`` are never checked (probes address machines by IP;
``server.health_access`` guards them).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from hashlib import sha256

from flask import Flask, Request, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from bot.config import Settings, is_loopback_host, validate_server

log = logging.getLogger(__name__)

SANDBOX = "sandbox"  # the sandbox blueprint's name
UNCHECKED_ENDPOINTS = frozenset({"healthz", "metrics"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# The sandbox page loads its script and style from /sandbox/static: no inline code runs anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
SANDBOX_COOKIE = "genjin_sandbox"
SANDBOX_KEY_HEADER = "X-Sandbox-Key"


def host_name(host: str) -> str:
    """The name part of a Host header, lower case: ``[::1]:8000`` → ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        host = name
    return host.rstrip(".")


def allowed_host_names(settings: Settings) -> frozenset[str]:
    """Host names this server answers to (see the module docstring)."""
    names = set(LOOPBACK_NAMES)
    bind = host_name(settings.server.host)
    try:
        if not ipaddress.ip_address(bind).is_unspecified:
            names.add(bind)
    except ValueError:
        if bind:
            names.add(bind)
    names.update(host_name(h) for h in settings.server.allowed_hosts)
    return frozenset(names)


def same_origin(req: Request) -> bool:
    """False for a request a browser says comes from another site (CSRF), else True.

    ``Sec-Fetch-Site`` is set by the browser and cannot be forged by a page; older browsers
    send only ``Origin``, compared with the Host header. Scripts send neither.
    """
    site = req.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = req.headers.get("Origin")
    if origin is None:
        return True
    return origin.partition("://")[2].lower() == req.host.lower()


def session_token(key: str) -> str:
    """The sandbox cookie's value: derived from the key, so the cookie never holds the key."""
    return hmac.new(key.encode("utf-8"), b"genjin sandbox session", sha256).hexdigest()


def key_matches(given: str, key: str) -> bool:
    """Whether ``given`` is ``key``, in constant time (no timing hints for a guesser)."""
    return hmac.compare_digest(given.encode("utf-8"), key.encode("utf-8"))


def has_sandbox_key(req: Request, key: str) -> bool:
    """Whether the request carries the sandbox key (header) or its session cookie."""
    given = req.headers.get(SANDBOX_KEY_HEADER)
    if given is not None:
        return key_matches(given, key)
    return key_matches(req.cookies.get(SANDBOX_COOKIE, ""), session_token(key))


def init_app(app: Flask, settings: Settings) -> None:
    """Register the Host check, the security headers and the 4xx log line on ``app``."""
    validate_server(settings.server)  # again: --host may have changed the bind after loading
    if settings.sandbox_enabled() and not is_loopback_host(settings.server.host):
        log.warning(
            "the sandbox is on for %s, reachable from other machines: every page and API call "
            "needs server.sandbox_key; use it only on a trusted network",
            settings.server.host,
        )
    names = allowed_host_names(settings)
    check_all = bool(settings.server.allowed_hosts)

    @app.before_request
    def check_host() -> ResponseReturnValue | None:
        """400 for a Host header this server does not answer to."""
        if request.endpoint in UNCHECKED_ENDPOINTS:
            return None
        if request.blueprint != SANDBOX and not check_all:
            return None
        if host_name(request.host) in names:
            return None
        log.warning("refused (400): Host %r is not one of this server's names", request.host[:100])
        return jsonify({"error": "unknown Host; add it to server.allowed_hosts"}), 400

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        """Every response: no framing, no sniffing, no referrer, a strict CSP, not cached."""
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != f"{SANDBOX}.static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def log_http_error(error: HTTPException) -> ResponseReturnValue:
        """Flask's own 4xx (no route, wrong method, body too large): one line, no traceback."""
        if error.code is not None and 400 <= error.code < 500:
            log.info("refused (%s): %s %s", error.code, request.method, request.path[:200])
        return error.get_response()
