"""SIMULATION ONLY: the alerts, nowcast and time to clear on simulated crowds whose truth
is known (``crowdsafe eval twin``).

The simulated concourse (``evaluation/twin_sim.py``) is watched as a camera would watch
it: a zone of 6 x 6 m in front of the exit the crowd builds up at, and the whole concourse
(600 m²) with its open exits declared, for its time to clear.  Each analysed frame (5 per
second) sees the simulated people through the detector's measured error: each is found
with probability ``recall``, and false detections arrive so that ``precision`` of what is
found is real; the speeds carry the error ``eval motion`` measured (a person's speed off
by ``speed_error`` in the median).  From there on everything is the deployed code: the
1-s buckets and their density correction (``BucketAggregator``), crowd pressure on the
zone's ground cells (``PressureGrid``), the alert engine with the default rules, the
nowcast of the forecast service, the time to clear at the Green Guide's 82 persons per
metre per minute.

What it reports against the truth of the simulation: when each alert opened against when
the true density of the watched zone (its mean over 10 s) first reached 5 persons/m²
(the predictive alert's lead, the critical alert's delay), the highest alert level of
the run, the nowcast's error 5 and 15 minutes ahead, and, when arrivals stop, the time
to clear the concourse against the time the simulation took to empty it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crowdsafe.alerts.engine import AlertEngine
from crowdsafe.alerts.settings import AlertsConfig
from crowdsafe.evaluation.twin_sim import (
    CONCOURSE_M,
    EXIT_WIDTH_M,
    SCENARIOS,
    Scenario,
    SimFrame,
    exit_span,
    simulate,
)
from crowdsafe.forecast.nowcast import nowcast
from crowdsafe.measure.geometry import points_in_polygon
from crowdsafe.measure.motion import ZoneMotion
from crowdsafe.measure.pressure import PressureGrid
from crowdsafe.measure.zones import BucketAggregator, Zone
from crowdsafe.store import SQLiteStore
from crowdsafe.types import AlertEvent, ZoneSample

__all__ = ["TwinReport", "run_twin"]

_WALKWAY = (5.6, 3.7, 2.2, 1.4, 0.75)  # the walkway LoS bounds (config defaults)
_FRONT_M = 6.0
_EXIT_CAPACITY = 82.0  # persons per metre per minute (thresholds.exit_capacity_per_m_min)
_LEVELS = {"advisory": 1, "warning": 2, "critical": 3}


def _zone(
    zone_id: str,
    box: tuple[float, float, float, float],
    precision: float,
    recall: float,
    exit_capacity_per_min: float = 0.0,
) -> Zone:
    """A rectangle of the concourse as a zone; its "pixels" are the ground's metres."""
    x0, y0, x1, y1 = box
    return Zone(
        id=zone_id,
        camera_id="twin",
        name=zone_id,
        polygon_px=np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64),
        area_m2=(x1 - x0) * (y1 - y0),
        space_bounds_m2=_WALKWAY,
        precision=precision,
        recall=recall,
        exit_capacity_per_min=exit_capacity_per_min,
    )


def _inside(points: npt.NDArray[np.float64], zone: Zone) -> npt.NDArray[np.bool_]:
    return points_in_polygon(points, zone.polygon_px)


@dataclass
class _Seen:
    """One zone's measurement: buckets, pressure grid, the truth beside them."""

    zone: Zone
    aggregator: BucketAggregator
    grid: PressureGrid
    samples: list[ZoneSample] = field(default_factory=list)
    truth: list[tuple[float, float]] = field(default_factory=list)  # (t, true people)


@dataclass(frozen=True)
class TwinReport:
    """What ``eval twin`` prints (module docstring)."""

    scenario: Scenario
    seed: int
    simulated_s: float
    alerts: list[dict[str, object]]
    true_critical_at_s: float | None
    peak_true_density: float
    highest_level: str | None
    nowcast_error: dict[str, dict[str, float | int | None]]
    clearing: dict[str, float | None]
    detector: dict[str, float]

    def _first(self, rule: str, level: str | None = None) -> float | None:
        times = [
            float(str(a["t_s"]))
            for a in self.alerts
            if a["rule"] == rule and (level is None or a["level"] == level)
        ]
        return min(times, default=None)

    def to_dict(self) -> dict[str, object]:
        crit = self.true_critical_at_s
        predictive = self._first("predictive")
        critical = self._first("density", "critical")
        return {
            "scenario": self.scenario.name,
            "description": self.scenario.description,
            "seed": self.seed,
            "simulated_s": round(self.simulated_s, 1),
            "detector": self.detector,
            "watched_zone": f"{_FRONT_M:g} x {_FRONT_M:g} m in front of the exit",
            "peak_true_density_per_m2": round(self.peak_true_density, 2),
            "true_density_5_at_s": crit,
            "predictive_opened_at_s": predictive,
            "predictive_lead_s": (
                round(crit - predictive, 1) if crit is not None and predictive is not None else None
            ),
            "critical_opened_at_s": critical,
            "critical_delay_s": (
                round(critical - crit, 1) if crit is not None and critical is not None else None
            ),
            "highest_level": self.highest_level,
            "alerts": self.alerts,
            "nowcast_error": self.nowcast_error,
            "time_to_clear": self.clearing,
        }


