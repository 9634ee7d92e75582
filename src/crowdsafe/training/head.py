"""The density head in JAX: its layers, its loss and the optimiser that fits it.

Architecture: the stride-16 and stride-32 features upsampled to stride 8 (nearest) and
concatenated with stride 8 (384 channels), standardised per channel, then 1x1 conv -
ReLU - 3x3 conv - ReLU - 3x3 conv dilated 2 - ReLU - 1x1 conv: persons per cell.
Loss, on random crops aligned to one stride-32 cell: squared error per cell plus
``count_weight`` x |count error| per crop, both only inside the counted region; Adam
with decoupled weight decay and a cosine learning rate.

Reproducibility is a rule here: the initial weights come from ``jax.random`` with the
config's seed and every crop from a numpy generator with the same seed, in a fixed
order, so on the CPU a rerun gives bit-identical weights (a test holds it).  JAX is
imported inside the functions, never at module import.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdsafe.training.features import FEATURES, CachedImage
from crowdsafe.training.recipe import TrainConfig

__all__ = ["fit"]


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


def _crop(item: CachedImage, rng: np.random.Generator, c: int) -> tuple[npt.NDArray[Any], ...]:
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
    cached: Sequence[CachedImage],
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


def fit(
    train: dict[str, list[CachedImage]], cfg: TrainConfig, progress: Callable[[str], None]
) -> tuple[
    dict[str, npt.NDArray[np.float32]],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    list[float],
]:
    """Train the head on the cached images of each dataset, drawn evenly over the
    datasets.  Returns the weights, the per-channel feature mean and std the head
    standardises with, and the loss of every step."""
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
