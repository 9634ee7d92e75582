"""Counting lines and their stored flow series."""

from __future__ import annotations

from fastapi import APIRouter

from crowdsafe.api.deps import Since, SiteDep, StoreDep, Until
from crowdsafe.api.errors import documented
from crowdsafe.api.routes.zones import Limit, check_known
from crowdsafe.api.schemas import LinePublic, LineSamplePublic, LineSeriesPublic

__all__ = ["router"]

router = APIRouter(prefix="/api/lines")


@router.get("", response_model=list[LinePublic])
def lines(site: SiteDep, store: StoreDep) -> list[LinePublic]:
    """Every counting line with its width on the ground and its latest flow sample."""
    out = []
    for ln in site.lines():
        latest = store.line_series(ln.id, limit=1)
        out.append(
            LinePublic(
                id=ln.id,
                camera_id=ln.camera_id,
                name=ln.name,
                points_px=[ln.p1, ln.p2],
                width_m=round(ln.width_m, 3),
                latest=LineSamplePublic.of(latest[0]) if latest else None,
            )
        )
    return out


@router.get("/{line_id}/series", response_model=LineSeriesPublic, responses=documented(404, 422))
def line_series(
    line_id: str,
    site: SiteDep,
    store: StoreDep,
    since: Since = None,
    until: Until = None,
    limit: Limit = 10_000,
) -> LineSeriesPublic:
    """The line's stored flow samples in ``[since, until)``, oldest first (empty when
    ``until <= since``)."""
    check_known("line", line_id, [ln.id for ln in site.lines()])
    samples = store.line_series(line_id, since, until, limit)
    return LineSeriesPublic(
        line_id=line_id,
        since=since,
        until=until,
        samples=[LineSamplePublic.of(s) for s in samples],
    )
