"""Ground-plane geometry: a homography from image pixels to metres on the ground.

A camera's calibration is a set of at least four image points whose positions on the
(flat) ground are known in metres.  From them we fit the 3x3 homography H with the
normalised direct linear transform (Hartley & Zisserman, Multiple View Geometry, 2nd
ed., alg. 4.2), so that ``ground ~ H @ [x, y, 1]``.  Normalising both point sets to
zero mean and unit RMS distance first is what keeps the fit well conditioned when
pixel coordinates are in the hundreds and metres in the tens.

Failure modes are refused, never guessed around: fewer than four points, three or more
of four points on one line, a fit that leaves the points far from where they were
measured, or a zone that reaches the horizon (its ground area would be infinite).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdsafe.errors import CalibrationError

__all__ = ["Homography", "points_in_polygon", "polygon_area", "polygon_is_simple"]

FloatArray = npt.NDArray[np.float64]

# Smallest ratio of the 8th to the 1st singular value of the normalised DLT system
# that we accept; below it the fit is numerically degenerate (collinear points).
_MIN_CONDITION = 1e-6


def _normaliser(points: FloatArray) -> FloatArray:
    """Similarity that moves ``points`` to zero mean and RMS distance sqrt(2)."""
    centre = points.mean(axis=0)
    rms = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))
    if rms == 0.0:
        raise CalibrationError("all calibration points are the same point")
    s = np.sqrt(2.0) / rms
    return np.array([[s, 0.0, -s * centre[0]], [0.0, s, -s * centre[1]], [0.0, 0.0, 1.0]])


def _apply(matrix: FloatArray, points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Apply a homography; returns (cartesian points, homogeneous w)."""
    homog = np.c_[points, np.ones(len(points))] @ matrix.T
    w = homog[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return homog[:, :2] / w[:, None], w


def _has_collinear_triple(points: FloatArray, tol: float) -> bool:
    """True if three or more points of a four-point set lie on one line (within tol)."""
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            d = points[j] - points[i]
            norm = float(np.hypot(*d))
            if norm == 0.0:
                return True
            # distances of every other point from the line through i and j
            rel = points - points[i]
            dist = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0]) / norm
            if int((dist <= tol * norm).sum()) >= max(3, n - 1):
                return True
    return False


@dataclass(frozen=True)
class Homography:
    """Image pixels -> ground metres.  Build with :meth:`fit`."""

    matrix: FloatArray
    image_points: FloatArray
    ground_points_m: FloatArray

    @classmethod
    def fit(
        cls,
        image_points: npt.ArrayLike,
        ground_points_m: npt.ArrayLike,
        *,
        max_error_m: float | None = None,
    ) -> Homography:
        """Fit from N >= 4 point pairs (pixels, metres).

        Raises :class:`CalibrationError` naming the reason when the points are too few,
        mismatched, degenerate (collinear) or, with ``max_error_m``, when any point
        reprojects further than that from where it was measured.
        """
        img = np.asarray(image_points, dtype=np.float64)
        gnd = np.asarray(ground_points_m, dtype=np.float64)
        if img.ndim != 2 or img.shape[1] != 2 or gnd.ndim != 2 or gnd.shape[1] != 2:
            raise CalibrationError(
                f"calibration points must be lists of [x, y] pairs, got shapes "
                f"{img.shape} (image) and {gnd.shape} (ground)"
            )
        if len(img) != len(gnd):
            raise CalibrationError(
                f"{len(img)} image points but {len(gnd)} ground points: each image point "
                "needs its position on the ground"
            )
        if len(img) < 4:
            raise CalibrationError(
                f"a ground-plane homography needs at least 4 point pairs, got {len(img)}"
            )
        if not (np.isfinite(img).all() and np.isfinite(gnd).all()):
            raise CalibrationError("calibration points must be finite numbers")
        for name, pts in (("image", img), ("ground", gnd)):
            spread = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False)
            if spread[0] == 0.0 or spread[1] / spread[0] < 1e-3:
                raise CalibrationError(
                    f"all {len(pts)} {name} points lie on one line; choose points that span "
                    "an area (e.g. the corners of a rectangle)"
                )
            if len(pts) == 4 and _has_collinear_triple(pts, tol=1e-3):
                raise CalibrationError(
                    f"three of the 4 {name} points lie on one line; "
                    "choose points that span an area (e.g. the corners of a rectangle)"
                )
        t_img, t_gnd = _normaliser(img), _normaliser(gnd)
        a_n, _ = _apply(t_img, img)
        b_n, _ = _apply(t_gnd, gnd)
        x, y = a_n[:, 0], a_n[:, 1]
        u, v = b_n[:, 0], b_n[:, 1]
        zeros, ones = np.zeros_like(x), np.ones_like(x)
        rows_u = np.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y, -u], axis=1)
        rows_v = np.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y, -v], axis=1)
        system = np.concatenate([rows_u, rows_v])
        _, sing, vt = np.linalg.svd(system)
        if sing[0] == 0.0 or sing[7] / sing[0] < _MIN_CONDITION:
            raise CalibrationError(
                "the calibration points are degenerate (the fit is ill-conditioned, "
                f"singular-value ratio {sing[7] / max(sing[0], 1e-300):.1e}); "
                "use points spread over the ground, no three on one line"
            )
        h_n = vt[-1].reshape(3, 3)
        matrix = np.linalg.inv(t_gnd) @ h_n @ t_img
        matrix /= matrix[2, 2] if abs(matrix[2, 2]) > 1e-12 else np.linalg.norm(matrix)
        hom = cls(matrix=matrix, image_points=img, ground_points_m=gnd)
        _, w = _apply(matrix, img)
        if not (np.all(w > 0) or np.all(w < 0)):
            raise CalibrationError(
                "the calibration points lie on both sides of the horizon line; "
                "check that every point is on the ground and its metres are correct"
            )
        if max_error_m is not None:
            errors = hom.reprojection_errors_m()
            worst = int(np.argmax(errors))
            if errors[worst] > max_error_m:
                raise CalibrationError(
                    f"calibration point {worst} reprojects {errors[worst]:.2f} m from its "
                    f"measured position (limit {max_error_m} m); re-measure it or remove it"
                )
        return hom

    def to_ground(self, points: npt.ArrayLike) -> FloatArray:
        """Map (N, 2) image points (pixels) to ground points (metres)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        out, _ = _apply(self.matrix, pts)
        return out

    def in_front(self, points: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """True where an image point lies on the ground side of the horizon."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        _, w = _apply(self.matrix, pts)
        _, w_ref = _apply(self.matrix, self.image_points[:1])
        return np.asarray(np.sign(w) == np.sign(w_ref[0]), dtype=bool)

    def reprojection_errors_m(self) -> FloatArray:
        """Distance in metres between each mapped calibration point and its measurement."""
        diff = self.to_ground(self.image_points) - self.ground_points_m
        return np.asarray(np.hypot(diff[:, 0], diff[:, 1]), dtype=np.float64)

    def area_m2(self, polygon_px: npt.ArrayLike) -> float:
        """Ground area in m² of an image polygon.

        A homography maps straight lines to straight lines, so mapping the vertices
        maps the polygon exactly, provided it lies wholly in front of the horizon.
        """
        poly = np.asarray(polygon_px, dtype=np.float64)
        if not self.in_front(poly).all():
            raise CalibrationError(
                "the polygon reaches above the horizon of the ground plane, where the "
                "ground is infinitely far away; keep zones on the visible ground"
            )
        return polygon_area(self.to_ground(poly))


