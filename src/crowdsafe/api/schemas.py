"""Response schemas of the HTTP API.  Aggregates only: no box, pixel or track id."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from crowdsafe.types import ZoneSample

__all__ = [
    "CameraHealthPublic",
    "CameraPublic",
    "Health",
    "SeriesPublic",
    "ZonePublic",
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
    density_per_m2: float = Field(description="Persons per m².")
    los: str = Field(description="Level of service A..F.")
    frames: int = Field(description="Frames analysed in the bucket.")

    @classmethod
    def of(cls, s: ZoneSample) -> ZoneSamplePublic:
        return cls.model_validate(s.to_dict())


class CameraHealthPublic(_Out):
    camera_id: str
    state: str = Field(description="starting, live, stalled, reconnecting, failed or stopped.")
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


class CameraPublic(_Out):
    id: str
    name: str
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


class SeriesPublic(_Out):
    zone_id: str
    since: float | None
    until: float | None
    samples: list[ZoneSamplePublic]


class Health(_Out):
    status: str = Field(description="ok, or degraded when a camera has failed.")
    site: str
    cameras: dict[str, str]
