"""Crowd speed from optical flow (measure/motion.py) and its evaluation (evaluation/motion.py)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from crowdsafe.cli import main
from crowdsafe.evaluation.motion import evaluate_track_velocity, noisy_copy
from crowdsafe.measure.geometry import Homography
from crowdsafe.measure.motion import (
    CrowdMotion,
    FlowImage,
    ZoneMotion,
    box_image_velocities,
    ground_jacobians,
)
from crowdsafe.measure.zones import Zone
from crowdsafe.types import Detections
from tests.conftest import MOT15, requires_mot15

# the demo camera's calibration (crowdsafe/data/demo.yaml)
HOM = Homography.fit(
    [[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]],
    [[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], [0.00, 14.06]],
)
SIZE = (768, 576)


def _zone(zone_id: str, polygon: list[list[float]]) -> Zone:
    return Zone(
        id=zone_id,
        camera_id="cam",
        name=zone_id,
        polygon_px=np.asarray(polygon, dtype=np.float64),
        area_m2=HOM.area_m2(polygon),
        space_bounds_m2=(5.6, 3.7, 2.2, 1.4, 0.75),
    )


LEFT = _zone("left", [[0, 200], [384, 200], [384, 576], [0, 576]])
RIGHT = _zone("right", [[384, 200], [768, 200], [768, 576], [384, 576]])


def _texture(seed: int = 1) -> npt.NDArray[np.uint8]:
    """A camera-sized RGB image with texture at every scale (flow needs some)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (SIZE[1] // 8, SIZE[0] // 8, 3)).astype(np.uint8)
    image = cv2.resize(coarse, SIZE, interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 12, image.shape)
    return np.asarray(np.clip(image + fine, 0, 255), dtype=np.uint8)


def _shifted(image: npt.NDArray[np.uint8], dx: float, dy: float) -> npt.NDArray[np.uint8]:
    m = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    return np.asarray(cv2.warpAffine(image, m, SIZE, borderMode=cv2.BORDER_REFLECT))


def _boxes(*feet: tuple[float, float]) -> Detections:
    xyxy = [[x - 15, y - 80, x + 15, y] for x, y in feet]
    return Detections(
        xyxy=np.asarray(xyxy, dtype=np.float32), score=np.ones(len(feet), dtype=np.float32)
    )


def test_the_jacobian_is_the_homographys_derivative() -> None:
    points = np.array([[100.0, 300.0], [384.0, 330.0], [700.0, 550.0]])
    jac = ground_jacobians(HOM, points)
    sx, sy = np.array([1e-3, 0.0]), np.array([0.0, 1e-3])
    for i, p in enumerate(points):
        dx = (HOM.to_ground(p + sx) - HOM.to_ground(p - sx))[0] / 2e-3
        dy = (HOM.to_ground(p + sy) - HOM.to_ground(p - sy))[0] / 2e-3
        np.testing.assert_allclose(jac[i][:, 0], dx, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(jac[i][:, 1], dy, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("dx", "dy"), [(6.0, 0.0), (-4.0, 3.0), (0.0, -8.0)])
def test_a_known_image_shift_is_measured_as_that_velocity(dx: float, dy: float) -> None:
    image = _texture()
    flow_image = FlowImage(SIZE, width=768)
    flow_image.update(image)
    flow = flow_image.update(_shifted(image, dx, dy))
    assert flow is not None
    dt = 0.2
    v = box_image_velocities(
        flow,
        _boxes((200, 400), (500, 450)).xyxy,
        scale=flow_image.scale,
        origin=flow_image.origin,
        dt_s=dt,
    )
    np.testing.assert_allclose(v, [[dx / dt, dy / dt]] * 2, atol=0.1 * 10 / dt)


def test_zones_get_their_own_peoples_ground_speed_and_a_still_zone_none() -> None:
    """People move right in the left zone only; the right zone's stand still."""
    image = _texture()
    moved = image.copy()
    moved[:, :384] = _shifted(image, 5.0, 0.0)[:, :384]
    motion = CrowdMotion([LEFT, RIGHT], HOM)
    people = _boxes((150, 450), (250, 500), (600, 450))
    assert motion.measure(image, 10.0, people) == {}  # the first frame has no flow
    out = motion.measure(moved, 10.2, people)
    assert set(out) == {"left", "right"}
    assert out["left"].people == 2 and out["right"].people == 1
    assert out["right"].speed_m_s == 0.0
    # 25 px/s to the right, on the ground through the calibration at each person's feet
    feet = people.ground_points[:2]
    expected = np.hypot(*np.einsum("nij,j->ni", ground_jacobians(HOM, feet), [25.0, 0.0]).T)
    assert out["left"].speed_m_s == pytest.approx(expected.mean(), rel=0.15)
    assert out["left"].vx_m_s > 0.2  # to the right is +x on this ground


def test_a_gap_in_the_frames_gives_no_speed() -> None:
    image = _texture()
    motion = CrowdMotion([LEFT], HOM, max_gap_s=1.0)
    people = _boxes((150, 450))
    motion.measure(image, 0.0, people)
    assert motion.measure(_shifted(image, 5, 0), 3.0, people) == {}
    assert motion.measure(_shifted(image, 10, 0), 3.2, people)["left"].speed_m_s > 0.2


def test_sensor_noise_and_compression_on_a_still_scene_give_no_speed() -> None:
    rng = np.random.default_rng(0)
    image = _texture()
    motion = CrowdMotion([LEFT, RIGHT], HOM)
    people = _boxes((150, 450), (600, 450))
    speeds = []
    for i in range(10):
        out = motion.measure(noisy_copy(image, rng, 3.0, 75), i * 0.2, people)
        speeds += [zm.speed_m_s for zm in out.values()]
    assert len(speeds) == 18 and max(speeds) <= 0.05


def test_the_zone_aggregate_has_the_velocity_variance() -> None:
    v = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    zm = ZoneMotion.of(v)
    assert zm.people == 3
    assert zm.speed_m_s == pytest.approx(2 / 3)
    assert zm.vx_m_s == pytest.approx(0.0) and zm.vy_m_s == pytest.approx(0.0)
    assert zm.velocity_var_m2_s2 == pytest.approx(2 / 3)


def test_bad_sizes_are_refused_naming_the_value() -> None:
    with pytest.raises(ValueError, match="positive"):
        FlowImage((0, 480))
    with pytest.raises(ValueError, match="32 pixels"):
        FlowImage((640, 480), width=8)


@requires_mot15()
def test_peoples_speed_agrees_with_their_annotated_tracks() -> None:
    seq = MOT15 / "TUD-Campus"
    report = evaluate_track_velocity(seq / "TUD-Campus.mp4", seq / "gt" / "gt.txt", fps=25.0)
    out = report.to_dict()
    assert out["people_measured"] == report.people and report.people >= 50
    assert np.median(report.person_speed_error) <= 0.25
    assert np.median(report.frame_speed_error) <= 0.25


def test_eval_motion_static_reports_a_still_demo_scene(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "motion", "--static", "--frames", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["camera"] == "campus" and out["frames"] == 8
    assert out["people_per_frame"] >= 1
    assert out["zone_mean_speed_m_s"], "someone must be found to measure"
    assert out["max_zone_mean_speed_m_s"] <= 0.05
    assert out["without_noise_floor"]["max_zone_mean_speed_m_s"] <= 0.05


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--width", "8", "--static"], "--width"),
        (["--static", "--camera", "nope"], "nope"),
        ([], "--video"),
        (["--video", "missing.mp4"], "ground truth"),
    ],
)
def test_eval_motion_refuses_bad_options(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["eval", "motion", *argv]) == 2
    assert message in capsys.readouterr().err


def test_the_pipeline_stores_each_zones_speed_pooled_over_the_bucket() -> None:
    """Frames at 5 fps: people in the left zone walk 5 px a frame, those on the right
    stand; each 1-s bucket stores the zones' speeds, the first frame's having none."""
    from crowdsafe.detect.base import FakeDetector
    from crowdsafe.ingest.base import ScriptedSource
    from crowdsafe.pipeline import CameraPipeline
    from crowdsafe.store import SQLiteStore
    from crowdsafe.types import Frame

    base = _texture()
    people = _boxes((150, 450), (250, 500), (600, 450))

    def frame(i: int) -> Frame:
        image = base.copy()
        image[:, :384] = _shifted(base, 5.0 * i, 0.0)[:, :384]
        return Frame("cam", 100.0 + i * 0.2, image, index=i)

    store = SQLiteStore(":memory:")
    pipe = CameraPipeline(
        "cam",
        FakeDetector(lambda f: people),
        [LEFT, RIGHT],
        store,
        motion=CrowdMotion([LEFT, RIGHT], HOM),
    )
    pipe.run(ScriptedSource("cam", [frame(i) for i in range(10)]))
    left, right = store.series("left"), store.series("right")
    assert [s.t for s in left] == [100.0, 101.0]
    feet = people.ground_points[:2]
    walking = np.hypot(*np.einsum("nij,j->ni", ground_jacobians(HOM, feet), [25.0, 0.0]).T)
    for s in left:
        assert s.speed_m_s == pytest.approx(walking.mean(), rel=0.15)
        assert s.speed_sd_m_s is not None and s.speed_sd_m_s < s.speed_m_s
    assert [s.speed_m_s for s in right] == [0.0, 0.0]
    assert left[0].time_to_clear_min is None  # no exit declared
