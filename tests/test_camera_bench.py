"""The cost profile bench --cameras writes and plan reads, and bench --cameras itself on
a real H.264 stream through the real runtime and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crowdsafe.errors import ConfigError
from crowdsafe.evaluation.profile import CostEntry, CostProfile, load_profile, save_profile

from .test_cli import crowdsafe, json_result
from .test_decode import make_h264


def entry(mode: str, cores: float, gop: int = 25) -> CostEntry:
    return CostEntry(
        resolution="1080p",
        width=1920,
        height=1080,
        stream_fps=25.0,
        gop=gop,
        mode=mode,  # type: ignore[arg-type]
        analysed_fps=1.0,
        decode_cores_per_camera=cores,
        analysis_cpu_s_per_frame=0.02,
        store_cpu_s_per_frame=0.0,
        cameras_per_core=1 / (cores + 0.02),
        achieved_fps_min=1.0,
        lag_p95_s=0.2,
        measured_at="2026-12-02T00:00:00+00:00",
        machine="2 cores, test",
    )


def test_saving_replaces_the_same_kind_of_camera_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    save_profile(path, CostProfile(entries=[entry("all", 0.1), entry("keyframes", 0.03)]))
    save_profile(path, CostProfile(entries=[entry("keyframes", 0.02), entry("all", 0.1, 50)]))
    got = {(e.mode, e.gop): e.decode_cores_per_camera for e in load_profile(path).entries}
    assert got == {("all", 25): 0.1, ("keyframes", 25): 0.02, ("all", 50): 0.1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cost profile not found"),
        ("{not json", "invalid cost profile"),
        ('{"version": 2, "entries": []}', "invalid cost profile"),
        ('{"version": 1, "entries": [], "extra": 1}', "invalid cost profile"),
    ],
)
def test_a_missing_or_invalid_profile_is_refused_naming_the_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "p.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_profile(path)
    assert str(path) in str(info.value)


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
