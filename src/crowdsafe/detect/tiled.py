"""Tiled detection: small, distant people in large frames.

A detector with a 416-pixel input sees a 1920x1080 frame at a fifth of its size, and a
person 60 px tall there becomes 12 px: too small to find.  :class:`TiledDetector` also
runs the detector on overlapping tiles of about ``tile_px`` square, each at the model's
full input size, and merges everything by NMS.  The whole frame is still run once, for
the people too large for a tile.  A box cut by an inner edge of a tile belongs to a
person whom a neighbouring tile sees whole, so it is dropped.  Cost: one model run per
tile plus one; frames that fit in 1.25 tiles are run once, as without tiling.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

from crowdsafe.detect.nms import nms
from crowdsafe.types import Detections, Frame

__all__ = ["TiledDetector", "tile_windows"]

_EDGE_PX = 2.0


class _ImageDetector(Protocol):
    iou_threshold: float

    def detect_image(self, image: npt.NDArray[np.uint8]) -> Detections: ...


def tile_windows(width: int, height: int, tile_px: int) -> list[tuple[int, int, int, int]]:
    """Overlapping windows (x0, y0, x1, y1) of about ``tile_px`` square covering a
    ``width`` x ``height`` frame; none when the frame fits in 1.25 tiles.  Neighbours
    overlap by at least a quarter of a tile, so a person cut by one window's edge is
    whole in the next."""
    if tile_px <= 0 or max(width, height) <= tile_px * 1.25:
        return []

    def starts(extent: int) -> list[int]:
        if extent <= tile_px:
            return [0]
        n = math.ceil((extent - tile_px) / (0.75 * tile_px)) + 1
        step = (extent - tile_px) / (n - 1)
        return [round(i * step) for i in range(n)]

    tw, th = min(tile_px, width), min(tile_px, height)
    return [(x, y, x + tw, y + th) for y in starts(height) for x in starts(width)]


class TiledDetector:
    """Wraps a detector with ``detect_image`` (e.g. :class:`NanoDetDetector`)."""

    def __init__(self, inner: _ImageDetector, tile_px: int) -> None:
        if tile_px < 128:
            raise ValueError(f"tile_px must be >= 128, got {tile_px}")
        self.inner = inner
        self.tile_px = int(tile_px)

    def detect(self, frame: Frame) -> Detections:
        return self.detect_image(frame.image)

    def detect_image(self, image: npt.NDArray[np.uint8]) -> Detections:
        height, width = image.shape[:2]
        whole = self.inner.detect_image(image)
        windows = tile_windows(width, height, self.tile_px)
        if not windows:
            return whole
        boxes = [whole.xyxy]
        scores = [whole.score]
        for x0, y0, x1, y1 in windows:
            part = self.inner.detect_image(image[y0:y1, x0:x1])
            b = part.xyxy
            cut = np.zeros(len(part), dtype=bool)
            if x0 > 0:
                cut |= b[:, 0] <= _EDGE_PX
            if y0 > 0:
                cut |= b[:, 1] <= _EDGE_PX
            if x1 < width:
                cut |= b[:, 2] >= (x1 - x0) - _EDGE_PX
            if y1 < height:
                cut |= b[:, 3] >= (y1 - y0) - _EDGE_PX
            boxes.append(b[~cut] + np.array([x0, y0, x0, y0], dtype=np.float32))
            scores.append(part.score[~cut])
        xyxy = np.concatenate(boxes).astype(np.float32)
        score = np.concatenate(scores).astype(np.float32)
        if len(score) == 0:
            return Detections()
        kept = nms(xyxy, score, self.inner.iou_threshold)
        return Detections(xyxy=xyxy[kept], score=score[kept])
