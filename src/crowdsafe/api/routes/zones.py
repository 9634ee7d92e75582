"""Zones and their stored series."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter

from crowdsafe.api.deps import Since, SiteDep, StoreDep, Until
from crowdsafe.api.errors import documented, not_found
from crowdsafe.api.schemas import SeriesPublic, ZonePublic, ZoneSamplePublic
from crowdsafe.store.resolution import SeriesResolution, read_series

__all__ = ["Limit", "check_known", "router"]

router = APIRouter(prefix="/api/zones")

Limit = Annotated[int, Query(ge=1, le=100_000)]
Resolution = Annotated[
    SeriesResolution,
    Query(
        description="raw (the stored buckets), 1m or 1h (the rollups), or auto: the finest "
        "whose rows over the window fit the limit and a chart (raw up to 1 h, 1m up to 7 d) "
        "and that is still kept for the whole window."
    ),
]


_SERIES = TypeAdapter(SeriesPublic)
"""A zone's series, validated and serialised in pydantic's core (:func:`series`)."""


def check_known(kind: str, item_id: str, known: list[str]) -> None:
    """404 for an unknown zone or line, naming the known ones."""
    if item_id not in known:
        raise not_found(kind, item_id, known)


@router.get("", response_model=list[ZonePublic])
def zones(site: SiteDep, store: StoreDep) -> list[ZonePublic]:
    """Every zone with its ground area, polygon, and latest sample (None without data)."""
    out = []
    for z in site.zones():
        latest = store.latest(z.id)
        out.append(
            ZonePublic(
                id=z.id,
                camera_id=z.camera_id,
                status="ok" if site.zone_has_data(z) else "no_data",
                name=z.name,
                profile=z.profile,
                area_m2=round(z.area_m2, 3),
                polygon_px=[(float(x), float(y)) for x, y in z.polygon_px],
                latest=None if latest is None else ZoneSamplePublic.of(latest),
            )
        )
    return out


@router.get("/{zone_id}/series", response_model=SeriesPublic, responses=documented(404, 422))
def series(
    zone_id: str,
    site: SiteDep,
    store: StoreDep,
    since: Since = None,
    until: Until = None,
    limit: Limit = 10_000,
    resolution: Resolution = SeriesResolution.AUTO,
) -> Response:
    """The zone's series in ``[since, until)``, oldest first, at most ``limit`` rows (the
    newest): raw ``samples``, or ``rollups`` of 1 min or 1 h; ``resolution`` says which
    and ``resolution_reason`` why.  A window with ``until <= since`` is empty."""
    zones = site.zones()
    if not any(z.id == zone_id for z in zones):  # no list of a city's 24,000 ids made
        check_known("zone", zone_id, [z.id for z in zones])
    got = read_series(
        store,
        zone_id,
        resolution,
        since=since,
        until=until,
        limit=limit,
        now=time.time(),
        resolutions=site.resolutions,
    )
    # One validation and one serialisation of every row, in pydantic's core, instead of a
    # model per row built here and each validated again by the response model: at 600 rows
    # of a zone's last 10 min, most of the request's CPU.
    body = _SERIES.validate_python(
        {
            "zone_id": zone_id,
            "since": since,
            "until": until,
            "resolution": got.choice.name,
            "resolution_reason": got.choice.reason,
            "samples": [s.to_dict() for s in got.samples],
            "rollups": [r.to_dict() for r in got.rollups],
        }
    )
    return Response(_SERIES.dump_json(body), media_type="application/json")
