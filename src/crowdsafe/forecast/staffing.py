"""Stewards per zone per time slot, from a forecast of how many people will be there.

The rule, per zone and slot::

    stewards = max(minimum, ceil(people / persons_per_steward * uplift(LoS)))

``people`` is the forecast's upper bound at ``quantile`` (the 80 % interval's top by
default): staff for a busy hour that is plausible, not only for the average one.
``uplift`` raises the ratio in zones whose forecast level of service is crowded.

Defaults and where they come from (a site overrides each in its config):

* ``persons_per_steward = 250``: NFPA 101 *Life Safety Code*, assembly occupancies
  (12.7.6 in the 2015-2021 editions): trained crowd managers at one per 250 occupants
  above the first 250.  The UK *Purple Guide* and *Green Guide* give no ratio and ask
  for a risk assessment; 250 is the only published general ratio we know of, and a
  floor, not a target.
* ``minimum = 1``: NFPA 101 asks for at least one trained crowd manager wherever the
  assembly occupancy is in use; a zone with a forecast crowd gets at least one.
* ``uplift``: ``{"D": 1.5, "E": 2.0, "F": 2.0}``.  **No standard gives these numbers**;
  they are crowdsafe's own starting point, reasoned from Fruin's levels of service: at
  D movement is restricted and conflicts are frequent, at E and F people cannot choose
  their speed or pass and crowd pressure builds (Fruin, *Pedestrian Planning and
  Design*, 1971; Still, *Introduction to Crowd Science*, 2014), which calls for closer
  supervision than a free-flowing crowd.  A site should set its own from its risk
  assessment.

The level of service of a slot is that of the forecast density (people over the zone's
ground area) under the zone's profile bands, as for live samples.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from crowdsafe.measure.los import space_los
from crowdsafe.types import LevelOfService

__all__ = ["StaffingPlan", "StaffingRules", "StaffingSlot", "plan_staffing"]

DEFAULT_UPLIFT: dict[str, float] = {"D": 1.5, "E": 2.0, "F": 2.0}


@dataclass(frozen=True)
class StaffingRules:
    persons_per_steward: float = 250.0
    minimum: int = 1
    uplift: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_UPLIFT))

    def __post_init__(self) -> None:
        if not self.persons_per_steward > 0:
            raise ValueError(f"persons_per_steward must be > 0, got {self.persons_per_steward}")
        if self.minimum < 0:
            raise ValueError(f"minimum must be >= 0, got {self.minimum}")
        for level, factor in self.uplift.items():
            if level not in "ABCDEF" or len(level) != 1:
                raise ValueError(f"uplift level must be one of A-F, got {level!r}")
            if not factor >= 1.0:
                raise ValueError(f"uplift for {level} must be >= 1, got {factor}")

    def stewards(self, people: float, los: LevelOfService) -> int:
        if people <= 0:
            return 0
        factor = self.uplift.get(los.value, 1.0)
        return max(self.minimum, math.ceil(people / self.persons_per_steward * factor - 1e-9))


@dataclass(frozen=True)
class StaffingSlot:
    zone_id: str
    t: float  # slot start, Unix seconds
    people: float  # the forecast people the plan staffs for
    density_per_m2: float
    los: LevelOfService
    stewards: int

    def to_dict(self) -> dict[str, object]:
        return {
            "zone_id": self.zone_id,
            "t": self.t,
            "people": round(self.people, 1),
            "density_per_m2": round(self.density_per_m2, 3),
            "los": self.los.value,
            "stewards": self.stewards,
        }


@dataclass(frozen=True)
class StaffingPlan:
    slots: list[StaffingSlot]
    rules: StaffingRules

    def total_by_slot(self) -> dict[float, int]:
        totals: dict[float, int] = {}
        for s in self.slots:
            totals[s.t] = totals.get(s.t, 0) + s.stewards
        return dict(sorted(totals.items()))

    def to_csv(self) -> str:
        """One row per zone and slot: ISO time (UTC), zone, people, density, LoS, stewards."""
        from datetime import UTC, datetime

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["slot_start_utc", "zone_id", "people", "density_per_m2", "los", "stewards"]
        )
        for s in sorted(self.slots, key=lambda s: (s.t, s.zone_id)):
            iso = datetime.fromtimestamp(s.t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            d = s.to_dict()
            writer.writerow(
                [iso, s.zone_id, d["people"], d["density_per_m2"], d["los"], s.stewards]
            )
        return out.getvalue()


def plan_staffing(
    forecasts: Mapping[str, Sequence[tuple[float, float]]],
    areas_m2: Mapping[str, float],
    space_bounds: Mapping[str, tuple[float, ...]],
    rules: StaffingRules | None = None,
) -> StaffingPlan:
    """The plan for ``forecasts`` = {zone id: [(slot start, people to staff for), ...]}.

    ``areas_m2`` and ``space_bounds`` give each zone's ground area and level-of-service
    bands (m² per person, A..E upper bounds, as in the config's thresholds).
    """
    rules = rules or StaffingRules()
    slots = []
    for zone_id, series in forecasts.items():
        area = areas_m2[zone_id]
        for t, people in series:
            people = max(0.0, float(people))
            density = people / area if area > 0 else 0.0
            los = space_los(density, space_bounds[zone_id])
            slots.append(
                StaffingSlot(zone_id, float(t), people, density, los, rules.stewards(people, los))
            )
    return StaffingPlan(slots, rules)
