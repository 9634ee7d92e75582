"""What every person detector does before its first frame: check its settings and open
its model in ONNX Runtime the same way.

Sessions never busy-wait between frames: the decoder threads of other cameras need
those cycles, and spinning would make CPU-per-camera figures meaningless.

Where the model runs is a camera's ``detector.provider``: ``cpu`` (the default),
``cuda`` (ONNX Runtime's CUDA execution provider, from the ``onnxruntime-gpu`` build:
``pip install 'crowdsafe[gpu]'``), or ``auto`` (CUDA when this ONNX Runtime has it, else
the CPU, said in a log line).  ``cuda`` asked where it is missing is an error, never a
silent CPU run: a deployment sized for GPUs would be some 30 times short of capacity.
ONNX Runtime itself falls back to the CPU when it has the CUDA provider but the CUDA
libraries fail to load, so the session's providers are checked after it is made too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crowdsafe.errors import ModelError

__all__ = ["CUDA", "DetectorModel", "Provider", "execution_providers", "open_detector_model"]

log = logging.getLogger(__name__)

Provider = Literal["cpu", "cuda", "auto"]
CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"
_GPU_EXTRA = (
    "install ONNX Runtime's GPU build in place of the CPU one: "
    "pip uninstall onnxruntime && pip install 'crowdsafe[gpu]'"
)


def execution_providers(provider: Provider, available: Sequence[str]) -> list[str]:
    """The ONNX Runtime providers to ask for, best first, for ``provider`` given the
    ``available`` ones (``onnxruntime.get_available_providers()``).  CUDA keeps the CPU
    after it for any operator CUDA lacks.  Raises ModelError when ``cuda`` is asked and
    missing (naming the extra to install), ValueError for an unknown ``provider``."""
    if provider == "cpu":
        return [_CPU]
    if provider not in ("cuda", "auto"):
        raise ValueError(f"provider must be cpu, cuda or auto, got {provider!r}")
    if CUDA in available:
        return [CUDA, _CPU]
    if provider == "cuda":
        raise ModelError(
            f"detector.provider is cuda but this ONNX Runtime has no {CUDA} "
            f"(it has {', '.join(available) or 'none'}); {_GPU_EXTRA}"
        )
    log.info("detector.provider auto: no %s in this ONNX Runtime, running on the CPU", CUDA)
    return [_CPU]


@dataclass(frozen=True)
class DetectorModel:
    """An opened detector model: its session, file, and square NCHW input."""

    session: Any  # onnxruntime.InferenceSession (untyped)
    path: Path
    input_name: str
    input_size: int  # pixels, the side of the square input (a dynamic one: as asked)
    provider: str  # the ONNX Runtime provider the model runs on, e.g. CPUExecutionProvider
    batch: int | None  # the input's fixed batch size, None when the export leaves it dynamic
    dynamic: bool = False  # height and width symbolic: any multiple of 32 runs


def open_detector_model(
    path: Path,
    *,
    score_threshold: float,
    iou_threshold: float,
    threads: int | None,
    provider: Provider = "cpu",
    input_px: int | None = None,
) -> DetectorModel:
    """Check the thresholds, then load ``path`` on ``provider`` (module docstring) with
    ``threads`` intra-op CPU threads (default: all cores up to 4).  Raises ValueError for
    a threshold out of range, ModelError for a missing or unloadable file, one whose input
    is not a square 3-channel NCHW image, or ``cuda`` asked and not available.  A model
    whose height and width are symbolic is dynamic: ``input_px`` then gives its longer
    side (ModelError without it)."""
    import onnxruntime as ort

    if not 0.0 <= score_threshold < 1.0:
        raise ValueError(f"score_threshold must be in [0, 1), got {score_threshold}")
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if not path.is_file():
        raise ModelError(f"detector model not found: {path}")
    providers = execution_providers(provider, ort.get_available_providers())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load detector model {path}: {exc}") from exc
    used = session.get_providers()[0]
    if providers[0] == CUDA and used != CUDA:
        if provider == "cuda":
            raise ModelError(
                f"detector.provider is cuda but ONNX Runtime could not start it for {path} "
                f"(it fell back to {used}: are the CUDA and cuDNN libraries installed?)"
            )
        log.info("detector.provider auto: CUDA failed to start, running on %s", used)
    inp = session.get_inputs()[0]
    shape = inp.shape
    if len(shape) != 4 or shape[1] != 3:
        raise ModelError(f"{path}: expected an NCHW input of 3 channels, got {shape}")
    batch = int(shape[0]) if isinstance(shape[0], int) else None
    if not isinstance(shape[2], int) and not isinstance(shape[3], int):
        if input_px is None or input_px % 32:
            raise ModelError(
                f"{path}: its input size is dynamic; give input_px, a multiple of 32 "
                f"(got {input_px})"
            )
        return DetectorModel(session, path, inp.name, input_px, used, batch, dynamic=True)
    if not isinstance(shape[2], int):
        raise ModelError(f"{path}: expected an NCHW input of 3 channels, got {shape}")
    return DetectorModel(session, path, inp.name, int(shape[2]), used, batch)
