"""Holding an unchanged scene: the change measure, its edges, and the pipeline's held samples."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from pydantic import ValidationError

from crowdsafe.assembly.stages import build_line_stage
from crowdsafe.config import SkipUnchangedConfig, TrackingConfig, parse_config
from crowdsafe.detect.base import FakeDetector
from crowdsafe.evaluation.skip import evaluate_skip
from crowdsafe.ingest.video import sample_video_path
from crowdsafe.measure.change import PIXEL_DELTA, ChangeGate, grey_thumbnail
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.zones import Zone
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.runtime import Runtime
from crowdsafe.store import SQLiteStore
from crowdsafe.types import Detections, Frame

from .conftest import MOT15, requires_mot15
from .test_cli import crowdsafe, json_result
from .test_ingest_live import wait_for

H, W = 480, 640  # 4:3, so the thumbnail is 64x48 cells of exactly 10x10 pixels
CELLS = 64 * 48

WHOLE = Zone(
    id="all",
    camera_id="cam1",
    name="all",
    polygon_px=np.array([[0, 0], [W, 0], [W, H], [0, H]], dtype=np.float64),
    area_m2=50.0,
    space_bounds_m2=(5.6, 3.7, 2.2, 1.4, 0.75),
)


def scene(seed: int = 0) -> npt.NDArray[np.uint8]:
    """A textured still scene, flat within each 10x10 cell (so a test can move cells)."""
    cells = np.random.default_rng(seed).integers(40, 200, size=(48, 64, 3), dtype=np.uint8)
    return np.repeat(np.repeat(cells, 10, axis=0), 10, axis=1)


def with_cells_changed(image: npt.NDArray[np.uint8], n: int, by: int) -> npt.NDArray[np.uint8]:
    """``image`` with its first ``n`` cells (row by row) brighter by ``by`` grey levels."""
    out = image.astype(np.int16)
    for k in range(n):
        r, c = divmod(k, 64)
        out[r * 10 : (r + 1) * 10, c * 10 : (c + 1) * 10] += by
    return np.clip(out, 0, 255).astype(np.uint8)


def standing(n: int) -> Detections:
    """``n`` people standing in a row inside the zone."""
    xyxy = np.array([[50 + 60 * i, 200, 90 + 60 * i, 400] for i in range(n)], dtype=np.float32)
    return Detections(xyxy=xyxy.reshape(-1, 4), score=np.full(n, 0.9, dtype=np.float32))


class CountingDetector(FakeDetector):
    """The scripted detector, noting the time of each frame it is shown."""

    def __init__(self, people: Detections) -> None:
        super().__init__(self._see)
        self.times: list[float] = []
        self.people = people

    def _see(self, frame: Frame) -> Detections:
        self.times.append(frame.t)
        return self.people


def pipeline(
    detector: CountingDetector, store: SQLiteStore, gate: ChangeGate | None, **kw: object
) -> CameraPipeline:
    return CameraPipeline(
        "cam1", detector, [WHOLE], store, bucket_s=1.0, analysis_fps=1.0, skip=gate, **kw
    )  # type: ignore[arg-type]


def test_a_held_scene_repeats_the_last_count_never_zero_and_is_remeasured_after_max_hold() -> None:
    store = SQLiteStore(":memory:")
    detector = CountingDetector(standing(4))
    pipe = pipeline(detector, store, ChangeGate(threshold=0.002, max_hold_s=5.0))
    still = scene()
    for i in range(12):
        pipe.step(Frame("cam1", 100.0 + i, still, index=i))
    pipe.finish()
    rows = store.series("all")
    # analysed at 100, then held until the hold reaches 5 s: analysed again at 105, 110
    assert detector.times == [100.0, 105.0, 110.0]
    assert [r.count for r in rows] == [4.0] * 12  # the people are still there: never 0
    assert [r.held for r in rows] == [i % 5 != 0 for i in range(12)]
    assert pipe.health.frames_analysed == 12  # the camera was measured at its rate


def test_a_changed_frame_is_analysed_and_becomes_the_reference() -> None:
    store = SQLiteStore(":memory:")
    detector = CountingDetector(standing(2))
    pipe = pipeline(detector, store, ChangeGate(threshold=0.002, max_hold_s=60.0))
    still, moved = scene(), with_cells_changed(scene(), 40, 50)
    images = [still, still, moved, moved, still]
    for i, image in enumerate(images):
        pipe.step(Frame("cam1", 100.0 + i, image, index=i))
    pipe.finish()
    assert detector.times == [100.0, 102.0, 104.0]
    assert [r.held for r in store.series("all")] == [False, True, False, True, False]


def test_a_slow_change_adds_up_against_the_last_analysed_frame() -> None:
    # 4 levels a frame never moves a cell by 10 from the previous frame, but it does from
    # the last analysed one by the third step: a slow build-up cannot hide in small steps.
    detector = CountingDetector(standing(1))
    pipe = pipeline(detector, SQLiteStore(":memory:"), ChangeGate(0.0, max_hold_s=60.0))
    base = scene()
    for i in range(6):
        pipe.step(Frame("cam1", 100.0 + i, with_cells_changed(base, 100, 4 * i), index=i))
    assert detector.times == [100.0, 103.0]


@pytest.mark.parametrize(
    ("cells", "by", "threshold", "held", "change"),
    [
        (0, 0, 0.0, True, 0.0),  # nothing moved: held even at threshold 0
        (1, 50, 0.0, False, 1 / CELLS),  # one cell moved, threshold 0: analysed
        (3, 50, 3 / CELLS, True, 3 / CELLS),  # exactly the threshold: still unchanged
        (4, 50, 3 / CELLS, False, 4 / CELLS),  # one cell over it: changed
        (CELLS, int(PIXEL_DELTA) - 1, 0.0, True, 0.0),  # every cell, under the delta
        (CELLS, int(PIXEL_DELTA) + 1, 0.4, False, 1.0),  # every cell, over it
    ],
)
def test_threshold_edges(cells: int, by: int, threshold: float, held: bool, change: float) -> None:
    gate = ChangeGate(threshold, max_hold_s=60.0)
    base = scene()
    assert gate.hold(base, 0.0) is False  # no reference yet
    assert gate.last_change == 1.0
    assert gate.hold(with_cells_changed(base, cells, by), 1.0) is held
    assert gate.last_change == pytest.approx(change)


def test_sensor_noise_does_not_count_as_change_but_a_hold_never_passes_max_hold() -> None:
    gate = ChangeGate(0.0, max_hold_s=2.0)
    rng = np.random.default_rng(1)
    base = scene().astype(np.float64)

    def noisy() -> npt.NDArray[np.uint8]:
        return np.clip(base + rng.normal(0.0, 3.0, base.shape), 0, 255).astype(np.uint8)

    decisions = [gate.hold(noisy(), t) for t in (0.0, 0.5, 1.0, 1.99, 2.0, 2.5)]
    assert decisions == [False, True, True, True, False, True]
    assert gate.hold(noisy(), 1.0) is False  # time going back is never held


def test_a_gap_forgets_the_reference() -> None:
    detector = CountingDetector(standing(3))
    pipe = pipeline(detector, SQLiteStore(":memory:"), ChangeGate(0.002, max_hold_s=60.0))
    still = scene()
    pipe.step(Frame("cam1", 100.0, still))
    pipe.step(Frame("cam1", 101.0, still))
    pipe.finish()  # the camera was lost
    pipe.step(Frame("cam1", 102.0, still))
    assert detector.times == [100.0, 102.0]


def test_a_camera_with_lines_holds_only_while_it_follows_no_one() -> None:
    line = CountingLine("gate", "cam1", "", (320.0, 0.0), (320.0, 480.0), 2.0)
    store = SQLiteStore(":memory:")
    people = CountingDetector(standing(2))
    lines = build_line_stage([line], TrackingConfig(), bucket_s=1.0)
    pipe = pipeline(people, store, ChangeGate(0.002, 60.0), lines=lines)
    still = scene()
    for i in range(4):
        pipe.step(Frame("cam1", 100.0 + i, still))
    assert people.times == [100.0, 101.0, 102.0, 103.0]  # tracks are followed: never held

    empty = CountingDetector(Detections())
    lines = build_line_stage([line], TrackingConfig(), bucket_s=1.0)
    pipe = pipeline(empty, store, ChangeGate(0.002, 60.0), lines=lines)
    for i in range(4):
        pipe.step(Frame("cam1", 200.0 + i, still))
    pipe.finish()
    assert empty.times == [200.0]
    # the flow buckets still close with the held frames, so the line reports zero flow
    assert [s.t for s in store.line_series("gate") if s.t >= 200] == [200.0, 201.0, 202.0, 203.0]

    # one changed cell is under the threshold (0.002 of 3072 cells is 6), but a camera
    # with lines analyses any change: someone that small may be walking across the line
    pipe.step(Frame("cam1", 300.0, still))
    pipe.step(Frame("cam1", 301.0, with_cells_changed(still, 1, 50)))
    assert empty.times == [200.0, 300.0, 301.0]


def test_the_gate_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="threshold must be in"):
        ChangeGate(1.0, 5.0)
    with pytest.raises(ValueError, match="max_hold_s must be > 0"):
        ChangeGate(0.01, 0.0)
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\)"):
        grey_thumbnail(np.zeros((4, 4, 4), np.uint8))


@pytest.mark.parametrize(
    "settings",
    [{"threshold": 0.6}, {"threshold": -0.1}, {"max_hold_s": 0}, {"max_hold_s": 301}, {"x": 1}],
)
def test_the_config_section_is_strict_and_bounded(settings: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        SkipUnchangedConfig.model_validate(settings)


def test_thumbnails_of_common_frame_sizes() -> None:
    assert grey_thumbnail(np.zeros((1080, 1920, 3), np.uint8)).shape == (36, 64)
    assert grey_thumbnail(np.zeros((576, 768, 3), np.uint8)).shape == (48, 64)
    grey = grey_thumbnail(np.full((H, W), 77, np.uint8))
    assert grey.shape == (48, 64) and float(grey.max()) == pytest.approx(77.0)


def test_the_evaluation_holds_a_static_scene_and_keeps_counting_its_people(
    sample_video: Path,
) -> None:
    detector = CountingDetector(standing(3))
    report = evaluate_skip(detector, sample_video, fps=5.0, static_s=4.0, noise=3.0)
    assert report.frames_due == 20
    assert (report.full.detected, report.skip.detected) == (20, 1)  # max_hold_s 5 > 4 s
    assert report.skip.counts == report.full.counts == [3.0] * 20
    result = report.to_dict()
    assert result["held_fraction"] == 0.95
    assert result["held_zero_while_full_counts_people"] == 0
    assert result["held_samples"] == 3  # buckets 1-3 s; bucket 0 holds the analysed frame
    assert result["alerts_equal"] is True


@requires_mot15()
@pytest.mark.parametrize("sequence", ["TUD-Campus", "TUD-Stadtmitte"])
def test_holding_changes_no_count_and_no_alert_on_the_shared_sequences(sequence: str) -> None:
    video = MOT15 / sequence / f"{sequence}.mp4"
    result = json_result(crowdsafe("eval", "skip", "--video", str(video), "--json"))
    assert result["frames_due"] > 20
    assert result["alerts_full"], "the levels are set so that the sequence raises alerts"
    assert result["alerts_skip"] == result["alerts_full"]
    full, skip = result["mean_count_full"], result["mean_count_skip"]
    assert abs(skip - full) <= 0.01 * full
    assert result["held_zero_while_full_counts_people"] == 0
    assert result["count_mae_vs_gt_skip"] <= result["count_mae_vs_gt_full"] + 0.01


def test_a_running_camera_holds_a_still_scene_and_shows_only_the_frame_it_analysed(
    tmp_path: Path, config_text: str
) -> None:
    folder = tmp_path / "still"
    folder.mkdir()
    still = np.repeat(np.repeat(scene(), 12, axis=0), 12, axis=1)[:576, :768]  # 768x576
    for i in range(40):  # 3.9 s at 10 fps: under max_hold_s (5 s)
        cv2.imwrite(str(folder / f"{i:03d}.png"), still[:, :, ::-1])
    text = config_text.replace(str(sample_video_path()), str(folder))
    text = text.replace("    density:\n", "    skip_unchanged: {enabled: true}\n    density:\n", 1)
    text = text.replace("      realtime: false\n", "      realtime: false\n      folder_fps: 10\n")
    two_left = Detections(
        xyxy=np.array([[50, 300, 90, 400], [150, 300, 190, 400]], dtype=np.float32),
        score=np.full(2, 0.9, dtype=np.float32),
    )
    detector = FakeDetector(lambda frame: two_left)
    rt = Runtime(parse_config(text, base_dir=tmp_path), detector=detector)
    rt.start()
    try:
        cam = rt.cameras["cam1"]
        # Looked at while the folder is still being read: at its end the runtime closes
        # the camera's bucket, and a frame after that is measured afresh (a gap).
        wait_for(lambda: cam.health.frames_analysed >= 30, 30, "30 frames measured")
        calls, view = detector.calls, cam.last_view
    finally:
        rt.close()
    assert calls == 1  # the first frame only: the rest were held
    assert view is not None and view.seq <= 1  # the live view is that frame's
    samples = SQLiteStore(tmp_path / "test.db").series("left")[:3]
    assert [s.count for s in samples] == [2.0, 2.0, 2.0]  # held, still two people
    assert [s.held for s in samples] == [False, True, True]
