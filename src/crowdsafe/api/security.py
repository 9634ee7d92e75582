"""What every request must show and every answer carries: the API's browser-facing defences.

The alert actions are buttons on a page, so the attacks to stop are a browser's:

* **DNS rebinding.**  A page on ``evil.example`` re-points its own name at 127.0.0.1;
  the browser then sends ``Host: evil.example`` to a server bound to loopback and lets
  the page read the answers, as same-origin.  Refusing every ``Host`` the site did not
  name (loopback names, the bound address, ``server.allowed_hosts``) defeats it: 400.
* **Forged actions (CSRF).**  A cross-site ``<form method=post>`` with ``text/plain``
  needs no preflight and would reach ``acknowledge``.  A browser says where an unsafe
  request (POST, PUT, PATCH, DELETE) comes from in ``Origin`` (else ``Sec-Fetch-Site``,
  else ``Referer``); one from another origin is refused: 403.  A request with none of
  them is not a browser's (curl, a script): it is no CSRF vector, and logins decide.
* **Clickjacking, sniffing, leaks.**  Every answer, errors and ``/healthz`` included,
  carries a Content-Security-Policy with no inline script or style and
  ``frame-ancestors 'none'``, ``X-Frame-Options: DENY``, ``nosniff``, a same-origin
  referrer policy and same-origin resource policy (a foreign page cannot even embed
  the anonymised live view).  The dashboard and the API docs are files served from the
  package, so the policy costs them nothing.

``Referrer-Policy: same-origin`` rather than ``no-referrer``: under ``no-referrer`` a
browser sends ``Origin: null`` with a same-origin form POST, which the check above
would refuse.

Hand-written rather than Starlette's ``TrustedHostMiddleware``: that one answers a
plain-text body and no security headers, and every answer here has the one error body
(:class:`~crowdsafe.api.errors.ErrorBody`) and the headers.  A pure ASGI middleware,
not ``BaseHTTPMiddleware``, so the live feed's event stream is passed through as it is
written.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LOOPBACK_HOSTS",
    "SECURITY_HEADERS",
    "SecurityMiddleware",
    "host_allowed",
    "host_name",
]

# Answered whatever the config says: a browser never resolves these to a foreign page.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # The API docs' stylesheet draws its icons as data: SVGs.
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def host_name(host: str) -> str:
    """A ``Host`` header (or a URL's netloc) without its port, lower-case, with no
    trailing dot and no IPv6 brackets: ``[::1]:8080`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def host_allowed(name: str, allowed: Iterable[str]) -> bool:
    """Whether ``name`` (from :func:`host_name`) is one of ``allowed``; an entry
    ``*.example.org`` allows every name under example.org, not example.org itself."""
    for pattern in allowed:
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
        if name == pattern:
            return True
    return False


def _normalised(hosts: Iterable[str]) -> tuple[str, ...]:
    out = []
    for h in hosts:
        name = host_name(h)
        with contextlib.suppress(ValueError):  # one spelling per address: "::0:1" is "::1"
            name = str(ipaddress.ip_address(name))
        out.append(name)
    return tuple(dict.fromkeys(out))


class SecurityMiddleware:
    """Refuses foreign ``Host`` headers (400) and cross-origin unsafe requests (403),
    and adds :data:`SECURITY_HEADERS` to every answer.

    ``hosts`` are the names answered besides :data:`LOOPBACK_HOSTS`."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = _normalised([*LOOPBACK_HOSTS, *hosts])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        refusal = self._refusal(scope)
        if refusal is None:
            await self.app(scope, receive, send_with_headers)
            return
        status, detail = refusal
        body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
        await send_with_headers(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, detail) when the request is refused; None when it may go on."""
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is None:
            return 400, "no Host header; send the name this server is reached by"
        name = _normalised([host])[0]
        if not host_allowed(name, self.hosts):
            return 400, (
                f"Host '{host_name(host)}' is not a name this server answers to; add it to "
                "server.allowed_hosts in the config if it is this server's"
            )
        if scope["method"] not in UNSAFE_METHODS:
            return None
        return _cross_origin(headers, host)


def _cross_origin(headers: Headers, host: str) -> tuple[int, str] | None:
    """A 403 for an unsafe request a browser sent from another origin.

    ``Origin`` is compared by host and port with ``Host``, which has passed the host
    check; absent ``Origin``, ``Sec-Fetch-Site`` must be same-origin (or none, typed by
    the user) and ``Referer`` must name this host."""
    here = host.strip().lower()
    origin = headers.get("origin")
    if origin is not None:
        if origin == "null" or urlsplit(origin).netloc.lower() != here:
            return 403, f"cross-origin request refused: Origin '{origin}' is not this site"
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return 403, f"cross-origin request refused: Sec-Fetch-Site is '{site}'"
    referer = headers.get("referer")
    if referer is not None and urlsplit(referer).netloc.lower() != here:
        return 403, "cross-origin request refused: the Referer is not this site"
    return None