def _detected(
    frame: SimFrame, rng: np.random.Generator, recall: float, precision: float, zone: Zone,
    speed_error: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]:  # fmt: skip
    """The people of ``zone`` a detector of this precision and recall finds in one frame:
    their positions and (noisy) velocities, and the true number there."""
    inside = _inside(frame.positions, zone)
    pos, vel = frame.positions[inside], frame.velocities[inside]
    found = rng.random(len(pos)) < recall
    pos, vel = pos[found], vel[found]
    # a speed off by a factor whose median distance from 1 is speed_error
    factor = np.exp(rng.normal(0.0, speed_error / 0.6745, size=(len(vel), 1)))
    vel = vel * factor
    false = rng.poisson(len(pos) * (1.0 - precision) / precision)
    if false:
        x0, y0 = zone.polygon_px[0]
        x1, y1 = zone.polygon_px[2]
        ghosts = rng.uniform([x0, y0], [x1, y1], size=(false, 2))
        pos = np.concatenate([pos, ghosts])
        vel = np.concatenate([vel, np.zeros((false, 2))])  # a false box stands still
    return pos, vel, int(inside.sum())


def run_twin(
    name: str | Scenario,
    *,
    seed: int = 0,
    precision: float = 0.94,
    recall: float = 0.84,
    speed_error: float = 0.2,
    alerts: AlertsConfig | None = None,
) -> TwinReport:
    """Simulate scenario ``name`` (one of :data:`SCENARIOS`, or a scenario of its own)
    and watch it (module docstring).  ``precision`` and ``recall`` default to
    YOLOX-Nano's measured ones; KeyError names the scenarios."""
    if isinstance(name, Scenario):
        scenario = name
    elif name in SCENARIOS:
        scenario = SCENARIOS[name]
    else:
        raise KeyError(f"no scenario {name!r}; the scenarios are {', '.join(SCENARIOS)}")
    w, h = CONCOURSE_M
    lo, hi = exit_span(scenario.exits[-1])  # the crowd builds up at the last exit
    mid = (lo + hi) / 2
    front = _zone(
        "front",
        (w - _FRONT_M, mid - _FRONT_M / 2, w, mid + _FRONT_M / 2),
        precision=precision,
        recall=recall,
    )
    open_after_close = 1 if scenario.close_s is None else len(scenario.exits) - 1
    concourse = _zone(
        "concourse",
        (0.0, 0.0, w, h),
        precision=precision,
        recall=recall,
        exit_capacity_per_min=open_after_close * EXIT_WIDTH_M * _EXIT_CAPACITY,
    )
    seen = {
        z.id: _Seen(
            z,
            BucketAggregator("twin", [z]),
            PressureGrid(z.polygon_px, weight=precision / recall),
        )
        for z in (front, concourse)
    }
    clock = [0.0]
    events: list[AlertEvent] = []
    engine = AlertEngine(
        alerts or AlertsConfig(),
        SQLiteStore(":memory:"),
        names={"front": "In front of the exit", "concourse": "Concourse"},
        on_event=[events.append],
        clock=lambda: clock[0],
    )
    rng = np.random.default_rng(seed + 1)
    last_t = 0.0
    emptied_at: float | None = None
    front_rows: list[npt.NDArray[np.float64]] = []  # (record, id, x, y) in the front zone
    times: list[float] = []
    for frame in simulate(scenario, seed=seed):
        last_t = frame.t
        clock[0] = frame.t
        times.append(frame.t)
        near = _inside(frame.positions, front)
        front_rows.append(
            np.column_stack(
                [np.full(int(near.sum()), frame.index), frame.ids[near], frame.positions[near]]
            )
        )
        for s in seen.values():
            pos, vel, true_n = _detected(frame, rng, recall, precision, s.zone, speed_error)
            s.truth.append((frame.t, float(true_n)))
            s.grid.add(frame.t, pos, vel)
            motion = {s.zone.id: ZoneMotion.of(vel, s.grid.pressure())} if len(vel) else None
            for sample in s.aggregator.add(frame.t, {s.zone.id: len(pos)}, motion=motion):
                s.samples.append(sample)
                engine.observe_zone(sample)
        if frame.t > scenario.stop_s and emptied_at is None and not len(frame.positions):
            emptied_at = frame.t
    true_density = _pedpy_density(front_rows, times, front)
    return TwinReport(
        scenario=scenario,
        seed=seed,
        simulated_s=last_t,
        alerts=[
            {
                "t_s": round(e.alert.updated_at, 1),
                "rule": str(e.alert.rule),
                "level": e.alert.level.value,
                "zone": e.alert.subject_id,
                "kind": e.kind,
            }
            for e in events
            if e.kind in ("opened", "escalated")
        ],
        true_critical_at_s=_crossing(true_density, 5.0),
        peak_true_density=max((d for _, d in _rolling(true_density)), default=0.0),
        highest_level=max(
            (e.alert.level.value for e in events), key=lambda v: _LEVELS[v], default=None
        ),
        nowcast_error=_nowcast_errors(seen["front"]),
        clearing=_clearing(seen["concourse"], scenario, emptied_at),
        detector={"precision": precision, "recall": recall, "speed_error": speed_error},
    )


