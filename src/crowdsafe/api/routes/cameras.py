"""Cameras, their health, and their anonymised live view.

``GET /api/cameras`` pages (``page``, ``page_size``) and filters by ``site``; the body
stays the list it always was, and ``X-Total-Count`` says how many match on every page.
The default page holds 10,000 cameras, so a client that never pages (the dashboard)
still gets every camera of a site of up to that many."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from crowdsafe.api.deps import LiveViewSlotDep, SiteDep
from crowdsafe.api.errors import documented, not_found, unavailable
from crowdsafe.api.schemas import CameraHealthPublic, CameraPublic
from crowdsafe.errors import PixelsElsewhere, ServiceBusy
from crowdsafe.site import CameraInfo, Site

__all__ = ["NO_STORE", "Page", "PageSize", "camera_public", "router"]

router = APIRouter(prefix="/api/cameras")

# Pixels, even anonymised, must not linger in browser or proxy caches.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _camera(site: Site, camera_id: str) -> CameraInfo:
    infos = site.camera_infos()
    for info in infos:
        if info.id == camera_id:
            return info
    raise not_found("camera", camera_id, [c.id for c in infos])


Page = Annotated[int, Query(ge=1, le=1_000_000, description="Page, from 1.")]
PageSize = Annotated[int, Query(ge=1, le=10_000, description="Items per page.")]


def _health(c: CameraInfo) -> CameraHealthPublic:
    return CameraHealthPublic.model_validate(
        {**c.health.to_dict(), "node_id": c.node_id, "moves": c.moves}
    )


def camera_public(c: CameraInfo) -> CameraPublic:
    return CameraPublic(id=c.id, name=c.name, site=c.site_id, zones=c.zone_ids, health=_health(c))


@router.get(
    "",
    response_model=list[CameraPublic],
    responses={
        200: {"headers": {"X-Total-Count": {"description": "Cameras that match."}}},
        **documented(422),
    },
)
def cameras(
    site: SiteDep,
    response: Response,
    page: Page = 1,
    page_size: PageSize = 10_000,
    site_id: Annotated[str | None, Query(alias="site", description="Only this site's.")] = None,
) -> list[CameraPublic]:
    """Cameras by id with their site, state, frames analysed, analysed fps, last error,
    zones, and in a fleet the node analysing each and how often it moved."""
    infos = sorted(site.camera_infos(), key=lambda c: c.id)
    if site_id is not None:
        infos = [c for c in infos if c.site_id == site_id]
    response.headers["X-Total-Count"] = str(len(infos))
    start = (page - 1) * page_size
    return [camera_public(c) for c in infos[start : start + page_size]]


@router.get("/{camera_id}/health", response_model=CameraHealthPublic, responses=documented(404))
def camera_health(camera_id: str, site: SiteDep) -> CameraHealthPublic:
    """One camera's stream health: state, fps in and analysed, lag, reconnects; in a
    fleet also the node analysing it and how often it was moved."""
    return _health(_camera(site, camera_id))


@router.get(
    "/{camera_id}/live.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **documented(403, 404, 409, 429, 503)},
)
def live_view(
    _slot: LiveViewSlotDep,  # first: a refused request is answered before any thread is taken
    camera_id: str,
    site: SiteDep,
) -> Response:
    """The camera's latest frame with faces and heads pixelated (never raw pixels).

    Made at most once per analysed frame and ``live_view_limits.max_fps`` times a
    second, shared by every viewer; 429 when ``live_view_limits.max_requests`` are being
    served already, 503 before the first analysed frame or when the image is not ready
    in time (both with ``Retry-After``); 409 from an API server over the shared store
    (``crowdsafe serve``): images stay on the node analysing the camera."""
    _camera(site, camera_id)
    if not site.live_view_enabled:
        raise HTTPException(403, "the live view is switched off (privacy.live_view: false)")
    try:
        jpeg = site.anonymised_jpeg(camera_id)
    except ServiceBusy as exc:
        raise unavailable(str(exc)) from None
    except PixelsElsewhere as exc:
        raise HTTPException(409, str(exc)) from None
    if jpeg is None:
        raise unavailable(f"camera '{camera_id}' has no analysed frame yet")
    return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)
