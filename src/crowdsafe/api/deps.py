"""Injected dependencies of the routes: the :class:`~crowdsafe.site.Site` and its parts.

Routes take ``site: SiteDep`` (or ``store: StoreDep``...) and never reach for a global:
``create_app(site)`` puts the site on the app, and a test passes a
:class:`~crowdsafe.site.FakeSite`.  A later role check is one more dependency here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from crowdsafe.api.limits import RETRY_AFTER_S, RequestSlots
from crowdsafe.feed import LiveFeed
from crowdsafe.site import Site
from crowdsafe.store.base import Store

__all__ = ["FeedDep", "HoursQuery", "LiveViewSlotDep", "SiteDep", "StoreDep", "get_site"]


def get_site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def get_store(request: Request) -> Store:
    return get_site(request).store


def get_feed(request: Request) -> LiveFeed:
    return get_site(request).feed


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
LiveViewSlotDep = Annotated[None, Depends(live_view_slot)]
HoursQuery = Annotated[int | None, Query(ge=1, le=168, description="Hours ahead.")]
