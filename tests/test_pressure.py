"""Crowd pressure on ground cells and the fundamental diagram (measure/pressure.py), and
what the zone samples and alerts make of them."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from crowdsafe.measure.pressure import PressureGrid, weidmann_speed
from crowdsafe.measure.zones import BucketAggregator
from tests.test_alerts import T0, engine, kinds, zone
from tests.test_clearing import hall

SQUARE = [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]]  # four 2-m cells


def _crowd(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` (even) people, half in each of the two left cells (x in [0, 2), y in [0, 2)
    and [2, 4)), anywhere inside them."""
    low = rng.uniform([0.05, 0.05], [1.95, 1.95], size=(n // 2, 2))
    high = rng.uniform([0.05, 2.05], [1.95, 3.95], size=(n - n // 2, 2))
    return np.concatenate([low, high])


def test_a_steady_flow_has_no_pressure_however_fast() -> None:
    grid = PressureGrid(SQUARE)
    rng = np.random.default_rng(0)
    for i in range(20):
        grid.add(i * 0.5, _crowd(16, rng), np.tile([1.3, 0.0], (16, 1)))
    assert grid.pressure() == pytest.approx(0.0, abs=1e-12)


def test_stop_and_go_has_density_times_the_velocity_variance() -> None:
    """8 people per 4-m² cell (2 persons/m²), all at 1.2 m/s then all stopped, in turn."""
    grid = PressureGrid(SQUARE)
    rng = np.random.default_rng(1)
    for i in range(20):
        v = np.tile([1.2 if i % 2 else 0.0, 0.0], (16, 1))
        grid.add(i * 0.5, _crowd(16, rng), v)
    # the 20 frames of the last 10 s, half moving: Var = 1.2² / 4
    assert grid.pressure() == pytest.approx(8 / 4.0 * 0.36)


def test_the_precision_and_recall_weight_the_density_and_old_frames_leave() -> None:
    rng = np.random.default_rng(2)
    plain, weighted = PressureGrid(SQUARE), PressureGrid(SQUARE, weight=1.25)
    for i in range(20):
        pts, v = _crowd(16, rng), np.tile([1.0 if i % 2 else 0.0, 0.0], (16, 1))
        plain.add(i * 0.5, pts, v)
        weighted.add(i * 0.5, pts, v)
    p, w = plain.pressure(), weighted.pressure()
    assert p is not None and w == pytest.approx(1.25 * p)
    for i in range(20, 45):  # 12.5 s of a steady walk: the stop-and-go has left the window
        plain.add(i * 0.5, _crowd(16, rng), np.tile([1.0, 0.0], (16, 1)))
    assert plain.pressure() == pytest.approx(0.0, abs=1e-12)


def test_an_empty_zone_has_no_pressure_yet() -> None:
    grid = PressureGrid(SQUARE)
    assert grid.pressure() is None
    grid.add(0.0, np.zeros((0, 2)), np.zeros((0, 2)))
    assert grid.pressure() is None
    with pytest.raises(ValueError, match="must be > 0"):
        PressureGrid(SQUARE, cell_m=0.0)


def test_weidmanns_fundamental_diagram() -> None:
    assert weidmann_speed(0.0) == pytest.approx(1.34)
    assert weidmann_speed(1.0) == pytest.approx(1.34 * (1 - np.exp(-1.913 * (1 - 1 / 5.4))))
    assert weidmann_speed(5.4) == 0.0 and weidmann_speed(7.0) == 0.0
    speeds = [weidmann_speed(d) for d in np.linspace(0.1, 5.3, 30)]
    assert all(a > b for a, b in itertools.pairwise(speeds))  # slower when denser


def test_a_bucket_compares_its_speed_with_the_fundamental_diagram() -> None:
    from crowdsafe.measure.motion import ZoneMotion

    agg = BucketAggregator("cam", [hall(area_m2=100.0)])
    slow = ZoneMotion.of(np.tile([0.3, 0.0], (200, 1)), pressure_per_s2=0.004)
    agg.add(10.2, {"hall": 200}, motion={"hall": slow})
    agg.add(10.6, {"hall": 200}, motion={"hall": replace(slow, pressure_per_s2=0.03)})
    (s,) = agg.flush()
    assert s.density_per_m2 == pytest.approx(2.0)
    assert s.fd_speed_ratio == pytest.approx(0.3 / weidmann_speed(2.0))
    assert s.pressure_per_s2 == pytest.approx(0.03)  # the bucket's highest
    sparse = BucketAggregator("cam", [hall(area_m2=100.0)])
    sparse.add(10.2, {"hall": 10}, motion={"hall": slow})
    assert sparse.flush()[0].fd_speed_ratio is None  # 0.1 persons/m²: walking as they like


def test_crowd_pressure_raises_a_warning_past_0_02() -> None:
    eng, events, clock, _ = engine()
    for i in range(30):
        clock.now = T0 + i
        value = 0.005 if i < 5 else 0.05
        eng.observe_zone(replace(zone(T0 + i, 1.0), pressure_per_s2=value))
    assert kinds(events, "pressure") == [("opened", "warning")]
    assert "crowd pressure 0.050/s²" in events[-1].alert.message


def test_a_sparse_crowd_walking_at_its_own_speeds_has_no_pressure() -> None:
    """One or two people a cell (under 2 persons/m²), each at their own speed: the
    variance is of individuals, not of a coupled crowd."""
    grid = PressureGrid(SQUARE)
    rng = np.random.default_rng(3)
    for i in range(20):
        v = np.stack([rng.normal(1.34, 0.26, 4), np.zeros(4)], axis=1)
        grid.add(i * 0.5, _crowd(4, rng), v)
    assert grid.pressure() == 0.0


def test_a_walkway_far_slower_than_its_density_explains_is_flagged_not_a_queue() -> None:
    from crowdsafe.measure.motion import ZoneMotion

    eng, events, clock, _ = engine()
    for i in range(90):  # a minute and a half at a fifth of Weidmann's speed
        clock.now = T0 + i
        eng.observe_zone(replace(zone(T0 + i, 2.0), fd_speed_ratio=0.2))
    assert kinds(events, "slow_for_density") == [("opened", "advisory")]
    assert "20 % of the speed its density explains" in events[-1].alert.message
    queue = BucketAggregator("cam", [hall(area_m2=100.0, profile="queue")])
    queue.add(10.2, {"hall": 200}, motion={"hall": ZoneMotion.of(np.tile([0.1, 0.0], (200, 1)))})
    (s,) = queue.flush()
    assert s.speed_m_s == pytest.approx(0.1) and s.fd_speed_ratio is None
