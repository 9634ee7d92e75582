"""Cameras, their health, and their anonymised live view."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from crowdsafe.api.deps import LiveViewSlotDep, SiteDep
from crowdsafe.api.errors import documented, not_found, unavailable
from crowdsafe.api.schemas import CameraHealthPublic, CameraPublic
from crowdsafe.errors import ServiceBusy
from crowdsafe.site import CameraInfo, Site

__all__ = ["NO_STORE", "router"]

router = APIRouter(prefix="/api/cameras")

# Pixels, even anonymised, must not linger in browser or proxy caches.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _camera(site: Site, camera_id: str) -> CameraInfo:
    infos = site.camera_infos()
    for info in infos:
        if info.id == camera_id:
            return info
    raise not_found("camera", camera_id, [c.id for c in infos])


@router.get("", response_model=list[CameraPublic])
def cameras(site: SiteDep) -> list[CameraPublic]:
    """Every camera with its state, frames analysed, analysed fps, last error, zones."""
    return [
        CameraPublic(
            id=c.id,
            name=c.name,
            zones=c.zone_ids,
            health=CameraHealthPublic.model_validate(c.health.to_dict()),
        )
        for c in site.camera_infos()
    ]


@router.get("/{camera_id}/health", response_model=CameraHealthPublic, responses=documented(404))
def camera_health(camera_id: str, site: SiteDep) -> CameraHealthPublic:
    """One camera's stream health: state, fps in and analysed, lag, reconnects."""
    return CameraHealthPublic.model_validate(_camera(site, camera_id).health.to_dict())


@router.get(
    "/{camera_id}/live.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **documented(403, 404, 429, 503)},
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
    in time (both with ``Retry-After``)."""
    _camera(site, camera_id)
    if not site.live_view_enabled:
        raise HTTPException(403, "the live view is switched off (privacy.live_view: false)")
    try:
        jpeg = site.anonymised_jpeg(camera_id)
    except ServiceBusy as exc:
        raise unavailable(str(exc)) from None
    if jpeg is None:
        raise unavailable(f"camera '{camera_id}' has no analysed frame yet")
    return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)
