"""Counting lines: tracked people in, :class:`LineCrossing` and :class:`LineSample` out.

The rule this module carries: **a person is counted when they go from clearly one
side of a line segment to clearly the other, through the segment, once per such
passage.**  Peer tools count a crossing whenever a track's point changes side, and
their users report the failure modes that follow: a box jittering on the line counts
again and again, a track born on the line (a person stepping out of an occlusion)
counts as if they had walked through, and people passing beside a short gate count
because they crossed the gate's infinite extension.  Here:

* Each track's point is its ground point (bottom-centre of the box, under the feet).
  Its signed distance to the line is positive on the "in" side (see
  :class:`CountingLine`).  Within ``margin_px`` of the line a point is on *no* side:
  the band absorbs jitter (hysteresis).
* Per track and line we remember the last side the track was clearly on and the last
  point where it was.  A crossing is counted when the track is next seen clearly on
  the other side *and* the chord from that remembered point to the new one passes
  through the segment (not beyond an end).  The remembered side then flips, so a
  second crossing in the same direction needs the track to go clearly back first.
* A track first seen inside the band has no side until it leaves the band, so a
  track born (or re-found) on the line never counts its first move off it.
* State is per track id, in memory only, and dropped once a track has not been seen
  for ``max_gap_s`` seconds (set it to the tracker's ``max_lost_s``): older state
  belongs to a track the tracker has given up, and keeping it would leak memory.

:class:`FlowAggregator` folds crossings into one :class:`LineSample` per line per time
bucket, including buckets with no crossing: while the camera is analysed, zero flow
is a measurement, not a gap.  Flow is persons (both directions) per metre of passage
width per minute, ``(in + out) / width_m / (bucket_s / 60)``, with the walkway flow
level of service of :func:`crowdsafe.measure.los.flow_los`.  A bucket that saw no
analysed frame (camera down) emits nothing.

**Checkpoints: what a crash may lose.**  A flow bucket is a minute by default, and
until it closes its counts live in memory only, so a killed process (SIGKILL, a power
cut of the host, an out-of-memory kill) used to lose up to a minute of flow.  Every
:data:`CHECKPOINT_S` seconds of frame time :meth:`FlowAggregator.checkpoint` gives the
open bucket as *provisional* samples, which the pipeline writes to the store (and
nowhere else: alerts and the live feed judge closed buckets only).  A provisional sample
has the row key of the bucket it belongs to (the line and the bucket's start ``t``) and
``bucket_s`` set to the seconds of the bucket covered so far, ``flow_per_m_min``
being the rate over that span; the store upserts rows by (line, ``t``), so each
checkpoint replaces the previous one and the closing sample (``bucket_s`` the full
bucket) replaces the last.  Why an upsert of the current bucket rather than short
sub-buckets: every closed minute stays exactly one row with the per-minute flow the
Green Guide's limits are written for, as the API has always served it; the open minute
reads as the rate so far (``bucket_s`` below the bucket length says it is provisional)
instead of a running count that would look like a falling flow.  A crash thus loses at
most the crossings of the last :data:`CHECKPOINT_S` seconds (plus one frame interval),
within the 10 s the design allows.  As with a closed bucket, the span is measured from
the bucket's start, also when the camera joined the bucket late.

Privacy: track ids are read to keep per-track state and never leave this module;
:class:`LineCrossing` and :class:`LineSample` carry none (docs/adr/0001).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crowdsafe.measure.los import flow_los
from crowdsafe.types import Detections, Direction, LineCrossing, LineSample

__all__ = ["CHECKPOINT_S", "CountingLine", "FlowAggregator", "LineCounter"]

CHECKPOINT_S = 5.0
"""Seconds of frame time between two provisional writes of an open flow bucket."""

FloatArray = npt.NDArray[np.float64]

IN = Direction.IN
OUT = Direction.OUT


@dataclass(frozen=True, slots=True)
class CountingLine:
    """A counting line of one camera: a segment from ``p1`` to ``p2`` in image pixels.

    Direction convention (image coordinates, x to the right, y down): "in" is the
    side on the *left hand* of someone walking along the image from ``p1`` to ``p2``,
    i.e. the normal ``(dy, -dx)`` of ``p2 - p1 = (dx, dy)``.  Crossing from the other
    ("out") side to that side is an ``"in"`` crossing::

                 p1                        p1 ---------> p2
                 |                                 in
          out    |    in                   ------------------
                 |                                 out
                 v
                 p2

    (left: drawn top to bottom, "in" is to the right on screen; right: drawn left to
    right, "in" is upwards on screen.)  ``width_m`` is the physical width of the
    passage the line spans, in metres, used to turn counts into flow per metre.
    """

    id: str
    camera_id: str
    name: str
    p1: tuple[float, float]
    p2: tuple[float, float]
    width_m: float

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("line id must be a non-empty string")
        coords = (*self.p1, *self.p2)
        if len(coords) != 4 or not all(math.isfinite(c) for c in coords):
            raise ValueError(
                f"line '{self.id}': p1 and p2 must be finite (x, y) pixels, "
                f"got p1={self.p1}, p2={self.p2}"
            )
        if self.length_px < 1.0:
            raise ValueError(
                f"line '{self.id}': p1 {self.p1} and p2 {self.p2} must be at least 1 px apart"
            )
        if not (0.0 < self.width_m < math.inf):
            raise ValueError(
                f"line '{self.id}': width_m must be a finite number of metres > 0, "
                f"got {self.width_m}"
            )

    @property
    def length_px(self) -> float:
        return math.hypot(self.p2[0] - self.p1[0], self.p2[1] - self.p1[1])

    def signed_distance_px(self, points: npt.ArrayLike) -> FloatArray:
        """Distance in pixels of (N, 2) image points from the line through p1 and p2,
        positive on the "in" side, negative on the "out" side."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        dx, dy = self.p2[0] - self.p1[0], self.p2[1] - self.p1[1]
        rel_x, rel_y = pts[:, 0] - self.p1[0], pts[:, 1] - self.p1[1]
        return np.asarray((rel_x * dy - rel_y * dx) / self.length_px, dtype=np.float64)

    def position_along(self, points: npt.ArrayLike) -> FloatArray:
        """Where (N, 2) points project onto the segment: 0 at p1, 1 at p2."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        dx, dy = self.p2[0] - self.p1[0], self.p2[1] - self.p1[1]
        rel_x, rel_y = pts[:, 0] - self.p1[0], pts[:, 1] - self.p1[1]
        return np.asarray((rel_x * dx + rel_y * dy) / self.length_px**2, dtype=np.float64)


@dataclass
class _TrackSides:
    """Per-track state of one line, as parallel arrays sorted by track id."""

    ids: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    side: npt.NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    anchor: FloatArray = field(default_factory=lambda: np.zeros((0, 2)))
    seen_t: FloatArray = field(default_factory=lambda: np.zeros(0))


class LineCounter:
    """Counts tracked people crossing counting lines (rule: see the module docstring).

    ``margin_px`` (>= 0): half-width of the no-side band around each line, in pixels.
    ``max_gap_s`` (> 0): per-track state not refreshed for longer than this is
    dropped; use the tracker's ``max_lost_s``.
    """

    def __init__(
        self, lines: Sequence[CountingLine], *, margin_px: float = 5.0, max_gap_s: float = 2.0
    ) -> None:
        if not (0.0 <= margin_px < math.inf):
            raise ValueError(f"margin_px must be a finite number of pixels >= 0, got {margin_px}")
        if not (0.0 < max_gap_s <= math.inf) or math.isnan(max_gap_s):
            raise ValueError(f"max_gap_s must be > 0 seconds, got {max_gap_s}")
        keys = [(line.camera_id, line.id) for line in lines]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"line ids must be unique per camera, repeated: {dupes}")
        self.lines = list(lines)
        self.margin_px = float(margin_px)
        self.max_gap_s = float(max_gap_s)
        self._state: dict[tuple[str, str], _TrackSides] = {}
        self._last_t: dict[str, float] = {}

    def reset(self) -> None:
        """Forget all per-track state."""
        self._state.clear()
        self._last_t.clear()

    @property
    def state_size(self) -> int:
        """Number of (track, line) states held in memory."""
        return sum(s.ids.size for s in self._state.values())

    def update(self, tracked: Detections, t: float, camera_id: str) -> list[LineCrossing]:
        """Crossings of ``camera_id``'s lines by the tracks of the frame at ``t`` seconds.

        ``tracked`` must carry ``track_id`` (a tracker's output).  A ``t`` earlier than
        the camera's previous one starts a new timeline: that camera's state is reset.
        """
        if tracked.track_id is None:
            raise ValueError(
                f"camera '{camera_id}': line counting needs tracked detections "
                "(track_id is None); pass the detections through a tracker first"
            )
        if not math.isfinite(t):
            raise ValueError(f"t must be a finite time in seconds, got {t}")
        ids = tracked.track_id.astype(np.int64)
        if np.unique(ids).size != ids.size:
            raise ValueError(f"camera '{camera_id}': a track id appears twice in one frame")
        last = self._last_t.get(camera_id)
        if last is not None and t < last:
            for key in [k for k in self._state if k[0] == camera_id]:
                del self._state[key]
        self._last_t[camera_id] = t
        points = tracked.ground_points
        order = np.argsort(ids, kind="stable")
        ids, points = ids[order], points[order]
        crossings: list[LineCrossing] = []
        for line in self.lines:
            if line.camera_id != camera_id:
                continue
            key = (camera_id, line.id)
            state, directions = self._step(
                line, self._state.get(key, _TrackSides()), ids, points, t
            )
            self._state[key] = state
            crossings.extend(
                LineCrossing(camera_id=camera_id, line_id=line.id, t=t, direction=d)
                for d in directions
            )
        return crossings

    def _step(
        self,
        line: CountingLine,
        state: _TrackSides,
        ids: npt.NDArray[np.int64],
        points: FloatArray,
        t: float,
    ) -> tuple[_TrackSides, list[Direction]]:
        fresh = t - state.seen_t <= self.max_gap_s
        prev = _TrackSides(
            ids=state.ids[fresh],
            side=state.side[fresh],
            anchor=state.anchor[fresh],
            seen_t=state.seen_t[fresh],
        )
        dist = line.signed_distance_px(points)
        side = np.where(dist > self.margin_px, 1, np.where(dist < -self.margin_px, -1, 0))
        side = side.astype(np.int8)

        # Align this frame's tracks with the remembered ones (both sorted by id).
        prev_side = np.zeros(ids.size, dtype=np.int8)
        anchor = points.copy()
        unseen = np.ones(prev.ids.size, dtype=bool)
        if prev.ids.size:
            pos = np.minimum(np.searchsorted(prev.ids, ids), prev.ids.size - 1)
            found = prev.ids[pos] == ids
            prev_side[found] = prev.side[pos[found]]
            anchor[found] = prev.anchor[pos[found]]
            unseen[pos[found]] = False

        flipped = (side != 0) & (prev_side != 0) & (side != prev_side)
        through = np.zeros(ids.size, dtype=bool)
        if flipped.any():
            a, b = anchor[flipped], points[flipped]
            d_a = line.signed_distance_px(a)
            frac = d_a / (d_a - dist[flipped])  # where the chord a->b meets the line
            u = line.position_along(a + frac[:, None] * (b - a))
            through[flipped] = (u >= 0.0) & (u <= 1.0)
        directions = [IN if s > 0 else OUT for s in side[through]]

        clear = side != 0
        new = _TrackSides(
            ids=np.concatenate([prev.ids[unseen], ids]),
            side=np.concatenate([prev.side[unseen], np.where(clear, side, prev_side)]).astype(
                np.int8
            ),
            anchor=np.concatenate([prev.anchor[unseen], np.where(clear[:, None], points, anchor)]),
            seen_t=np.concatenate([prev.seen_t[unseen], np.full(ids.size, t)]),
        )
        order = np.argsort(new.ids, kind="stable")
        new = _TrackSides(
            ids=new.ids[order],
            side=new.side[order],
            anchor=new.anchor[order],
            seen_t=new.seen_t[order],
        )
        return new, directions


@dataclass
class _FlowBucket:
    start: float
    count_in: dict[str, int]
    count_out: dict[str, int]
    saved_t: float  # frame time of the last checkpoint, or of the frame that opened it
    # track-free crossings (in, out) per line, once a frame of the bucket measured them
    flux: dict[str, list[float]] | None = None


class FlowAggregator:
    """Folds crossings into one :class:`LineSample` per line per ``bucket_s`` bucket.

    Buckets start at multiples of ``bucket_s`` seconds and are kept per camera.  Call
    :meth:`add` once per analysed frame, with that frame's crossings (possibly none):
    a frame in a later bucket closes the camera's current one, which emits a sample
    for every line of the camera, zero crossings included.  :meth:`checkpoint` gives
    the open bucket as provisional samples every ``checkpoint_s`` seconds (module
    docstring).
    """

    def __init__(
        self,
        lines: Sequence[CountingLine],
        bucket_s: float = 60.0,
        *,
        checkpoint_s: float = CHECKPOINT_S,
    ) -> None:
        if not (0.0 < bucket_s < math.inf):
            raise ValueError(f"bucket_s must be a finite number of seconds > 0, got {bucket_s}")
        if not (0.0 < checkpoint_s < math.inf):
            raise ValueError(
                f"checkpoint_s must be a finite number of seconds > 0, got {checkpoint_s}"
            )
        self.bucket_s = float(bucket_s)
        self.checkpoint_s = float(checkpoint_s)
        self._lines: dict[str, dict[str, CountingLine]] = {}
        for line in lines:
            per_camera = self._lines.setdefault(line.camera_id, {})
            if line.id in per_camera:
                raise ValueError(
                    f"line ids must be unique per camera, repeated: '{line.id}' "
                    f"on camera '{line.camera_id}'"
                )
            per_camera[line.id] = line
        self._open: dict[str, _FlowBucket] = {}

    def add(
        self,
        crossings: Sequence[LineCrossing],
        t: float,
        camera_id: str,
        flux: Mapping[str, tuple[float, float]] | None = None,
    ) -> list[LineSample]:
        """Record one analysed frame of ``camera_id`` at ``t`` seconds and its crossings,
        and, when measured, its track-free crossings per line (``flux``: (in, out)).

        Returns the samples of the bucket this frame closed (empty if none closed).
        Raises ValueError for a crossing of another camera or of an unknown line.
        """
        if not math.isfinite(t):
            raise ValueError(f"t must be a finite time in seconds, got {t}")
        lines = self._lines.get(camera_id, {})
        for c in crossings:
            if c.camera_id != camera_id or c.line_id not in lines:
                raise ValueError(
                    f"crossing of line '{c.line_id}' on camera '{c.camera_id}' does not belong "
                    f"to camera '{camera_id}' (its lines: {sorted(lines)})"
                )
            if c.direction not in (IN, OUT):
                raise ValueError(f"crossing direction must be 'in' or 'out', got {c.direction!r}")
        if not lines:
            return []
        start = math.floor(t / self.bucket_s) * self.bucket_s
        closed: list[LineSample] = []
        bucket = self._open.get(camera_id)
        if bucket is not None and bucket.start != start:
            closed = self._close(camera_id)
            bucket = None
        if bucket is None:
            bucket = _FlowBucket(start=start, count_in={}, count_out={}, saved_t=t)
            self._open[camera_id] = bucket
        for c in crossings:
            counts = bucket.count_in if c.direction == IN else bucket.count_out
            counts[c.line_id] = counts.get(c.line_id, 0) + 1
        if flux:
            if bucket.flux is None:
                bucket.flux = {line_id: [0.0, 0.0] for line_id in lines}
            for line_id, (got_in, got_out) in flux.items():
                pair = bucket.flux[line_id]
                pair[0] += got_in
                pair[1] += got_out
        return closed

    def checkpoint(self, t: float, camera_id: str) -> list[LineSample]:
        """The open bucket of ``camera_id`` as provisional samples (``bucket_s`` = the
        seconds covered up to the frame at ``t``), when ``checkpoint_s`` or more have
        passed since its last checkpoint or its opening; otherwise nothing.  Call it
        after :meth:`add` of the same frame.  The bucket stays open."""
        bucket = self._open.get(camera_id)
        if bucket is None or t - bucket.saved_t < self.checkpoint_s:
            return []
        bucket.saved_t = t
        return self._samples(camera_id, bucket, min(t - bucket.start, self.bucket_s))

    def flush(self) -> list[LineSample]:
        """Close every open bucket (end of a run) and return its samples."""
        out: list[LineSample] = []
        for camera_id in sorted(self._open):
            out.extend(self._close(camera_id))
        return out

    def _close(self, camera_id: str) -> list[LineSample]:
        return self._samples(camera_id, self._open.pop(camera_id), self.bucket_s)

    def _samples(self, camera_id: str, bucket: _FlowBucket, span_s: float) -> list[LineSample]:
        """One sample per line of the camera for ``bucket``, its flow over ``span_s``."""
        samples = []
        for line_id, line in self._lines[camera_id].items():
            n_in = bucket.count_in.get(line_id, 0)
            n_out = bucket.count_out.get(line_id, 0)
            flow = (n_in + n_out) / line.width_m / (span_s / 60.0)
            fluxed = None if bucket.flux is None else bucket.flux[line_id]
            samples.append(
                LineSample(
                    camera_id=camera_id,
                    line_id=line_id,
                    t=bucket.start,
                    bucket_s=span_s,
                    count_in=n_in,
                    count_out=n_out,
                    width_m=line.width_m,
                    flow_per_m_min=flow,
                    los=flow_los(flow),
                    flux_in=None if fluxed is None else fluxed[0],
                    flux_out=None if fluxed is None else fluxed[1],
                )
            )
        return samples
