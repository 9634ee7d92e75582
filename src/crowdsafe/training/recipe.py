"""The density-head recipe and its settings (:class:`TrainConfig`).

The recipe, chosen to finish on a 2-core CPU in well under an hour:

1. **Backbone, frozen** (:mod:`~crowdsafe.training.features`).  The feature pyramid of
   the NanoDet-m detector we already ship (ShuffleNetV2 + PAN, COCO-trained,
   MIT/Apache-2.0) is cut out of its ONNX file at its three outputs (strides 8, 16 and
   32, 128 channels each) and given a dynamic input size.  Frozen, its features are
   computed *once* per training image with ONNX Runtime and cached, so training touches
   only the head.
2. **Targets** (:mod:`~crowdsafe.training.targets`).  Each head point adds one person to
   the stride-8 cell it falls in; the cell counts are then smoothed with a fixed Gaussian
   of ``sigma_cells`` (1 cell = 8 px).  Fixed, not geometry-adaptive: at a stride of 8 px
   the kernel only has to spread a head over its neighbouring cells, and the
   nearest-neighbour distances that geometry-adaptive kernels use are unreliable in
   sparse scenes (Mall, Part B) where neighbours are metres apart.  The blur reflects at
   the image border, so a map sums to exactly its number of heads.
3. **Head** (:mod:`~crowdsafe.training.head`).  Stride 16 and 32 features are upsampled
   to stride 8 (nearest) and concatenated with stride 8 (384 channels), standardised per
   channel, then 1x1 conv - ReLU - 3x3 conv - ReLU - 3x3 conv dilated 2 - ReLU (``hidden``
   channels each, 32) - 1x1 conv (1): persons per cell.  Trained with JAX on random 32x32-cell crops
   (256x256 px) drawn evenly from each dataset, each image also seen mirrored
   left-right, Adam with a cosine learning rate;
   loss = squared error per cell + ``count_weight`` x |count error| per crop, both only
   inside the counted region (Mall's ROI).
4. **Validation** (:mod:`~crowdsafe.training.density`).  A held-out part of each
   training set: a seeded random ``val_fraction`` of ShanghaiTech images, and Mall's
   *last* frames as one block (its frames are consecutive video, so a random pick would
   leak near-duplicates).  The exported ONNX, run exactly as in production, is evaluated
   on it, and the report and ``PROVENANCE.md`` (:mod:`~crowdsafe.training.provenance`)
   are written beside it.
5. **Export** (:mod:`~crowdsafe.training.export`).  Backbone nodes + head as plain ONNX
   operators (Conv, Resize, Sum, Relu; the standardisation folded into the first
   convolution) in one file, run by :class:`crowdsafe.density.counter.DensityCounter`.

JAX and the ``onnx`` package are needed here only (``pip install -e ".[train]"``), never
at run time.  Seeds are fixed; on the CPU a rerun gives the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TrainConfig"]


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
