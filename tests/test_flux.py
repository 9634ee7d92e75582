"""Track-free flow through counting lines (measure/flux.py) and its evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crowdsafe.cli import main
from crowdsafe.measure.flux import FluxCounter, FluxLine
from crowdsafe.measure.geometry import Homography
from crowdsafe.measure.lines import CountingLine
from tests.conftest import MOT15, requires_mot15

# drawn top to bottom: "in" is to the right on screen (CountingLine's convention)
DOWN = CountingLine("gate", "cam", "Gate", (300.0, 100.0), (300.0, 400.0), 3.0)


def _walk(counter: FluxCounter, start: tuple[float, float], v: tuple[float, float], fps: float,
          seconds: float) -> None:  # fmt: skip
    """One person walking at ``v`` pixels per second from ``start``, seen at ``fps``."""
    dt = 1.0 / fps
    for i in range(round(seconds * fps)):
        pos = np.array([[start[0] + v[0] * i * dt, start[1] + v[1] * i * dt]])
        counter.add(pos, np.array([v], dtype=np.float64), dt)


@pytest.mark.parametrize("fps", [5.0, 10.0, 25.0])
def test_one_person_walking_through_counts_one_crossing_in(fps: float) -> None:
    counter = FluxCounter([DOWN], band=20.0)
    _walk(counter, (200.0, 250.0), (40.0, 0.0), fps, 5.0)  # x 200 -> 400 across x = 300
    got_in, got_out = counter.crossings["gate"]
    assert got_in == pytest.approx(1.0, abs=0.21)
    assert got_out == 0.0


def test_walking_the_other_way_counts_out_and_along_the_line_nothing() -> None:
    counter = FluxCounter([DOWN], band=20.0)
    _walk(counter, (400.0, 250.0), (-40.0, 0.0), 10.0, 5.0)
    assert counter.crossings["gate"][0] == 0.0
    assert counter.crossings["gate"][1] == pytest.approx(1.0, abs=0.11)
    along = FluxCounter([DOWN], band=20.0)
    _walk(along, (300.0, 120.0), (0.0, 40.0), 10.0, 5.0)  # on the line, along it
    assert along.crossings["gate"] == [0.0, 0.0]


def test_passing_beyond_the_end_of_the_line_counts_nothing() -> None:
    counter = FluxCounter([DOWN], band=20.0)
    _walk(counter, (200.0, 450.0), (40.0, 0.0), 10.0, 5.0)  # below p2
    assert counter.crossings["gate"] == [0.0, 0.0]


def test_on_the_ground_a_mirroring_calibration_keeps_the_in_side() -> None:
    """y grows down the image but forward on this ground: the plane is mirrored."""
    hom = Homography.fit(
        [[0, 0], [600, 0], [600, 500], [0, 500]], [[0, 10], [12, 10], [12, 0], [0, 0]]
    )
    line = FluxLine.of(DOWN, hom)
    # walking right on the image is +x on the ground, which must be "in"
    assert line.normal @ np.array([1.0, 0.0]) > 0.99
    counter = FluxCounter([DOWN], band=0.5, homography=hom)
    _walk(counter, (200.0, 250.0), (40.0, 0.0), 10.0, 5.0)
    assert counter.crossings["gate"][0] == pytest.approx(1.0, abs=0.11)
    assert counter.crossings["gate"][1] == 0.0


def test_a_band_of_no_width_is_refused() -> None:
    with pytest.raises(ValueError, match="band"):
        FluxCounter([DOWN], band=0.0)


@requires_mot15()
def test_eval_lines_flux_counts_the_tud_stadtmitte_lines_within_15_pct(
    capsys: pytest.CaptureFixture[str],
) -> None:
    video = MOT15 / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4"
    lines = [a for x in range(40, 601, 80) for a in ("--line", f"{x},180,{x},440")]
    assert main(["eval", "lines", "--video", str(video), *lines, "--flux", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    flux = out["flux"]
    assert len(flux["lines"]) == len(out["lines"]) == 8
    total = flux["total"]
    assert total["gt_in"] + total["gt_out"] >= 20
    assert abs(total["error_pct"]) <= 15.0
    assert flux["settings"]["score_threshold"] == 0.3  # YOLOX-Nano's counting threshold


def test_eval_lines_flux_needs_several_lines(capsys: pytest.CaptureFixture[str]) -> None:
    video = MOT15 / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4"
    argv = ["eval", "lines", "--video", str(video), "--line", "1,2,3,4", "--flux"]
    assert main(argv) == 2
    assert "--flux needs at least two" in capsys.readouterr().err


def test_a_camera_with_lines_stores_the_track_free_count_beside_the_tracks() -> None:
    """One person walks right across a gate at 1 m/s or so, the scene moving with them:
    the line sample has the tracker's one crossing "in" and the flux's near one."""
    import cv2

    from crowdsafe.assembly.stages import FLUX_BAND_M, build_line_stage
    from crowdsafe.config import TrackingConfig
    from crowdsafe.detect.base import FakeDetector
    from crowdsafe.ingest.base import ScriptedSource
    from crowdsafe.measure.motion import CrowdMotion
    from crowdsafe.pipeline import CameraPipeline
    from crowdsafe.store import SQLiteStore
    from crowdsafe.types import Detections, Frame
    from tests.test_motion import HOM, LEFT, _texture

    gate = CountingLine("gate", "cam", "Gate", (300.0, 300.0), (300.0, 560.0), 3.0)
    stage = build_line_stage([gate], TrackingConfig(), 60.0)
    stage.flux = FluxCounter([gate], band=FLUX_BAND_M, homography=HOM)
    base = _texture()
    step_px = 6.0  # a frame, at 5 fps: 30 px/s, about 1 m/s here on the ground

    def frame(i: int) -> Frame:
        m = np.array([[1, 0, step_px * i], [0, 1, 0]], dtype=np.float32)
        image = cv2.warpAffine(base, m, (768, 576), borderMode=cv2.BORDER_REFLECT)
        return Frame("cam", 1000.0 + i * 0.2, np.asarray(image), index=i)

    def person(f: Frame) -> Detections:
        x = 200.0 + step_px * f.index
        box = np.array([[x - 15, 420.0, x + 15, 500.0]], dtype=np.float32)
        return Detections(xyxy=box, score=np.array([0.9], dtype=np.float32))

    store = SQLiteStore(":memory:")
    pipe = CameraPipeline(
        "cam", FakeDetector(person), [LEFT], store, lines=stage, motion=CrowdMotion([LEFT], HOM)
    )
    pipe.run(ScriptedSource("cam", [frame(i) for i in range(40)]))  # x 200 -> 434
    (sample,) = store.line_series("gate")
    assert (sample.count_in, sample.count_out) == (1, 0)
    assert sample.flux_in == pytest.approx(1.0, abs=0.25)
    assert sample.flux_out == 0.0
