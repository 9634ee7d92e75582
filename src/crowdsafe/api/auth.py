"""Every request's login, role and CSRF check, in one ASGI middleware over a role table.

Why a middleware and a table rather than a dependency on each route: it fails closed.
A route missing from :data:`ROUTE_ROLES` needs ``admin``, a path that matches no route
needs a login before it gets its 404, and the API docs, the OpenAPI document and any
static file are covered like the API itself, so a new route cannot be left open by
forgetting a dependency.  ``tests/test_auth.py`` walks ``app.routes`` to prove it.

Per request: find the route; public (``/healthz``, the login page, the login call) goes
through; otherwise the principal comes from a bearer token, the session cookie or a
trusted proxy's user header (:class:`~crowdsafe.auth.Authenticator`).  None: 401 (a
browser asking for the dashboard page is sent to ``/login`` instead).  A role too low:
403.  A state-changing request from a browser (session or proxy) without the session's
CSRF token in ``X-CSRF-Token``: 403.  The principal is put on ``request.state`` for the
routes that audit what it does.  ``GET /?token=...`` spends a one-time login link
(``crowdsafe demo``) and redirects to the clean URL with a session cookie.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from crowdsafe.api.errors import ErrorBody
from crowdsafe.auth import ANONYMOUS, PUBLIC, SESSION_COOKIE, Authenticator, Principal, Role

__all__ = [
    "CSRF_HEADER",
    "ROUTE_ROLES",
    "AuthMiddleware",
    "client_address",
    "install",
    "needed_role",
    "set_session_cookie",
]

CSRF_HEADER = "X-CSRF-Token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_V, _O, _A = Role.VIEWER, Role.OPERATOR, Role.ADMIN

# (method, path) -> the role it needs; PUBLIC needs none.  Anything not listed: admin.
ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/login.js"): PUBLIC,
    ("GET", "/dashboard.css"): PUBLIC,  # the login page's style; holds nothing of the site
    ("POST", "/api/session"): PUBLIC,  # logging in (rate-limited)
    ("GET", "/api/session"): _V,
    ("DELETE", "/api/session"): _V,
    ("GET", "/"): _V,
    ("GET", "/dashboard.js"): _V,
    ("GET", "/api/docs"): _V,
    ("GET", "/api/docs/api-docs.js"): _V,
    ("GET", "/api/docs/swagger-ui-bundle.js"): _V,
    ("GET", "/api/docs/swagger-ui.css"): _V,
    ("GET", "/openapi.json"): _V,
    ("GET", "/metrics"): _V,  # a token (Prometheus) unless auth.metrics_open
    ("GET", "/api/sinks"): _V,
    ("GET", "/api/sites"): _V,
    ("GET", "/api/sites/{site_id}"): _V,
    ("GET", "/api/cameras"): _V,
    ("GET", "/api/cameras/{camera_id}/health"): _V,
    ("GET", "/api/zones"): _V,
    ("GET", "/api/zones/{zone_id}/series"): _V,
    ("GET", "/api/zones/{zone_id}/forecast"): _V,
    ("GET", "/api/zones/{zone_id}/nowcast"): _V,
    ("GET", "/api/lines"): _V,
    ("GET", "/api/lines/{line_id}/series"): _V,
    ("GET", "/api/alerts"): _V,
    ("GET", "/api/live"): _V,
    ("GET", "/api/staffing"): _V,
    ("GET", "/api/staffing.csv"): _V,
    ("GET", "/api/cameras/{camera_id}/live.jpg"): _O,
    ("GET", "/api/alerts/{alert_id}/snapshot.jpg"): _O,
    ("GET", "/api/alerts/{alert_id}/audit"): _O,
    ("POST", "/api/alerts/{alert_id}/acknowledge"): _O,
    ("POST", "/api/alerts/{alert_id}/resolve"): _O,
    ("GET", "/api/audit"): _A,
}
# Pages a browser opens by address: without a login it is sent to the login page.
_PAGES = frozenset({"/"})


def needed_role(method: str, path: str, metrics_open: bool = False) -> Role | None:
    """The role ``method path`` (a route's path template) needs; admin if unlisted."""
    method = "GET" if method == "HEAD" else method
    if metrics_open and path == "/metrics":
        return PUBLIC
    return ROUTE_ROLES.get((method, path), Role.ADMIN)


def client_address(request: Request, auth: Authenticator) -> str:
    """The client's address, as a trusted proxy reports it (X-Forwarded-For)."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and auth.policy.trusts(peer):
        return forwarded.split(",")[-1].strip()
    return peer or "unknown"


def _over_tls(request: Request, auth: Authenticator) -> bool:
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else None
    return auth.policy.trusts(peer) and request.headers.get("x-forwarded-proto") == "https"


def set_session_cookie(
    response: Response, value: str, request: Request, auth: Authenticator
) -> None:
    """The session cookie: signed, HttpOnly, SameSite=Strict, Secure over TLS, expiring."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(auth.policy.session_ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_over_tls(request, auth),
    )


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(ErrorBody(detail=detail).model_dump(), status_code=status, headers=headers)