def polygon_area(polygon: npt.ArrayLike) -> float:
    """Unsigned area of a simple polygon (shoelace formula), in the points' units²."""
    p = np.asarray(polygon, dtype=np.float64)
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def polygon_is_simple(polygon: npt.ArrayLike) -> bool:
    """True if no two non-adjacent edges of the polygon cross or touch."""
    p = np.asarray(polygon, dtype=np.float64)
    n = len(p)
    a, b = p, np.roll(p, -1, axis=0)

    def orient(p1: FloatArray, p2: FloatArray, p3: FloatArray) -> FloatArray:
        return np.sign(
            (p2[..., 0] - p1[..., 0]) * (p3[..., 1] - p1[..., 1])
            - (p2[..., 1] - p1[..., 1]) * (p3[..., 0] - p1[..., 0])
        )

    i, j = np.triu_indices(n, k=2)
    adjacent = j - i == n - 1  # first and last edge share a vertex
    i, j = i[~adjacent], j[~adjacent]
    if i.size == 0:
        return True
    o1 = orient(a[i], b[i], a[j])
    o2 = orient(a[i], b[i], b[j])
    o3 = orient(a[j], b[j], a[i])
    o4 = orient(a[j], b[j], b[i])
    crossing = (o1 * o2 <= 0) & (o3 * o4 <= 0)
    # Collinear, non-overlapping edges give zeros everywhere; require real overlap.
    collinear = (o1 == 0) & (o2 == 0)
    if collinear.any():
        ii, jj = i[collinear], j[collinear]
        lo_i = np.minimum(a[ii], b[ii])
        hi_i = np.maximum(a[ii], b[ii])
        lo_j = np.minimum(a[jj], b[jj])
        hi_j = np.maximum(a[jj], b[jj])
        overlap = np.all((lo_i <= hi_j) & (lo_j <= hi_i), axis=1)
        crossing[collinear] = overlap
    return not bool(crossing.any())


def points_in_polygon(points: npt.ArrayLike, polygon: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Vectorised even-odd test: which of (N, 2) points lie inside the polygon."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=np.float64)
    x, y = pts[:, 0:1], pts[:, 1:2]  # (N, 1)
    x1, y1 = poly[:, 0], poly[:, 1]  # (M,)
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    straddles = (y1 > y) != (y2 > y)  # (N, M)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    crosses = straddles & (x < x_cross)
    return np.asarray((crosses.sum(axis=1) % 2) == 1, dtype=bool)
