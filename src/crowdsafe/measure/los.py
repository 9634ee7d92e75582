"""Levels of service: how a crowd feels, from its density or flow.

Bands (defaults; a site may override them in its config ``thresholds``):

* Walkway, by space per person (HCM, after Fruin, *Pedestrian Planning and Design*,
  1971): A > 5.6 m², B 3.7–5.6, C 2.2–3.7, D 1.4–2.2, E 0.75–1.4, F ≤ 0.75.
* Queue / standing areas, by space per person (Fruin): A > 1.2 m², B 0.9–1.2,
  C 0.6–0.9, D 0.3–0.6, E 0.2–0.3, F ≤ 0.2.
* Walkway flow, persons per metre of width per minute: A < 23, B 23–33, C 33–49,
  D 49–66, E 66–82, F > 82 (82 is also the UK Green Guide maximum exit flow).

Boundary rule: a space band's lower bound is exclusive (exactly 5.6 m² per person is
B, not A), matching the HCM tables' "> x" wording; a flow band's lower bound is
inclusive (exactly 23 p/m/min is B) and 82 itself is still E.  An empty zone has
infinite space per person, level A.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from crowdsafe.types import LevelOfService

__all__ = [
    "QUEUE_SPACE_M2",
    "WALKWAY_FLOW_PER_M_MIN",
    "WALKWAY_SPACE_M2",
    "Bands",
    "flow_los",
    "space_los",
]

_LEVELS = (
    LevelOfService.A,
    LevelOfService.B,
    LevelOfService.C,
    LevelOfService.D,
    LevelOfService.E,
    LevelOfService.F,
)

_A, _F = LevelOfService.A, LevelOfService.F

Bands = tuple[float, float, float, float, float]

# Lower bounds of A..E in m² per person, decreasing.
WALKWAY_SPACE_M2: Bands = (5.6, 3.7, 2.2, 1.4, 0.75)
QUEUE_SPACE_M2: Bands = (1.2, 0.9, 0.6, 0.3, 0.2)
# Upper bounds of A..E in persons/m/min, increasing.
WALKWAY_FLOW_PER_M_MIN: Bands = (23.0, 33.0, 49.0, 66.0, 82.0)


def space_los(
    density_per_m2: float, bounds_m2: Sequence[float] = WALKWAY_SPACE_M2
) -> LevelOfService:
    """Level of service of a density (persons/m²) against space-per-person bounds."""
    if len(bounds_m2) != 5:
        raise ValueError(f"space bounds need 5 values (A..E lower bounds), got {len(bounds_m2)}")
    # One comparison refuses both a negative density and NaN (NaN is never >= 0); every
    # zone of every camera asks this once a bucket.
    if not density_per_m2 >= 0:
        raise ValueError(f"density must be >= 0 persons/m², got {density_per_m2}")
    if density_per_m2 == 0:
        return _A
    # Rounded so that a density computed as 1 / 3.7 lands on the 3.7 boundary exactly,
    # not a float's width beside it.
    space = round(1.0 / density_per_m2, 9)
    for level, lower in zip(_LEVELS, bounds_m2, strict=False):
        if space > lower:
            return level
    return _F


def flow_los(
    flow_per_m_min: float, bounds: Sequence[float] = WALKWAY_FLOW_PER_M_MIN
) -> LevelOfService:
    """Level of service of a flow in persons per metre of width per minute."""
    if len(bounds) != 5:
        raise ValueError(f"flow bounds need 5 values (A..E upper bounds), got {len(bounds)}")
    if flow_per_m_min < 0 or math.isnan(flow_per_m_min):
        raise ValueError(f"flow must be >= 0 persons/m/min, got {flow_per_m_min}")
    for level, upper in zip(_LEVELS, bounds, strict=False):
        if flow_per_m_min < upper or (level is LevelOfService.E and flow_per_m_min <= upper):
            return level
    return LevelOfService.F
