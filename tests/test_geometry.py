"""Ground-plane homography, polygons and point-in-zone tests on known geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crowdsafe.errors import CalibrationError
from crowdsafe.measure.geometry import (
    Homography,
    points_in_polygon,
    polygon_area,
    polygon_is_simple,
)


def camera_projection(ground_m: np.ndarray) -> np.ndarray:
    """Project ground points (metres) to pixels with a known pinhole camera.

    Camera 8 m above the ground, tilted 30 degrees down, focal length 900 px,
    principal point (640, 360): a typical raised CCTV view.
    """
    f, cx, cy, h, tilt = 900.0, 640.0, 360.0, 8.0, math.radians(30)
    x, y = ground_m[:, 0], ground_m[:, 1]
    # camera coordinates of the ground point (X right, Y down, Z forward)
    zc = y * math.cos(tilt) + h * math.sin(tilt)
    yc = -y * math.sin(tilt) + h * math.cos(tilt)
    return np.stack([cx + f * x / zc, cy + f * yc / zc], axis=1)


GROUND_GRID = np.array([[gx, gy] for gx in (-6.0, -2.0, 2.0, 6.0) for gy in (6.0, 12.0, 20.0)])


def test_fit_recovers_known_geometry_to_under_a_centimetre() -> None:
    image = camera_projection(GROUND_GRID)
    hom = Homography.fit(image, GROUND_GRID)
    assert hom.reprojection_errors_m().max() < 0.01
    # points that were not used in the fit land within 1 cm too
    probe = np.array([[0.0, 9.0], [-4.5, 15.5], [5.25, 7.0]])
    err = np.hypot(*(hom.to_ground(camera_projection(probe)) - probe).T)
    assert err.max() < 0.01, err


def test_fit_with_pixel_noise_keeps_errors_small() -> None:
    rng = np.random.default_rng(0)
    image = camera_projection(GROUND_GRID) + rng.normal(0, 0.5, size=(len(GROUND_GRID), 2))
    hom = Homography.fit(image, GROUND_GRID)
    assert hom.reprojection_errors_m().max() < 0.15


def test_area_of_projected_rectangle_matches_metres() -> None:
    hom = Homography.fit(camera_projection(GROUND_GRID), GROUND_GRID)
    rect_m = np.array([[-3.0, 8.0], [3.0, 8.0], [3.0, 14.0], [-3.0, 14.0]])  # 36 m²
    assert hom.area_m2(camera_projection(rect_m)) == pytest.approx(36.0, rel=1e-6)


@pytest.mark.parametrize(
    ("image", "ground", "message"),
    [
        ([[0, 0], [10, 0], [0, 10]], [[0, 0], [1, 0], [0, 1]], "at least 4 point pairs"),
        ([[0, 0], [10, 0], [0, 10], [10, 10]], [[0, 0], [1, 0], [0, 1]], "4 image points but 3"),
        ([[0, 0], [10, 0], [20, 0], [10, 10]], [[0, 0], [1, 0], [0, 1], [1, 1]], "one line"),
        ([[0, 0], [10, 0], [0, 10], [10, 10]], [[0, 0], [1, 1], [2, 2], [1, 0]], "one line"),
        ([[5, 5], [5, 5], [5, 5], [5, 5]], [[0, 0], [1, 0], [0, 1], [1, 1]], "one line"),
        ([[0, 0], [1, 0], [0, 1], [1, 1], [float("nan"), 2]], [[0, 0]] * 5, "finite"),
    ],
)
def test_degenerate_calibrations_are_refused_with_a_reason(
    image: list[list[float]], ground: list[list[float]], message: str
) -> None:
    with pytest.raises(CalibrationError, match=message):
        Homography.fit(image, ground)


def test_fit_refuses_a_point_that_was_measured_wrong() -> None:
    image = camera_projection(GROUND_GRID)
    ground = GROUND_GRID.copy()
    ground[4] += [1.5, 0.0]  # one tape-measure slip of 1.5 m
    with pytest.raises(CalibrationError, match=r"point \d+ reprojects"):
        Homography.fit(image, ground, max_error_m=0.3)


def test_zone_above_the_horizon_is_refused() -> None:
    hom = Homography.fit(camera_projection(GROUND_GRID), GROUND_GRID)
    # the horizon of this camera is at y = 360 - 900 tan(30 deg) = -160: the zone reaches above
    with pytest.raises(CalibrationError, match="horizon"):
        hom.area_m2([[100, -300], [300, -300], [300, 400], [100, 400]])


def test_polygon_area_shoelace() -> None:
    assert polygon_area([[0, 0], [4, 0], [4, 3], [0, 3]]) == 12.0
    assert polygon_area([[0, 0], [4, 0], [0, 3]]) == 6.0


@pytest.mark.parametrize(
    ("polygon", "simple"),
    [
        ([[0, 0], [4, 0], [4, 4], [0, 4]], True),
        ([[0, 0], [4, 4], [4, 0], [0, 4]], False),  # bow tie
        ([[0, 0], [6, 0], [6, 6], [3, 2], [0, 6]], True),  # concave
        ([[0, 0], [4, 0], [4, 4], [2, 0], [0, 4]], False),  # vertex touches an edge
        ([[0, 0], [4, 0], [2, 3]], True),
    ],
)
def test_polygon_is_simple(polygon: list[list[float]], simple: bool) -> None:
    assert polygon_is_simple(polygon) is simple


def test_points_in_concave_polygon() -> None:
    poly = [[0, 0], [6, 0], [6, 6], [3, 2], [0, 6]]  # notch cut from the top
    points = np.array([[1, 1], [5.5, 5], [3, 4], [7, 1], [-1, 1], [3, 1.5]])
    assert points_in_polygon(points, poly).tolist() == [True, True, False, False, False, True]


def test_points_in_polygon_handles_no_points() -> None:
    assert points_in_polygon(np.zeros((0, 2)), [[0, 0], [1, 0], [0, 1]]).shape == (0,)
