"""SIMULATION ONLY: simulated crowds on a site's geometry, for ``crowdsafe eval twin``.

JuPedSim (LGPL-3.0, an evaluation-only dependency: ``pip install 'crowdsafe[twin]'``)
moves simulated pedestrians with its collision-free speed model through a concourse of
30 x 20 m whose right wall has exits 1.2 m wide.  People arrive along the left wall at a
scripted rate and walk to an exit; what is recorded, every ``1 / fps`` seconds, is where
each simulated pedestrian stands and how fast they move (from the positions one record
apart).  The simulator's agent ids pair the positions and stay in this module: these are
simulated points, not people, and nothing here looks at anyone.

Scenarios (:data:`SCENARIOS`):

* ``bottleneck``: arrivals above the exit's capacity, so a crowd builds up in front of
  it towards crush densities; arrivals stop at ``stop_s`` and the concourse empties;
* ``steady``: arrivals well below capacity for 30 minutes: a busy, safe flow;
* ``exit-closed``: two exits share a flow neither could take alone; at ``close_s`` one
  closes and everyone turns to the other, where the crowd builds up.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CONCOURSE_M", "EXIT_WIDTH_M", "SCENARIOS", "Scenario", "SimFrame", "simulate"]

CONCOURSE_M = (30.0, 20.0)
"""Width and depth of the simulated concourse, metres."""
EXIT_WIDTH_M = 1.2
_EXITS_Y = {"main": 10.0, "side": 4.0}  # centres of the exits on the right wall
_DT_S = 0.05  # the simulator's step: the collision-free speed model is stable at it


@dataclass(frozen=True)
class Scenario:
    """A scripted crowd: ``arrivals_per_s`` from the start until ``stop_s``, over
    ``exits``; at ``close_s`` (when set) the first exit closes; the run ends at
    ``seconds`` or when the concourse is empty after the arrivals stopped."""

    name: str
    arrivals_per_s: float
    stop_s: float
    seconds: float
    exits: tuple[str, ...] = ("main",)
    close_s: float | None = None
    description: str = ""
    watched_exit: str = field(default="main")  # the exit whose front zone is watched


SCENARIOS = {
    "bottleneck": Scenario(
        "bottleneck",
        arrivals_per_s=3.0,
        stop_s=780.0,
        seconds=1800.0,
        description="arrivals at twice the exit's capacity fill the concourse towards it",
    ),
    "steady": Scenario(
        "steady",
        arrivals_per_s=0.8,
        stop_s=1800.0,
        seconds=1800.0,
        description="30 minutes of a steady flow at half the exit's capacity",
    ),
    "exit-closed": Scenario(
        "exit-closed",
        arrivals_per_s=2.2,
        stop_s=1200.0,
        seconds=1800.0,
        exits=("side", "main"),
        close_s=480.0,
        description="two exits share the flow; at 8 min the side exit closes",
    ),
}


@dataclass(frozen=True)
class SimFrame:
    """The simulated pedestrians at ``t`` (s), record ``index``: (N, 2) positions and
    velocities on the concourse's ground (metres, m/s; x along the concourse towards the
    exits), and the simulator's ids of these simulated agents (for PedPy's measures of
    the truth, which follow each agent)."""

    t: float
    index: int
    positions: npt.NDArray[np.float64]
    velocities: npt.NDArray[np.float64]
    ids: npt.NDArray[np.int64]


def exit_span(name: str) -> tuple[float, float]:
    """The (low, high) y of an exit on the right wall, metres."""
    y = _EXITS_Y[name]
    return (y - EXIT_WIDTH_M / 2, y + EXIT_WIDTH_M / 2)


def _geometry(exits: tuple[str, ...]) -> Any:
    from shapely import Polygon, union_all

    w, h = CONCOURSE_M
    parts = [Polygon([(0, 0), (w, 0), (w, h), (0, h)])]
    for name in exits:
        lo, hi = exit_span(name)
        parts.append(Polygon([(w - 0.1, lo), (w + 1.0, lo), (w + 1.0, hi), (w - 0.1, hi)]))
    return union_all(parts)


def simulate(scenario: Scenario, *, fps: float = 5.0, seed: int = 0) -> Iterator[SimFrame]:
    """The scenario's pedestrians every ``1 / fps`` seconds (module docstring)."""
    import jupedsim as jps

    w, _ = CONCOURSE_M
    sim = jps.Simulation(
        model=jps.CollisionFreeSpeedModel(), geometry=_geometry(scenario.exits), dt=_DT_S
    )
    stages, journeys = {}, {}
    for name in scenario.exits:
        lo, hi = exit_span(name)
        stages[name] = sim.add_exit_stage(
            [(w + 0.6, lo), (w + 1.0, lo), (w + 1.0, hi), (w + 0.6, hi)]
        )
        journeys[name] = sim.add_journey(jps.JourneyDescription([stages[name]]))
    rng = np.random.default_rng(seed)
    steps = max(1, round(1.0 / fps / _DT_S))
    record_s = steps * _DT_S
    owed = 0.0  # arrivals due but not yet placed (the entrance was full)
    last: dict[int, npt.NDArray[np.float64]] = {}
    closed = False
    t = 0.0
    index = 0
    while t < scenario.seconds:
        open_exits = scenario.exits[1:] if closed else scenario.exits
        if t < scenario.stop_s:
            owed += scenario.arrivals_per_s * record_s
        while owed >= 1.0:
            target = open_exits[int(rng.integers(len(open_exits)))]
            params = jps.CollisionFreeSpeedModelAgentParameters(
                journey_id=journeys[target],
                stage_id=stages[target],
                position=(0.4, float(rng.uniform(0.6, CONCOURSE_M[1] - 0.6))),
                desired_speed=float(np.clip(rng.normal(1.34, 0.26), 0.6, 2.0)),
                radius=0.2,
            )
            try:
                sim.add_agent(params)
            except Exception:  # the entrance is crowded: the arrival waits for room
                break
            owed -= 1.0
        if scenario.close_s is not None and not closed and t >= scenario.close_s:
            closed = True
            side = scenario.exits[0]
            for agent in sim.agents():
                if agent.stage_id == stages[side]:
                    sim.switch_agent_journey(
                        agent.id, journeys[scenario.exits[1]], stages[scenario.exits[1]]
                    )
        for _ in range(steps):
            sim.iterate()
        t += record_s
        agents = list(sim.agents())
        ids = [a.id for a in agents]
        pos = np.array([a.position for a in agents], dtype=np.float64).reshape(-1, 2)
        vel = np.zeros_like(pos)
        for i, agent_id in enumerate(ids):
            before = last.get(agent_id)
            if before is not None:
                vel[i] = (pos[i] - before) / record_s
        last = dict(zip(ids, pos, strict=True))
        inside = pos[:, 0] < w  # those in an exit's passage have left the concourse
        agent_ids = np.asarray(ids, dtype=np.int64)[inside]
        yield SimFrame(t, index, pos[inside], vel[inside], agent_ids)
        index += 1
        if t >= scenario.stop_s and not len(agents):
            return
