"""One piece of ground, one camera (measure/ownership.py): a site's two overlapping
cameras count each simulated person once, without matching anyone across them."""

from __future__ import annotations

import numpy as np
import pytest

from crowdsafe.measure.geometry import Homography
from crowdsafe.measure.ownership import CameraView, GroundOwnership

FRAME = (768, 576)
PLAZA = (0.0, 0.0, 20.0, 10.0)  # the site's ground, metres


def _camera(camera_id: str, x0: float, x1: float) -> CameraView:
    """A camera looking down the plaza at the ground from x0 to x1 (metres), its far edge
    narrower in the image than its near one, as a raised camera sees it."""
    ground = [[x0, 10.0], [x1, 10.0], [x1, 0.0], [x0, 0.0]]  # far left, far right, near...
    image = [[200, 60], [568, 60], [768, 576], [0, 576]]
    return CameraView(camera_id, Homography.fit(image, ground), FRAME)


# the east camera is closer: 10 m of ground across its frame against the west's 12 m
WEST, EAST = _camera("west", 0.0, 12.0), _camera("east", 8.0, 18.0)


def _in_frame(view: CameraView, people_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which simulated people a camera's frame shows, and their feet in its pixels."""
    inverse = np.linalg.inv(view.homography.matrix)
    homog = np.c_[people_m, np.ones(len(people_m))] @ inverse.T
    px = homog[:, :2] / homog[:, 2:3]
    w, h = FRAME
    inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    return inside, px[inside]


def _seen_by(view: CameraView, people_m: np.ndarray) -> np.ndarray:
    return _in_frame(view, people_m)[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_overlapping_cameras_count_each_simulated_person_once(seed: int) -> None:
    rng = np.random.default_rng(seed)
    people = rng.uniform([0.2, 0.2], [19.8, 9.8], size=(300, 2))
    (west_in, west_px), (east_in, east_px) = _in_frame(WEST, people), _in_frame(EAST, people)
    seen_once = int((west_in | east_in).sum())
    in_both = int((west_in & east_in).sum())
    assert in_both > 30  # the views overlap: a naive sum counts these twice
    assert len(west_px) + len(east_px) == seen_once + in_both
    site = GroundOwnership([WEST, EAST], PLAZA)
    assert site.site_count({"west": west_px, "east": east_px}) == seen_once


def test_the_overlap_goes_to_the_finer_view_and_declarations_win() -> None:
    site = GroundOwnership([WEST, EAST], PLAZA)
    west, east = site.camera_ids.index("west"), site.camera_ids.index("east")
    # where both see it, the closer east camera's view is the finer
    assert list(site.owner_of([[9.0, 1.0], [11.0, 9.0]])) == [east, east]
    assert site.owner_of([[2.0, 5.0]])[0] == west and site.owner_of([[16.0, 5.0]])[0] == east
    assert site.owner_of([[25.0, 5.0]])[0] == -1  # off the site's ground
    areas = site.owned_area_m2()
    assert 150.0 < sum(areas.values()) <= 200.0 and areas["east"] > areas["west"] * 0.5
    declared = GroundOwnership(
        [WEST, EAST], PLAZA, declared={"west": [[[8, 0], [12, 0], [12, 10], [8, 10]]]}
    )
    assert declared.owner_of([[9.0, 1.0]])[0] == west
    assert declared.owned_area_m2()["west"] > areas["west"] + 30.0
    rng = np.random.default_rng(5)
    people = rng.uniform([0.2, 0.2], [11.8, 9.8], size=(200, 2))  # the west sees them all
    seen = {"west": _seen_by(WEST, people), "east": _seen_by(EAST, people)}
    assert len(seen["west"]) == 200 and declared.site_count(seen) == 200


def test_bad_sites_are_refused_naming_the_problem() -> None:
    with pytest.raises(ValueError, match="bounds_m"):
        GroundOwnership([WEST], (0.0, 0.0, 0.0, 10.0))
    with pytest.raises(ValueError, match="given twice"):
        GroundOwnership([WEST, WEST], PLAZA)
    with pytest.raises(ValueError, match="unknown cameras"):
        GroundOwnership([WEST], PLAZA, declared={"north": []})
