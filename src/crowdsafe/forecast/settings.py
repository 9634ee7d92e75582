"""The ``forecast:`` section of the config: time zone, horizon, holidays, the event
calendar and the staffing rules.

It lives with the forecast stage, as ``alerts/settings.py`` does with the alert stage,
so that the stage depends only on its own settings and never on :mod:`crowdsafe.config`
(which assembles the sections into one tree).  A check that needs other sections (an
event naming a zone that no camera has) is made on the whole tree, in
``config/root.py``.  Where the staffing defaults come from: ``forecast/staffing.py``.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field, field_validator, model_validator

from crowdsafe.strict import LosLetter, StrictModel

__all__ = ["EventConfig", "ForecastConfig", "StaffingConfig"]


def _default_uplift() -> dict[LosLetter, float]:
    return {"D": 1.5, "E": 2.0, "F": 2.0}


class EventConfig(StrictModel):
    name: str = Field(min_length=1, max_length=120, description="What it is, e.g. 'concert'.")
    start: datetime = Field(description="Local start time, e.g. 2026-12-05T17:30 (gates open).")
    end: datetime = Field(description="Local end time.")
    zones: list[str] | None = Field(None, description="Zones it affects; all when absent.")
    factor: float | None = Field(
        None,
        gt=0.0,
        le=100.0,
        description="Expected counts during it as a multiple of a usual week's; when absent, "
        "measured from past events of the same name in the history, else left at 1 and "
        "flagged 'effect unknown'.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> EventConfig:
        if self.end <= self.start:
            raise ValueError(
                f"event '{self.name}' ends ({self.end}) before it starts ({self.start})"
            )
        return self


class StaffingConfig(StrictModel):
    """Stewards per zone and slot; sources of the defaults in forecast/staffing.py."""

    persons_per_steward: float = Field(
        250.0,
        gt=0.0,
        le=100000.0,
        description="People per steward (default: NFPA 101 crowd managers, 1 per 250).",
    )
    minimum: int = Field(1, ge=0, le=1000, description="Stewards in any zone expecting people.")
    uplift: dict[LosLetter, float] = Field(
        default_factory=_default_uplift,
        description="Ratio multiplier by forecast level of service (crowdsafe's defaults, "
        "not from a standard: set your own from your risk assessment).",
    )

    @field_validator("uplift")
    @classmethod
    def _at_least_one(cls, v: dict[LosLetter, float]) -> dict[LosLetter, float]:
        for level, factor in v.items():
            if factor < 1.0:
                raise ValueError(f"uplift for {level} must be >= 1, got {factor}")
        return v


class ForecastConfig(StrictModel):
    timezone: str = Field(
        "UTC", description="The site's IANA time zone: daily and weekly patterns are local."
    )
    horizon_h: int = Field(
        24, ge=1, le=168, description="Hours ahead the planning forecast covers."
    )
    history_weeks: int = Field(12, ge=2, le=104, description="Weeks of history the model fits.")
    holidays_country: str | None = Field(
        None, description="Public holidays from python-holidays, e.g. 'NZ', 'GB', 'DE'."
    )
    holidays_subdivision: str | None = Field(None, description="e.g. 'AUK' for Auckland.")
    holidays: list[date] = Field(default_factory=list, description="Further holiday dates.")
    events: list[EventConfig] = Field(default_factory=list, description="The event calendar.")
    nowcast_window_s: float = Field(
        600.0, ge=30.0, le=7200.0, description="Recent samples the live nowcast fits."
    )
    staffing: StaffingConfig = Field(default_factory=StaffingConfig)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{v}' (use an IANA name like Europe/London)"
            ) from None
        return v
