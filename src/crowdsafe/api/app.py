"""The HTTP API and the dashboard, in one FastAPI app over a :class:`~crowdsafe.site.Site`.

Routes live in :mod:`crowdsafe.api.routes`, one thin module per resource; they get the
site through an injected dependency (:mod:`crowdsafe.api.deps`), hold no SQL, and
answer every error with one body shape (:mod:`crowdsafe.api.errors`).  Numbers are
served as JSON and as a live feed of server-sent events; the only pixels served are
the anonymised live view and alert snapshots (faces and heads pixelated on the server,
``Cache-Control: no-store``).

Every request passes :mod:`crowdsafe.api.security` first (the ``Host`` it names, where
an unsafe one comes from) and every answer carries its headers, even a 401 or a 500.
Then every route but ``/healthz`` and the login needs a role (:mod:`crowdsafe.api.auth`).
Without an :class:`~crowdsafe.auth.Authenticator` the app gets an empty in-memory one:
it refuses everyone, so an app is never open by accident (tests add a token to it).
The API docs are served from the package (:mod:`crowdsafe.api.routes.docs`).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from starlette.types import ASGIApp

from crowdsafe import __version__
from crowdsafe.api import auth as api_auth
from crowdsafe.api import errors
from crowdsafe.api.limits import RequestSlots
from crowdsafe.api.routes import ROUTERS
from crowdsafe.api.security import SecurityMiddleware
from crowdsafe.auth import Authenticator
from crowdsafe.site import Site

__all__ = ["create_app"]

_DESCRIPTION = (
    "Counts, densities, flows, alerts and forecasts of a crowdsafe site. Every error "
    'answers `{"detail": "..."}`. Besides the statuses each operation lists, a '
    "request naming a `Host` the server does not answer to gets 400, and a state-changing "
    "request sent by a browser from another origin gets 403."
)


class _App(FastAPI):
    """FastAPI with :class:`SecurityMiddleware` outside everything, even the handler of
    unexpected errors and the login check, so that a 500 or a 401 carries the security
    headers too."""

    def __init__(self, hosts: Iterable[str]) -> None:
        super().__init__(
            title="crowdsafe",
            version=__version__,
            description=_DESCRIPTION,
            docs_url=None,  # served from the package, see routes/docs.py
            redoc_url=None,
        )
        self.allowed_hosts = tuple(hosts)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityMiddleware(super().build_middleware_stack(), self.allowed_hosts)


def create_app(site: Site, auth: Authenticator | None = None, hosts: Iterable[str] = ()) -> FastAPI:
    """An app serving ``site``'s cameras, zones, lines, alerts, forecasts and live feed
    to the users and tokens of ``auth``.

    ``hosts``: the names (or ``*.domain``) it answers to besides the loopback names; a
    request naming any other ``Host`` is refused (see :mod:`crowdsafe.api.security`)."""
    app = _App(hosts)
    app.state.site = site
    app.state.auth = auth = auth or Authenticator.in_memory()
    app.state.live_view_slots = RequestSlots()  # api/deps.py: live_view_slot
    # The routes themselves, not include_router(): FastAPI >= 0.16x keeps an included
    # router as one lazy entry, and the privacy test (and any tool) walks app.routes.
    for router in ROUTERS:
        app.router.routes.extend(router.routes)
    errors.install(app)
    api_auth.install(app, auth)
    return app
