"""``crowdsafe train density``: one run of the density recipe, from data to a checked model.

The run, in order: hold out a validation part of each dataset (:func:`split_keys`),
cache the frozen backbone's features and the targets of the rest
(:mod:`~crowdsafe.training.features`), fit the head (:mod:`~crowdsafe.training.head`),
export backbone + head as one ONNX file (:mod:`~crowdsafe.training.export`), evaluate
that file on the held-out images exactly as ``crowdsafe eval density`` would, and write
the report (``<out>.report.json``) and ``PROVENANCE.md``
(:mod:`~crowdsafe.training.provenance`) beside it.  The model is judged only through the
file that ships, never through the training-time head.  Why the recipe is what it is:
:mod:`crowdsafe.training.recipe`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from crowdsafe.evaluation.datasets import dataset_samples, list_items
from crowdsafe.training.export import export_onnx
from crowdsafe.training.features import (
    CachedImage,
    backbone_model,
    backbone_session,
    cache_features,
)
from crowdsafe.training.head import fit
from crowdsafe.training.provenance import write_provenance
from crowdsafe.training.recipe import TrainConfig

__all__ = ["TrainConfig", "split_keys", "train_density"]


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
    session = backbone_session(backbone, threads=min(4, os.cpu_count() or 1))
    train: dict[str, list[CachedImage]] = {}
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
        train[name] = cache_features(
            session, dataset_samples(name, roots[name], "train", keys=tr), name, cfg, progress
        )
    t_features = time.monotonic() - t0
    progress(f"features cached in {t_features:.0f} s; training the head")
    params, mean, std, losses = fit(train, cfg, progress)
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
        ).to_dict()
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
