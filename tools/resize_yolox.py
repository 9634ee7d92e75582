"""Make a YOLOX-Nano ONNX with a larger square input and a dynamic batch from the
shipped 416 px export.

Dev-only: `python tools/resize_yolox.py 640` writes
`src/crowdsafe/detect/models/yolox_nano/yolox_nano_640x640.onnx` and prints its sha256;
`python tools/resize_yolox.py dynamic` writes `yolox_nano_dynamic.onnx`, whose input
height and width are symbolic (any multiple of 32).

Why this is exact: every spatial shape in the shipped graph is derived at run time -- the
head's three Reshapes take ``[1, 85, -1]``, the two upsampling Resizes take scales, the
Focus slices step by 2 to the end -- so only the declared input ``[1, 3, 416, 416]`` and
output ``[1, 3549, 85]`` name the size.  The batch is named in one more place: the
Reshapes' leading ``1``.  This script rewrites the two declarations (input
``[batch, 3, S, S]``, output ``[batch, N, 85]``), sets the Reshapes' target shapes to
``[0, 85, -1]`` (0: keep the input's batch, ONNX Reshape's copy rule at opset 11), drops
the stored intermediate shapes (ONNX Runtime infers them again), and changes no weight and
no node.  It checks that the rewritten graph, given one 416 px input, computes exactly what
the original computes; that at the new size one input gives the (1, N, 85) output of
N = (S/8)² + (S/16)² + (S/32)² anchor points; and that a batch of 8 different inputs gives
each one's own output (printed: the largest difference from running them one by one).
Needs the `onnx` package (`.[dev]`).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "src" / "crowdsafe" / "detect" / "models" / "yolox_nano"
SOURCE = FOLDER / "yolox_nano_416x416.onnx"
SOURCE_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"


HEAD_RESHAPE = [1, 85, -1]  # the target shape of the head's three Reshapes, as exported
BATCH_CHECKED = 8


def resized(model: object, size: int) -> object:
    import onnx
    from onnx import numpy_helper

    assert isinstance(model, onnx.ModelProto)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    dims = out.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param = "batch"  # replaces dim_value 1 (a oneof)
    dims[2].dim_value = size
    dims[3].dim_value = size
    cells = sum((size // s) ** 2 for s in (8, 16, 32))
    out_dims = out.graph.output[0].type.tensor_type.shape.dim
    out_dims[0].dim_param = "batch"
    out_dims[1].dim_value = cells
    targets = {n.input[1] for n in out.graph.node if n.op_type == "Reshape"}
    shapes = [t for t in out.graph.initializer if t.name in targets]
    if len(shapes) != 3 or any(numpy_helper.to_array(t).tolist() != HEAD_RESHAPE for t in shapes):
        raise SystemExit("the source's head Reshapes are not the three [1, 85, -1] expected")
    for t in shapes:
        t.CopyFrom(numpy_helper.from_array(np.array([0, 85, -1], np.int64), t.name))
    del out.graph.value_info[:]
    onnx.checker.check_model(out)
    return out


def dynamic(model: object) -> object:
    """The shipped graph with its input height and width (and so the output's anchor
    count) declared symbolic: one file runs at any multiple of 32 on either side, so a
    16:9 frame is not padded into a square (``detector.input_shape: frame``)."""
    import onnx

    assert isinstance(model, onnx.ModelProto)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    dims = out.graph.input[0].type.tensor_type.shape.dim
    for index, name in ((2, "height"), (3, "width")):
        dims[index].ClearField("dim_value")
        dims[index].dim_param = name
    anchors = out.graph.output[0].type.tensor_type.shape.dim[1]
    anchors.ClearField("dim_value")
    anchors.dim_param = "anchors"
    del out.graph.value_info[:]
    onnx.checker.check_model(out)
    return out


def run(model: object, x: np.ndarray) -> np.ndarray:
    import onnx
    import onnxruntime as ort

    assert isinstance(model, onnx.ModelProto)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"images": x})
    return np.asarray(y)


def main() -> int:
    import onnx

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "size", help="input side in pixels, a multiple of 32; or 'dynamic' (any size)"
    )
    args = parser.parse_args()
    if args.size == "dynamic":
        return main_dynamic()
    args.size = int(args.size)
    if args.size % 32 or not 320 <= args.size <= 1280:
        parser.error(f"size must be a multiple of 32 in 320..1280, got {args.size}")
    data = SOURCE.read_bytes()
    if hashlib.sha256(data).hexdigest() != SOURCE_SHA256:
        sys.exit(f"{SOURCE} is not the shipped file (sha256 differs)")
    original = onnx.load_from_string(data)
    rng = np.random.default_rng(0)
    x416 = rng.uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    same = resized(original, 416)
    diff = float(np.abs(run(same, x416) - run(original, x416)).max())
    if diff != 0.0:
        sys.exit(f"the rewritten graph differs from the original at 416 px (max {diff})")
    model = resized(original, args.size)
    y = run(model, rng.uniform(0, 255, (1, 3, args.size, args.size)).astype(np.float32))
    cells = sum((args.size // s) ** 2 for s in (8, 16, 32))
    if y.shape != (1, cells, 85):
        sys.exit(f"unexpected output {y.shape} at {args.size} px")
    xs = rng.uniform(0, 255, (BATCH_CHECKED, 3, args.size, args.size)).astype(np.float32)
    together = run(model, xs)
    alone = np.concatenate([run(model, x[None]) for x in xs])
    batch_diff = float(np.abs(together - alone).max())
    if together.shape != (BATCH_CHECKED, cells, 85) or batch_diff > 1e-3:
        sys.exit(f"a batch of {BATCH_CHECKED} is not each input's own output ({batch_diff})")
    target = FOLDER / f"yolox_nano_{args.size}x{args.size}.onnx"
    blob = model.SerializeToString()  # type: ignore[attr-defined]
    target.write_bytes(blob)
    print(
        f"{target.relative_to(ROOT)}: {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()}"
    )
    print(f"checked: identical to the original at 416 px (max |diff| {diff}); output {y.shape}")
    print(
        f"checked: a batch of {BATCH_CHECKED} gives each input's own output "
        f"(max |diff| {batch_diff:.3g} against one by one)"
    )
    return 0


def main_dynamic() -> int:
    """Write ``yolox_nano_dynamic.onnx``: identical to the shipped graph at 416 px, and
    at 512x288 (a 16:9 frame) the anchors of a 512x288 grid."""
    import onnx

    data = SOURCE.read_bytes()
    if hashlib.sha256(data).hexdigest() != SOURCE_SHA256:
        sys.exit(f"{SOURCE} is not the shipped file (sha256 differs)")
    original = onnx.load_from_string(data)
    model = dynamic(original)
    rng = np.random.default_rng(0)
    x416 = rng.uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    diff = float(np.abs(run(model, x416) - run(original, x416)).max())
    if diff != 0.0:
        sys.exit(f"the dynamic graph differs from the original at 416 px (max {diff})")
    y = run(model, rng.uniform(0, 255, (1, 3, 288, 512)).astype(np.float32))
    cells = sum((288 // s) * (512 // s) for s in (8, 16, 32))
    if y.shape != (1, cells, 85):
        sys.exit(f"unexpected output {y.shape} at 512x288")
    target = FOLDER / "yolox_nano_dynamic.onnx"
    blob = model.SerializeToString()  # type: ignore[attr-defined]
    target.write_bytes(blob)
    print(
        f"{target.relative_to(ROOT)}: {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()}"
    )
    print(f"checked: identical to the original at 416 px; output {y.shape} at 512x288")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
