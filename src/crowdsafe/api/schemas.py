"""Response schemas of the HTTP API.  Aggregates only: no box, pixel or track id."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from crowdsafe.types import ZoneSample

__all__ = ["CameraPublic", "Health", "SeriesPublic", "ZonePublic", "ZoneSamplePublic"]


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


class CameraPublic(_Out):
    id: str
    name: str
    state: str = Field(description="starting, live, stopped or failed.")
    frames_analysed: int
    analysed_fps: float
    last_error: str | None
    zones: list[str]


class ZonePublic(_Out):
    id: str
    camera_id: str
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
