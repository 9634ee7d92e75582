"""``bench --cameras`` on a real H.264 stream through the real runtime and CLI, and the
cost profile it writes (saving and loading the profile itself: tests/test_plan.py)."""

from __future__ import annotations

import json
from pathlib import Path

from crowdsafe.evaluation.profile import load_profile

from .test_cli import crowdsafe, json_result
from .test_decode import make_h264


def test_bench_cameras_measures_the_mode_that_ran_and_writes_the_profile(
    tmp_path: Path, config_file: Path
) -> None:
    video = tmp_path / "gop25.mp4"
    make_h264(video, gop=25, frames=250)
    profile = tmp_path / "profile.json"
    args = ["--cameras", "2", "--fps", "1", "--seconds", "3", "--video", str(video)]
    args += ["--config", str(config_file), "--profile", str(profile), "--json"]
    result = json_result(crowdsafe("bench", *args, "--decode", "keyframes"))
    assert set(result["modes"]) == {"keyframes"}
    run = result["modes"]["keyframes"]
    assert run["decode_mode"] == "keyframes" and run["keyframe_interval_frames"] == 25
    assert run["decode_cores_per_camera"] > 0 and run["analysis_cpu_s_per_frame"] > 0
    assert len(run["per_camera"]) == 2
    written = load_profile(profile).entries
    assert [(e.resolution, e.mode, e.gop, e.analysed_fps) for e in written] == [
        ("240p", "keyframes", 25, 1.0)
    ]
    assert written[0].decode_cores_per_camera == run["decode_cores_per_camera"]
    assert json.loads(profile.read_text())["version"] == 1
