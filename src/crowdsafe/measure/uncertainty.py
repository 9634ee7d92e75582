"""Density with an interval: how sure we are of a zone's persons/m².

Two things stand between a detector's count and the true density:

1. **The detector.**  With measured precision P and recall R, a frame with D detections
   holds about N = D·P/R people: D·P of the detections are real, and those are a fraction
   R of everyone there.  The spread comes from the same two rates: the number of real
   people found is binomial, TP ~ Bin(N, R), so Var(TP) = N·R·(1-R) and the missed people
   add Var ≈ N·(1-R)/R to the estimate; the false detections among D are binomial with
   Var = D·P·(1-P).  Averaging k frames of a bucket divides the variance by k only for the
   part that is independent between frames — detections of a standing person are not —
   so we keep the single-frame variance (conservative).
2. **The calibration.**  A ground-point error of e metres (the calibration's RMS
   reprojection error) moves each edge of a zone of perimeter L by about e, changing its
   area by about L·e: relative error L·e/A.

The two relative errors add in quadrature; the interval is ±1.96σ (95 %), clipped at 0.
Dense crowds defeat detection (recall collapses); there this interval is optimistic, and
the density model of the dense-crowd work takes over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DensityEstimate", "DensityTerms", "estimate_density"]

Z95 = 1.96


@dataclass(frozen=True, slots=True)
class DensityEstimate:
    """True-density estimate (persons/m²) with its 95 % interval."""

    density_per_m2: float
    low_per_m2: float
    high_per_m2: float
    count_estimate: float

    @property
    def half_width_per_m2(self) -> float:
        return (self.high_per_m2 - self.low_per_m2) / 2.0


@dataclass(frozen=True, slots=True)
class DensityTerms:
    """What :func:`estimate_density` needs of a zone, checked and worked out once.

    A camera's zones each estimate a density every bucket, with an area and rates that
    do not change: a pipeline keeps one of these per zone and method rather than
    checking and recomputing them per sample.  :meth:`estimate` does exactly the
    arithmetic of :func:`estimate_density` (which is built on it), so the two agree bit
    for bit.  Build with :meth:`of`.
    """

    area_m2: float
    precision: float
    recall: float
    relative_error: float
    # Worked out once from the fields above, as estimate_density writes them.
    missed_share: float  # 1 - recall
    false_share: float  # 1 - precision
    missed_floor: float  # (1 - recall) / recall: one missed person's variance
    area_rel_error: float  # perimeter * calibration RMS / area
    area_sq_m4: float

    @classmethod
    def of(
        cls,
        area_m2: float,
        *,
        precision: float,
        recall: float,
        perimeter_m: float,
        calibration_rms_m: float,
        relative_error: float = 0.0,
    ) -> DensityTerms:
        """Terms of a zone (arguments as :func:`estimate_density`'s).

        Raises ValueError for a non-positive area or rates outside (0, 1]."""
        if area_m2 <= 0:
            raise ValueError(f"area_m2 must be > 0, got {area_m2}")
        if not (0 < precision <= 1 and 0 < recall <= 1):
            raise ValueError(f"precision and recall must be in (0, 1], got {precision}, {recall}")
        return cls(
            area_m2=area_m2,
            precision=precision,
            recall=recall,
            relative_error=relative_error,
            missed_share=1.0 - recall,
            false_share=1.0 - precision,
            missed_floor=(1.0 - recall) / recall,
            area_rel_error=perimeter_m * calibration_rms_m / area_m2,
            area_sq_m4=area_m2**2,
        )

    def estimate(self, count: float) -> DensityEstimate:
        """The density behind ``count`` detections (mean per frame) in this zone.

        Raises ValueError for a negative count."""
        density, low, high, n = self.interval(count)
        return DensityEstimate(
            density_per_m2=density, low_per_m2=low, high_per_m2=high, count_estimate=n
        )

    def interval(self, count: float) -> tuple[float, float, float, float]:
        """:meth:`estimate` as plain numbers: (density, low, high) in persons/m² and the
        count estimate, for the bucket of every zone of every camera (no object made).

        Raises ValueError for a negative count."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        recall = self.recall
        n = count * self.precision / recall
        var_n = n * self.missed_share / recall + count * self.precision * self.false_share
        # A zone with nobody detected may still hold people the detector missed: allow
        # for one missed person, so an empty zone reads "0 (up to ~x)", not "exactly 0".
        var_n = max(var_n, self.missed_floor)
        var_n += (self.relative_error * n) ** 2
        density = n / self.area_m2
        sigma = math.sqrt(var_n / self.area_sq_m4 + (density * self.area_rel_error) ** 2)
        return density, max(0.0, density - Z95 * sigma), density + Z95 * sigma, n


def estimate_density(
    count: float,
    area_m2: float,
    *,
    precision: float,
    recall: float,
    perimeter_m: float,
    calibration_rms_m: float,
    relative_error: float = 0.0,
) -> DensityEstimate:
    """Estimate the true density behind ``count`` detections (mean per frame) in a zone.

    ``relative_error`` adds a count error proportional to the count (one standard
    deviation, as a fraction): the density model's, whose counts need no precision or
    recall correction (give 1 for both) but are not exact either.

    Raises ValueError for a non-positive area, rates outside (0, 1] or a negative count.
    """
    return DensityTerms.of(
        area_m2,
        precision=precision,
        recall=recall,
        perimeter_m=perimeter_m,
        calibration_rms_m=calibration_rms_m,
        relative_error=relative_error,
    ).estimate(count)
