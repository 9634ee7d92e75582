"""Sites: every site's totals (paged), and one site's cameras and zones (paged).

Totals come from memory and are shared by the requests of a second
(``api/summaries.py``), so the list stays cheap at a city's 8,000 cameras."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crowdsafe.api.deps import SiteDep, SummariesDep
from crowdsafe.api.errors import documented, not_found
from crowdsafe.api.routes.cameras import Page, camera_public
from crowdsafe.api.schemas import ZonePublic, ZoneSamplePublic
from crowdsafe.api.site_schemas import SiteDetailPublic, SitePagePublic

__all__ = ["router"]

router = APIRouter(prefix="/api/sites")

SitePageSize = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]


@router.get("", response_model=SitePagePublic, responses=documented(422))
def sites(summaries: SummariesDep, page: Page = 1, page_size: SitePageSize = 100) -> SitePagePublic:
    """Sites by id, each with its cameras (and how many are live), zones, persons now,
    highest density and worst level of service now, and active alerts (refreshed
    every second)."""
    start = (page - 1) * page_size
    items = summaries.sites[start : start + page_size]
    return SitePagePublic(total=len(summaries.sites), page=page, page_size=page_size, items=items)


@router.get("/{site_id}", response_model=SiteDetailPublic, responses=documented(404, 422))
def site_detail(
    site_id: str,
    site: SiteDep,
    summaries: SummariesDep,
    page: Page = 1,
    page_size: SitePageSize = 100,
) -> SiteDetailPublic:
    """One site's totals, a page of its cameras (by id) and those cameras' zones."""
    summary = next((s for s in summaries.sites if s.id == site_id), None)
    if summary is None:
        raise not_found("site", site_id, [s.id for s in summaries.sites])
    cameras = sorted(summaries.cameras[site_id], key=lambda c: c.id)
    start = (page - 1) * page_size
    shown = cameras[start : start + page_size]
    zones = [
        ZonePublic(
            id=z.id,
            camera_id=z.camera_id,
            status="ok" if site.zone_has_data(z) else "no_data",
            name=z.name,
            profile=z.profile,
            area_m2=round(z.area_m2, 3),
            polygon_px=[(float(x), float(y)) for x, y in z.polygon_px],
            latest=None if (s := site.feed.latest_of(z.id)) is None else ZoneSamplePublic.of(s),
        )
        for c in shown
        for z in summaries.zones.get(c.id, ())
    ]
    return SiteDetailPublic(
        site=summary,
        cameras_total=len(cameras),
        page=page,
        page_size=page_size,
        cameras=[camera_public(c) for c in shown],
        zones=zones,
    )
