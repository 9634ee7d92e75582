"""Robust trends of a zone's density: how fast it rises, and when it reaches a level.

Why these estimators: zone densities are noisy (a person flickering in and out of a
zone changes the count by one every few frames) and occasionally wrong in bursts.

* The **Theil-Sen** slope (median of all pairwise slopes) ignores up to ~29 % of wild
  points, where a least-squares fit follows them.
* The **Mann-Kendall** test decides whether there is a monotonic rise at all: its z
  statistic is ~N(0, 1) for pure noise, so requiring z > 2.33 (one-sided p < 0.01) keeps
  noise from raising predictive alerts.

Both are O(n²) in the window length: about a millisecond for 180 points in numpy, which
is why the alert engine fits them to 10 s bin means (``alerts/window.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Trend", "fit_trend", "mann_kendall_z", "theil_sen"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@functools.lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[IntArray, IntArray]:
    """(i, j) of every pair i < j of n points; the engine asks for the same few sizes
    over and over, and building them costs more than the fit itself."""
    i, j = np.triu_indices(n, k=1)
    i.flags.writeable = False
    j.flags.writeable = False
    return i, j


def theil_sen(t: FloatArray, y: FloatArray) -> tuple[float, float]:
    """(slope, intercept) of the Theil-Sen line through (t, y); slope in y per unit t."""
    if t.shape != y.shape or t.size < 2:
        raise ValueError(f"need two equal-length series of >= 2 points, got {t.shape}, {y.shape}")
    i, j = _pairs(t.size)
    dt = t[j] - t[i]
    ok = dt != 0
    if not ok.any():
        raise ValueError("all sample times are equal; cannot fit a slope")
    slope = float(np.median((y[j] - y[i])[ok] / dt[ok]))
    intercept = float(np.median(y - slope * t))
    return slope, intercept


def mann_kendall_z(y: FloatArray) -> float:
    """Mann-Kendall z for a monotonic trend in ``y`` (in time order); > 0 means rising.

    Ties are ignored in the variance (densities are continuous means, ties are rare);
    uses the usual continuity correction.
    """
    n = y.size
    if n < 3:
        return 0.0
    i, j = _pairs(n)
    s = float(np.sign(y[j] - y[i]).sum())
    var = n * (n - 1) * (2 * n + 5) / 18.0
    if s > 0:
        return float((s - 1.0) / np.sqrt(var))
    if s < 0:
        return float((s + 1.0) / np.sqrt(var))
    return 0.0


@dataclass(frozen=True)
class Trend:
    """A fitted trend: ``level_now`` is the trend line's value at ``t_now`` (the robust
    estimate of the current level), ``slope_per_s`` its rise per second."""

    t_now: float
    level_now: float
    slope_per_s: float
    z: float
    samples: int

    def significant(self, min_z: float) -> bool:
        return self.z >= min_z and self.slope_per_s > 0

    def seconds_to(self, level: float) -> float | None:
        """Seconds until the trend reaches ``level``; 0 if already there, None if never."""
        if self.level_now >= level:
            return 0.0
        if self.slope_per_s <= 0:
            return None
        return (level - self.level_now) / self.slope_per_s


def fit_trend(t: FloatArray, y: FloatArray, *, z: float | None = None) -> Trend:
    """Fit a robust trend to a time series (``t`` in seconds, increasing); ``z``, when
    given, is the series' Mann-Kendall z already computed."""
    slope, intercept = theil_sen(t, y)
    t_now = float(t[-1])
    return Trend(
        t_now=t_now,
        level_now=slope * t_now + intercept,
        slope_per_s=slope,
        z=mann_kendall_z(y) if z is None else z,
        samples=int(t.size),
    )
