"""Pixelate faces and heads before any pixel leaves the process.

The rule: in every picture crowdsafe shows or stores, two kinds of region are pixelated.

* **The head zone of every detected person** (:func:`head_zones`): the top
  ``head_fraction`` of the person box (default a quarter, never less than the fifth),
  grown by the detector's own box error.  A detection counts as the right person at
  IoU >= 0.5, and every box that overlaps it that much by a shift (at most a third of
  its size) or by being up to sqrt(2) larger (twice the area, the containment limit at
  IoU 0.5) has its top fifth inside ``[x1 - 0.414 w, y1 - 0.414 h, x2 + 0.414 w,
  y1 + (head_fraction + 1/3) h]``.  Measured on MOT15 TUD-Stadtmitte and TUD-Campus, the
  former rule (top quarter, 5% up, 15% sideways) left about 10% of the annotated heads
  of detected people partly uncovered, because NanoDet's box top often sits below the
  annotated one; this zone covers all of them (``evaluation/anonymise.py``).  It cannot
  cover a box that is both larger and shifted, such as a detection of only the lower
  half of a person, nor anyone the detector misses altogether.  At CCTV
  range a face is a few pixels and face detectors miss most of them, so this geometric
  rule is what protects the crowd.
* **Faces** found by :class:`~crowdsafe.privacy.faces.FaceFinder` (CenterFace), each
  box widened by ``face_margin`` of its size on every side to take in hair and ears.
  This catches the close-up face of someone the person detector missed (cut by the
  frame edge, occluded, too close to the camera).  ``faces=None`` gives head zones
  only: a weaker rule, for deployments where the face model is not installed.

How coarse: a region is reduced to the means of ``block_px`` squares, or, when that
would leave more than :data:`MAX_BLOCKS_ACROSS` (8) blocks along the region's longer
side, of squares large enough to leave at most 8 (``block_px`` times a power of two,
so 4 to 8 blocks).  A fixed block size is not enough: 16-px blocks over a 300-px
close-up face still leave a ~19x19 mosaic, and face mosaics of that order have been
matched to the people behind them by classifiers trained on mosaics (McPherson,
Shokri and Shmatikov, "Defeating Image Obfuscation with Deep Learning", 2016).  A face
box widened by 0.3 on each side is 1.6 face widths, so at most 8 blocks across it
leaves about 5 across the face itself: skin and hair colour, no features.  Overlapping
regions take the coarsest block size among them, so a region never shows a seam between
two grids.

Why the blocks are drawn smooth: the block means are blurred by one block and
interpolated back, instead of drawn as hard squares.  Every output pixel is still a
function of the block means only, so nothing finer than a block survives; but a hard
mosaic adds strong edges at every block border — at CCTV scale, with 16-px blocks,
*more* high-frequency energy than the head it hides (measured on TUD-Stadtmitte: the
median Laplacian variance of annotated heads rose 2.8-fold), so the coverage check, and
anyone checking a frame the same way, could not tell a mosaic from an untouched head.

Cost: for each block size in use, the part of the frame it covers is reduced once (a
resize down, a blur of the small image, a resize up) and copied into the regions
through one label mask, so the cost does not grow with the crowd; only filling the
mask touches each box (one slice per box).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.privacy.faces import FaceFinder
from crowdsafe.types import Detections

__all__ = [
    "MAX_BLOCKS_ACROSS",
    "MIN_HEAD_FRACTION",
    "AnonymiseStats",
    "Anonymiser",
    "block_sizes",
    "head_regions",
    "head_zones",
    "pixelate_adaptive",
    "pixelate_regions",
]

MAX_BLOCKS_ACROSS = 8
"""At most this many pixelation blocks along a region's longer side (see module doc)."""
MIN_HEAD_FRACTION = 0.2
"""The head is at least the top fifth of a person box: the criterion the coverage
evaluation checks (``evaluation/anonymise.py``)."""
# Box error at the IoU >= 0.5 match: a shift of up to 1/3 of the box, or a box up to
# sqrt(2) larger that contains it (see module doc).
_SHIFT_SLACK = 1.0 / 3.0
_SCALE_SLACK = math.sqrt(2.0) - 1.0
_SMOOTH_BLOCKS = 1.0  # Gaussian sigma over the block means, in blocks
_SMOOTH_RADIUS_BLOCKS = 6  # > the kernel radius OpenCV uses for that sigma (4), + bilinear


