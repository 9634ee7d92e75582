"""Authenticating in tests: an app's bearer token, a served base URL that carries one.

Every route but /healthz and the login needs a role, so a test of what a route answers
first gets a token from the app's own authenticator (``create_app`` gives each app an
empty in-memory one)::

    app = create_app(site)
    with TestClient(app, headers=bearer(app)) as client: ...

    with serving(site) as base:        # tests/test_api.py: base is a str, as before,
        base.get("/api/zones")         # and also a client holding an admin token
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from crowdsafe.auth import Authenticator, Role

__all__ = ["Served", "bearer", "token"]


def token(app: FastAPI, role: Role = Role.ADMIN, label: str | None = None) -> str:
    """A new bearer token of ``role`` in ``app``'s auth store."""
    auth: Authenticator = app.state.auth
    return auth.store.add_token(label or f"test-{role.value}-{len(auth.store.tokens())}", role)


def bearer(app: FastAPI, role: Role = Role.ADMIN) -> dict[str, str]:
    """Headers that authenticate as a new token of ``role``."""
    return {"Authorization": f"Bearer {token(app, role)}"}


class Served(str):
    """A served app's base URL (``base + "/api/zones"`` still works) that also sends
    requests with an admin token: ``base.get("/api/zones")``."""

    headers: dict[str, str]

    def __new__(cls, url: str, headers: dict[str, str]) -> Served:
        served = super().__new__(cls, url)
        served.headers = headers
        return served

    def get(self, path: str, **kw: Any) -> httpx.Response:  # type: ignore[override]
        return httpx.get(self + path, headers=self.headers, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(self + path, headers=self.headers, **kw)

    @contextmanager
    def stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        with httpx.stream(method, self + path, headers=self.headers, **kw) as r:
            yield r
