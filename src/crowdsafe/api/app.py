"""The HTTP API and the dashboard, in one FastAPI app over a :class:`~crowdsafe.site.Site`.

Routes live in :mod:`crowdsafe.api.routes`, one thin module per resource; they get the
site through an injected dependency (:mod:`crowdsafe.api.deps`), hold no SQL, and
answer every error with one body shape (:mod:`crowdsafe.api.errors`).  Numbers are
served as JSON and as a live feed of server-sent events; the only pixels served are
the anonymised live view and alert snapshots (faces and heads pixelated on the server,
``Cache-Control: no-store``).
"""

from __future__ import annotations

from fastapi import FastAPI

from crowdsafe import __version__
from crowdsafe.api import errors
from crowdsafe.api.limits import RequestSlots
from crowdsafe.api.routes import ROUTERS
from crowdsafe.site import Site

__all__ = ["create_app"]


def create_app(site: Site) -> FastAPI:
    """An app serving ``site``'s cameras, zones, lines, alerts, forecasts and live feed."""
    app = FastAPI(title="crowdsafe", version=__version__, docs_url="/api/docs", redoc_url=None)
    app.state.site = site
    app.state.live_view_slots = RequestSlots()  # api/deps.py: live_view_slot
    # The routes themselves, not include_router(): FastAPI >= 0.16x keeps an included
    # router as one lazy entry, and the privacy test (and any tool) walks app.routes.
    for router in ROUTERS:
        app.router.routes.extend(router.routes)
    errors.install(app)
    return app
