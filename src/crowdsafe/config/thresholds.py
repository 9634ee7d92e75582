"""The ``thresholds:`` section: the level-of-service bands a site measures against.

Defaults are the published tables (walkway and queue space per person after Fruin and
the HCM, flow per metre of width per minute after the HCM and the UK Green Guide), kept
in :mod:`crowdsafe.measure.los` with their sources; a site overrides them here.  Bands
must be monotonic, or a denser crowd could read as a better level of service.
"""

from __future__ import annotations

import itertools

from pydantic import Field, field_validator

from crowdsafe.measure.los import QUEUE_SPACE_M2, WALKWAY_FLOW_PER_M_MIN, WALKWAY_SPACE_M2, Bands
from crowdsafe.strict import StrictModel

__all__ = ["ThresholdsConfig"]


def _decreasing(values: Bands, what: str) -> Bands:
    if any(b >= a for a, b in itertools.pairwise(values)) or values[-1] <= 0:
        raise ValueError(f"{what} must be 5 positive numbers, strictly decreasing (A to E)")
    return values


class ThresholdsConfig(StrictModel):
    walkway_space_m2: Bands = Field(
        WALKWAY_SPACE_M2,
        description="Walkway LoS: lower bounds of space per person (m²) for A..E (HCM/Fruin).",
    )
    queue_space_m2: Bands = Field(
        QUEUE_SPACE_M2,
        description="Queue LoS: lower bounds of space per person (m²) for A..E (Fruin).",
    )
    flow_per_m_min: Bands = Field(
        WALKWAY_FLOW_PER_M_MIN,
        description="Flow LoS: upper bounds of persons/m/min for A..E (HCM; 82 = Green Guide).",
    )
    exit_capacity_per_m_min: float = Field(
        82.0,
        gt=0.0,
        le=200.0,
        description="What an exit lets through, persons per metre of width per minute, for "
        "a zone's time to clear (UK Green Guide: 82 on the level; 66 on stairways).",
    )

    @field_validator("walkway_space_m2", "queue_space_m2")
    @classmethod
    def _space(cls, v: Bands) -> Bands:
        return _decreasing(v, "space bounds")

    @field_validator("flow_per_m_min")
    @classmethod
    def _flow(cls, v: Bands) -> Bands:
        if any(b <= a for a, b in itertools.pairwise(v)) or v[0] <= 0:
            raise ValueError("flow bounds must be 5 positive numbers, strictly increasing (A to E)")
        return v

    def space_bounds(self, profile: str) -> tuple[float, ...]:
        return self.queue_space_m2 if profile == "queue" else self.walkway_space_m2
