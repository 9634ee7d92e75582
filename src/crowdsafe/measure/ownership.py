"""One piece of ground, one camera: site totals that count no one twice where views overlap.

When several cameras of a site are calibrated in the site's own ground coordinates (the
site plan's metres), the same person standing where two views overlap is seen by both.
crowdsafe never matches people across cameras (that would be re-identification); it
gives each piece of ground to one camera instead, and a camera counts towards the site's
total only the people whose feet stand on its own ground.  Each person stands on one
piece of ground, so each is counted once (up to the cameras' calibration error: where two
calibrations put the same person on either side of a boundary, they may be counted by
both or by neither; the boundary runs where views overlap, so keep calibrations tight).

:class:`GroundOwnership` decides it at each person's ground point.  A point belongs to
the camera a declaration gives it to (``declared``: ground polygons per camera, in order
of precedence; where that camera sees the point), or else to the camera that sees it at
the finest resolution: the most image pixels per square metre of ground there (the
inverse homography's Jacobian determinant), among the cameras whose frame shows it in
front of the horizon and within ``max_range_m`` of where their calibration points lie.
A point no camera sees belongs to none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdsafe.measure.geometry import Homography, points_in_polygon

__all__ = ["CameraView", "GroundOwnership"]


@dataclass(frozen=True)
class CameraView:
    """A camera's calibration in the site's ground coordinates and its frame size."""

    camera_id: str
    homography: Homography
    frame_size: tuple[int, int]

    def pixels_per_m2(self, ground: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """At each (N, 2) ground point: the image pixels a square metre there covers, 0
        where the camera does not see it (outside its frame or behind its horizon)."""
        inverse = np.linalg.inv(self.homography.matrix)
        homog = np.c_[ground, np.ones(len(ground))] @ inverse.T
        w = homog[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            px = homog[:, :2] / w[:, None]
        width, height = self.frame_size
        seen = (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
        seen &= np.isfinite(px).all(axis=1)
        seen[seen] &= self.homography.in_front(px[seen])
        # |d(image)/d(ground)| of the inverse map: |det(A - p c^T)| / w^2 for H^-1 = [A b; c d]
        a, c = inverse[:2, :2], inverse[2, :2]
        det = np.zeros(len(ground))
        p, ws = px[seen], w[seen]
        jac = (a[None, :, :] - p[:, :, None] * c[None, None, :]) / ws[:, None, None]
        det[seen] = np.abs(jac[:, 0, 0] * jac[:, 1, 1] - jac[:, 0, 1] * jac[:, 1, 0])
        return det


class GroundOwnership:
    """Which camera each piece of the site's ground belongs to (module docstring).
    ``bounds_m`` is (x0, y0, x1, y1) of the site's ground in its coordinates; a point
    outside it belongs to no camera.  Ownership is decided at each person's own ground
    point, so a person seen by any camera is counted by exactly one (``cell_m`` is the
    resolution of :meth:`owned_area_m2` only)."""

    def __init__(
        self,
        views: Sequence[CameraView],
        bounds_m: tuple[float, float, float, float],
        *,
        cell_m: float = 0.5,
        declared: Mapping[str, Sequence[npt.ArrayLike]] | None = None,
        max_range_m: float = 60.0,
    ) -> None:
        x0, y0, x1, y1 = bounds_m
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"bounds_m must be (x0, y0, x1, y1) with x1 > x0, y1 > y0: {bounds_m}")
        if not cell_m > 0:
            raise ValueError(f"cell_m must be > 0, got {cell_m}")
        ids = [v.camera_id for v in views]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a camera is given twice: {ids}")
        unknown = set(declared or {}) - set(ids)
        if unknown:
            raise ValueError(f"ground declared for unknown cameras: {sorted(unknown)}")
        self.views = list(views)
        self.camera_ids = ids
        self.bounds_m = bounds_m
        self.cell_m = cell_m
        self.max_range_m = max_range_m
        self.declared = [
            (ids.index(cid), np.asarray(poly, dtype=np.float64).reshape(-1, 2))
            for cid, polygons in (declared or {}).items()
            for poly in polygons
        ]

    def owner_of(self, ground_m: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """The index (into ``camera_ids``) of the camera owning each (N, 2) ground point:
        the first declaration that holds it, else the camera that sees it finest; -1
        where none sees it or it is off the site's ground."""
        pts = np.asarray(ground_m, dtype=np.float64).reshape(-1, 2)
        resolution = np.zeros((len(self.views), len(pts)))
        for k, view in enumerate(self.views):
            near = np.hypot(*(pts - view.homography.ground_points_m.mean(axis=0)).T)
            ok = near <= self.max_range_m
            resolution[k, ok] = view.pixels_per_m2(pts[ok])
        owner = np.where(resolution.max(axis=0) > 0, resolution.argmax(axis=0), -1)
        decided = np.zeros(len(pts), dtype=bool)
        for k, polygon in self.declared:  # the first listed wins, where it sees the point
            here = points_in_polygon(pts, polygon) & ~decided & (resolution[k] > 0)
            owner[here] = k
            decided |= here
        x0, y0, x1, y1 = self.bounds_m
        off = (pts[:, 0] < x0) | (pts[:, 0] >= x1) | (pts[:, 1] < y0) | (pts[:, 1] >= y1)
        owner[off] = -1
        return np.asarray(owner, dtype=np.intp)

    def owns(self, camera_id: str, ground_m: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which of a camera's people (their feet on the site's ground, metres) stand on
        its own ground, so count towards the site's total."""
        return np.asarray(self.owner_of(ground_m) == self.camera_ids.index(camera_id))

    def site_count(self, feet_px: Mapping[str, npt.ArrayLike]) -> int:
        """The site's people from each camera's detections (their feet in its pixels):
        each camera counts those on its own ground, so no one is counted twice."""
        by_id = {v.camera_id: v for v in self.views}
        total = 0
        for camera_id, feet in feet_px.items():
            pts = np.asarray(feet, dtype=np.float64).reshape(-1, 2)
            if len(pts):
                ground = by_id[camera_id].homography.to_ground(pts)
                total += int(self.owns(camera_id, ground).sum())
        return total

    def owned_area_m2(self) -> dict[str, float]:
        """Each camera's share of the site's ground, m² (on cells of ``cell_m``)."""
        x0, y0, x1, y1 = self.bounds_m
        xs = np.arange(x0 + self.cell_m / 2, x1, self.cell_m)
        ys = np.arange(y0 + self.cell_m / 2, y1, self.cell_m)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        owner = self.owner_of(np.stack([gx.ravel(), gy.ravel()], axis=1))
        cell = self.cell_m * self.cell_m
        return {cid: float((owner == k).sum()) * cell for k, cid in enumerate(self.camera_ids)}
