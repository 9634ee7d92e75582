"""Where the detector runs (``detector.provider``): the choice against this machine's
real ONNX Runtime, the refusal of a GPU that is not there, and the GPU itself where one
is lent."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
import pytest

from crowdsafe.assembly import build_detectors
from crowdsafe.config import parse_config
from crowdsafe.detect.session import CUDA, execution_providers
from crowdsafe.detect.yolox import YoloxDetector
from crowdsafe.errors import ConfigError, ModelError
from crowdsafe.ingest.video import VideoFileSource, sample_video_path

AVAILABLE = ort.get_available_providers()
HAS_CUDA = CUDA in AVAILABLE
requires_cuda = pytest.mark.skipif(
    not HAS_CUDA,
    reason=f"no {CUDA} in this ONNX Runtime ({', '.join(AVAILABLE)}): no GPU lent here, "
    "or the CPU build is installed (pip install 'crowdsafe[gpu]')",
)


@pytest.mark.parametrize(
    ("provider", "available", "expected"),
    [
        ("cpu", ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]),
        ("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"], [CUDA, "CPUExecutionProvider"]),
        ("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"], [CUDA, "CPUExecutionProvider"]),
        ("auto", ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
    ],
)
def test_the_providers_asked_for(provider: str, available: list[str], expected: list[str]) -> None:
    assert execution_providers(provider, available) == expected  # type: ignore[arg-type]


def test_this_machines_onnxruntime_is_asked_for_what_it_has() -> None:
    chosen = execution_providers("auto", AVAILABLE)
    assert chosen[0] == (CUDA if HAS_CUDA else "CPUExecutionProvider")
    assert set(chosen) <= set(AVAILABLE)


@pytest.mark.skipif(HAS_CUDA, reason="this ONNX Runtime has CUDA: nothing to refuse")
def test_cuda_where_there_is_none_is_refused_naming_the_extra() -> None:
    with pytest.raises(ModelError, match=r"no CUDAExecutionProvider .*crowdsafe\[gpu\]"):
        YoloxDetector(threads=1, provider="cuda")


@pytest.mark.skipif(HAS_CUDA, reason="this ONNX Runtime has CUDA: auto uses it")
def test_auto_falls_back_to_the_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="crowdsafe.detect.session"):
        detector = YoloxDetector(threads=1, provider="auto")
    assert detector.provider == "CPUExecutionProvider"
    assert "running on the CPU" in caplog.text


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="provider must be cpu, cuda or auto"):
        execution_providers("gpu", AVAILABLE)  # type: ignore[arg-type]


def test_the_config_takes_a_provider_and_refuses_others(config_text: str) -> None:
    assert parse_config(config_text).cameras[0].detector.provider == "cpu"
    auto = config_text.replace("    density:", "    detector: {provider: auto}\n    density:")
    assert parse_config(auto).cameras[0].detector.provider == "auto"
    with pytest.raises(ConfigError, match="provider"):
        parse_config(auto.replace("provider: auto", "provider: gpu"))


def test_cameras_on_different_providers_do_not_share_a_detector(config_text: str) -> None:
    second = config_text.replace(
        "storage:",
        "  - id: cam2\n"
        "    source: {url: " + str(sample_video_path()) + ", realtime: false}\n"
        "    detector: {provider: auto}\n"
        "    calibration:\n"
        "      image_points:    [[60, 190], [720, 190], [740, 560], [40, 560]]\n"
        "      ground_points_m: [[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94]]\n"
        "    zones: [{id: all, polygon: [[0, 200], [768, 200], [768, 576], [0, 576]]}]\n"
        "storage:",
    )
    config = parse_config(second)
    built = build_detectors(config, {"cam1": 0.3, "cam2": 0.3})
    assert built["cam1"][0] is not built["cam2"][0]


@requires_cuda
def test_the_gpu_finds_the_people_the_cpu_finds() -> None:
    frame = next(VideoFileSource("sample", sample_video_path()).frames())
    gpu = YoloxDetector(provider="cuda")
    assert gpu.provider == CUDA
    cpu = YoloxDetector(threads=2)
    a, b = cpu.detect(frame), gpu.detect(frame)
    assert len(a) >= 3 and len(a) == len(b)
    np.testing.assert_allclose(np.sort(a.score), np.sort(b.score), atol=1e-3)
