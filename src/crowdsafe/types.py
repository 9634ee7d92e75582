"""The named types that cross each pipeline stage boundary.

``source -> Frame -> detect -> Detections -> count -> ZoneCounts -> bucket -> ZoneSample
-> store``.  No stage passes positional tuples or loose dicts to the next one, and a
field that takes one of a few words is a :class:`~enum.StrEnum` whose values are those
words, so stored rows, JSON and the API read exactly as plain strings would (each
``to_dict`` writes an enum as its plain string).

Privacy rule carried here: :class:`Frame` holds pixels, :class:`Detections` holds
boxes and :class:`LiveView` pairs the two; they live in memory only.
:class:`ZoneCounts` is per frame and holds numbers only.  :class:`ZoneSample` is the
first type that may be stored or sent out, and it is an aggregate: it carries no box,
no pixel and no track id (see docs/adr/0001-aggregates-only.md).

The stored types (:class:`ZoneSample`, :class:`LineSample`, :class:`Alert`) declare
their fields once, here: the SQLite columns are derived from them
(``store/sqlite.py``), and tests check the schema and the API schemas against them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = [
    "Alert",
    "AlertEvent",
    "AlertEventKind",
    "AlertLevel",
    "AlertRule",
    "AlertState",
    "CountMethod",
    "Detections",
    "Direction",
    "Frame",
    "LevelOfService",
    "LineCrossing",
    "LineSample",
    "LiveView",
    "SubjectKind",
    "ZoneCounts",
    "ZoneRollup",
    "ZoneSample",
]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded video frame.

    ``t`` is the capture time in seconds: Unix epoch seconds for live and paced
    sources, seconds since the start of the file for unpaced file playback.
    ``image`` is an (H, W, 3) uint8 array in RGB order.  ``source_size`` is the
    camera's own (width, height) when ``image`` was made smaller for the detector
    (``ingest/convert.py``), None when it is the camera's frame as it is; detections
    are always mapped back to the camera's pixels, where zones and lines are drawn,
    and :meth:`full_image` gives the full-size frame to what needs every pixel.
    """

    camera_id: str
    t: float
    image: npt.NDArray[np.uint8]
    index: int = 0
    source_size: tuple[int, int] | None = None
    # The camera's full-size RGB frame, made on first call and kept (None: ``image`` is
    # full size): for the density model's occasional runs and the live view only.
    source_image: Callable[[], npt.NDArray[np.uint8]] | None = None

    def full_image(self) -> npt.NDArray[np.uint8]:
        """The frame at the camera's own size (``image`` itself when it is)."""
        return self.image if self.source_image is None else self.source_image()

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def _empty_boxes() -> npt.NDArray[np.float32]:
    return np.zeros((0, 4), dtype=np.float32)


