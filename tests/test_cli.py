"""The evaluation, benchmark and check commands: JSON last line, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import MOT15, requires_mot15


def crowdsafe(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crowdsafe.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@requires_mot15()
def test_eval_counts_prints_json_with_the_measured_figures() -> None:
    seq = MOT15 / "TUD-Campus"
    r = crowdsafe(
        "eval",
        "counts",
        "--video",
        str(seq / "TUD-Campus.mp4"),
        "--gt",
        str(seq / "gt" / "gt.txt"),
        "--every",
        "5",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["frames"] == 15  # frames 1, 6, ..., 71
    assert result["gt_people"] > 50
    assert result["precision"] >= 0.85
    assert result["recall"] >= 0.55
    assert result["count_mae"] < 3
    assert result["ms_per_frame"] > 0


def test_bench_prints_json_with_a_ratio(sample_video: Path) -> None:
    r = crowdsafe("bench", "--frames", "8", "--repeats", "1", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["frames"] == 8
    assert result["frame_size"] == [768, 576]
    assert result["detector_fps"] > 0
    assert result["pipeline_fps"] > 0
    assert result["ratio"] == pytest.approx(
        result["pipeline_fps"] / result["detector_fps"], abs=0.01
    )


def test_check_reports_zone_areas(config_file: Path) -> None:
    r = crowdsafe("check", str(config_file))
    assert r.returncode == 0, r.stderr
    assert "zone left:" in r.stdout
    assert "m²" in r.stdout
    assert "config OK" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check", "/no/such.yaml"), "config file not found: /no/such.yaml"),
        (("eval", "counts", "--video", "/no/v.mp4", "--gt", "/no/gt.txt"), "not found"),
        (("bench", "--video", "/no/v.mp4"), "video file not found: /no/v.mp4"),
    ],
)
def test_bad_input_exits_2_with_a_message(args: tuple[str, ...], message: str) -> None:
    r = crowdsafe(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_broken_config_is_reported_with_its_line(tmp_path: Path, config_text: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(config_text.replace("  - id: cam1\n", "  - id: cam1\n    colour: red\n"))
    r = crowdsafe("run", str(bad))
    assert r.returncode == 2
    assert f"{bad}:4: cameras[0].colour: unknown key 'colour'" in r.stderr


@requires_mot15()
def test_eval_anonymise_covers_every_head_of_a_detected_person() -> None:
    seq = MOT15 / "TUD-Campus"
    r = crowdsafe(
        "eval", "anonymise", "--video", str(seq / "TUD-Campus.mp4"), "--every", "35", "--json"
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["frames"] == 3
    assert result["gt_heads_of_detected_people"] > 5
    assert result["covered_fraction_of_detected"] == 1.0
