"""Box utilities in numpy: IoU matrices and greedy non-maximum suppression."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["box_iou", "nms"]


def box_iou(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), as (N, M)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(
    xyxy: npt.NDArray[np.floating],
    score: npt.NDArray[np.floating],
    iou_threshold: float,
    max_out: int = 300,
) -> npt.NDArray[np.intp]:
    """Greedy NMS; returns indices of kept boxes, highest score first.

    The IoU matrix is computed once, vectorised; the greedy pass then only reads
    rows of it, so the cost per kept box is one boolean row operation.
    """
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    order = np.argsort(-np.asarray(score), kind="stable")
    if order.size == 0:
        return order.astype(np.intp)
    overlaps = box_iou(xyxy[order], xyxy[order]) > iou_threshold
    suppressed = np.zeros(order.size, dtype=bool)
    keep: list[int] = []
    for i in range(order.size):
        if suppressed[i]:
            continue
        keep.append(i)
        if len(keep) >= max_out:
            break
        suppressed |= overlaps[i]
    return order[np.asarray(keep, dtype=np.intp)]
