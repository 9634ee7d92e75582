"""Robust trends of a zone's density: how fast it rises, and when it reaches a level.

Why these estimators: zone densities are noisy (a person flickering in and out of a
zone changes the count by one every few frames) and occasionally wrong in bursts.

* The **Theil-Sen** slope (median of all pairwise slopes) ignores up to ~29 % of wild
  points, where a least-squares fit follows them.
* The **Mann-Kendall** test decides whether there is a monotonic rise at all: its z
  statistic is ~N(0, 1) for pure noise, so requiring z > 2.33 (one-sided p < 0.01) keeps
  noise from raising predictive alerts.

Both are O(n²) in the window length: about a millisecond for 180 points in numpy, which
is why the alert engine fits them to 10 s bin means (``alerts/window.py``).  On so few
points (12 to 18 bins) numpy's per-call overhead is most of the cost, so short series
(up to :data:`SMALL_N` points) are fitted in plain Python, which gives the same numbers
(the same divisions, the same middle elements) several times faster.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["SMALL_N", "Trend", "fit_small", "fit_trend", "mann_kendall_z", "theil_sen"]

SMALL_N = 40
"""Series up to this many points are fitted in plain Python (module docstring)."""

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
    if t.size <= SMALL_N:
        return _theil_sen_small(t.tolist(), y.tolist())
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
    if n <= SMALL_N:
        return _mk_z(_mk_s(y.tolist()), n)
    i, j = _pairs(n)
    return _mk_z(float(np.sign(y[j] - y[i]).sum()), n)


def _mk_s(y: Sequence[float]) -> float:
    """The Mann-Kendall S of a short series: rises minus falls over every pair."""
    s = 0
    for j in range(1, len(y)):
        yj = y[j]
        for yi in y[:j]:
            s += (yj > yi) - (yj < yi)
    return float(s)


def _mk_z(s: float, n: int) -> float:
    """Mann-Kendall z of the statistic ``s`` of ``n`` points (continuity-corrected)."""
    var = n * (n - 1) * (2 * n + 5) / 18.0
    if s > 0:
        return (s - 1.0) / math.sqrt(var)
    if s < 0:
        return (s + 1.0) / math.sqrt(var)
    return 0.0


def _median(values: list[float]) -> float:
    """The median as numpy takes it: the middle element, or the mean of the two."""
    values.sort()
    n = len(values)
    half = n // 2
    if n % 2:
        return values[half]
    return (values[half - 1] + values[half]) / 2.0


def _theil_sen_small(t: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """:func:`theil_sen` of a short series, in plain Python (module docstring)."""
    slopes = []
    for j in range(1, len(t)):
        tj, yj = t[j], y[j]
        for i in range(j):
            dt = tj - t[i]
            if dt != 0:
                slopes.append((yj - y[i]) / dt)
    if not slopes:
        raise ValueError("all sample times are equal; cannot fit a slope")
    slope = _median(slopes)
    intercept = _median([yi - slope * ti for ti, yi in zip(t, y, strict=True)])
    return slope, intercept


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


def fit_small(t: Sequence[float], y: Sequence[float], min_z: float) -> Trend | None:
    """The trend of a short series of plain floats (at most :data:`SMALL_N` points, ``t``
    increasing) when its Mann-Kendall z reaches ``min_z``; None otherwise, without
    fitting a slope.  What :class:`~crowdsafe.alerts.window.TrendWindow` asks for every
    time a bin closes, made without numpy (module docstring)."""
    n = len(y)
    if len(t) != n or not 3 <= n <= SMALL_N:
        raise ValueError(
            f"need two equal-length series of 3 to {SMALL_N} points, got {len(t)}, {n}"
        )
    z = _mk_z(_mk_s(y), n)
    if z < min_z:
        return None
    return _trend(float(t[-1]), *_theil_sen_small(t, y), z=z, samples=n)


def fit_trend(t: FloatArray, y: FloatArray, *, z: float | None = None) -> Trend:
    """Fit a robust trend to a time series (``t`` in seconds, increasing); ``z``, when
    given, is the series' Mann-Kendall z already computed."""
    z = mann_kendall_z(y) if z is None else z
    return _trend(float(t[-1]), *theil_sen(t, y), z=z, samples=int(t.size))


def _trend(t_now: float, slope: float, intercept: float, *, z: float, samples: int) -> Trend:
    """The trend of the line (``slope``, ``intercept``) as seen at ``t_now``."""
    level_now = slope * t_now + intercept
    return Trend(t_now=t_now, level_now=level_now, slope_per_s=slope, z=z, samples=samples)
