"""Sites: every site's totals (paged), and one site's cameras and zones (paged).

Totals come from memory (``api/summaries.py``), so the list stays cheap at a city's
8,000 cameras."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crowdsafe.api.deps import SiteDep
from crowdsafe.api.errors import documented, not_found
from crowdsafe.api.routes.cameras import Page, camera_public
from crowdsafe.api.schemas import ZonePublic, ZoneSamplePublic
from crowdsafe.api.site_schemas import SiteDetailPublic, SitePagePublic
from crowdsafe.api.summaries import summarise

__all__ = ["router"]

router = APIRouter(prefix="/api/sites")

SitePageSize = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]


@router.get("", response_model=SitePagePublic, responses=documented(422))
def sites(site: SiteDep, page: Page = 1, page_size: SitePageSize = 100) -> SitePagePublic:
    """Sites by id, each with its cameras (and how many are live), zones, persons now,
    highest density and worst level of service now, and active alerts."""
    groups = sorted(site.site_groups(), key=lambda g: g.id)
    start = (page - 1) * page_size
    summaries = summarise(site, groups[start : start + page_size])
    return SitePagePublic(total=len(groups), page=page, page_size=page_size, items=summaries.sites)


@router.get("/{site_id}", response_model=SiteDetailPublic, responses=documented(404, 422))
def site_detail(
    site_id: str, site: SiteDep, page: Page = 1, page_size: SitePageSize = 100
) -> SiteDetailPublic:
    """One site's totals, a page of its cameras (by id) and those cameras' zones."""
    groups = site.site_groups()
    group = next((g for g in groups if g.id == site_id), None)
    if group is None:
        raise not_found("site", site_id, [g.id for g in groups])
    summaries = summarise(site, [group])
    cameras = sorted(summaries.cameras[group.id], key=lambda c: c.id)
    start = (page - 1) * page_size
    shown = cameras[start : start + page_size]
    ids = {c.id for c in shown}
    latest = site.feed.latest()
    zones = []
    for z in site.zones():
        if z.camera_id not in ids:
            continue
        s = latest.get(z.id)
        zones.append(
            ZonePublic(
                id=z.id,
                camera_id=z.camera_id,
                status="ok" if site.zone_has_data(z) else "no_data",
                name=z.name,
                profile=z.profile,
                area_m2=round(z.area_m2, 3),
                polygon_px=[(float(x), float(y)) for x, y in z.polygon_px],
                latest=None if s is None else ZoneSamplePublic.of(s),
            )
        )
    return SiteDetailPublic(
        site=summaries.sites[0],
        cameras_total=len(cameras),
        page=page,
        page_size=page_size,
        cameras=[camera_public(c) for c in shown],
        zones=zones,
    )
