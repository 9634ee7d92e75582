"""What the forecast service answers: a zone's planning forecast and its nowcast.

Named types instead of rows of a pandas frame, so the pandas column names (``lo-80``,
``ds``) stop at the service and the API's response models check against fields.
Counts are persons in the zone; densities persons per m²; times Unix seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from crowdsafe.forecast.nowcast import NowcastPoint

__all__ = ["PlanningForecast", "PlanningPoint", "ZoneNowcast"]


@dataclass(frozen=True)
class PlanningPoint:
    """One hour of a planning forecast, rounded as served."""

    t: float  # start of the hour
    local_time: str  # the same in the site's time zone, ISO 8601
    count: float
    low_80: float
    high_80: float
    low_95: float
    high_95: float
    density_per_m2: float
    seasonal_naive: float  # the same hour a week before: the baseline to beat
    event: str | None  # the calendar event in that hour


@dataclass(frozen=True)
class PlanningForecast:
    zone_id: str
    timezone: str
    origin_local: str
    horizon_h: int
    model: str
    points: list[PlanningPoint]
    history_resolution: str  # what the history was read at: "1h", the hourly rollups
    history_hours: int  # stored hours of history the fit read

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ZoneNowcast:
    """A zone's count 5-60 minutes ahead from its recent samples."""

    zone_id: str
    t0: float  # time of the newest sample used
    level: float
    trend_per_min: float  # persons per minute; 0 when not significant
    trend_significant: bool
    samples: int
    window_s: float
    points: list[NowcastPoint]
    area_m2: float
    resolution: str  # what the samples were read at: the raw bucket, e.g. "1s"
    # minutes the zone's exits need per counted person (the count corrected by the
    # detector's precision and recall, over the exits' capacity); 0: no exits
    clear_min_per_count: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "zone_id": self.zone_id,
            "t0": self.t0,
            "level": self.level,
            "trend_per_min": self.trend_per_min,
            "trend_significant": self.trend_significant,
            "samples": self.samples,
            "window_s": self.window_s,
            "resolution": self.resolution,
            "points": [p.to_dict(self.area_m2, self.clear_min_per_count) for p in self.points],
        }
