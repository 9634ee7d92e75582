"""Planning forecast: hourly counts hours to days ahead, from stored history.

Pedestrian counts in a city or a venue repeat by the week: the same hours of the same
weekday look alike, and weekdays differ from weekends.  The model (chosen by a
rolling-origin backtest on 21 Auckland sensors, ``crowdsafe eval forecast``):

* **history**: the last ``history_weeks`` weeks of hourly counts before the forecast
  origin, short gaps (<= 3 h) interpolated, longer ones filled with the same hours of
  the neighbouring week;
* **known special days**: past public holidays and past events in the history are
  replaced by the same hours of the neighbouring week before fitting, so one odd day
  does not bend the weekly profile;
* **model**: on log1p(counts), statsforecast's MSTL with a weekly season (168 h), its
  trend carried forward as the mean level of the last week (``WindowAverage(168)``);
  the log makes the weekly profile multiplicative, as busy hours scale with the level;
* **holidays ahead**: a public holiday in the horizon is forecast with the model's
  Sunday profile, hour by hour;
* **events ahead** (config calendar, e.g. "concert 19:00-22:30"): the forecast over the
  event's hours is multiplied by the event's factor: given in the config, or measured
  from past events of the same name in the history (mean count over the event's hours
  against the same hours a week before), else 1 (unknown) with the event flagged;
* **intervals**: split-conformal (Vovk et al.; Angelopoulos & Bates 2021): the same
  procedure is refit at ``calibration_days`` daily origins before the forecast origin,
  and the empirical quantile of its absolute log errors (with the (n+1) correction),
  per lead day, is added and subtracted in log space.  No distributional assumption,
  and the intervals are as wide as this series has actually needed.

Baseline: the seasonal naive forecast (same hour a week before); MASE scales errors by
its in-sample error.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from crowdsafe.errors import InsufficientHistory

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Event",
    "InsufficientHistory",
    "PlanningSettings",
    "fill_gaps",
    "forecast_panel",
    "holiday_dates",
]

WEEK_H = 168
DAY_H = 24
LEVELS = (80, 95)


@dataclass(frozen=True)
class Event:
    """A known future (or past) event: counts during it differ from a usual week."""

    name: str
    start: datetime  # local wall-clock time of the site
    end: datetime
    zones: tuple[str, ...] | None = None  # None: every zone
    factor: float | None = None  # expected count multiplier; None: learn or unknown

    def applies_to(self, series_id: str) -> bool:
        return self.zones is None or series_id in self.zones


@dataclass(frozen=True)
class PlanningSettings:
    history_weeks: int = 12
    min_history_weeks: int = 2
    calibration_days: int = 10
    log: bool = True
    holidays: frozenset[date] = field(default_factory=frozenset)
    events: tuple[Event, ...] = ()


def fill_gaps(y: pd.Series) -> pd.Series:
    """Short gaps (<= 3 h) linearly; longer ones with the same hour of a neighbouring week."""
    y = y.interpolate(limit=3, limit_area="inside")
    for _ in range(6):
        if not y.isna().any():
            break
        y = y.fillna(y.shift(WEEK_H)).fillna(y.shift(-WEEK_H))
    return y


def _holiday_mask(index: pd.DatetimeIndex, settings: PlanningSettings) -> Any:
    import pandas as pd

    days = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in settings.holidays))
    return np.asarray(index.normalize().isin(days))


def _special_mask(index: pd.DatetimeIndex, series_id: str, settings: PlanningSettings) -> Any:
    mask = _holiday_mask(index, settings)
    for ev in settings.events:
        if ev.applies_to(series_id):
            mask |= np.asarray((index >= ev.start) & (index < ev.end))
    return mask


def _event_factors(
    history: pd.Series, series_id: str, settings: PlanningSettings
) -> dict[str, float]:
    """Measured factor of each named event from its past occurrences in ``history``."""
    ratios: dict[str, list[float]] = {}
    for ev in settings.events:
        if not ev.applies_to(series_id) or ev.end > history.index[-1]:
            continue
        during = history[(history.index >= ev.start) & (history.index < ev.end)]
        before = history.reindex(during.index - np.timedelta64(WEEK_H, "h"))
        if len(during) and before.notna().all() and before.sum() > 0:
            ratios.setdefault(ev.name, []).append(float(during.sum() / before.sum()))
    return {name: float(np.median(r)) for name, r in ratios.items()}


def _conformal_q(errors: Any, level: int) -> float:
    e = np.abs(np.asarray(errors, dtype=np.float64))
    n = e.size
    if n == 0:
        return math.inf
    return float(np.quantile(e, min(1.0, math.ceil((n + 1) * level / 100) / n)))


def forecast_panel(
    series: Mapping[str, pd.Series],
    origin: pd.Timestamp,
    horizon_h: int,
    settings: PlanningSettings | None = None,
) -> pd.DataFrame:
    """Forecast each hourly series in ``series`` (id -> counts on an hourly local-time
    index) for ``horizon_h`` hours from ``origin`` (a local hour), with 80 % and 95 %
    intervals and the seasonal-naive baseline.

    Returns a long frame: ``id, ds, mean, lo-80, hi-80, lo-95, hi-95, naive, event``.
    Raises :class:`InsufficientHistory` naming a series with less than
    ``min_history_weeks`` of usable history before ``origin``.
    """
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, WindowAverage

    settings = settings or PlanningSettings()
    if not 1 <= horizon_h <= WEEK_H:
        raise ValueError(f"horizon must be 1-{WEEK_H} hours, got {horizon_h}")
    origin = pd.Timestamp(origin).floor("h")
    k = settings.calibration_days
    extra = ((k + math.ceil(horizon_h / DAY_H)) // 7 + 1) * WEEK_H
    train_rows: list[pd.DataFrame] = []
    calib_rows: list[pd.DataFrame] = []
    naive: dict[str, pd.Series] = {}
    factors: dict[str, dict[str, float]] = {}
    widths: dict[str, int] = {}
    for sid, raw in series.items():
        y = raw.sort_index().astype(float)
        y = y[~y.index.duplicated(keep="last")]
        y = y.reindex(
            pd.date_range(y.index.min().floor("h"), origin - pd.Timedelta(hours=1), freq="h")
        )
        weeks = settings.history_weeks
        w = weeks * WEEK_H
        have = int(y.notna().sum())
        need = settings.min_history_weeks * WEEK_H
        if have < need or len(y) < need:
            raise InsufficientHistory(
                f"{sid}: {have} hours of history before {origin}; the planning forecast "
                f"needs at least {settings.min_history_weeks} weeks ({need} h)"
            )
        w = min(w, (len(y) // WEEK_H) * WEEK_H)
        widths[sid] = w
        full = fill_gaps(y.iloc[-min(len(y), w + extra) :].copy())
        if full.isna().any():
            raise InsufficientHistory(f"{sid}: history before {origin} has gaps longer than a week")
        factors[sid] = _event_factors(full, sid, settings)
        clean = full.copy()
        clean[_special_mask(clean.index, sid, settings)] = np.nan
        clean = fill_gaps(clean).fillna(full)
        values = np.log1p(clean.clip(lower=0)) if settings.log else clean
        train = values.iloc[-w:]
        train_rows.append(
            pd.DataFrame({"unique_id": sid, "ds": train.index, "y": train.to_numpy()})
        )
        calib_rows.append(
            pd.DataFrame({"unique_id": sid, "ds": values.index, "y": values.to_numpy()})
        )
        last_week = full.iloc[-WEEK_H:]
        ahead = pd.date_range(origin, periods=horizon_h, freq="h")
        naive[sid] = pd.Series(
            [float(last_week.iloc[i % WEEK_H]) for i in range(horizon_h)], index=ahead
        )

    def model() -> Any:
        return MSTL(
            season_length=[WEEK_H],
            trend_forecaster=WindowAverage(window_size=WEEK_H),
            stl_kwargs={"trend_jump": 12, "low_pass_jump": 12},
            alias="m",
        )

    df = pd.concat(train_rows, ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = StatsForecast(models=[model()], freq="h", n_jobs=1).forecast(df=df, h=WEEK_H)
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    # Split-conformal errors: refit at the K daily origins before this one (fewer where
    # the history is short).
    input_size = min(widths.values())
    shortest = min(len(r) for r in calib_rows)
    k = min(k, (shortest - input_size - horizon_h) // DAY_H + 1)
    if k < 1:
        input_size = shortest - horizon_h
        k = 1
    cal = pd.concat(calib_rows, ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = StatsForecast(models=[model()], freq="h", n_jobs=1).cross_validation(
            df=cal, h=horizon_h, n_windows=k, step_size=DAY_H, input_size=input_size
        )
    cv = cv.reset_index() if "unique_id" not in cv.columns else cv
    cv["lead_day"] = ((cv["ds"] - cv["cutoff"]) / pd.Timedelta(hours=1) - 1) // DAY_H
    cv["e"] = cv["y"] - cv["m"]

    inv = np.expm1 if settings.log else (lambda v: v)
    out: list[pd.DataFrame] = []
    for sid in series:
        f = fc[fc["unique_id"] == sid].set_index("ds")["m"]
        sunday = {ts.hour: v for ts, v in f.items() if ts.dayofweek == 6}
        ahead = f.iloc[:horizon_h].copy()
        hol = _holiday_mask(ahead.index, settings)
        if hol.any():
            ahead[hol] = [sunday[ts.hour] for ts in ahead.index[hol]]
        errs = cv[cv["unique_id"] == sid]
        lead = ((ahead.index - origin) / pd.Timedelta(hours=1)).astype(int) // DAY_H
        frame = pd.DataFrame({"id": sid, "ds": ahead.index, "mean": inv(ahead.to_numpy())})
        for level in LEVELS:
            q = {
                d: _conformal_q(errs.loc[errs["lead_day"] == d, "e"], level)
                for d in sorted(set(lead))
            }
            qs = np.array([q[d] for d in lead])
            if settings.log:
                frame[f"lo-{level}"] = inv(ahead.to_numpy() - qs)
                frame[f"hi-{level}"] = inv(ahead.to_numpy() + qs)
            else:
                frame[f"lo-{level}"] = ahead.to_numpy() - qs
                frame[f"hi-{level}"] = ahead.to_numpy() + qs
        frame["naive"] = naive[sid].to_numpy()
        frame["event"] = ""
        for ev in settings.events:
            if not ev.applies_to(sid):
                continue
            during = np.asarray((frame["ds"] >= ev.start) & (frame["ds"] < ev.end))
            if not during.any():
                continue
            factor = ev.factor if ev.factor is not None else factors[sid].get(ev.name)
            label = ev.name if factor is not None else f"{ev.name} (effect unknown)"
            if factor is not None:
                for col in ("mean", "lo-80", "hi-80", "lo-95", "hi-95"):
                    frame.loc[during, col] = frame.loc[during, col] * factor
            frame.loc[during, "event"] = label
        for col in ("mean", "lo-80", "hi-80", "lo-95", "hi-95"):
            frame[col] = frame[col].clip(lower=0)
        out.append(frame)
    return pd.concat(out, ignore_index=True)


def holiday_dates(
    country: str | None, subdivision: str | None, years: Sequence[int], extra: Collection[date] = ()
) -> frozenset[date]:
    """Public holidays of ``country`` (python-holidays) in ``years``, plus ``extra``."""
    days = set(extra)
    if country:
        import holidays

        days |= set(holidays.country_holidays(country, subdiv=subdivision, years=list(years)))
    return frozenset(days)
