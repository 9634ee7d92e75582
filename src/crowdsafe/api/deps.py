"""Injected dependencies of the routes: the :class:`~crowdsafe.site.Site` and its parts.

Routes take ``site: SiteDep`` (or ``store: StoreDep``...) and never reach for a global:
``create_app(site)`` puts the site on the app, and a test passes a
:class:`~crowdsafe.site.FakeSite`.  The login and role check happen before any route
(:mod:`crowdsafe.api.auth`); a route that audits what it does takes ``who: PrincipalDep``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from crowdsafe.api.limits import RETRY_AFTER_S, RequestSlots
from crowdsafe.api.summaries import Summaries, SummaryCache
from crowdsafe.auth import Authenticator, Principal
from crowdsafe.feed import LiveFeed
from crowdsafe.site import Site
from crowdsafe.store.base import Store

__all__ = [
    "AuthDep",
    "FeedDep",
    "HoursQuery",
    "LiveViewSlotDep",
    "PrincipalDep",
    "Since",
    "SiteDep",
    "StoreDep",
    "SummariesDep",
    "Until",
    "get_site",
]


def get_site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def get_store(request: Request) -> Store:
    return get_site(request).store


def get_feed(request: Request) -> LiveFeed:
    return get_site(request).feed


_SUMMARIES_LOCK = threading.Lock()


def get_summaries(request: Request) -> Summaries:
    """Every site's totals, shared by the app's requests for up to a second
    (api/summaries.py)."""
    with _SUMMARIES_LOCK:  # the app's cache is made on first use
        cache: SummaryCache | None = getattr(request.app.state, "summaries", None)
        if cache is None:
            cache = request.app.state.summaries = SummaryCache()
    return cache.get(get_site(request))


def get_auth(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.auth
    return auth


def get_principal(request: Request) -> Principal:
    """Who the request acts as, put there by the auth middleware."""
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None:  # only a public route gets here without one, and none asks
        raise HTTPException(401, "not logged in")
    return who


async def live_view_slot(request: Request) -> AsyncIterator[None]:
    """Hold one of the site's live-view request slots for the request, or answer 429.

    Async on purpose: the refusal is decided on the event loop, so a crowd of refused
    clients takes no worker thread (api/limits.py)."""
    slots: RequestSlots = request.app.state.live_view_slots
    limit = get_site(request).live_view_requests_max
    if not slots.try_enter(limit):
        raise HTTPException(
            429,
            f"too many live-view requests at once (live_view_limits.max_requests: {limit}); "
            f"retry after {RETRY_AFTER_S} s",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    try:
        yield
    finally:
        slots.leave()


SiteDep = Annotated[Site, Depends(get_site)]
StoreDep = Annotated[Store, Depends(get_store)]
FeedDep = Annotated[LiveFeed, Depends(get_feed)]
AuthDep = Annotated[Authenticator, Depends(get_auth)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
LiveViewSlotDep = Annotated[None, Depends(live_view_slot)]
SummariesDep = Annotated[Summaries, Depends(get_summaries)]
HoursQuery = Annotated[int | None, Query(ge=1, le=168, description="Hours ahead.")]

# Times in a query: finite (``nan`` compares false with everything, so a window with it
# would silently hold nothing), and between 1970 and the year 2286.
Since = Annotated[
    float | None,
    Query(ge=0, le=1e10, allow_inf_nan=False, description="Unix seconds, inclusive."),
]
Until = Annotated[
    float | None,
    Query(ge=0, le=1e10, allow_inf_nan=False, description="Unix seconds, exclusive."),
]
