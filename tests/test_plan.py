"""``crowdsafe plan`` and the cost profile it reads: the breakdown follows the measured
figures in the file (not constants), the decode-mode rule, and clear refusals."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crowdsafe.cli import main
from crowdsafe.errors import ConfigError
from crowdsafe.evaluation.profile import CostEntry, CostProfile, load_profile, save_profile
from crowdsafe.ingest.modes import choose_decode_mode, explain_decode_mode


def entry(**changes: Any) -> CostEntry:
    """A 1080p25 GOP 25 keyframes-only entry with distinctive numbers."""
    values: dict[str, Any] = {
        "resolution": "1080p",
        "width": 1920,
        "height": 1080,
        "stream_fps": 25.0,
        "gop": 25,
        "mode": "keyframes",
        "analysed_fps": 1.0,
        "decode_cores_per_camera": 0.0123,
        "analysis_cpu_s_per_frame": 0.0456,
        "store_cpu_s_per_frame": 0.0007,
        "cameras_per_core": 1 / (0.0123 + 0.0456 + 0.0007),
        "achieved_fps_min": 0.99,
        "lag_p95_s": 0.4,
        "measured_at": "2026-12-02T00:00:00Z",
        "machine": "2 cores, test cpu",
    }
    return CostEntry.model_validate(values | changes)


def write(path: Path, *entries: CostEntry) -> Path:
    path.write_text(CostProfile(entries=list(entries)).model_dump_json(), encoding="utf-8")
    return path


def plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, dict[str, Any]]:
    """(the printed breakdown, the JSON line) of a successful ``crowdsafe plan``."""
    assert main(["plan", *args]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    result: dict[str, Any] = json.loads(out[-1])
    return "\n".join(out[:-1]), result


# --- the decode-mode rule ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fps", "stream_fps", "gop", "mode"),
    [
        (1.0, 25.0, 25, "keyframes"),  # exactly the keyframe rate
        (0.5, 25.0, 50, "keyframes"),
        (0.4, 25.0, 50, "keyframes"),
        (1.0, 25.0, 50, "nonref"),  # keyframes every 2 s cannot give 1 fps
        (5.0, 25.0, 25, "nonref"),
        (6.25, 25.0, 25, "nonref"),  # a quarter: what nonref surely keeps (IBBBP)
        (6.5, 25.0, 25, "all"),
        (12.5, 25.0, 25, "all"),
        (10.0, 10.0, 1, "keyframes"),  # all-intra stream
        (30.0, 25.0, 25, "all"),  # more than the stream has
    ],
)
def test_choose_decode_mode(fps: float, stream_fps: float, gop: int, mode: str) -> None:
    assert choose_decode_mode(fps, stream_fps, gop) == mode
    assert explain_decode_mode(fps, stream_fps, gop).startswith(
        {"keyframes": "keyframes only", "nonref": "non-reference", "all": "all frames"}[mode]
    )


def test_a_long_keyframe_interval_says_why_it_is_not_keyframes_only() -> None:
    why = explain_decode_mode(1.0, 25.0, 50)
    assert "keyframe interval (50 frames, 2 s) is longer than the analysis period (1 s)" in why


@pytest.mark.parametrize(
    ("fps", "stream_fps", "gop", "bad"),
    [(0.0, 25.0, 25, "analysed_fps"), (1.0, -1.0, 25, "stream_fps"), (1.0, 25.0, 0, "gop")],
)
def test_choose_decode_mode_refuses(fps: float, stream_fps: float, gop: int, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        choose_decode_mode(fps, stream_fps, gop)


# --- the profile file -------------------------------------------------------------


def test_save_profile_replaces_the_entry_measured_again(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    save_profile(path, CostProfile(entries=[entry(), entry(gop=50, analysed_fps=0.5)]))
    save_profile(path, CostProfile(entries=[entry(decode_cores_per_camera=0.5)]))
    entries = load_profile(path).entries
    assert len(entries) == 2
    assert {(e.gop, e.decode_cores_per_camera) for e in entries} == {(25, 0.5), (50, 0.0123)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no cost profile at"),
        ("{not json", "is not JSON"),
        ('{"version": 2, "entries": []}', "version"),
        ('{"entries": [{"resolution": "1080p"}]}', "entries.0.width"),
        ('{"entries": [], "extra": 1}', "extra"),
    ],
)
def test_bad_profiles_are_refused_naming_the_file(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "p.json"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        load_profile(path)
    assert str(path) in str(caught.value)


# --- the plan ---------------------------------------------------------------------


def test_plan_prints_the_measured_per_camera_costs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "p.json", entry())
    text, result = plan(
        capsys, "--cameras", "8000", "--resolution", "1080p", "--fps", "1", "--profile", str(path)
    )
    assert result["mode"] == "keyframes"  # auto, at the keyframe rate
    assert result["per_camera"] == {"decode": 0.0123, "analysis": 0.0456, "storage": 0.0007}
    assert result["all_cameras"]["decode"] == pytest.approx(8000 * 0.0123)
    assert result["cores"] == 469  # ceil(8000 * 0.0586)
    assert result["dominant"] == "analysis"
    assert result["dominant_share"] == pytest.approx(0.0456 / 0.0586)
    assert result["gpu"] is None
    assert "decode    0.0123 cores" in text
    assert "analysis  0.0456 cores" in text
    assert "all cameras: 469 cores" in text
    assert "analysis dominates: 78% of the cores" in text
    assert "2 cores, test cpu" in text


def test_changing_the_profile_changes_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.json"
    args = ["--cameras", "1000", "--resolution", "1080p", "--fps", "1", "--profile", str(path)]
    write(path, entry())
    _, before = plan(capsys, *args)
    write(path, entry(decode_cores_per_camera=0.2, analysis_cpu_s_per_frame=0.01))
    text, after = plan(capsys, *args)
    assert before["cores"] == 59 and before["dominant"] == "analysis"
    assert after["cores"] == 211 and after["dominant"] == "decode"
    assert "decode dominates" in text


def test_plan_scales_a_measurement_to_another_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two measurements of all-frames decoding; 4 fps is planned from the nearer (5 fps).
    path = write(
        tmp_path / "p.json",
        entry(mode="all", analysed_fps=1.0, decode_cores_per_camera=0.2),
        entry(mode="all", analysed_fps=5.0, decode_cores_per_camera=0.3),
    )
    text, result = plan(
        capsys,
        *("--cameras", "10", "--resolution", "1080p", "--fps", "4"),
        *("--mode", "all", "--profile", str(path)),
    )
    assert result["measured_fps"] == 5.0 and result["scaled"] is True
    assert result["per_camera"]["decode"] == 0.3
    assert result["per_camera"]["analysis"] == pytest.approx(4 * 0.0456)
    assert "scaled from the measurement at 5 fps" in text
    assert "all as asked (auto would choose non-reference" in text


def test_plan_counts_gpus_from_a_cuda_measurement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "p.json",
        entry(),
        entry(device="cuda", analysis_cpu_s_per_frame=0.002, machine="1 GPU, test"),
    )
    text, result = plan(
        capsys, "--cameras", "8000", "--resolution", "1080p", "--fps", "1", "--profile", str(path)
    )
    assert result["gpu"]["gpus"] == 16  # 8000 * 0.002 GPU-seconds a second
    assert result["gpu"]["cores"] == 104  # ceil(8000 * (0.0123 + 0.0007))
    assert "16 GPUs" in text and "1 GPU, test" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resolution", "720p"], "no CPU measurement of 720p .*has: 1080p GOP 25"),
        (["--gop", "50"], "no CPU measurement of 1080p with GOP 50"),
        (
            ["--fps", "5"],
            "in mode nonref .*measured modes: keyframes.*bench --video .* --cameras 4 --fps 5 ",
        ),
        (["--mode", "keyframes", "--fps", "2"], "cannot deliver 2 fps"),
    ],
)
def test_plan_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = write(tmp_path / "p.json", entry())
    base = {"--cameras": "10", "--resolution": "1080p", "--fps": "1", "--profile": str(path)}
    given = dict(zip(args[::2], args[1::2], strict=True))
    argv = [x for kv in (base | given).items() for x in kv]
    assert main(["plan", *argv]) == 2
    err = capsys.readouterr().err
    assert str(path) in err or "cannot deliver" in err
    assert re.search(message, err), err


def test_plan_needs_gop_when_several_were_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "p.json", entry(), entry(gop=50, analysed_fps=0.5))
    args = ["--cameras", "10", "--resolution", "1080p", "--fps", "0.5", "--profile", str(path)]
    assert main(["plan", *args]) == 2
    assert "several keyframe intervals (25, 50); give --gop" in capsys.readouterr().err
    _, result = plan(capsys, *args, "--gop", "50")
    assert result["gop"] == 50 and result["mode"] == "keyframes"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cameras", "0"], "--cameras must be at least 1"),
        (["--fps", "0"], "--fps must be a positive rate"),
        (["--resolution", "1920x1080"], "--resolution must be a height"),
        (["--gop", "0"], "--gop must be at least 1"),
    ],
)
def test_plan_refuses_bad_arguments(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    base = {"--cameras": "10", "--resolution": "1080p", "--fps": "1"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    assert main(["plan", *[x for kv in (base | given).items() for x in kv]]) == 2
    assert message in capsys.readouterr().err


def test_plan_reads_the_default_profile_of_the_current_folder(tmp_path: Path) -> None:
    write(tmp_path / "crowdsafe-profile.json", entry(decode_cores_per_camera=0.0999))
    args = ["plan", "--cameras", "8000", "--resolution", "1080p", "--fps", "1", "--json"]
    r = subprocess.run(
        [sys.executable, "-m", "crowdsafe.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1  # --json: only the JSON line
    assert json.loads(r.stdout)["all_cameras"]["decode"] == pytest.approx(8000 * 0.0999)
