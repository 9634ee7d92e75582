"""Forecasts for a running site: what the API and the dashboard serve.

* :meth:`ForecastService.planning`: each zone's hourly counts ``horizon_h`` hours
  ahead from the stored history (:mod:`crowdsafe.forecast.planning`), cached for the
  hour: the fit takes seconds and the history changes by one hour an hour.  It reads
  the 1-h rollups (``Store.hourly_counts``): weeks of history are a few thousand rows
  at 1 h, and the hours are kept longest; it says so (``history_resolution``).
* :meth:`ForecastService.nowcast`: a zone's count 5-60 minutes ahead from its recent
  samples (:mod:`crowdsafe.forecast.nowcast`), computed on request from the raw
  samples of its short window (``resolution``: the raw bucket), which a minute's mean
  would smooth away.
* :meth:`ForecastService.staffing`: stewards per zone per hour from the planning
  forecast's upper 80 % bound (:mod:`crowdsafe.forecast.staffing`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from crowdsafe.errors import InsufficientHistory, UnknownZone
from crowdsafe.forecast.nowcast import nowcast
from crowdsafe.forecast.planning import (
    Event,
    PlanningSettings,
    forecast_panel,
    holiday_dates,
)
from crowdsafe.forecast.results import PlanningForecast, PlanningPoint, ZoneNowcast
from crowdsafe.forecast.series import hourly_local
from crowdsafe.forecast.settings import ForecastConfig
from crowdsafe.forecast.staffing import StaffingPlan, StaffingRules, plan_staffing
from crowdsafe.measure.zones import Zone
from crowdsafe.store.base import Store
from crowdsafe.store.rollup import resolution_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ForecastService", "InsufficientHistory", "UnknownZone"]

NOWCAST_HORIZONS_S = (300.0, 900.0, 1800.0, 3600.0)


class ForecastService:
    def __init__(
        self,
        config: ForecastConfig,
        store: Store,
        zones: Sequence[Zone],
        clock: Callable[[], float] = time.time,
        bucket_s: float = 1.0,
    ) -> None:
        """``bucket_s``: the store's raw bucket (``storage.bucket_s``), which the nowcast
        reads at and names."""
        self.config = config
        self.store = store
        self.bucket_s = bucket_s
        self.zones = {z.id: z for z in zones}
        self.tz = ZoneInfo(config.timezone)
        self._clock = clock
        self._lock = threading.Lock()
        # (zone, horizon) -> (origin, forecast frame, hours of history it was fitted on)
        self._cache: dict[tuple[str, int], tuple[float, pd.DataFrame, int]] = {}
        years = range(2015, datetime.now(UTC).year + 3)
        self.settings = PlanningSettings(
            history_weeks=config.history_weeks,
            holidays=holiday_dates(
                config.holidays_country, config.holidays_subdivision, years, config.holidays
            ),
            events=tuple(
                Event(
                    e.name,
                    e.start.replace(tzinfo=None),
                    e.end.replace(tzinfo=None),
                    tuple(e.zones) if e.zones else None,
                    e.factor,
                )
                for e in config.events
            ),
        )
        s = config.staffing
        self.rules = StaffingRules(
            s.persons_per_steward, s.minimum, {str(k): v for k, v in s.uplift.items()}
        )

    def _local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, UTC).astimezone(self.tz).replace(tzinfo=None)

    def _utc(self, local: Any) -> float:
        return float(local.to_pydatetime().replace(tzinfo=self.tz).timestamp())

    def _history(self, zone_id: str, now: float) -> tuple[pd.Series, int]:
        """The local-hour series the fit reads, and how many stored hours it came from."""
        since = now - (self.config.history_weeks + 6) * 7 * 86400
        hours = self.store.hourly_counts(zone_id, since=since)
        return hourly_local(hours, self.tz), len(hours)

    def _unknown(self, zone_id: str) -> None:
        if zone_id not in self.zones:
            known = ", ".join(sorted(self.zones)) or "none"
            raise UnknownZone(f"unknown zone '{zone_id}'; known zones: {known}")

    def planning(self, zone_id: str, hours: int | None = None) -> PlanningForecast:
        """The zone's hourly forecast; raises UnknownZone, InsufficientHistory."""
        import pandas as pd

        self._unknown(zone_id)
        horizon = hours or self.config.horizon_h
        if not 1 <= horizon <= 168:
            raise ValueError(f"hours must be 1-168, got {horizon}")
        now = self._clock()
        origin = pd.Timestamp(self._local(now)).floor("h")
        key = (zone_id, horizon)
        with self._lock:
            cached = self._cache.get(key)
            if cached is None or cached[0] != origin.timestamp():
                history, hours_used = self._history(zone_id, now)
                if history.empty:
                    raise InsufficientHistory(f"{zone_id}: no stored samples yet")
                frame = forecast_panel({zone_id: history}, origin, horizon, self.settings)
                cached = (origin.timestamp(), frame, hours_used)
                self._cache[key] = cached
        _, frame, hours_used = cached
        area = self.zones[zone_id].area_m2
        points = [
            PlanningPoint(
                t=self._utc(row["ds"]),
                local_time=row["ds"].isoformat(),
                count=round(float(row["mean"]), 2),
                low_80=round(float(row["lo-80"]), 2),
                high_80=round(float(row["hi-80"]), 2),
                low_95=round(float(row["lo-95"]), 2),
                high_95=round(float(row["hi-95"]), 2),
                density_per_m2=round(float(row["mean"]) / area, 4),
                seasonal_naive=round(float(row["naive"]), 2),
                event=row["event"] or None,
            )
            for row in frame.to_dict("records")
        ]
        return PlanningForecast(
            zone_id=zone_id,
            timezone=self.config.timezone,
            origin_local=origin.isoformat(),
            horizon_h=horizon,
            model="weekly MSTL on log counts, conformal 80/95 % intervals",
            points=points,
            history_resolution=resolution_name(3600),
            history_hours=hours_used,
        )

    def nowcast(self, zone_id: str) -> ZoneNowcast:
        """The zone's count 5-60 min ahead; raises UnknownZone, InsufficientHistory."""
        self._unknown(zone_id)
        now = self._clock()
        window = self.config.nowcast_window_s
        samples = self.store.series(zone_id, since=now - window - 60)
        result = nowcast(
            [s.t for s in samples], [s.count for s in samples], NOWCAST_HORIZONS_S, window_s=window
        )
        if result is None:
            raise InsufficientHistory(
                f"{zone_id}: too few recent samples for a nowcast (camera down or just started)"
            )
        return ZoneNowcast(
            zone_id=zone_id,
            t0=result.t0,
            level=round(result.level, 2),
            trend_per_min=round(result.slope_per_s * 60.0, 3),
            trend_significant=result.slope_per_s != 0.0,
            samples=result.samples,
            window_s=window,
            points=result.points,
            area_m2=self.zones[zone_id].area_m2,
            resolution=resolution_name(self.bucket_s),
            clear_min_per_count=_clear_min_per_count(self.zones[zone_id]),
        )

    def staffing(self, hours: int | None = None) -> tuple[StaffingPlan, list[str]]:
        """The plan over every zone with enough history, and the zones left out (why)."""
        forecasts: dict[str, list[tuple[float, float]]] = {}
        skipped: list[str] = []
        for zone_id in self.zones:
            try:
                f = self.planning(zone_id, hours)
            except InsufficientHistory as exc:
                skipped.append(str(exc))
                continue
            forecasts[zone_id] = [(p.t, p.high_80) for p in f.points]
        plan = plan_staffing(
            forecasts,
            {z: self.zones[z].area_m2 for z in forecasts},
            {z: self.zones[z].space_bounds_m2 for z in forecasts},
            self.rules,
        )
        return plan, skipped


def _clear_min_per_count(zone: Zone) -> float:
    """Minutes a zone's exits need for each person it counts (0: no exits declared): the
    count corrected by the detector's precision and recall, as a sample's density is."""
    if zone.exit_capacity_per_min <= 0:
        return 0.0
    return zone.precision / zone.recall / zone.exit_capacity_per_min
