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
