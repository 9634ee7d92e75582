"""Density-map targets from head points: what the head learns to output.

Each head point adds one person to the stride-8 cell of the model input it falls in, and
the cell counts are smoothed with a fixed Gaussian of ``sigma_cells`` cells.  The blur
reflects at the border, so a target sums to exactly the heads it was made from: the
count, which is what a camera's zone reads, is never traded for a smoother map.  Only
heads inside the counted region (Mall's ROI) are targets, and the weight map marks that
region so the loss ignores the rest.  Why a fixed rather than a geometry-adaptive kernel
is in :mod:`crowdsafe.training.recipe`.

The grid is the runtime counter's own (:data:`crowdsafe.density.counter.STRIDE`,
:func:`~crowdsafe.density.counter.cell_weights`), so a target cell is the cell the
shipped model is read at.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from crowdsafe.density.counter import STRIDE, cell_weights
from crowdsafe.evaluation.datasets import Sample, points_inside

__all__ = ["cell_targets", "mirrored"]


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
        weight = (cell_weights(sample.roi, (gh, gw)) > 0.5).astype(np.float32)
    else:
        weight = np.ones((gh, gw), dtype=np.float32)
    return target.astype(np.float32), weight


def mirrored(sample: Sample) -> Sample:
    """The sample mirrored left-right (an image of the same scene, as plausible)."""
    w = sample.image.shape[1]
    points = sample.points.copy()
    points[:, 0] = w - points[:, 0]
    roi = None if sample.roi is None else np.ascontiguousarray(sample.roi[:, ::-1])
    return Sample(
        sample.key + "#mirrored", np.ascontiguousarray(sample.image[:, ::-1]), points, roi
    )
