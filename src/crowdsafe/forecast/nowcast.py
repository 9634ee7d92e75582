"""Live nowcast: a zone's occupancy and density 5-60 minutes ahead, from its recent series.

Minutes ahead, what will be is mostly what is, plus the trend: a crowd building at a gate
keeps building for a while.  So the nowcast is the recent **level** carried forward along
the recent **trend**, both robust (the estimators of :mod:`crowdsafe.alerts.trend`):

* over the last ``window_s`` of samples, the Theil-Sen line through (t, count);
* the trend is used only where the Mann-Kendall test says it is real (z beyond
  ``min_z``); otherwise the forecast is flat at the recent level, so noise does not
  extrapolate into a phantom crowd;
* with samples over less than half the window (a camera just started or back) there
  is no nowcast: a trend over seconds says nothing about the next quarter of an hour;
* the level is the line's value at the newest sample, not the newest sample itself, so
  one noisy bucket does not move it; yet a fit over a short window follows a build-up
  with a lag of about half the window or less.

Intervals: the slope's own distribution-free confidence interval (Sen 1968: order
statistics of the pairwise slopes, picked with the Mann-Kendall variance) times the
horizon, widened by the residual scatter (1.4826 x MAD).  The nowcast never goes below
zero people.  Densities are the counts over the zone's ground area.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdsafe.alerts.trend import fit_trend

__all__ = ["Nowcast", "NowcastPoint", "nowcast", "nowcast_lag"]

FloatArray = npt.NDArray[np.float64]

_Z = {0.8: 1.2816, 0.95: 1.9600}


@dataclass(frozen=True)
class NowcastPoint:
    horizon_s: float
    t: float
    count: float
    low_80: float
    high_80: float
    low_95: float
    high_95: float

    def to_dict(
        self, area_m2: float | None = None, clear_min_per_count: float = 0.0
    ) -> dict[str, float]:
        """The point as JSON; with ``area_m2`` its densities, with
        ``clear_min_per_count`` (minutes an exit needs per counted person) its time to
        clear, and that of the top of its 95 % band."""
        out = {
            "horizon_s": self.horizon_s,
            "t": self.t,
            "count": round(self.count, 2),
            "low_80": round(self.low_80, 2),
            "high_80": round(self.high_80, 2),
            "low_95": round(self.low_95, 2),
            "high_95": round(self.high_95, 2),
        }
        if area_m2:
            out["density_per_m2"] = round(self.count / area_m2, 4)
            out["density_high_95_per_m2"] = round(self.high_95 / area_m2, 4)
        if clear_min_per_count > 0:
            out["time_to_clear_min"] = round(self.count * clear_min_per_count, 2)
            out["time_to_clear_high_95_min"] = round(self.high_95 * clear_min_per_count, 2)
        return out


@dataclass(frozen=True)
class Nowcast:
    t0: float  # time of the newest sample used
    level: float
    slope_per_s: float  # 0 when the trend is not significant
    trend_z: float
    samples: int
    points: list[NowcastPoint]


def _slope_intervals(t: FloatArray, y: FloatArray) -> dict[float, tuple[float, float]]:
    """Sen's (low, high) confidence interval of the Theil-Sen slope at each level of
    ``_Z``, from one sort of the pairwise slopes."""
    i, j = np.triu_indices(t.size, k=1)
    dt = t[j] - t[i]
    ok = dt != 0
    slopes = np.sort((y[j] - y[i])[ok] / dt[ok])
    n_pairs = slopes.size
    n = t.size
    var_s = n * (n - 1) * (2 * n + 5) / 18.0
    out = {}
    for level, z in _Z.items():
        c = z * math.sqrt(var_s)
        lo = int(max(0, math.floor((n_pairs - c) / 2)))
        hi = int(min(n_pairs - 1, math.ceil((n_pairs + c) / 2)))
        out[level] = (float(slopes[lo]), float(slopes[hi]))
    return out


def nowcast(
    t: Sequence[float] | FloatArray,
    count: Sequence[float] | FloatArray,
    horizons_s: Sequence[float] = (300.0, 900.0, 1800.0, 3600.0),
    *,
    window_s: float = 600.0,
    min_z: float = 1.64,
    min_samples: int = 5,
) -> Nowcast | None:
    """Nowcast from a zone's samples (``t`` in seconds, ascending; ``count`` persons).

    Uses the samples of the last ``window_s`` seconds; None when there are fewer than
    ``min_samples`` of them or they span less than half the window (a camera just
    started, or down).
    """
    ta = np.asarray(t, dtype=np.float64)
    ya = np.asarray(count, dtype=np.float64)
    if ta.shape != ya.shape:
        raise ValueError(f"t and count differ in length: {ta.shape} vs {ya.shape}")
    if ta.size == 0:
        return None
    keep = ta >= ta[-1] - window_s
    ta, ya = ta[keep], ya[keep]
    if ta.size < min_samples or ta[-1] - ta[0] < 0.5 * window_s:
        return None  # too little recent data to say where it is heading
    t0 = float(ta[-1])
    x = ta - t0
    # The predictive alert's estimators (crowdsafe.alerts.trend.fit_trend; the alert fits
    # them to 10 s bin means, alerts/window.py): level at the newest sample, Theil-Sen
    # slope, Mann-Kendall z.
    trend = fit_trend(x, ya)
    z_mk, slope = trend.z, trend.slope_per_s
    intervals = _slope_intervals(x, ya)
    significant = abs(z_mk) >= min_z
    intercept = trend.level_now  # x is 0 at the newest sample
    if not significant:
        # flat at the recent level; the slope interval still widens the band
        slope = 0.0
        intercept = float(np.median(ya))
    resid = ya - (intercept + slope * x)
    sigma = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
    sigma = max(sigma, 0.5)  # counts are whole people: never claim less spread than that
    points = []
    for h in horizons_s:
        centre = intercept + slope * h
        band = {}
        for q, (s_lo, s_hi) in intervals.items():
            zq = _Z[q]
            # trend uncertainty (relative to the slope used) plus the scatter of one sample
            spread_lo = max(0.0, (slope - min(s_lo, slope)) * h)
            spread_hi = max(0.0, (max(s_hi, slope) - slope) * h)
            noise = zq * sigma
            band[q] = (
                centre - math.hypot(spread_lo, noise),
                centre + math.hypot(spread_hi, noise),
            )
        points.append(
            NowcastPoint(
                horizon_s=float(h),
                t=t0 + float(h),
                count=max(0.0, centre),
                low_80=max(0.0, band[0.8][0]),
                high_80=max(0.0, band[0.8][1]),
                low_95=max(0.0, band[0.95][0]),
                high_95=max(0.0, band[0.95][1]),
            )
        )
    return Nowcast(t0, intercept, slope, float(z_mk), int(ta.size), points)


def nowcast_lag(
    t: Sequence[float] | FloatArray,
    count: Sequence[float] | FloatArray,
    *,
    horizon_s: float,
    window_s: float,
    min_samples: int = 5,
) -> float:
    """How far behind reality the nowcast runs on a recorded series, in seconds.

    At every sample the nowcast is made from the samples up to it for ``horizon_s``
    ahead.  A nowcast that lags by L reads like the actual series L seconds earlier, so
    the lag is the shift L (0 to twice the window) at which the actual series, shifted,
    best matches the nowcasts (mean absolute difference); among shifts that match
    within 2 % of the best, the smallest, so a flat series does not report a lag that
    only noise suggests.
    """
    ta = np.asarray(t, dtype=np.float64)
    ya = np.asarray(count, dtype=np.float64)
    targets: list[float] = []
    preds: list[float] = []
    for i in range(ta.size):
        nc = nowcast(
            ta[: i + 1], ya[: i + 1], (horizon_s,), window_s=window_s, min_samples=min_samples
        )
        if nc is None or ta[i] + horizon_s > ta[-1]:
            continue
        targets.append(ta[i] + horizon_s)
        preds.append(nc.points[0].count)
    if not targets:
        raise ValueError("the series is too short to measure a nowcast lag")
    tg = np.asarray(targets)
    pr = np.asarray(preds)
    step = float(np.median(np.diff(ta))) if ta.size > 1 else 1.0
    lags = np.arange(0.0, 2 * window_s + step / 2, step)
    errors = []
    for lag in lags:
        ok = tg - lag >= ta[0]
        if ok.sum() < max(3, 0.5 * tg.size):
            errors.append(np.inf)
            continue
        actual = np.interp(tg[ok] - lag, ta, ya)
        errors.append(float(np.abs(pr[ok] - actual).mean()))
    err = np.asarray(errors)
    best = float(err.min())
    return float(lags[int(np.flatnonzero(err <= best * 1.02 + 1e-12)[0])])
