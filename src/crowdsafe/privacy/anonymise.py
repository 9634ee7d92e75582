"""Blur the heads of detected people before any pixel leaves the process.

At CCTV range a face is a few pixels and face detectors miss most of them, so the rule
is geometric: the top part of every person box (``head_fraction``, default the top
quarter, widened a little to cover hair and hats) is pixelated with blocks so coarse
that nothing of the face can be recovered — a heavy pixelation of the whole region, not
a light smoothing.  The whole frame is pixelated once (two resizes, cheap) and copied
into the head regions through one mask, so the cost does not grow with the crowd.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.types import Detections

__all__ = ["head_regions", "pixelate_regions"]


def head_regions(
    detections: Detections,
    width: int,
    height: int,
    head_fraction: float = 0.25,
    widen: float = 0.15,
) -> npt.NDArray[np.int32]:
    """(N, 4) integer x1, y1, x2, y2 head boxes, clipped to the image."""
    if not 0 < head_fraction <= 1:
        raise ValueError(f"head_fraction must be in (0, 1], got {head_fraction}")
    b = detections.xyxy.astype(np.float64)
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    x1 = b[:, 0] - widen * w
    x2 = b[:, 2] + widen * w
    y1 = b[:, 1] - 0.05 * h
    y2 = b[:, 1] + head_fraction * h
    out = np.stack([np.floor(x1), np.floor(y1), np.ceil(x2), np.ceil(y2)], axis=1)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out.astype(np.int32)


def pixelate_regions(
    image: npt.NDArray[np.uint8], regions: npt.NDArray[np.int32], block_px: int = 16
) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with each region replaced by ``block_px``-sized blocks."""
    if block_px < 2:
        raise ValueError(f"block_px must be >= 2, got {block_px}")
    out = image.copy()
    if regions.size == 0:
        return out
    h, w = image.shape[:2]
    small = cv2.resize(
        image, (max(1, w // block_px), max(1, h // block_px)), interpolation=cv2.INTER_AREA
    )
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    mask = np.zeros((h, w), dtype=np.uint8)
    for x1, y1, x2, y2 in regions.tolist():  # one slice assignment per box, no per-pixel work
        mask[y1:y2, x1:x2] = 1
    out[mask.astype(bool)] = coarse[mask.astype(bool)]
    return out
