"""Writing the trained density model: backbone and head as one plain ONNX file.

The file is what :class:`crowdsafe.density.counter.DensityCounter` runs: input
``input_1:0`` (1, 3, H, W) as :func:`~crowdsafe.density.counter.preprocess` makes it,
output ``density`` (1, 1, H/8, W/8) persons per cell.  The head adds only standard
operators (Conv, Resize, Sum, Relu) to the backbone's nodes, so that ONNX Runtime needs
nothing of crowdsafe's to run it.

The standardisation the head was trained with is folded into its first layer rather
than kept as separate operators: the exported graph computes the same numbers as the
JAX head (a test compares them) without ever building the 384-channel stride-8 tensor.
``onnx`` is imported inside :func:`export_onnx`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdsafe.training.features import FEATURES, PAN_OUTPUTS

__all__ = ["OUTPUT_NAME", "export_onnx"]

OUTPUT_NAME = "density"


def export_onnx(
    backbone: Any,
    params: dict[str, npt.NDArray[np.float32]],
    mean: npt.NDArray[np.float32],
    std: npt.NDArray[np.float32],
    path: str | Path,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write backbone + head as one ONNX model: input ``input_1:0`` (1, 3, H, W),
    output ``density`` (1, 1, H/8, W/8)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = backbone.graph
    inits = [
        numpy_helper.from_array(np.array([], dtype=np.float32), "dens_roi"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "dens_x2"),
        numpy_helper.from_array(np.array([1, 1, 4, 4], dtype=np.float32), "dens_x4"),
    ]
    resize = {
        "mode": "nearest",
        "coordinate_transformation_mode": "asymmetric",
        "nearest_mode": "floor",
    }
    # The head's first layer is a 1x1 convolution of the standardised, concatenated
    # levels.  Being linear, it equals the sum of one 1x1 convolution per level with the
    # standardisation folded into its weights; and a 1x1 convolution commutes with
    # nearest upsampling.  So each level is convolved at its own resolution and only the
    # narrow results are upsampled: the same numbers, without ever building the
    # 384-channel stride-8 tensor.
    folded_w = params["c1_w"][:, :, 0, 0] / std[None, :]  # (hidden, 384)
    folded_b = params["c1_b"] - folded_w @ mean
    nodes = []
    level_outputs = []
    for i, (name, scale) in enumerate(zip(PAN_OUTPUTS, (1, 2, 4), strict=True)):
        w = folded_w[:, i * FEATURES : (i + 1) * FEATURES, None, None].astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"dens_c1_w{scale}"))
        conv_inputs = [name, f"dens_c1_w{scale}"]
        if scale == 1:
            inits.append(numpy_helper.from_array(folded_b.astype(np.float32), "dens_c1_b"))
            conv_inputs.append("dens_c1_b")
        out_name = f"dens_c1_s{scale}"
        nodes.append(helper.make_node("Conv", conv_inputs, [out_name], kernel_shape=[1, 1]))
        if scale > 1:
            factor = "dens_x2" if scale == 2 else "dens_x4"
            up = f"dens_c1_u{scale}"
            nodes.append(helper.make_node("Resize", [out_name, "dens_roi", factor], [up], **resize))
            out_name = up
        level_outputs.append(out_name)
    nodes.append(helper.make_node("Sum", level_outputs, ["dens_c1"]))
    nodes.append(helper.make_node("Relu", ["dens_c1"], ["dens_c1_r"]))
    prev = "dens_c1_r"
    for name, dilation in (("c2", 1), ("c3", 2), ("c4", 1)):
        k = params[name + "_w"].shape[2]
        pad = dilation * (k // 2)
        out = f"dens_{name}"
        inits.append(numpy_helper.from_array(params[name + "_w"].astype(np.float32), out + "_w"))
        inits.append(numpy_helper.from_array(params[name + "_b"].astype(np.float32), out + "_b"))
        nodes.append(
            helper.make_node(
                "Conv",
                [prev, out + "_w", out + "_b"],
                [out],
                dilations=[dilation, dilation],
                pads=[pad, pad, pad, pad],
                kernel_shape=[k, k],
            )
        )
        prev = out
        if name != "c4":
            nodes.append(helper.make_node("Relu", [out], [out + "_r"]))
            prev = out + "_r"
    nodes.append(helper.make_node("Relu", [prev], [OUTPUT_NAME]))
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    del graph.output[:]
    graph.output.append(
        helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, 1, "cells_h", "cells_w"])
    )
    graph.name = "crowdsafe-density"
    backbone.producer_name = "crowdsafe train density"
    if metadata:
        del backbone.metadata_props[:]
        for key, value in metadata.items():
            entry = backbone.metadata_props.add()
            entry.key, entry.value = key, value
    onnx.checker.check_model(backbone)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(backbone, str(path))