def _empty_scores() -> npt.NDArray[np.float32]:
    return np.zeros((0,), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Detections:
    """People found in one frame, as parallel arrays.

    ``xyxy`` is (N, 4) float32 in pixels of the source frame (x1, y1, x2, y2),
    ``score`` is (N,) float32 in [0, 1].  ``track_id`` is filled by a tracker and
    never leaves the process.
    """

    xyxy: npt.NDArray[np.float32] = field(default_factory=_empty_boxes)
    score: npt.NDArray[np.float32] = field(default_factory=_empty_scores)
    track_id: npt.NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {self.xyxy.shape}")
        if self.score.shape != (self.xyxy.shape[0],):
            raise ValueError(
                f"score must have shape ({self.xyxy.shape[0]},) to match xyxy, "
                f"got {self.score.shape}"
            )
        if self.track_id is not None and self.track_id.shape != self.score.shape:
            raise ValueError(
                f"track_id must have shape {self.score.shape}, got {self.track_id.shape}"
            )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Detections:
        """Select detections by a boolean mask or an index array."""
        return Detections(
            xyxy=self.xyxy[index],
            score=self.score[index],
            track_id=None if self.track_id is None else self.track_id[index],
        )

    def keep(self, mask: npt.NDArray[np.bool_]) -> Detections:
        """The detections where the boolean ``mask`` is true: this object itself when it
        keeps every one (the usual case of a threshold, met on every frame of every
        camera: no copies, no new object), a new one as ``self[mask]`` otherwise."""
        return self if mask.all() else self[mask]

    @property
    def ground_points(self) -> npt.NDArray[np.float64]:
        """(N, 2) image points under each person's feet: the bottom-centre of each box."""
        xyxy = self.xyxy
        feet = np.empty((xyxy.shape[0], 2), dtype=np.float64)
        # In float64 before the sum, so the mid-point is the exact one of the float32 box.
        np.add(xyxy[:, 0], xyxy[:, 2], out=feet[:, 0], dtype=np.float64)
        feet[:, 0] /= 2.0
        feet[:, 1] = xyxy[:, 3]
        return feet


@dataclass(frozen=True, slots=True)
class LiveView:
    """The last analysed frame of a camera and the people found in it.

    ``seq`` numbers the frames a camera's reader delivered (a newer view has a larger
    ``seq``), ``image`` is the (H, W, 3) uint8 RGB frame and ``people`` the detections
    of *that* frame, weak ones included, so every head can be pixelated.

    Privacy rule: a view holds raw pixels.  It lives in memory only and is never
    served, stored or logged as it is; what leaves is the anonymised picture made from
    it (heads of ``people`` and any face pixelated first).  A camera's view is one object,
    replaced whole, so a reader can never pair a frame with the people of another
    frame, which would pixelate the wrong places.
    """

    seq: int
    image: npt.NDArray[np.uint8]
    people: Detections


class CountMethod(StrEnum):
    """What counted the people of a zone."""

    DETECTION = "detection"
    """One by one, with the person detector: sparse zones, and the tracks lines need."""
    DENSITY = "density"
    """The density-map model: dense crowds, where detection misses people."""


@dataclass(frozen=True, slots=True)
class ZoneCounts:
    """The people of one analysed frame per zone of a camera, and what counted each.

    ``counts`` maps a zone id to persons in that zone (a float: the density model
    counts fractions of people); ``methods`` maps the same zone ids to the method of
    each count.  Neither changes once built.  Raises ValueError when the two do not
    name the same zones.
    """

    counts: Mapping[str, float]
    methods: Mapping[str, CountMethod]

    def __post_init__(self) -> None:
        if self.counts.keys() != self.methods.keys():
            raise ValueError(
                f"zone counts and methods must name the same zones, got counts for "
                f"{sorted(self.counts)} and methods for {sorted(self.methods)}"
            )

    @classmethod
    def detected(cls, counts: Mapping[str, float]) -> ZoneCounts:
        """Counts made by detection in every zone."""
        return cls(counts, dict.fromkeys(counts, CountMethod.DETECTION))


class LevelOfService(StrEnum):
    """Fruin / HCM level of service, A (free) to F (jammed)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"


@dataclass(frozen=True, slots=True)
class ZoneSample:
    """The crowd in one zone over one time bucket: an aggregate, safe to store.

    ``t`` is the start of the bucket (Unix seconds), ``count`` the mean number of
    people detected over the frames of the bucket, ``count_max`` the most detected in
    one frame.  ``density_per_m2`` is the estimate of the true density: the count
    corrected for the detector's measured precision and recall, over the zone's ground
    area; ``density_low_per_m2``/``density_high_per_m2`` its 95 % interval (detector and
    calibration error, see ``measure/uncertainty.py``).  ``los`` is the level of service
    of that density under the zone's profile.  ``method`` says what counted the people
    (:class:`CountMethod`: one by one, or the density-map model in crowds).  ``held``
    says that no frame of the bucket was analysed afresh: the scene had not changed, so
    each frame repeated the last analysed frame's count (``measure/change.py``).
    ``speed_m_s`` is the mean ground speed of the people measured in the zone over the
    bucket (optical flow through the calibration, ``measure/motion.py``), and
    ``speed_sd_m_s`` the spread of their speeds; both None when no one's motion was
    measured (no person found, a camera's first frame, motion off).
    ``time_to_clear_min`` is how long the zone's estimated people (density times area)
    take to leave through its declared exits at their capacity (their widths times
    ``thresholds.exit_capacity_per_m_min``); None for a zone without exits.
    ``pressure_per_s2`` is the crowd pressure of the zone's busiest ground cell, the
    highest over the bucket (``measure/pressure.py``), and ``fd_speed_ratio`` the mean
    speed over the speed Weidmann's fundamental diagram gives at the zone's density
    (walkway zones from 0.5 persons/m²): well under 1, held up by more than its density;
    both None when not measured.
    """

    camera_id: str
    zone_id: str
    t: float
    count: float
    count_max: int
    area_m2: float
    density_per_m2: float
    los: LevelOfService
    frames: int
    density_low_per_m2: float = 0.0
    density_high_per_m2: float = 0.0
    method: CountMethod = CountMethod.DETECTION
    held: bool = False
    speed_m_s: float | None = None
    speed_sd_m_s: float | None = None
    time_to_clear_min: float | None = None
    pressure_per_s2: float | None = None
    fd_speed_ratio: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "camera_id": self.camera_id,
            "zone_id": self.zone_id,
            "t": self.t,
            "count": self.count,
            "count_max": self.count_max,
            "area_m2": self.area_m2,
            "density_per_m2": self.density_per_m2,
            "density_low_per_m2": self.density_low_per_m2,
            "density_high_per_m2": self.density_high_per_m2,
            "los": self.los.value,
            "frames": self.frames,
            "method": str(self.method),
            "held": self.held,
            "speed_m_s": self.speed_m_s,
            "speed_sd_m_s": self.speed_sd_m_s,
            "time_to_clear_min": self.time_to_clear_min,
            "pressure_per_s2": self.pressure_per_s2,
            "fd_speed_ratio": self.fd_speed_ratio,
        }


@dataclass(frozen=True, slots=True)
class ZoneRollup:
    """A zone's samples over one minute or one hour, aggregated: what a long window is
    read from, and what is kept after the 1-s rows have gone (``store/rollup.py``).

    ``t`` is the start of the minute or hour (UTC, Unix seconds), ``bucket_s`` 60 or
    3600, ``samples`` how many stored buckets it aggregates (fewer than a full period
    when a camera was down), ``frames`` the frames analysed in them.  ``count_mean`` and
    ``density_mean_per_m2`` are the means over those samples, ``count_max`` the most
    persons seen in one frame, ``density_max_per_m2`` the highest sample density, and
    ``los_max`` the worst level of service among the samples: the level of the highest
    density, since a zone's levels grow with its density.  ``held`` counts the samples
    that repeated an unchanged scene.
    """

    camera_id: str
    zone_id: str
    t: float
    bucket_s: float
    samples: int
    frames: int
    count_mean: float
    count_max: int
    area_m2: float
    density_mean_per_m2: float
    density_max_per_m2: float
    los_max: LevelOfService
    held: int

    def to_dict(self) -> dict[str, object]:
        return {
            "camera_id": self.camera_id,
            "zone_id": self.zone_id,
            "t": self.t,
            "bucket_s": self.bucket_s,
            "samples": self.samples,
            "frames": self.frames,
            "count_mean": self.count_mean,
            "count_max": self.count_max,
            "area_m2": self.area_m2,
            "density_mean_per_m2": self.density_mean_per_m2,
            "density_max_per_m2": self.density_max_per_m2,
            "los_max": self.los_max.value,
            "held": self.held,
        }


class Direction(StrEnum):
    """Which way a person crossed a counting line (see ``measure/lines.py``)."""

    IN = "in"
    """To the side on the left hand of the line's direction, from p1 to p2."""
    OUT = "out"
    """The other way."""


@dataclass(frozen=True, slots=True)
class LineCrossing:
    """One person crossing a counting line.  Carries no track id: only which line,
    when, and which way."""

    camera_id: str
    line_id: str
    t: float
    direction: Direction


@dataclass(frozen=True, slots=True)
class LineSample:
    """Flow through one counting line over one time bucket: an aggregate, safe to store.

    ``flow_per_m_min`` is persons (both directions) per metre of line width per minute,
    from the tracks' crossings; ``flux_in``/``flux_out`` the crossings counted without
    tracks (``measure/flux.py``), None where not measured.
    """

    camera_id: str
    line_id: str
    t: float
    bucket_s: float
    count_in: int
    count_out: int
    width_m: float
    flow_per_m_min: float
    los: LevelOfService
    flux_in: float | None = None
    flux_out: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "camera_id": self.camera_id,
            "line_id": self.line_id,
            "t": self.t,
            "bucket_s": self.bucket_s,
            "count_in": self.count_in,
            "count_out": self.count_out,
            "width_m": self.width_m,
            "flow_per_m_min": self.flow_per_m_min,
            "los": self.los.value,
            "flux_in": self.flux_in,
            "flux_out": self.flux_out,
        }


class AlertLevel(StrEnum):
    """Escalation tiers, lowest first."""

    ADVISORY = "advisory"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return ("advisory", "warning", "critical").index(self.value)


class AlertRule(StrEnum):
    """The rule that raised an alert (thresholds in ``alerts/settings.py``)."""

    DENSITY = "density"
    """A zone's estimated density, persons/m²."""
    LOS = "los"
    """A zone's level of service, A..F."""
    RISE = "rise"
    """A zone's significant rate of rise, persons/m² per minute."""
    PREDICTIVE = "predictive"
    """A zone whose trend reaches the critical density within the horizon."""
    FLOW = "flow"
    """A line's flow, persons/m/min."""
    CLEAR = "time_to_clear"
    """A zone whose people need longer than the site allows to leave through its exits."""
    PRESSURE = "pressure"
    """A zone's crowd pressure (density times velocity variance), s^-2."""
    SLOW = "slow_for_density"
    """A walkway zone moving slower than its density explains (1 - fd_speed_ratio)."""


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class SubjectKind(StrEnum):
    """What an alert is about."""

    ZONE = "zone"
    LINE = "line"


@dataclass(frozen=True, slots=True)
class Alert:
    """A condition on a zone or a line that an operator must see.

    ``subject_kind`` says whether ``subject_id`` is a zone or a line; ``value`` is the
    measured quantity that triggered it (persons/m², persons/m/min, seconds to
    critical, ...) and ``threshold`` the level it crossed.  Times are Unix seconds.
    """

    id: str
    rule: AlertRule
    subject_kind: SubjectKind
    subject_id: str
    camera_id: str
    level: AlertLevel
    state: AlertState
    message: str
    value: float
    threshold: float
    opened_at: float
    updated_at: float
    acknowledged_at: float | None = None
    resolved_at: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "rule": str(self.rule),
            "subject_kind": str(self.subject_kind),
            "subject_id": self.subject_id,
            "camera_id": self.camera_id,
            "level": self.level.value,
            "state": self.state.value,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "acknowledged_at": self.acknowledged_at,
            "resolved_at": self.resolved_at,
        }


class AlertEventKind(StrEnum):
    """What happened to an alert."""

    OPENED = "opened"
    ESCALATED = "escalated"
    """Its level went up (an acknowledged alert is open again)."""
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    """The condition cleared, or an operator resolved it."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """What happened to an alert (:class:`AlertEventKind`).  This is what sinks
    (webhook, MQTT) deliver."""

    kind: AlertEventKind
    alert: Alert

    def to_dict(self) -> dict[str, object]:
        return {"event": str(self.kind), "alert": self.alert.to_dict()}
