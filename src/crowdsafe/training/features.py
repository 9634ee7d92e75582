"""The frozen backbone: NanoDet-m's feature pyramid, cut from the detector's ONNX file.

The backbone is the shipped detector's own graph, unchanged, cut at its three PAN
outputs (strides 8, 16, 32; :data:`FEATURES` channels each) and given a dynamic input
size.  Its features are computed with ONNX Runtime on the input that
:func:`crowdsafe.density.counter.preprocess` makes, the same function the runtime counter
uses, so the head is trained on exactly the numbers the exported model will feed it.
Frozen, they are computed once per training image (and its mirror) and cached as
float16 beside the image's targets, so the training loop touches only the head.

``onnx`` and ``onnxruntime`` are imported inside the functions that use them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdsafe.density.counter import preprocess
from crowdsafe.evaluation.datasets import Sample
from crowdsafe.training.recipe import TrainConfig
from crowdsafe.training.targets import cell_targets, mirrored

__all__ = [
    "FEATURES",
    "INPUT_NAME",
    "PAN_OUTPUTS",
    "CachedImage",
    "backbone_model",
    "backbone_session",
    "cache_features",
]

# The NanoDet-m PAN outputs (strides 8, 16, 32) in the converted ONNX graph.
PAN_OUTPUTS = (
    "PartitionedCall/onnx_tf_prefix_Add_107:0",
    "PartitionedCall/onnx_tf_prefix_Add_128:0",
    "PartitionedCall/onnx_tf_prefix_Add_149:0",
)
INPUT_NAME = "input_1:0"
FEATURES = 128


@dataclass
class CachedImage:
    """One training image as the head sees it: its three feature levels and targets."""

    p8: npt.NDArray[np.float16]
    p16: npt.NDArray[np.float16]
    p32: npt.NDArray[np.float16]
    target: npt.NDArray[np.float32]  # (h8, w8) smoothed persons per cell
    weight: npt.NDArray[np.float32]  # (h8, w8) 1 inside the counted region


def backbone_model(nanodet_path: str | Path) -> Any:
    """The NanoDet feature pyramid as an ONNX model with a dynamic (1, 3, H, W) input."""
    import onnx
    import onnx.utils

    model = onnx.shape_inference.infer_shapes(onnx.load(str(nanodet_path)))
    extractor = onnx.utils.Extractor(model)
    sub = extractor.extract_model([INPUT_NAME], list(PAN_OUTPUTS))
    dims = sub.graph.input[0].type.tensor_type.shape.dim
    for axis, name in ((2, "height"), (3, "width")):
        dims[axis].ClearField("dim_value")
        dims[axis].dim_param = name
    for i, out in enumerate(sub.graph.output):
        for axis in (2, 3):
            d = out.type.tensor_type.shape.dim[axis]
            d.ClearField("dim_value")
            d.dim_param = f"p{i}_{axis}"
    del sub.graph.value_info[:]  # shapes inferred for 416x416 no longer hold
    return sub


def backbone_session(model: Any, threads: int) -> Any:
    """An ONNX Runtime CPU session of ``model`` on ``threads`` threads (no spinning)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def cache_features(
    session: Any,
    samples: Iterable[Sample],
    dataset: str,
    cfg: TrainConfig,
    progress: Callable[[str], None],
) -> list[CachedImage]:
    """The features and targets of every sample (and of its mirror, with ``cfg.flip``),
    in order; reports progress every 50 images."""
    out: list[CachedImage] = []
    for i, original in enumerate(samples):
        views = [original, mirrored(original)] if cfg.flip else [original]
        for sample in views:
            out.append(_features(session, sample, cfg))
        if (i + 1) % 50 == 0:
            progress(f"  {dataset}: features of {i + 1} images")
    return out


def _features(session: Any, sample: Sample, cfg: TrainConfig) -> CachedImage:
    x = preprocess(sample.image, cfg.max_side)
    p8, p16, p32 = session.run(None, {INPUT_NAME: x})
    target, weight = cell_targets(sample, (x.shape[2], x.shape[3]), cfg.sigma_cells)
    return CachedImage(
        p8[0].astype(np.float16),
        p16[0].astype(np.float16),
        p32[0].astype(np.float16),
        target,
        weight,
    )