class AuthMiddleware:
    """The module docstring's checks, for every HTTP request of the app."""

    def __init__(self, app: ASGIApp, auth: Authenticator, routes: Sequence[BaseRoute]) -> None:
        self.app, self.auth, self.routes = app, auth, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        needed = self._needed(scope)
        if needed is PUBLIC:
            await self.app(scope, receive, send)
            return
        answer: Response | None = None
        link = request.query_params.get("token")
        if request.method == "GET" and request.url.path in _PAGES and link:
            answer = self._spend_link(request, link)
        who = ANONYMOUS if self.auth.open_access else self._principal(request)
        if answer is not None:
            pass
        elif who is None:
            answer = self._unauthenticated(request)
        elif not who.role.allows(needed):
            answer = _error(403, f"'{who.name}' is {who.role.value}; this needs {needed.value}")
        elif request.method not in _SAFE and not self.auth.csrf_ok(
            who, request.headers.get(CSRF_HEADER)
        ):
            answer = _error(
                403,
                f"missing or wrong {CSRF_HEADER} header: a browser's state-changing request "
                "must carry the token from GET /api/session (or use a bearer token)",
            )
        if answer is not None:
            await answer(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = who
        await self.app(scope, receive, send)

    def _needed(self, scope: Scope) -> Role | None:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                path = getattr(route, "path_format", getattr(route, "path", ""))
                return needed_role(scope["method"], path, self.auth.policy.metrics_open)
        # A wrong method (405) or an unknown path (404) is answered to a logged-in client.
        return Role.VIEWER

    def _principal(self, request: Request) -> Principal | None:
        authorization = request.headers.get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return self.auth.from_bearer(credentials.strip())
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            who = self.auth.from_cookie(cookie)
            if who is not None:
                return who
        header = self.auth.policy.proxy_user_header
        user = request.headers.get(header) if header else None
        if user:
            return self.auth.from_proxy(request.client.host if request.client else None, user)
        return None

    def _unauthenticated(self, request: Request) -> Response:
        if request.url.path in _PAGES and "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/login", status_code=303)
        return _error(
            401,
            "log in (POST /api/session, or the page /login) or send "
            "'Authorization: Bearer <token>' (crowdsafe tokens add)",
            {"WWW-Authenticate": 'Bearer realm="crowdsafe"'},
        )

    def _spend_link(self, request: Request, secret: str) -> Response | None:
        spent = self.auth.use_login_link(secret)
        if spent is None:
            return None
        response = RedirectResponse(request.url.path, status_code=303)
        set_session_cookie(response, spent[1], request, self.auth)
        return response


_401 = "Not logged in: no valid session cookie, bearer token or trusted proxy user."
_403 = "The role does not allow this, or a browser's request lacks its CSRF token."
_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (cst_...)."},
    "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
    "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER},
}


def install(app: FastAPI, auth: Authenticator) -> None:
    """Check every request (:class:`AuthMiddleware`) and declare it in the OpenAPI
    document: the security schemes, each operation's requirement and role (``x-role``),
    its 401, and its 403 where one can happen (a role above viewer, or a CSRF check)."""
    routes = app.router.routes
    for i, shared in enumerate(routes):
        if not isinstance(shared, APIRoute):
            continue
        methods = sorted(shared.methods or ())
        needed = {needed_role(m, shared.path_format, auth.policy.metrics_open) for m in methods}
        if needed == {PUBLIC}:
            continue
        # A copy: the routers' route objects are module-level and shared by every app.
        route = routes[i] = copy.copy(shared)
        role = max((r for r in needed if r is not None), key=lambda r: r.rank)
        unsafe = any(m not in _SAFE for m in methods)
        browser: dict[str, list[str]] = {"session": [], "csrf": []} if unsafe else {"session": []}
        extra: dict[str, Any] = {"security": [{"bearer": []}, browser], "x-role": role.value}
        route.openapi_extra = {**(shared.openapi_extra or {}), **extra}
        answers = {401: _401}
        if role is not Role.VIEWER or unsafe:  # every login has a viewer's rights
            forbidden = shared.responses.get(403, {}).get("description")
            answers[403] = _403 if forbidden is None else f"{forbidden} Or: {_403}"
        route.responses = {
            **shared.responses,
            **{s: {"model": ErrorBody, "description": d} for s, d in answers.items()},
        }
        route.response_fields = {
            **shared.response_fields,
            **{
                s: create_model_field(
                    name=f"Response_{s}_{route.unique_id}", type_=ErrorBody, mode="serialization"
                )
                for s in answers
            },
        }
    make = app.openapi

    def openapi() -> dict[str, Any]:
        schema = make()
        schema.setdefault("components", {})["securitySchemes"] = _SCHEMES
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(AuthMiddleware, auth=auth, routes=app.router.routes)
