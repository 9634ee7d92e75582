"""Zone counting and time bucketing: detections in, :class:`ZoneSample` out.

A person is in a zone when the ground point under their feet (bottom-centre of the
box) lies inside the zone's image polygon.  For a zone wholly on the ground plane this
is the same as testing the ground point against the zone's ground polygon, because a
homography preserves incidence; testing in the image avoids mapping every point.

Samples are aggregated per time bucket (default 1 s): the stored ``count`` is the mean
over the analysed frames in the bucket, so that the number is comparable whatever the
analysis rate, and ``count_max`` keeps the peak.  A frame may be *held* (its scene
unchanged, its counts repeated from the last analysed frame, ``measure/change.py``): a
bucket is ``held`` when all its frames were.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from crowdsafe.measure.los import space_los
from crowdsafe.measure.pressure import weidmann_speed
from crowdsafe.measure.uncertainty import DensityTerms
from crowdsafe.types import CountMethod, Detections, ZoneSample

if TYPE_CHECKING:  # motion.py counts on the zones of this module
    from crowdsafe.measure.motion import ZoneMotion

__all__ = ["BucketAggregator", "Zone", "ZoneCounter"]

# Below this density people walk as they like (Weidmann's diagram is near its free speed
# and a slow walker or someone waiting is no sign of anything): no ratio.
_FD_MIN_DENSITY = 0.5
_DETECTION = CountMethod.DETECTION
_DENSITY = CountMethod.DENSITY


@dataclass(frozen=True)
class Zone:
    """A counting zone of one camera, with its ground area already measured."""

    id: str
    camera_id: str
    name: str
    polygon_px: npt.NDArray[np.float64]
    area_m2: float
    space_bounds_m2: tuple[float, ...]
    profile: str = "walkway"
    # For the density interval (measure/uncertainty.py); the defaults mean "exact".
    precision: float = 1.0
    recall: float = 1.0
    perimeter_m: float = 0.0
    # persons a minute the zone's exits let out (their widths times the exit capacity);
    # 0: no exit declared, so no time to clear
    exit_capacity_per_min: float = 0.0
    calibration_rms_m: float = 0.0
    density_relative_error: float = 0.0


class ZoneCounter:
    """Counts the people of one frame in each zone of a camera.

    The even-odd test of :func:`~crowdsafe.measure.geometry.points_in_polygon` for every
    zone at once: the edges of all zones are laid end to end once, here, so a frame is
    one (people x edges) comparison and a parity per zone, not one test per zone (a city
    of cameras pays this every frame).  Each edge's differences are kept as that test
    computes them, so every person lands on the same side of every edge, bit for bit.
    The zones are fixed when the counter is made.
    """

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones = list(zones)
        self._ids = [z.id for z in self.zones]
        polygons = [np.asarray(z.polygon_px, dtype=np.float64).reshape(-1, 2) for z in self.zones]
        # A zone without vertices has no edge, so no one is inside it; reduceat needs
        # every segment non-empty, so such zones stay out of the edge table.
        self._edged = [z.id for z, p in zip(self.zones, polygons, strict=True) if len(p)]
        edged = [p for p in polygons if len(p)]
        sizes = [len(p) for p in edged]
        self._starts = np.cumsum([0, *sizes[:-1]], dtype=np.intp)
        first = np.concatenate(edged) if edged else np.zeros((0, 2))
        second = np.concatenate([np.roll(p, -1, axis=0) for p in edged]) if edged else first
        self._x1, self._y1 = first[:, 0], first[:, 1]
        self._y2 = second[:, 1]
        self._dx = second[:, 0] - self._x1
        dy = second[:, 1] - self._y1
        # A horizontal edge never straddles a point's row, so its crossing is never
        # read: dividing by 1 there spares a divide-by-zero guard on every frame.
        self._dy = np.where(dy == 0.0, 1.0, dy)

    def count(self, detections: Detections) -> dict[str, int]:
        """Number of people per zone id (a person may be in overlapping zones)."""
        if not len(detections) or not self._edged:
            return dict.fromkeys(self._ids, 0)
        feet = detections.ground_points
        x, y = feet[:, 0:1], feet[:, 1:2]  # (N, 1)
        straddles = (self._y1 > y) != (self._y2 > y)  # (N, edges)
        crosses = straddles & (x < self._x1 + (y - self._y1) * self._dx / self._dy)
        inside = np.logical_xor.reduceat(crosses, self._starts, axis=1)  # (N, edged zones)
        counts = dict(zip(self._edged, inside.sum(axis=0).tolist(), strict=True))
        if len(self._edged) == len(self._ids):
            return counts
        return {zone_id: counts.get(zone_id, 0) for zone_id in self._ids}


@dataclass
class _Bucket:
    start: float
    frames: int = 0
    held_frames: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)
    methods: dict[str, CountMethod] = field(default_factory=dict)
    # per zone: people measured, the sum of their speeds and of their squares (m/s)
    speeds: dict[str, list[float]] = field(default_factory=dict)
    pressures: dict[str, float] = field(default_factory=dict)  # the highest of the frames


class BucketAggregator:
    """Folds per-frame zone counts into one :class:`ZoneSample` per zone per bucket.

    Frames must arrive in time order; a frame in a later bucket closes the current one.
    """

    def __init__(self, camera_id: str, zones: Sequence[Zone], bucket_s: float = 1.0) -> None:
        if not bucket_s > 0:
            raise ValueError(f"bucket_s must be > 0 seconds, got {bucket_s}")
        self.camera_id = camera_id
        self.zones = {z.id: z for z in zones}
        self.bucket_s = bucket_s
        self._bucket: _Bucket | None = None
        # Each zone's density terms, per method, made once (see _terms).
        self._detection_terms: dict[str, DensityTerms] = {}
        self._density_terms: dict[str, DensityTerms] = {}

    @property
    def pending(self) -> bool:
        """True while a bucket holds frames not yet emitted."""
        return self._bucket is not None and self._bucket.frames > 0

    def _start_of(self, t: float) -> float:
        return math.floor(t / self.bucket_s) * self.bucket_s

    def add(
        self,
        t: float,
        counts: Mapping[str, float],
        methods: Mapping[str, CountMethod] | None = None,
        *,
        held: bool = False,
        motion: Mapping[str, ZoneMotion] | None = None,
    ) -> list[ZoneSample]:
        """Add one analysed frame at time ``t`` (s); returns the samples of closed buckets.

        ``methods`` names what counted each zone (detection when absent); a bucket
        reports the method of its last frame.  ``held``: the counts repeat the last
        analysed frame's.  ``motion``: the zones whose people's speed this frame
        measured; a bucket's speed pools every person of every such frame."""
        start = self._start_of(t)
        closed: list[ZoneSample] = []
        if self._bucket is not None and start != self._bucket.start:
            closed = self.flush()
        if self._bucket is None:
            self._bucket = _Bucket(start=start)
        b = self._bucket
        b.frames += 1
        b.held_frames += held
        totals, peaks = b.totals, b.peaks
        for zone_id, n in counts.items():
            total = totals.get(zone_id)
            if total is None:
                # 0 + n and max(0, n), as the sums and peaks start from 0
                totals[zone_id] = 0 + n
                peaks[zone_id] = n if n > 0 else 0
            else:
                totals[zone_id] = total + n
                if n > peaks[zone_id]:
                    peaks[zone_id] = n
        if methods:
            b.methods.update(methods)
        if motion:
            speeds = b.speeds
            for zone_id, zm in motion.items():
                acc = speeds.get(zone_id)
                if acc is None:
                    acc = speeds[zone_id] = [0.0, 0.0, 0.0]
                n, mean, sd = zm.people, zm.speed_m_s, zm.speed_sd_m_s
                acc[0] += n
                acc[1] += n * mean
                acc[2] += n * (sd * sd + mean * mean)
                p = zm.pressure_per_s2
                if p is not None and p > b.pressures.get(zone_id, -1.0):
                    b.pressures[zone_id] = p
        return closed

    def _terms(self, zone: Zone, by_density: bool) -> DensityTerms:
        """A zone's density terms for one method, made on first use (so a zone's bad
        area or rates raise where its first sample is made, as they always did)."""
        cache = self._density_terms if by_density else self._detection_terms
        terms = cache.get(zone.id)
        if terms is None:
            terms = cache[zone.id] = DensityTerms.of(
                zone.area_m2,
                # density counts need no detector correction, but carry the model's error
                precision=1.0 if by_density else zone.precision,
                recall=1.0 if by_density else zone.recall,
                perimeter_m=zone.perimeter_m,
                calibration_rms_m=zone.calibration_rms_m,
                relative_error=zone.density_relative_error if by_density else 0.0,
            )
        return terms

    def flush(self) -> list[ZoneSample]:
        """Close the current bucket (if any) and return its samples."""
        b, self._bucket = self._bucket, None
        if b is None or b.frames == 0:
            return []
        frames, start, camera_id = b.frames, b.start, self.camera_id
        held = b.held_frames == frames
        totals, peaks, methods, speeds = b.totals, b.peaks, b.methods, b.speeds
        detection_terms = self._detection_terms
        samples = []
        for zone_id, zone in self.zones.items():
            speed = sd = ratio = None
            moved = speeds.get(zone_id)
            mean = totals.get(zone_id, 0) / frames
            method = methods.get(zone_id, _DETECTION)
            terms = detection_terms.get(zone_id) if method is _DETECTION else None
            if terms is None:
                if method is not _DETECTION and method is not _DENSITY:
                    method = CountMethod(method)  # a plain string naming the method
                terms = self._terms(zone, method is _DENSITY)
            density, low, high, _ = terms.interval(mean)
            if moved is not None:
                speed = moved[1] / moved[0]
                sd = math.sqrt(max(0.0, moved[2] / moved[0] - speed * speed))
                expected = weidmann_speed(density)
                # a queue stands by design: the diagram is of people walking
                if zone.profile != "queue" and density >= _FD_MIN_DENSITY and expected > 0:
                    ratio = speed / expected
            samples.append(
                ZoneSample(
                    camera_id=camera_id,
                    zone_id=zone_id,
                    t=start,
                    count=mean,
                    count_max=round(peaks.get(zone_id, 0)),
                    area_m2=zone.area_m2,
                    density_per_m2=density,
                    density_low_per_m2=low,
                    density_high_per_m2=high,
                    los=space_los(density, zone.space_bounds_m2),
                    frames=frames,
                    method=method,
                    held=held,
                    speed_m_s=speed,
                    speed_sd_m_s=sd,
                    time_to_clear_min=(
                        density * zone.area_m2 / zone.exit_capacity_per_min
                        if zone.exit_capacity_per_min > 0
                        else None
                    ),
                    pressure_per_s2=b.pressures.get(zone_id),
                    fd_speed_ratio=ratio,
                )
            )
        return samples