def _check_head_fraction(head_fraction: float) -> None:
    if not MIN_HEAD_FRACTION <= head_fraction <= 1.0:
        raise ValueError(
            f"head_fraction must be in [{MIN_HEAD_FRACTION}, 1] (at least the top fifth "
            f"of a person box), got {head_fraction}"
        )


def head_zones(
    detections: Detections, width: int, height: int, head_fraction: float = 0.25
) -> npt.NDArray[np.int32]:
    """(N, 4) integer x1, y1, x2, y2 head zones of person boxes, clipped to the image.

    The top ``head_fraction`` of each box grown by the box error of an IoU >= 0.5 match:
    up and sideways by sqrt(2) - 1 of the box's height and width, down by a third of
    its height.  Raises ValueError for ``head_fraction`` outside [MIN_HEAD_FRACTION, 1].
    """
    _check_head_fraction(head_fraction)
    b = detections.xyxy.astype(np.float64)
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    out = np.stack(
        [
            np.floor(b[:, 0] - _SCALE_SLACK * w),
            np.floor(b[:, 1] - _SCALE_SLACK * h),
            np.ceil(b[:, 2] + _SCALE_SLACK * w),
            np.ceil(b[:, 1] + (head_fraction + _SHIFT_SLACK) * h),
        ],
        axis=1,
    )
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out.astype(np.int32)


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


@dataclass(frozen=True, slots=True)
class AnonymiseStats:
    """What one :meth:`Anonymiser.anonymise` call did: regions pixelated and time taken.

    ``ms`` is the whole call, ``face_ms`` the part spent finding faces (0 without a
    face finder), both wall-clock milliseconds.
    """

    faces: int = 0
    heads: int = 0
    ms: float = 0.0
    face_ms: float = 0.0


class Anonymiser:
    """Pixelates every face and every detected person's head; see the module doc.

    ``faces`` is the face finder, or None for heads only (weaker; only where the face
    model is unavailable).  ``head_fraction`` is the top share of a person box treated
    as head (``MIN_HEAD_FRACTION``..1), ``block_px`` the smallest pixelation block
    (>= 2 px), ``face_margin`` the widening of each face box on every side, as a share
    of its width and height (0..2).  Raises ValueError naming a value out of range.
    """

    def __init__(
        self,
        faces: FaceFinder | None,
        *,
        head_fraction: float = 0.25,
        block_px: int = 16,
        face_margin: float = 0.3,
    ) -> None:
        _check_head_fraction(head_fraction)
        if block_px < 2:
            raise ValueError(f"block_px must be >= 2, got {block_px}")
        if not 0.0 <= face_margin <= 2.0:
            raise ValueError(f"face_margin must be in [0, 2], got {face_margin}")
        self.faces = faces
        self.head_fraction = head_fraction
        self.block_px = block_px
        self.face_margin = face_margin
        self._stats = AnonymiseStats()

    @property
    def stats(self) -> AnonymiseStats:
        """Figures of the last :meth:`anonymise` call on this object."""
        return self._stats

    def regions(
        self, image: npt.NDArray[np.uint8], people: Detections
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], float]:
        """(face regions, head regions, face-finding ms): (N, 4) int x1, y1, x2, y2 each,
        clipped to the image."""
        h, w = image.shape[:2]
        heads = head_zones(people, w, h, self.head_fraction)
        if self.faces is None:
            return np.zeros((0, 4), dtype=np.int32), heads, 0.0
        t0 = time.perf_counter()
        found = self.faces.find(image)
        face_ms = 1000.0 * (time.perf_counter() - t0)
        return _widen(found[:, :4], self.face_margin, w, h), heads, face_ms

    def anonymise(self, image: npt.NDArray[np.uint8], people: Detections) -> npt.NDArray[np.uint8]:
        """A new RGB uint8 array: ``image`` with every face and head pixelated.

        ``image`` is (H, W, 3) uint8 RGB and is not modified; ``people`` are the person
        boxes in its pixels.  Raises ValueError for another shape or dtype.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"image must be an (H, W, 3) uint8 RGB array, got {image.shape} {image.dtype}"
            )
        t0 = time.perf_counter()
        faces, heads, face_ms = self.regions(image, people)
        out = pixelate_adaptive(image, np.concatenate([faces, heads]), self.block_px)
        self._stats = AnonymiseStats(
            faces=len(faces),
            heads=len(heads),
            ms=1000.0 * (time.perf_counter() - t0),
            face_ms=face_ms,
        )
        return out


def _widen(
    boxes: npt.NDArray[np.float32], margin: float, width: int, height: int
) -> npt.NDArray[np.int32]:
    """Boxes grown by ``margin`` of their size on every side, as clipped integer boxes."""
    b = boxes.astype(np.float64)
    grow = np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]] * 2, axis=1) * margin
    out = np.concatenate([np.floor(b[:, :2] - grow[:, :2]), np.ceil(b[:, 2:] + grow[:, 2:])], 1)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out.astype(np.int32)


def block_sizes(regions: npt.NDArray[np.int32], block_px: int) -> npt.NDArray[np.int64]:
    """Pixelation block (px) per region: ``block_px`` times the smallest power of two
    that leaves at most :data:`MAX_BLOCKS_ACROSS` blocks along the region's longer side."""
    side = np.maximum(regions[:, 2] - regions[:, 0], regions[:, 3] - regions[:, 1])
    need = np.maximum(side / MAX_BLOCKS_ACROSS, block_px) / block_px
    level = np.ceil(np.log2(need) - 1e-9).clip(0, None).astype(np.int64)
    return np.asarray(block_px * (1 << level), dtype=np.int64)


