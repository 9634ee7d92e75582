"""Response models of the forecast routes: what each field means, with its unit."""

from __future__ import annotations

from pydantic import BaseModel, Field

from crowdsafe.types import LevelOfService

__all__ = [
    "NowcastPointPublic",
    "NowcastPublic",
    "PlanningPointPublic",
    "PlanningPublic",
    "StaffingPublic",
    "StaffingRulesPublic",
    "StaffingSlotPublic",
    "StaffingTotalPublic",
]


class PlanningPointPublic(BaseModel):
    t: float = Field(description="Start of the hour, Unix seconds.")
    local_time: str = Field(description="Start of the hour in the site's time zone (ISO 8601).")
    count: float = Field(description="Forecast mean persons in the zone.")
    low_80: float
    high_80: float
    low_95: float
    high_95: float
    density_per_m2: float = Field(description="Forecast mean persons per m².")
    seasonal_naive: float = Field(description="Same hour last week: the baseline to beat.")
    event: str | None = Field(description="The calendar event in that hour, if any.")


class PlanningPublic(BaseModel):
    zone_id: str
    timezone: str
    origin_local: str = Field(description="The hour the forecast starts from (local).")
    horizon_h: int
    model: str
    points: list[PlanningPointPublic]
    history_resolution: str = Field(
        description="What the history was read at: '1h', the hourly rollups."
    )
    history_hours: int = Field(description="Stored hours of history the forecast was fitted on.")


class NowcastPointPublic(BaseModel):
    horizon_s: float
    t: float = Field(description="The time forecast, Unix seconds.")
    count: float
    low_80: float
    high_80: float
    low_95: float
    high_95: float
    density_per_m2: float | None = Field(None, description="Absent for a zone of no area.")
    density_high_95_per_m2: float | None = Field(None, description="Upper 95 % density.")
    time_to_clear_min: float | None = Field(
        None,
        description="Minutes the forecast people would need to leave through the zone's "
        "declared exits (absent for a zone without exits).",
    )
    time_to_clear_high_95_min: float | None = Field(
        None, description="The same for the top of the 95 % band."
    )


class NowcastPublic(BaseModel):
    zone_id: str
    t0: float = Field(description="Time of the newest sample used, Unix seconds.")
    level: float = Field(description="Persons now, robustly smoothed.")
    trend_per_min: float = Field(description="Persons per minute (0 when not significant).")
    trend_significant: bool
    samples: int
    window_s: float
    resolution: str = Field(description="What the samples were read at: the raw bucket, e.g. '1s'.")
    points: list[NowcastPointPublic]


class StaffingRulesPublic(BaseModel):
    persons_per_steward: float
    minimum: int
    uplift: dict[str, float] = Field(description="Factor on stewards by level of service.")


class StaffingSlotPublic(BaseModel):
    zone_id: str
    t: float = Field(description="Slot start, Unix seconds.")
    people: float = Field(description="The forecast people the plan staffs for (upper 80 %).")
    density_per_m2: float
    los: LevelOfService
    stewards: int


class StaffingTotalPublic(BaseModel):
    t: float
    stewards: int


class StaffingPublic(BaseModel):
    rules: StaffingRulesPublic
    slots: list[StaffingSlotPublic]
    total_by_slot: list[StaffingTotalPublic]
    zones_without_forecast: list[str] = Field(description="Zones left out, and why.")
