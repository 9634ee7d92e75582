"""The all-zones-at-once :class:`ZoneCounter` against the per-zone even-odd test it
replaces (``points_in_polygon``, one zone at a time), on random convex and concave
polygons, with people standing on vertices, on edges (horizontal ones too) and
anywhere else: the counts must be the same, zone by zone."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsafe.measure.geometry import points_in_polygon
from crowdsafe.measure.zones import Zone, ZoneCounter
from crowdsafe.types import Detections

# Whole pixels and half pixels: exact in float32 and float64 alike, so feet can stand
# exactly on a vertex, on an edge's midpoint or on a horizontal edge.
COORD = st.integers(-40, 40).map(lambda v: v / 2.0)


@st.composite
def star_polygon(draw: st.DrawFn) -> list[tuple[float, float]]:
    """A polygon around a centre: convex when every radius is the same, concave (a
    star) otherwise; vertices rounded to half pixels, so some edges come out
    horizontal or vertical."""
    n = draw(st.integers(3, 9))
    cx, cy = draw(COORD), draw(COORD)
    convex = draw(st.booleans())
    r0 = draw(st.integers(2, 20))
    turn = draw(st.floats(0.0, 2 * math.pi))
    out = []
    for k in range(n):
        r = r0 if convex else draw(st.integers(1, 20))
        a = turn + 2 * math.pi * k / n
        out.append((round(2 * (cx + r * math.cos(a))) / 2, round(2 * (cy + r * math.sin(a))) / 2))
    return out


# Any vertices at all (self-crossing, repeated points): even-odd is defined for them too.
FREE_POLYGON = st.lists(st.tuples(COORD, COORD), min_size=3, max_size=8)
POLYGON = st.one_of(star_polygon(), FREE_POLYGON)


@st.composite
def feet_for(
    draw: st.DrawFn, polygons: list[list[tuple[float, float]]]
) -> list[tuple[float, float]]:
    """Points on the polygons' vertices, on their edges' midpoints and anywhere."""
    corners = [p for poly in polygons for p in poly]
    mids = [
        ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        for poly in polygons
        for a, b in zip(poly, poly[1:] + poly[:1], strict=True)
    ]
    anywhere = st.tuples(COORD, COORD)
    point = st.one_of(st.sampled_from(corners), st.sampled_from(mids), anywhere)
    return draw(st.lists(point, max_size=30))


def zone(zid: str, polygon: list[tuple[float, float]]) -> Zone:
    return Zone(
        id=zid,
        camera_id="cam1",
        name=zid,
        polygon_px=np.asarray(polygon, dtype=np.float64).reshape(-1, 2),
        area_m2=10.0,
        space_bounds_m2=(5.6, 3.7, 2.2, 1.4, 0.75),
    )


def standing_on(feet: list[tuple[float, float]]) -> Detections:
    """People whose boxes' bottom-centres are exactly ``feet`` (1.5 px either side)."""
    xyxy = np.array([[x - 1.5, y - 9.0, x + 1.5, y] for x, y in feet], dtype=np.float32)
    return Detections(xyxy=xyxy.reshape(-1, 4), score=np.ones(len(feet), dtype=np.float32))


def per_zone(detections: Detections, zones: list[Zone]) -> dict[str, int]:
    """The counting as it was: one even-odd test per zone."""
    feet = detections.ground_points
    return {z.id: int(points_in_polygon(feet, z.polygon_px).sum()) for z in zones}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(POLYGON, min_size=1, max_size=4).flatmap(
        lambda ps: st.tuples(st.just(ps), feet_for(ps))
    )
)
def test_all_zones_at_once_count_as_one_zone_at_a_time(
    case: tuple[list[list[tuple[float, float]]], list[tuple[float, float]]],
) -> None:
    polygons, feet = case
    zones = [zone(f"z{i}", p) for i, p in enumerate(polygons)]
    people = standing_on(feet)
    assert np.array_equal(people.ground_points, np.asarray(feet, dtype=np.float64).reshape(-1, 2))
    got = ZoneCounter(zones).count(people)
    assert got == per_zone(people, zones)
    assert list(got) == [z.id for z in zones]
    assert all(type(n) is int for n in got.values())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(POLYGON, min_size=1, max_size=3),
    st.lists(st.tuples(st.floats(-50, 50, width=32), st.floats(-50, 50, width=32)), max_size=20),
)
def test_feet_anywhere_between_pixels_count_the_same(
    polygons: list[list[tuple[float, float]]], feet: list[tuple[float, float]]
) -> None:
    zones = [zone(f"z{i}", p) for i, p in enumerate(polygons)]
    people = standing_on(feet)
    assert ZoneCounter(zones).count(people) == per_zone(people, zones)


SQUARE = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
# An L: concave, with two horizontal edges at y = 5 and y = 10 that a point's row meets.
ELL = [(0.0, 0.0), (20.0, 0.0), (20.0, 5.0), (10.0, 5.0), (10.0, 10.0), (0.0, 10.0)]


def test_edges_and_vertices_follow_the_even_odd_rule() -> None:
    # The half-open rule of points_in_polygon: the left and top edges of the square
    # count as inside, the right and bottom ones (and their corners) as outside.
    feet = [(0.0, 5.0), (10.0, 5.0), (5.0, 0.0), (5.0, 10.0), (0.0, 0.0), (15.0, 7.0), (15.0, 3.0)]
    counter = ZoneCounter([zone("square", SQUARE), zone("ell", ELL)])
    people = standing_on(feet)
    assert counter.count(people) == per_zone(people, counter.zones)
    assert counter.count(people) == {"square": 3, "ell": 4}


def test_no_people_and_zones_without_vertices_count_zero() -> None:
    counter = ZoneCounter([zone("square", SQUARE), zone("none", [])])
    assert counter.count(Detections()) == {"square": 0, "none": 0}
    assert counter.count(standing_on([(5.0, 5.0)])) == {"square": 1, "none": 0}
    assert ZoneCounter([]).count(standing_on([(5.0, 5.0)])) == {}


def _old_ground_points(d: Detections) -> npt.NDArray[np.float64]:
    x = (d.xyxy[:, 0].astype(np.float64) + d.xyxy[:, 2]) / 2.0
    return np.stack([x, d.xyxy[:, 3].astype(np.float64)], axis=1)


@given(st.lists(st.tuples(*[st.floats(-1e4, 1e4, width=32)] * 4), max_size=20))
def test_ground_points_are_the_same_numbers_as_before(boxes: list[tuple[float, ...]]) -> None:
    xyxy = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    d = Detections(xyxy=xyxy, score=np.ones(len(boxes), dtype=np.float32))
    got = d.ground_points
    assert got.dtype == np.float64 and got.shape == (len(boxes), 2)
    assert got.tobytes() == _old_ground_points(d).tobytes()


def test_keep_returns_itself_when_nothing_is_dropped() -> None:
    d = standing_on([(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)])
    assert d.keep(np.ones(3, dtype=bool)) is d
    some = d.keep(np.array([True, False, True]))
    assert some is not d and len(some) == 2
    assert np.array_equal(some.xyxy, d.xyxy[[0, 2]])
    assert len(d.keep(np.zeros(3, dtype=bool))) == 0