def _rolling(truth: list[tuple[float, float]], window_s: float = 10.0) -> list[tuple[float, float]]:
    """The true count's mean over the last ``window_s`` at each frame."""
    out, acc, total = [], deque[tuple[float, float]](), 0.0
    for t, n in truth:
        acc.append((t, n))
        total += n
        while acc[0][0] <= t - window_s:
            total -= acc.popleft()[1]
        out.append((t, total / len(acc)))
    return out


def _pedpy_density(
    rows: list[npt.NDArray[np.float64]], times: list[float], zone: Zone
) -> list[tuple[float, float]]:
    """PedPy's classic density of ``zone`` at every record (the people in it over its
    area), from the simulated trajectories: the truth the alerts are judged against."""
    import pandas as pd
    import pedpy

    data = np.concatenate(rows) if rows else np.zeros((0, 4))
    frame = pd.DataFrame(
        {
            "id": data[:, 1].astype(np.int64),
            "frame": data[:, 0].astype(np.int64),
            "x": data[:, 2],
            "y": data[:, 3],
        }
    )
    area = pedpy.MeasurementArea([tuple(p) for p in zone.polygon_px])
    density = pedpy.compute_classic_density(
        traj_data=pedpy.TrajectoryData(data=frame, frame_rate=5.0), measurement_area=area
    )
    # records where no one stood in the zone have no row: their density is 0
    by_frame = dict(zip(density["frame"].tolist(), density["density"].tolist(), strict=True))
    return [(t, float(by_frame.get(i, 0.0))) for i, t in enumerate(times)]


def _crossing(density: list[tuple[float, float]], level: float) -> float | None:
    """When the density's 10-s mean first reached ``level``; None if it never did."""
    for t, d in _rolling(density):
        if d >= level:
            return round(t, 1)
    return None


def _nowcast_errors(s: _Seen) -> dict[str, dict[str, float | int | None]]:
    """Each minute from 10 min on: the nowcast of the watched zone's people from its
    samples so far, 5 and 15 min ahead, against the simulated truth then (10-s means)."""
    t = np.array([x.t for x in s.samples])
    y = np.array([x.density_per_m2 * x.area_m2 for x in s.samples])
    truth = dict((round(tt), n) for tt, n in _rolling(s.truth))
    errors: dict[float, list[float]] = {300.0: [], 900.0: []}
    if not len(t):
        return {}
    for now in np.arange(t[0] + 600.0, t[-1], 60.0):
        upto = t <= now
        result = nowcast(t[upto], y[upto], horizons_s=tuple(errors))
        if result is None:
            continue
        for point in result.points:
            actual = truth.get(round(point.t))
            if actual is not None:
                errors[point.horizon_s].append(abs(point.count - actual))
    out: dict[str, dict[str, float | int | None]] = {}
    for horizon, errs in errors.items():
        mean_true = float(np.mean([n for _, n in s.truth])) if s.truth else 0.0
        out[f"{horizon / 60:g}_min"] = {
            "forecasts": len(errs),
            "mae_people": round(float(np.mean(errs)), 2) if errs else None,
            "mae_pct_of_mean": (
                round(100 * float(np.mean(errs)) / mean_true, 1) if errs and mean_true else None
            ),
        }
    return out


def _clearing(s: _Seen, scenario: Scenario, emptied_at: float | None) -> dict[str, float | None]:
    """The concourse's time to clear in the bucket where arrivals stopped, against how
    long the simulation took from then to empty it."""
    at = next((x for x in s.samples if x.t >= scenario.stop_s), None)
    if at is None or at.time_to_clear_min is None:
        return {"predicted_min": None, "simulated_min": None, "error_pct": None}
    simulated = None if emptied_at is None else (emptied_at - at.t) / 60.0
    error = None
    if simulated:
        error = round(100.0 * (at.time_to_clear_min - simulated) / simulated, 1)
    return {
        "at_s": at.t,
        "predicted_min": round(at.time_to_clear_min, 2),
        "simulated_min": None if simulated is None else round(simulated, 2),
        "error_pct": error,
        "people_estimated": round(at.density_per_m2 * at.area_m2, 1),
        "capacity_per_min": round(s.zone.exit_capacity_per_min, 1),
    }
