"""What every person detector does before its first frame: check its settings and open
its model in ONNX Runtime the same way.

Sessions never busy-wait between frames: the decoder threads of other cameras need
those cycles, and spinning would make CPU-per-camera figures meaningless.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crowdsafe.errors import ModelError

__all__ = ["DetectorModel", "open_detector_model"]


@dataclass(frozen=True)
class DetectorModel:
    """An opened detector model: its session, file, and square NCHW input."""

    session: Any  # onnxruntime.InferenceSession (untyped)
    path: Path
    input_name: str
    input_size: int  # pixels, the side of the square input (a dynamic one: as asked)
    dynamic: bool = False  # height and width symbolic: any multiple of 32 runs


def open_detector_model(
    path: Path,
    *,
    score_threshold: float,
    iou_threshold: float,
    threads: int | None,
    input_px: int | None = None,
) -> DetectorModel:
    """Check the thresholds, then load ``path`` on the CPU with ``threads`` intra-op
    threads (default: all cores up to 4).  Raises ValueError for a threshold out of
    range, ModelError for a missing or unloadable file or one whose input is not a
    square 3-channel NCHW image.  A model whose height and width are symbolic is
    dynamic: ``input_px`` then gives its longer side (ModelError without it)."""
    import onnxruntime as ort

    if not 0.0 <= score_threshold < 1.0:
        raise ValueError(f"score_threshold must be in [0, 1), got {score_threshold}")
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    if not path.is_file():
        raise ModelError(f"detector model not found: {path}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load detector model {path}: {exc}") from exc
    inp = session.get_inputs()[0]
    shape = inp.shape
    if len(shape) != 4 or shape[1] != 3:
        raise ModelError(f"{path}: expected an NCHW input of 3 channels, got {shape}")
    if not isinstance(shape[2], int) and not isinstance(shape[3], int):
        if input_px is None or input_px % 32:
            raise ModelError(
                f"{path}: its input size is dynamic; give input_px, a multiple of 32 "
                f"(got {input_px})"
            )
        return DetectorModel(session, path, inp.name, input_px, dynamic=True)
    if not isinstance(shape[2], int):
        raise ModelError(f"{path}: expected an NCHW input of 3 channels, got {shape}")
    return DetectorModel(session, path, inp.name, int(shape[2]))
