"""``crowdsafe bench --batch``: the detector timed at several batch sizes, refusals first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crowdsafe.cli import main


def test_bench_batch_reports_each_size(
    sample_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "--batch", "1,2", "--frames", "2", "--repeats", "1", "--threads", "1"]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["input_px"] == 512 and result["model_batch"] == "dynamic"
    assert result["frames"] == 2 and result["frame_size"] == [768, 576]
    assert [row["batch"] for row in result["by_batch"]] == [1, 2]
    assert all(row["frames_per_s"] > 0 and row["cpu_s_per_frame"] > 0 for row in result["by_batch"])
    assert result["by_batch"][0]["fps_vs_first"] == 1.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a,b", "--batch must be sizes separated by commas"),
        ("", "--batch must be sizes separated by commas"),
        ("0,2", "each 1 to 64"),
        ("2,2", "must be distinct"),
        ("1,65", "each 1 to 64"),
    ],
)
def test_bad_batch_sizes_are_refused(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--batch", value]) == 2
    assert message in capsys.readouterr().err


def test_bench_batch_needs_the_yolox_detector(
    tmp_path: Path, config_text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "nanodet.yaml"
    config.write_text(
        config_text.replace("    density:", "    detector: {kind: nanodet}\n    density:")
    )
    assert main(["bench", "--batch", "1,2", "--config", str(config)]) == 2
    assert (
        "--batch times the yolox-nano detector; the config's runs nanodet"
        in capsys.readouterr().err
    )
