"""Response schemas of the sites API: totals per site, pages of sites and cameras.

Aggregates only, like every schema of the API: counts of people and cameras, densities
and levels of service; nothing about any one person.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from crowdsafe.api.schemas import CameraPublic, ZonePublic
from crowdsafe.types import LevelOfService

__all__ = ["SiteDetailPublic", "SitePagePublic", "SiteSummaryPublic"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteSummaryPublic(_Out):
    id: str
    name: str
    cameras: int = Field(description="Cameras of the site.")
    cameras_ok: int = Field(description="Of those, how many are live.")
    zones: int = Field(description="Zones of the site's cameras.")
    zones_with_data: int = Field(description="Zones with a fresh sample from a live camera.")
    persons_now: float = Field(
        description="Sum of the latest counts of the zones with data (zones without data "
        "are left out, never counted as zero)."
    )
    density_max_per_m2: float | None = Field(
        description="Highest latest density of a zone with data, persons/m²; null if none."
    )
    los_worst: LevelOfService | None = Field(
        description="Worst latest level of service of a zone with data; null if none."
    )
    alerts_open: int = Field(description="Alerts open or acknowledged about its zones and lines.")


class SitePagePublic(_Out):
    total: int = Field(description="Sites in all, on every page.")
    page: int = Field(description="This page, from 1.")
    page_size: int
    items: list[SiteSummaryPublic] = Field(description="The page's sites, by id.")


class SiteDetailPublic(_Out):
    site: SiteSummaryPublic
    cameras_total: int = Field(description="The site's cameras, on every page.")
    page: int = Field(description="This page of the site's cameras, from 1.")
    page_size: int
    cameras: list[CameraPublic] = Field(description="The page's cameras, by id.")
    zones: list[ZonePublic] = Field(description="The zones of the page's cameras.")
