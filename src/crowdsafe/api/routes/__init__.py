"""The API's routes, one thin module per resource: they read the site, hold no SQL."""

from __future__ import annotations

from fastapi import APIRouter

from crowdsafe.api.routes import (
    alerts,
    audit,
    cameras,
    docs,
    forecast,
    health,
    lines,
    live,
    session,
    sites,
    web,
    zones,
)

__all__ = ["ROUTERS"]

ROUTERS: list[APIRouter] = [
    health.router,
    sites.router,
    cameras.router,
    zones.router,
    lines.router,
    alerts.router,
    forecast.router,
    live.router,
    web.router,
    session.router,
    audit.router,
    docs.router,
]
