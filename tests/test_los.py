"""Levels of service at every band boundary (HCM walkway and queue bands, after Fruin)."""

from __future__ import annotations

import pytest

from crowdsafe.measure.los import QUEUE_SPACE_M2, flow_los, space_los
from crowdsafe.types import LevelOfService as L


@pytest.mark.parametrize(
    ("space_m2", "expected"),
    [
        (float("inf"), L.A),
        (5.61, L.A),
        (5.6, L.B),  # "A > 5.6": exactly 5.6 m² per person is B
        (3.71, L.B),
        (3.7, L.C),
        (2.21, L.C),
        (2.2, L.D),
        (1.41, L.D),
        (1.4, L.E),
        (0.76, L.E),
        (0.75, L.F),
        (0.2, L.F),
    ],
)
def test_walkway_space_bands(space_m2: float, expected: L) -> None:
    density = 0.0 if space_m2 == float("inf") else 1.0 / space_m2
    assert space_los(density) is expected


@pytest.mark.parametrize(
    ("space_m2", "expected"),
    [(1.21, L.A), (1.2, L.B), (0.9, L.C), (0.6, L.D), (0.3, L.E), (0.21, L.E), (0.2, L.F)],
)
def test_queue_space_bands(space_m2: float, expected: L) -> None:
    assert space_los(1.0 / space_m2, QUEUE_SPACE_M2) is expected


def test_density_danger_points_are_dangerous_levels() -> None:
    # Still's 5 p/m² and the 7 p/m² critical point are F on both tables
    assert space_los(5.0) is L.F
    assert space_los(7.0, QUEUE_SPACE_M2) is L.F
    # 2 p/m² (walking slows) is already F for people walking, D for people queueing
    assert space_los(2.0) is L.F
    assert space_los(2.0, QUEUE_SPACE_M2) is L.D


@pytest.mark.parametrize(
    ("flow", "expected"),
    [
        (0.0, L.A),
        (22.9, L.A),
        (23.0, L.B),
        (33.0, L.C),
        (49.0, L.D),
        (66.0, L.E),
        (82.0, L.E),  # Green Guide maximum is still E
        (82.1, L.F),
    ],
)
def test_flow_bands(flow: float, expected: L) -> None:
    assert flow_los(flow) is expected


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: space_los(-1.0), "density must be >= 0"),
        (lambda: space_los(float("nan")), "density must be >= 0"),
        (lambda: space_los(1.0, (1.0, 0.5)), "5 values"),
        (lambda: flow_los(-5.0), "flow must be >= 0"),
    ],
)
def test_invalid_inputs_name_the_problem(call, error: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=error):
        call()