def pixelate_adaptive(
    image: npt.NDArray[np.uint8], regions: npt.NDArray[np.int32], block_px: int = 16
) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with each region replaced by a smooth mosaic, blocks sized by
    :func:`block_sizes`.

    Blocks lie on a frame-aligned grid and each holds the exact mean of its pixels.
    Regions that overlap or touch form one area, pixelated with the coarsest block size
    among them.  Raises ValueError for ``block_px`` < 2.
    """
    if block_px < 2:
        raise ValueError(f"block_px must be >= 2, got {block_px}")
    out = image.copy()
    h, w = image.shape[:2]
    regions = regions[(regions[:, 2] > regions[:, 0]) & (regions[:, 3] > regions[:, 1])]
    if regions.shape[0] == 0:
        return out
    sizes = block_sizes(regions, block_px)
    levels = np.unique(sizes)
    label = np.full(image.shape[:2], -1, dtype=np.int8)
    for (x1, y1, x2, y2), rank in zip(
        regions.tolist(), np.searchsorted(levels, sizes).tolist(), strict=True
    ):  # one slice per box, no per-pixel work
        view = label[y1:y2, x1:x2]
        np.maximum(view, rank, out=view)
    if len(levels) > 1:  # one block size per connected area: no seam inside a region
        count, area = cv2.connectedComponents((label >= 0).view(np.uint8), connectivity=4)
        coarsest = np.full(count, -1, dtype=np.int8)  # area 0 is the background
        for rank in range(len(levels)):  # ascending, so the coarsest present wins
            coarsest[np.bincount(area[label == rank], minlength=count) > 0] = rank
        label = coarsest[area]
    for rank, size in enumerate(levels.tolist()):
        sel = label == rank
        rows, cols = np.flatnonzero(sel.any(axis=1)), np.flatnonzero(sel.any(axis=0))
        if rows.size == 0:
            continue
        # Only the part of the frame that this block size covers, on the frame's grid,
        # with a margin wide enough for the smoothing: the same pixels as a full frame.
        pad = _SMOOTH_RADIUS_BLOCKS * size
        y0, x0 = max(0, rows[0] // size * size - pad), max(0, cols[0] // size * size - pad)
        y1, x1 = min(h, rows[-1] + 1 + size + pad), min(w, cols[-1] + 1 + size + pad)
        mosaic = _smooth_mosaic(image[y0:y1, x0:x1], size)
        cv2.copyTo(mosaic, sel[y0:y1, x0:x1].view(np.uint8), out[y0:y1, x0:x1])
    return out


def _smooth_mosaic(image: npt.NDArray[np.uint8], block: int) -> npt.NDArray[np.uint8]:
    """The image reduced to the exact means of ``block``-px squares on a grid from its
    top-left corner, then drawn back smoothly (Gaussian of one block over the means,
    bilinear up).

    Every output pixel is a function of block means only, so nothing finer than a
    block survives; the smoothing removes the block edges (see the module doc).
    """
    h, w = image.shape[:2]
    ph, pw = block * math.ceil(h / block), block * math.ceil(w / block)
    padded = cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE)
    means = cv2.resize(padded, (pw // block, ph // block), interpolation=cv2.INTER_AREA)
    means = cv2.GaussianBlur(
        means.astype(np.float32), (0, 0), _SMOOTH_BLOCKS, borderType=cv2.BORDER_REPLICATE
    )
    coarse = cv2.resize(means, (pw, ph), interpolation=cv2.INTER_LINEAR)[:h, :w]
    return np.asarray(np.rint(coarse), dtype=np.uint8)  # means of uint8: within 0..255
