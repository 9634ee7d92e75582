"""A zone's recent density for its trend rules, kept as the means of short time bins.

Why bins, not every sample: the trend estimators (``alerts/trend.py``) are O(n²) in the
window.  On one-second buckets a three-minute window is 180 points, about a millisecond
per fit, and the engine fits two windows (rise, predictive) per zone per second: a city's
24,000 zones would need some 30 cores for trends alone.  On the means of 10 s bins the same
window is 18 points (some 30 microseconds a fit) and a zone is refitted only when a bin
closes, once per ``bin_s``; a 10 s old trend is fresh for rules that look minutes ahead.
Means of consecutive samples also suit the Mann-Kendall test better than the samples
themselves: one-second densities of a zone are strongly autocorrelated (the same people
stand there), which makes the raw test see trends in noise; bin means are much less so.

Each zone's bins are offset by a phase of its own (:func:`phase_of`), so that a worker of
thousands of zones refits a tenth of them every second rather than all of them at once.

A bin holds the count of its samples, so ``min_samples`` still counts samples, as the
configuration says.  Thread-compatible (the engine holds its lock around it).
"""

from __future__ import annotations

import bisect
import math
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crowdsafe.alerts.trend import SMALL_N, Trend, fit_small, fit_trend, mann_kendall_z

__all__ = ["BIN_S", "TrendWindow", "phase_of"]

BIN_S = 10.0
"""Seconds of samples averaged into one point of a trend fit."""


def phase_of(subject_id: str, bin_s: float = BIN_S) -> float:
    """A zone's bin offset in [0, ``bin_s``): the same in every process (not ``hash``)."""
    return zlib.crc32(subject_id.encode()) % 1000 / 1000 * bin_s


@dataclass
class _Bin:
    index: int
    n: int = 0
    t_sum: float = 0.0
    y_sum: float = 0.0


class TrendWindow:
    """The last ``keep_s`` seconds of one zone's samples as bin means (module docstring).

    ``add`` folds a sample (times must not go backwards: a sample older than the open
    bin is dropped) and returns whether it closed a bin; ``trend`` fits the closed bins
    of the last ``window_s`` seconds."""

    def __init__(self, keep_s: float, *, bin_s: float = BIN_S, phase_s: float = 0.0) -> None:
        if not bin_s > 0:
            raise ValueError(f"bin_s must be > 0 seconds, got {bin_s}")
        self.keep_s = keep_s
        self.bin_s = bin_s
        self.phase_s = phase_s
        self._open: _Bin | None = None
        # closed bins, oldest first: (start s, mean t, mean y, samples)
        self._closed: deque[tuple[float, float, float, int]] = deque()

    def _index(self, t: float) -> int:
        return math.floor((t - self.phase_s) / self.bin_s)

    def add(self, t: float, y: float) -> bool:
        """Fold the sample (``t`` s, value ``y``); True when it closed the open bin."""
        index = self._index(t)
        b = self._open
        closed = False
        if b is not None and index != b.index:
            if index < b.index:
                return False  # late: the open bin already holds later samples
            # plain floats: a numpy scalar's comparisons would be numpy booleans
            start = b.index * self.bin_s + self.phase_s
            self._closed.append((start, float(b.t_sum / b.n), float(b.y_sum / b.n), b.n))
            closed = True
            b = None
        if b is None:
            b = self._open = _Bin(index)
        b.n += 1
        b.t_sum += t
        b.y_sum += y
        horizon = t - self.keep_s
        while self._closed and self._closed[0][0] < horizon:
            self._closed.popleft()
        return closed

    def trends(
        self, now: float, windows_s: Sequence[float], min_samples: int, min_z: float
    ) -> list[Trend | None]:
        """For each of ``windows_s``: the trend of the closed bins that began in the last
        that many seconds before ``now``, when they hold ``min_samples`` samples or more
        and their Mann-Kendall z reaches ``min_z`` with a rising slope; None otherwise (no
        trend to speak of).  The slope is fitted only for a significant z: the rules use
        it for nothing else."""
        closed = self._closed
        if len(closed) < 3:
            return [None] * len(windows_s)
        rows = list(closed)  # oldest first: (start s, mean t, mean y, samples)
        starts = [r[0] for r in rows]
        out: list[Trend | None] = []
        for window_s in windows_s:
            part = rows[bisect.bisect_left(starts, now - window_s) :]
            if len(part) < 3 or sum(r[3] for r in part) < min_samples:
                out.append(None)
                continue
            t = [r[1] for r in part]
            y = [r[2] for r in part]
            if len(part) <= SMALL_N:
                trend = fit_small(t, y, min_z)
            else:
                ya = np.array(y)
                z = mann_kendall_z(ya)
                trend = fit_trend(np.array(t), ya, z=z) if z >= min_z else None
            out.append(trend if trend is not None and trend.significant(min_z) else None)
        return out

    def trend(self, now: float, window_s: float, min_samples: int, min_z: float) -> Trend | None:
        """:meth:`trends` of one window."""
        return self.trends(now, (window_s,), min_samples, min_z)[0]
