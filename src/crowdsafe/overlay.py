"""Drawing over a camera's frame: zones, counting lines, the ground grid, calibration
points; and the one function through which a frame leaves as an image.

The rule: **anonymise first, draw second, encode last.**  :func:`anonymised_jpeg` is
the only producer of the live view and alert snapshots: it pixelates every face and
head of the frame before anything is drawn, so an overlay cannot hide a head from the
anonymiser and no raw pixel reaches an encoder.  The live view and ``crowdsafe
calibrate`` draw with the same functions, so the check image shows zones and lines
exactly as an operator sees them live.  Images are BGR uint8 (OpenCV's order) while
drawing; the public functions take and return RGB.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.measure.geometry import Homography
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.zones import Zone
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.types import LiveView

__all__ = [
    "anonymised_jpeg",
    "draw_calibration_points",
    "draw_ground_grid",
    "draw_layout",
]

Image = npt.NDArray[np.uint8]

ZONE_BGR = (60, 220, 60)
LINE_BGR = (255, 130, 0)
GRID_BGR = (0, 255, 255)
POINT_BGR = (0, 0, 255)
JPEG_QUALITY = 80


def _draw_zones(bgr: Image, zones: Sequence[Zone], labels: bool) -> None:
    for zone in zones:
        pts = zone.polygon_px.astype(np.int32)
        cv2.polylines(bgr, [pts], True, ZONE_BGR, 2, cv2.LINE_AA)
        if labels:
            corner = np.add(pts.min(axis=0), (4, 16))
            cv2.putText(
                bgr,
                zone.name,
                (int(corner[0]), int(corner[1])),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                ZONE_BGR,
                1,
                cv2.LINE_AA,
            )


def _draw_lines(bgr: Image, lines: Sequence[CountingLine]) -> None:
    for ln in lines:
        p1 = (int(ln.p1[0]), int(ln.p1[1]))
        p2 = (int(ln.p2[0]), int(ln.p2[1]))
        cv2.arrowedLine(bgr, p1, p2, LINE_BGR, 2, cv2.LINE_AA, tipLength=0.05)


def draw_layout(
    rgb: Image, zones: Sequence[Zone], lines: Sequence[CountingLine], *, labels: bool = False
) -> Image:
    """A copy of ``rgb`` with the zones (named with ``labels``) and the counting lines,
    arrows pointing from a line's first point to its second."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    _draw_zones(bgr, zones, labels)
    _draw_lines(bgr, lines)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _ground_grid(
    hom: Homography, width: int, height: int, step_m: float
) -> list[npt.NDArray[np.float64]]:
    """Polylines (image px) of a ground grid every ``step_m`` metres over the visible ground."""
    ys, xs = np.mgrid[0:height:8, 0:width:8]
    pix = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    pix = pix[hom.in_front(pix)]
    if pix.size == 0:
        return []
    ground = hom.to_ground(pix)
    lo, hi = np.percentile(ground, 1, axis=0), np.percentile(ground, 99, axis=0)
    inverse = np.linalg.inv(hom.matrix)
    lines = []
    for axis in (0, 1):
        for v in np.arange(np.floor(lo[axis]), np.ceil(hi[axis]) + step_m, step_m):
            other = np.linspace(lo[1 - axis], hi[1 - axis], 200)
            pts = np.empty((other.size, 2))
            pts[:, axis], pts[:, 1 - axis] = v, other
            homog = np.c_[pts, np.ones(len(pts))] @ inverse.T
            ok = homog[:, 2] * np.sign(inverse[2, 2] or 1) > 0
            img = homog[:, :2] / homog[:, 2:3]
            inside = (
                ok
                & (img[:, 0] > -50)
                & (img[:, 0] < width + 50)
                & (img[:, 1] > -50)
                & (img[:, 1] < height + 50)
            )
            if inside.sum() >= 2:
                lines.append(img[inside])
    return lines


def draw_ground_grid(rgb: Image, hom: Homography, step_m: float = 1.0) -> Image:
    """A copy of ``rgb`` with a grid every ``step_m`` metres on the fitted ground plane:
    squares that do not look square mean a calibration point was measured wrong."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    h, w = rgb.shape[:2]
    for poly in _ground_grid(hom, w, h, step_m):
        cv2.polylines(bgr, [poly.astype(np.int32)], False, GRID_BGR, 1, cv2.LINE_AA)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def draw_calibration_points(rgb: Image, hom: Homography) -> Image:
    """A copy of ``rgb`` with each calibration point and its reprojection error (cm)."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    for (x, y), err in zip(hom.image_points, hom.reprojection_errors_m(), strict=True):
        cv2.circle(bgr, (int(x), int(y)), 5, POINT_BGR, 2)
        cv2.putText(
            bgr,
            f"{err * 100:.0f} cm",
            (int(x) + 7, int(y) - 7),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            POINT_BGR,
            1,
            cv2.LINE_AA,
        )
    return np.ascontiguousarray(bgr[:, :, ::-1])


def anonymised_jpeg(
    view: LiveView,
    anonymiser: Anonymiser,
    zones: Sequence[Zone] = (),
    lines: Sequence[CountingLine] = (),
) -> bytes | None:
    """``view``'s frame as JPEG: faces and heads pixelated first, then the zones and lines
    drawn.  None if the encoder fails.  The only way a camera's pixels leave."""
    clean = anonymiser.anonymise(view.image, view.people)
    if zones or lines:
        clean = draw_layout(clean, zones, lines)
    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(clean[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    return buf.tobytes() if ok else None
