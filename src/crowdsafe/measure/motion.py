"""How fast the crowd moves, on the ground: dense optical flow through the calibration.

Between two analysed frames of a camera, :class:`CrowdMotion` runs OpenCV's DIS optical
flow on a small grey copy of the frame, cropped to the ground the camera's zones and
lines cover.  The flow is computed from the newer frame back to the older one, so it is
defined where people stand *now*, where the detector found them.  Each person's image
velocity is the median flow over the middle of their box (the torso: legs swing and the
box's edges hold background), which ignores the background a box also holds; a person
whose median flow is under ``min_flow_px`` (the camera's noise: sensor grain and
compression shimmer move a static scene by a fraction of a pixel) stands still.  The
image velocity is carried onto the ground by the homography's Jacobian at the person's
feet, the point that is on the ground plane, giving metres per second.

Per zone, what leaves this module is an aggregate (:class:`ZoneMotion`): how many people
it rests on, their mean speed and its spread, the mean velocity and its variance (the
ingredients of the crowd-pressure indicator of Helbing, Johansson and Al-Abideen, Phys.
Rev. E 75, 046109, 2007), and that pressure itself, on the zone's ground cells
(``measure/pressure.py``).  No person's velocity is kept, stored or reported, and nothing
about a person other than where their box is and how its pixels move is looked at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.measure.geometry import Homography, points_in_polygon
from crowdsafe.measure.pressure import DEFAULT_CELL_M, DEFAULT_WINDOW_S, PressureGrid
from crowdsafe.measure.zones import Zone
from crowdsafe.types import Detections

__all__ = [
    "DEFAULT_MIN_FLOW_PX",
    "DEFAULT_WIDTH_PX",
    "CrowdMotion",
    "FlowImage",
    "ZoneMotion",
    "box_image_velocities",
    "ground_jacobians",
]

DEFAULT_WIDTH_PX = 640
"""Width of the grey image the flow is computed on, pixels (whatever the camera's size)."""

DEFAULT_MIN_FLOW_PX = 0.3
"""A person whose median flow between two analysed frames is under this many pixels of
the flow image stands still: the noise floor of a static scene (``eval motion``
measures it on a frozen real frame with sensor noise and compression)."""

_PAD_PX = 24  # flow-image pixels around the zones and lines, so boxes at an edge have flow


@dataclass(frozen=True, slots=True)
class ZoneMotion:
    """How the people of one zone moved between two frames (module docstring):
    ``people`` measured, their mean speed and its standard deviation (m/s), the mean
    velocity on the ground (m/s, in the calibration's axes) and the velocity variance
    (m²/s²: the mean squared distance of the velocities from their mean), and the
    zone's crowd pressure (s^-2: its busiest ground cell's density times the variance of
    the cell's velocity over the last seconds, ``measure/pressure.py``; None until it is
    known)."""

    people: int
    speed_m_s: float
    speed_sd_m_s: float
    vx_m_s: float
    vy_m_s: float
    velocity_var_m2_s2: float
    pressure_per_s2: float | None = None

    @classmethod
    def of(
        cls, velocities: npt.NDArray[np.float64], pressure_per_s2: float | None = None
    ) -> ZoneMotion:
        """The aggregate of (N >= 1, 2) ground velocities (m/s), with the zone's crowd
        pressure over the recent window (``measure/pressure.py``) when known."""
        speeds = np.hypot(velocities[:, 0], velocities[:, 1])
        mean = velocities.mean(axis=0)
        spread = velocities - mean
        return cls(
            people=len(velocities),
            speed_m_s=float(speeds.mean()),
            speed_sd_m_s=float(speeds.std()),
            vx_m_s=float(mean[0]),
            vy_m_s=float(mean[1]),
            velocity_var_m2_s2=float((spread * spread).sum(axis=1).mean()),
            pressure_per_s2=pressure_per_s2,
        )


def ground_jacobians(hom: Homography, points_px: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(N, 2, 2) Jacobians of the image -> ground map at (N, 2) image points: metres on
    the ground per pixel in the image, so a small image displacement ``d`` at a point
    moves ``J @ d`` metres on the ground there."""
    pts = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
    h = hom.matrix
    x, y = pts[:, 0], pts[:, 1]
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    gx = (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w
    gy = (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w
    jac = np.empty((len(pts), 2, 2), dtype=np.float64)
    jac[:, 0, 0] = (h[0, 0] - gx * h[2, 0]) / w
    jac[:, 0, 1] = (h[0, 1] - gx * h[2, 1]) / w
    jac[:, 1, 0] = (h[1, 0] - gy * h[2, 0]) / w
    jac[:, 1, 1] = (h[1, 1] - gy * h[2, 1]) / w
    return jac


class FlowImage:
    """Dense optical flow between consecutive grey frames of one camera, on a copy
    ``width`` pixels wide cropped to ``roi_px`` (x0, y0, x1, y1 in the camera's pixels;
    None: the whole frame).  :meth:`update` gives the flow from the new frame back to the
    previous one, in flow-image pixels, and the scale from camera pixels to them."""

    def __init__(
        self,
        source_size: tuple[int, int],
        *,
        width: int = DEFAULT_WIDTH_PX,
        roi_px: tuple[float, float, float, float] | None = None,
    ) -> None:
        src_w, src_h = source_size
        if src_w <= 0 or src_h <= 0:
            raise ValueError(f"source size must be positive, got {source_size}")
        if width < 32:
            raise ValueError(f"the flow image must be at least 32 pixels wide, got {width}")
        self.scale = min(1.0, width / src_w)  # flow-image pixels per camera pixel
        self.size = (max(1, round(src_w * self.scale)), max(1, round(src_h * self.scale)))
        full_w, full_h = self.size
        if roi_px is None:
            x0, y0, x1, y1 = 0, 0, full_w, full_h
        else:
            s = self.scale
            x0 = max(0, math.floor(roi_px[0] * s) - _PAD_PX)
            y0 = max(0, math.floor(roi_px[1] * s) - _PAD_PX)
            x1 = min(full_w, math.ceil(roi_px[2] * s) + _PAD_PX)
            y1 = min(full_h, math.ceil(roi_px[3] * s) + _PAD_PX)
        self.origin = (x0, y0)
        self._crop = (slice(y0, max(y0 + 8, y1)), slice(x0, max(x0 + 8, x1)))
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._previous: npt.NDArray[np.uint8] | None = None

    def reset(self) -> None:
        """Forget the previous frame (a gap, a held frame): the next update has no flow."""
        self._previous = None

    def grey(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """An RGB frame (any size) as the cropped grey flow image."""
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if (grey.shape[1], grey.shape[0]) != self.size:
            grey = cv2.resize(grey, self.size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(grey[self._crop])

    def update(
        self, image: npt.NDArray[np.uint8], *, compute: bool = True
    ) -> npt.NDArray[np.float32] | None:
        """(h, w, 2) flow from this frame back to the previous one; None for the first
        frame, and without ``compute`` (the frame is only kept for the next one)."""
        grey = self.grey(image)
        previous, self._previous = self._previous, grey
        if not compute or previous is None or previous.shape != grey.shape:
            return None
        # None: OpenCV allocates the output (its stubs want an array there, but a given
        # one measured 3-6 times slower and different)
        flow = self._dis.calc(grey, previous, None)  # type: ignore[call-overload]
        return np.asarray(flow, dtype=np.float32)


def box_image_velocities(
    flow: npt.NDArray[np.float32],
    boxes_px: npt.NDArray[np.float32],
    *,
    scale: float,
    origin: tuple[int, int],
    dt_s: float,
    min_flow_px: float = DEFAULT_MIN_FLOW_PX,
) -> npt.NDArray[np.float64]:
    """(N, 2) image velocities (camera pixels per second) of (N, 4) boxes (x1, y1, x2, y2
    in camera pixels), from ``flow`` (this frame back to one ``dt_s`` earlier, flow-image
    pixels, cropped at ``origin``): the median flow over each box's torso (the middle
    half of its width, 20-60 % of its height), zero under ``min_flow_px``."""
    out = np.zeros((len(boxes_px), 2), dtype=np.float64)
    h, w = flow.shape[:2]
    ox, oy = origin
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_px, dtype=np.float64)):
        bw, bh = x2 - x1, y2 - y1
        cx = (x1 + x2) / 2
        # torso in flow-image pixels of the crop; at least the one pixel at its centre
        c0 = math.floor((cx - bw / 4) * scale) - ox
        c1 = math.ceil((cx + bw / 4) * scale) - ox
        r0 = math.floor((y1 + 0.2 * bh) * scale) - oy
        r1 = math.ceil((y1 + 0.6 * bh) * scale) - oy
        c0, c1 = max(0, c0), min(w, max(c1, c0 + 1))
        r0, r1 = max(0, r0), min(h, max(r1, r0 + 1))
        if c0 >= c1 or r0 >= r1:
            continue  # the torso is outside the flow image: no flow is known there
        patch = flow[r0:r1, c0:c1].reshape(-1, 2)
        u, v = float(np.median(patch[:, 0])), float(np.median(patch[:, 1]))
        if math.hypot(u, v) < min_flow_px:
            continue
        # backward flow: the person came from (x + u, y + v); velocity is the opposite
        out[i] = (-u / scale / dt_s, -v / scale / dt_s)
    return out


class CrowdMotion:
    """Each zone's :class:`ZoneMotion` from the frames and detections of one camera
    (module docstring).  ``roi_polygons_px`` bounds where flow is computed (zones and
    lines, camera pixels; the zones' when None).  The flow image is ``width`` pixels
    wide, or the frame's width where that is less (a frame made smaller for the detector
    is not enlarged again).  Frames further apart than ``max_gap_s`` (a dropped stream,
    a held frame) give no measurement: the flow of a long gap is not a velocity."""

    def __init__(
        self,
        zones: Sequence[Zone],
        homography: Homography,
        *,
        roi_polygons_px: Sequence[npt.ArrayLike] | None = None,
        width: int = DEFAULT_WIDTH_PX,
        min_flow_px: float = DEFAULT_MIN_FLOW_PX,
        max_gap_s: float = 1.5,
        pressure_cell_m: float = DEFAULT_CELL_M,
        pressure_window_s: float = DEFAULT_WINDOW_S,
    ) -> None:
        if not max_gap_s > 0:
            raise ValueError(f"max_gap_s must be > 0 seconds, got {max_gap_s}")
        self.zones = list(zones)
        self.homography = homography
        self.width = width
        self.min_flow_px = min_flow_px
        self.max_gap_s = max_gap_s
        polygons = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in (
            roi_polygons_px if roi_polygons_px is not None else [z.polygon_px for z in zones]
        )]  # fmt: skip
        points = np.concatenate(polygons) if polygons else np.zeros((0, 2))
        self._roi: tuple[float, float, float, float] | None = None
        if len(points):
            lo, hi = points.min(axis=0), points.max(axis=0)
            self._roi = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        self.flow: FlowImage | None = None
        self._made_for: tuple[tuple[int, int], int] | None = None
        self._last_t: float | None = None
        self.last_velocities: tuple[npt.NDArray[np.float64], float] | None = None
        """The last :meth:`measure`'s image velocities of its detections (pixels per
        second) and the seconds between its frames, for the track-free line flux; None
        when it measured none.  Held for one frame, never stored."""
        self.pressure = {
            z.id: PressureGrid(
                homography.to_ground(z.polygon_px),
                cell_m=pressure_cell_m,
                window_s=pressure_window_s,
                weight=z.precision / z.recall,
            )
            for z in self.zones
        }

    def reset(self) -> None:
        """Start again from the next frame (the stream restarted or a frame was held)."""
        if self.flow is not None:
            self.flow.reset()
        self._last_t = None
        for grid in self.pressure.values():
            grid.reset()

    def _flow_image(self, source_size: tuple[int, int], image_width: int) -> FlowImage:
        """The flow image for frames of this size: made again when the stream's size
        changes (its previous frame cannot be compared with the new one)."""
        key = (source_size, image_width)
        if self.flow is None or self._made_for != key:
            width = min(self.width, image_width)
            self.flow = FlowImage(source_size, width=max(32, width), roi_px=self._roi)
            self._made_for = key
        return self.flow

    def measure(
        self,
        image: npt.NDArray[np.uint8],
        t: float,
        detections: Detections,
        source_size: tuple[int, int] | None = None,
    ) -> dict[str, ZoneMotion]:
        """The motion of each zone with at least one detected person whose feet are in
        it, between the previous frame and this one.  ``image`` is the camera's view
        (RGB), ``source_size`` the camera's (width, height) when ``image`` was made
        smaller (None: it is full size); ``detections`` are in camera pixels.  Empty
        for a camera's first frame, after a gap, and when no one was found."""
        size = source_size or (int(image.shape[1]), int(image.shape[0]))
        flow_image = self._flow_image(size, int(image.shape[1]))
        self.last_velocities = None
        last_t, self._last_t = self._last_t, t
        wanted = bool(len(detections)) and bool(self.zones)
        wanted = wanted and last_t is not None and 0 < t - last_t <= self.max_gap_s
        flow = flow_image.update(image, compute=wanted)
        if not len(detections):  # no one anywhere: the cells' densities are 0 this frame
            empty = np.zeros((0, 2))
            for grid in self.pressure.values():
                grid.add(t, empty, empty)
        if flow is None or last_t is None:
            return {}
        image_v = box_image_velocities(
            flow,
            detections.xyxy,
            scale=flow_image.scale,
            origin=flow_image.origin,
            dt_s=t - last_t,
            min_flow_px=self.min_flow_px,
        )
        self.last_velocities = (image_v, t - last_t)
        feet = detections.ground_points
        jac = ground_jacobians(self.homography, feet)
        ground_v = np.einsum("nij,nj->ni", jac, image_v)
        ground = self.homography.to_ground(feet)
        out = {}
        for zone in self.zones:
            inside = points_in_polygon(feet, zone.polygon_px)
            grid = self.pressure[zone.id]
            grid.add(t, ground[inside], ground_v[inside])  # an empty frame counts too
            if inside.any():
                out[zone.id] = ZoneMotion.of(ground_v[inside], grid.pressure())
        return out
