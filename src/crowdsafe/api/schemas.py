"""Response schemas of the HTTP API.  Aggregates only: no box, pixel or track id.

A field that takes one of a few words is typed by its enum, so the OpenAPI lists the
words; the JSON carries them as plain strings.  :class:`ZoneSamplePublic`,
:class:`LineSamplePublic` and :class:`AlertPublic` have exactly the fields of the stored
types they publish (``tests/test_api.py`` checks it), in the order of their JSON.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crowdsafe.ingest.health import StreamState
from crowdsafe.types import (
    AlertLevel,
    AlertRule,
    AlertState,
    CountMethod,
    LevelOfService,
    LineSample,
    SubjectKind,
    ZoneRollup,
    ZoneSample,
)

__all__ = [
    "AlertPublic",
    "CameraHealthPublic",
    "CameraPublic",
    "Health",
    "LinePublic",
    "LineSamplePublic",
    "LineSeriesPublic",
    "SeriesPublic",
    "SinkHealthPublic",
    "ZonePublic",
    "ZoneRollupPublic",
    "ZoneSamplePublic",
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZoneSamplePublic(_Out):
    camera_id: str
    zone_id: str
    t: float = Field(description="Start of the time bucket, Unix seconds.")
    count: float = Field(description="Mean persons in the zone over the bucket.")
    count_max: int = Field(description="Most persons seen in one frame of the bucket.")
    area_m2: float = Field(description="Ground area of the zone, m².")
    density_per_m2: float = Field(
        description="Estimated true density, persons/m²: the count over the ground area; "
        "a detection count is first corrected for the detector's measured precision and recall."
    )
    density_low_per_m2: float = Field(description="Lower end of the 95 % interval.")
    density_high_per_m2: float = Field(description="Upper end of the 95 % interval.")
    los: LevelOfService = Field(description="Level of service A..F.")
    frames: int = Field(description="Frames analysed in the bucket.")
    method: CountMethod = Field(
        description="What counted the people: 'detection' (one by one, sparse zones) or "
        "'density' (the density-map model, dense zones)."
    )
    held: bool = Field(
        description="True when no frame of the bucket was analysed afresh: the scene had "
        "not changed, so the count repeats the last analysed frame's (never a zero for "
        "people still there); re-measured at least every skip_unchanged.max_hold_s."
    )
    speed_m_s: float | None = Field(
        None,
        description="Mean ground speed of the people in the zone over the bucket, m/s "
        "(optical flow through the calibration); null when no one's motion was measured.",
    )
    speed_sd_m_s: float | None = Field(
        None, description="Standard deviation of the people's speeds, m/s; null with speed_m_s."
    )
    time_to_clear_min: float | None = Field(
        None,
        description="Minutes the zone's estimated people need to leave through its declared "
        "exits at their capacity; null for a zone without exits.",
    )
    pressure_per_s2: float | None = Field(
        None,
        description="Crowd pressure of the zone's busiest 2-m ground cell over the bucket, "
        "s^-2: density times the variance of the cell's velocity over the last 10 s "
        "(Helbing et al. 2007: turbulence beyond about 0.02); null when not measured.",
    )
    fd_speed_ratio: float | None = Field(
        None,
        description="Mean speed over the speed Weidmann's fundamental diagram gives at the "
        "zone's density (from 0.5 persons/m²); well under 1: slower than its density explains.",
    )

    @classmethod
    def of(cls, s: ZoneSample) -> ZoneSamplePublic:
        return cls.model_validate(s.to_dict())


class CameraHealthPublic(_Out):
    camera_id: str
    state: StreamState = Field(
        description="starting, live, stalled, reconnecting, failed or stopped."
    )
    since: float = Field(description="When the camera entered this state, Unix seconds.")
    input_fps: float = Field(description="Frames arriving from the source per second.")
    analysed_fps: float = Field(description="Frames analysed per second.")
    lag_s: float | None = Field(description="Analysis time minus capture time, last frame.")
    lag_p50_s: float | None
    lag_p95_s: float | None
    reconnects: int = Field(description="Times the camera came back after being lost.")
    attempts: int = Field(description="Connection attempts, successful or not.")
    frames_received: int
    frames_analysed: int
    last_frame_age_s: float | None
    last_error: str | None = Field(description="Last error, with credentials redacted.")
    source: str = Field(description="The source URL with credentials redacted.")
    decode_mode: Literal["all", "nonref", "keyframes"] | None = Field(
        None,
        description="Which frames are decoded: all, nonref (frames others refer to) or "
        "keyframes; null before the stream opens or for an image folder.",
    )
    keyframe_interval_frames: int | None = Field(
        None, description="The stream's keyframe interval measured from its packets, frames."
    )
    keyframe_interval_s: float | None = Field(
        None, description="The same interval in seconds; null until two keyframes were seen."
    )
    decode_note: str | None = Field(
        None,
        description="Why the decode mode is what it is when it is not the one configured "
        "(e.g. a keyframe interval longer than the analysis period).",
    )
    node_id: str | None = Field(
        None, description="In a fleet: the node analysing the camera now; null otherwise."
    )
    moves: int | None = Field(
        None, description="In a fleet: times the camera was moved to another node."
    )


class CameraPublic(_Out):
    id: str
    name: str
    site: str = Field(description="The id of the site the camera belongs to.")
    zones: list[str]
    health: CameraHealthPublic


class ZonePublic(_Out):
    id: str
    camera_id: str
    status: str = Field(
        description="'ok', or 'no_data' when the camera is down or its samples are stale "
        "(never reported as zero people)."
    )
    name: str
    profile: str
    area_m2: float
    polygon_px: list[tuple[float, float]]
    latest: ZoneSamplePublic | None


class ZoneRollupPublic(_Out):
    camera_id: str
    zone_id: str
    t: float = Field(description="Start of the minute or hour, Unix seconds (UTC).")
    bucket_s: float = Field(description="60 or 3600 s.")
    samples: int = Field(
        description="Stored buckets aggregated (fewer than a full period when the camera was down)."
    )
    frames: int = Field(description="Frames analysed in them.")
    count_mean: float = Field(description="Mean persons over those samples.")
    count_max: int = Field(description="Most persons seen in one frame.")
    area_m2: float = Field(description="Ground area of the zone, m².")
    density_mean_per_m2: float = Field(description="Mean of the samples' densities, persons/m².")
    density_max_per_m2: float = Field(description="Highest sample density, persons/m².")
    los_max: LevelOfService = Field(
        description="Worst level of service among the samples (that of the highest density)."
    )
    held: int = Field(description="Samples that repeated an unchanged scene.")

    @classmethod
    def of(cls, r: ZoneRollup) -> ZoneRollupPublic:
        return cls.model_validate(r.to_dict())


class SeriesPublic(_Out):
    zone_id: str
    since: float | None
    until: float | None
    resolution: str = Field(
        description="What the rows are: the raw bucket ('1s'; rows in samples), or '1m' / "
        "'1h' (rows in rollups)."
    )
    resolution_reason: str = Field(
        description="Why: 'asked for', or what resolution=auto weighed (the window's span, "
        "the row limit, how long each resolution is kept)."
    )
    samples: list[ZoneSamplePublic] = Field(description="The raw samples; empty for 1m / 1h.")
    rollups: list[ZoneRollupPublic] = Field(
        description="The 1-min or 1-h rollups; empty for the raw resolution."
    )


class Health(_Out):
    status: str = Field(
        description="ok, or degraded when a camera, an alert sink or the store is not."
    )
    site: str
    cameras: dict[str, str]
    sinks: dict[str, str] = Field(
        default_factory=dict, description="Alert sinks: ok, disconnected or failing."
    )
    store: str = Field(
        "ok", description="ok, or disconnected while writes to the database fail (queued)."
    )


class AlertPublic(_Out):
    id: str
    rule: AlertRule = Field(description="density, los, rise, predictive or flow.")
    subject_kind: SubjectKind = Field(description="zone or line.")
    subject_id: str
    camera_id: str
    level: AlertLevel = Field(description="advisory, warning or critical.")
    state: AlertState = Field(description="open, acknowledged or resolved.")
    message: str
    value: float
    threshold: float
    opened_at: float
    updated_at: float
    acknowledged_at: float | None
    resolved_at: float | None


class SinkHealthPublic(_Out):
    name: str
    kind: str
    connected: bool | None
    delivered: int
    failed: int
    retries: int
    queue_depth: int
    dropped: int
    last_error: str | None
    last_success_at: float | None


class LineSamplePublic(_Out):
    camera_id: str
    line_id: str
    t: float = Field(description="Start of the flow bucket, Unix seconds.")
    bucket_s: float
    count_in: int
    count_out: int
    width_m: float
    flow_per_m_min: float = Field(description="Persons (both ways) per metre per minute.")
    los: LevelOfService
    flux_in: float | None = Field(
        None,
        description="Crossings 'in' counted without tracks (density beside the line times "
        "the people's normal velocity, corrected by the detector's precision and recall); "
        "null where not measured.",
    )
    flux_out: float | None = Field(None, description="The same 'out'.")

    @classmethod
    def of(cls, s: LineSample) -> LineSamplePublic:
        return cls.model_validate(s.to_dict())


class LinePublic(_Out):
    id: str
    camera_id: str
    name: str
    points_px: list[tuple[float, float]]
    width_m: float
    latest: LineSamplePublic | None


class LineSeriesPublic(_Out):
    line_id: str
    since: float | None
    until: float | None
    samples: list[LineSamplePublic]
