"""The crowdsafe configuration: one YAML file, validated strictly.

Every model forbids unknown keys (a typo must not silently become a default) and every
field is described and bounded.  :func:`load_config` is the only way in; it turns every
problem into a :class:`~crowdsafe.errors.ConfigError` whose message names the file, the
line, the key path (``cameras[0].zones[1].polygon``) and what would be valid.
Nothing is read at import time.
"""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crowdsafe.alerts.settings import AlertsConfig, LevelsConfig
from crowdsafe.errors import CalibrationError, ConfigError
from crowdsafe.measure.geometry import Homography, polygon_area, polygon_is_simple
from crowdsafe.measure.los import QUEUE_SPACE_M2, WALKWAY_FLOW_PER_M_MIN, WALKWAY_SPACE_M2, Bands

__all__ = [
    "CalibrationConfig",
    "CameraConfig",
    "CrowdsafeConfig",
    "DetectorConfig",
    "ServerConfig",
    "SourceConfig",
    "StorageConfig",
    "ThresholdsConfig",
    "ZoneConfig",
    "load_config",
    "parse_config",
]

SAMPLE_PREFIX = "sample:"
_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Identifier = Annotated[
    str,
    Field(
        pattern=_ID_PATTERN,
        description="lower-case letters, digits, '-' and '_', starting with a letter or digit",
    ),
]
Point = tuple[float, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    url: str = Field(
        description="Where frames come from: rtsp://, rtsps://, http(s):// (MJPEG, HLS), "
        "device:/dev/videoN, a folder of images, a video file (paths relative to the "
        "config file), or 'sample:vtest' for the bundled sample video. Credentials in the "
        "URL are never shown: logs, errors, API and dashboard get it redacted.",
        min_length=1,
    )
    transport: Literal["tcp", "udp"] = Field(
        "tcp",
        description="RTSP transport. TCP survives lossy networks and NAT; UDP has less delay.",
    )
    loop: bool = Field(False, description="Start a file (or image folder) again when it ends.")
    realtime: bool = Field(
        True,
        description="Pace a file at its own frame rate, as a live camera would deliver it. "
        "False reads a recording as fast as it can be analysed, dropping no frame.",
    )
    open_timeout_s: float = Field(
        10.0, gt=0.0, le=120.0, description="Give up opening the source after this long."
    )
    stall_s: float = Field(
        5.0,
        gt=0.0,
        le=300.0,
        description="A live source that delivers no frame for this long is stalled: reconnect.",
    )
    reconnect_min_s: float = Field(
        0.5, gt=0.0, le=60.0, description="First reconnect delay; doubles on each failure."
    )
    reconnect_max_s: float = Field(
        2.0,
        gt=0.0,
        le=3600.0,
        description="Longest reconnect delay (times a random 0.5-1 jitter). Short by default: "
        "a camera that comes back is counted again within a few seconds (the wait plus the "
        "connection).",
    )
    probe_s: float = Field(
        0.5,
        gt=0.0,
        le=30.0,
        description="How much of a live stream (RTSP, HTTP) to read to learn its format "
        "before the first frame. Raise it for a camera whose stream is not recognised.",
    )
    folder_fps: float = Field(
        1.0, gt=0.0, le=60.0, description="Frame rate of an image folder source."
    )
    format: str | None = Field(
        None,
        pattern=r"^[a-z0-9_,]+$",
        description="Force an FFmpeg input format (e.g. 'mjpeg', 'v4l2'); normally detected.",
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> SourceConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_min_s "
                f"({self.reconnect_min_s})"
            )
        return self


class DetectorConfig(_Strict):
    kind: Literal["nanodet"] = Field("nanodet", description="Which person detector.")
    score_threshold: float = Field(
        0.35, ge=0.05, le=0.95, description="Minimum person score a detection must reach."
    )
    min_person_height_px: float = Field(
        0.0,
        ge=0.0,
        le=4000.0,
        description="Ignore boxes shorter than this many pixels (too far away to count "
        "reliably in this view). 0 keeps every size.",
    )
    # Measured by `crowdsafe eval counts` on MOT15 TUD-Stadtmitte (README, "Measured").
    precision: float = Field(
        0.93,
        gt=0.0,
        le=1.0,
        description="Measured precision of the detector in this kind of view; with recall it "
        "turns a count into an estimate with an interval.",
    )
    recall: float = Field(
        0.68, gt=0.0, le=1.0, description="Measured recall of the detector in this kind of view."
    )
    tile_px: int = Field(
        0,
        ge=0,
        le=4096,
        description="Also detect on overlapping tiles of about this many pixels, for large "
        "frames where people are small (one more model run per tile). 0: no tiling.",
    )

    @field_validator("tile_px")
    @classmethod
    def _tile_size(cls, v: int) -> int:
        if 0 < v < 128:
            raise ValueError(f"tile_px must be 0 (no tiling) or at least 128, got {v}")
        return v


class DensityConfig(_Strict):
    """How each zone of a camera is counted: detection (people one by one, with
    tracks) while it is sparse, the density-map model when it is dense."""

    method: Literal["auto", "detection", "density"] = Field(
        "auto",
        description="'auto' switches each zone between detection and the density model by "
        "its measured density, with hysteresis; 'detection' or 'density' fixes the method.",
    )
    switch_up_per_m2: float = Field(
        1.5,
        gt=0.0,
        le=10.0,
        description="A zone measured at or above this density (p/m²) is counted with the "
        "density model (default: Fruin walkway level of service D, where bodies start to "
        "hide each other from a raised camera).",
    )
    switch_down_per_m2: float = Field(
        1.0,
        gt=0.0,
        le=10.0,
        description="A zone counted with the density model goes back to detection below this.",
    )
    switch_up_ratio: float = Field(
        1.5,
        ge=1.0,
        le=10.0,
        description="Also switch to the density model when it counts this many times as many "
        "people as detection finds (and at least 3 more): detection is missing them.",
    )
    switch_down_ratio: float = Field(
        1.2,
        ge=1.0,
        le=10.0,
        description="Go back to detection only once the density model counts less than this "
        "many times the detection count (plus 3), and the zone is below switch_down_per_m2.",
    )
    probe_interval_s: float = Field(
        10.0,
        gt=0.0,
        le=3600.0,
        description="While every zone is sparse, run the density model this often anyway, "
        "to notice a crowd the detector cannot see into.",
    )
    max_fps: float = Field(
        2.0,
        gt=0.0,
        le=30.0,
        description="Run the density model at most this often per camera; between runs "
        "dense zones keep the last density count.",
    )
    relative_error: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="Relative count error of the density model (one standard deviation) "
        "for the density interval; measured by `crowdsafe eval density`.",
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> DensityConfig:
        if self.switch_down_per_m2 >= self.switch_up_per_m2:
            raise ValueError(
                f"switch_down_per_m2 ({self.switch_down_per_m2}) must be below "
                f"switch_up_per_m2 ({self.switch_up_per_m2}), or the method would flap"
            )
        if self.switch_down_ratio >= self.switch_up_ratio:
            raise ValueError(
                f"switch_down_ratio ({self.switch_down_ratio}) must be below "
                f"switch_up_ratio ({self.switch_up_ratio}), or the method would flap"
            )
        return self


class TrackingConfig(_Strict):
    """Tracker settings.  Defaults measured with ``crowdsafe eval lines`` over 29 lines on
    the two MOT15 TUD sequences at 1-3 frame steps (README, "Measured")."""

    high_score: float = Field(
        0.35, ge=0.05, le=0.99, description="Detections at least this sure start and extend tracks."
    )
    low_score: float = Field(
        0.1, ge=0.01, le=0.99, description="Weaker detections may only extend existing tracks."
    )
    match_iou: float = Field(
        0.2, gt=0.0, le=1.0, description="Least overlap between a track and a detection to match."
    )
    min_hits: int = Field(1, ge=1, le=30, description="Matches before a track is reported.")
    max_lost_s: float = Field(
        2.0, gt=0.0, le=30.0, description="How long a lost track is kept to be found again."
    )
    recover_dist: float = Field(
        0.0,
        ge=0.0,
        le=5.0,
        description="Let a sure detection this many box heights from where a lost track was "
        "last seen take that track back (people found again after an occlusion keep their "
        "track, so a line between the two sightings still counts them). 0: off.",
    )

    @model_validator(mode="after")
    def _order(self) -> TrackingConfig:
        if self.low_score >= self.high_score:
            raise ValueError(
                f"low_score ({self.low_score}) must be below high_score ({self.high_score})"
            )
        return self


class CalibrationConfig(_Strict):
    image_points: list[Point] = Field(
        min_length=4, description="At least 4 points on the ground in the image, [x, y] pixels."
    )
    ground_points_m: list[Point] = Field(
        min_length=4,
        description="The same points' positions on the ground, [x, y] metres, same order.",
    )
    max_error_m: float = Field(
        0.5,
        gt=0.0,
        le=10.0,
        description="Refuse the calibration if any point reprojects further than this.",
    )

    @model_validator(mode="after")
    def _fits(self) -> CalibrationConfig:
        if len(self.image_points) != len(self.ground_points_m):
            raise ValueError(
                f"image_points has {len(self.image_points)} points but ground_points_m has "
                f"{len(self.ground_points_m)}; give each image point its ground position"
            )
        try:
            self.homography()
        except CalibrationError as exc:
            raise ValueError(str(exc)) from None
        return self

    def homography(self) -> Homography:
        """The fitted image -> ground homography (fits again; cheap for a few points)."""
        return Homography.fit(self.image_points, self.ground_points_m, max_error_m=self.max_error_m)


class ZoneConfig(_Strict):
    id: Identifier
    name: str = Field("", max_length=120, description="Name shown on the dashboard.")
    polygon: list[Point] = Field(
        min_length=3, description="The zone's outline in image pixels, [x, y] vertices in order."
    )
    profile: Literal["walkway", "queue"] = Field(
        "walkway",
        description="Which level-of-service table applies: people moving ('walkway') or "
        "standing and waiting ('queue').",
    )

    alert_density_per_m2: LevelsConfig | None = Field(
        None, description="This zone's own density alert levels (default: alerts.density_per_m2)."
    )

    @field_validator("polygon")
    @classmethod
    def _simple(cls, polygon: list[Point]) -> list[Point]:
        if any(x < 0 or y < 0 for x, y in polygon):
            raise ValueError("polygon vertices must have non-negative pixel coordinates")
        if polygon_area(polygon) < 1.0:
            raise ValueError("polygon has no area (its vertices are on one line)")
        if not polygon_is_simple(polygon):
            raise ValueError(
                "polygon edges cross each other; list the vertices in order around the zone"
            )
        return polygon

    @property
    def display_name(self) -> str:
        return self.name or self.id


class LineConfig(_Strict):
    id: Identifier
    name: str = Field("", max_length=120, description="Name shown on the dashboard.")
    points: tuple[Point, Point] = Field(
        description="The line's two ends in image pixels. 'in' is the side on the left of "
        "the direction from the first point to the second, as drawn on the image."
    )
    width_m: float | None = Field(
        None,
        gt=0.0,
        le=500.0,
        description="Width of the passage in metres; default: the line's length on the "
        "ground through the calibration.",
    )
    alert_flow_per_m_min: LevelsConfig | None = Field(
        None, description="This line's own flow alert levels (default: alerts.flow_per_m_min)."
    )

    @field_validator("points")
    @classmethod
    def _distinct(cls, points: tuple[Point, Point]) -> tuple[Point, Point]:
        (x1, y1), (x2, y2) = points
        if (x2 - x1) ** 2 + (y2 - y1) ** 2 < 4.0:
            raise ValueError("the line's two points must be at least 2 px apart")
        return points

    @property
    def display_name(self) -> str:
        return self.name or self.id


class CameraConfig(_Strict):
    id: Identifier
    name: str = Field("", max_length=120, description="Name shown on the dashboard.")
    source: SourceConfig
    analysis_fps: float = Field(
        10.0, gt=0.0, le=60.0, description="Frames analysed per second of video, at most."
    )
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    density: DensityConfig = Field(default_factory=DensityConfig)
    calibration: CalibrationConfig
    zones: list[ZoneConfig] = Field(min_length=1, description="Counting zones of this camera.")
    lines: list[LineConfig] = Field(
        default_factory=list, description="Counting lines (flow through gates and exits)."
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Tracker settings (used for lines)."
    )

    @model_validator(mode="after")
    def _zones_on_ground(self) -> CameraConfig:
        hom = self.calibration.homography()
        if self.lines and self.analysis_fps < 4:
            raise ValueError(
                f"counting lines need analysis_fps >= 4 to follow people across them, "
                f"got {self.analysis_fps}"
            )
        for line in self.lines:
            if not hom.in_front(list(line.points)).all():
                raise ValueError(f"line '{line.id}' reaches above the horizon of the ground plane")
        for zone in self.zones:
            try:
                area = hom.area_m2(zone.polygon)
            except CalibrationError as exc:
                raise ValueError(f"zone '{zone.id}': {exc}") from None
            if area <= 0.01:
                raise ValueError(f"zone '{zone.id}' covers {area:.3f} m² of ground; too small")
        return self

    @property
    def display_name(self) -> str:
        return self.name or self.id


def _decreasing(values: Bands, what: str) -> Bands:
    if any(b >= a for a, b in itertools.pairwise(values)) or values[-1] <= 0:
        raise ValueError(f"{what} must be 5 positive numbers, strictly decreasing (A to E)")
    return values


class ThresholdsConfig(_Strict):
    walkway_space_m2: Bands = Field(
        WALKWAY_SPACE_M2,
        description="Walkway LoS: lower bounds of space per person (m²) for A..E (HCM/Fruin).",
    )
    queue_space_m2: Bands = Field(
        QUEUE_SPACE_M2,
        description="Queue LoS: lower bounds of space per person (m²) for A..E (Fruin).",
    )
    flow_per_m_min: Bands = Field(
        WALKWAY_FLOW_PER_M_MIN,
        description="Flow LoS: upper bounds of persons/m/min for A..E (HCM; 82 = Green Guide).",
    )

    @field_validator("walkway_space_m2", "queue_space_m2")
    @classmethod
    def _space(cls, v: Bands) -> Bands:
        return _decreasing(v, "space bounds")

    @field_validator("flow_per_m_min")
    @classmethod
    def _flow(cls, v: Bands) -> Bands:
        if any(b <= a for a, b in itertools.pairwise(v)) or v[0] <= 0:
            raise ValueError("flow bounds must be 5 positive numbers, strictly increasing (A to E)")
        return v

    def space_bounds(self, profile: str) -> tuple[float, ...]:
        return self.queue_space_m2 if profile == "queue" else self.walkway_space_m2


LosLetter = Literal["A", "B", "C", "D", "E", "F"]


def _default_uplift() -> dict[LosLetter, float]:
    return {"D": 1.5, "E": 2.0, "F": 2.0}


class EventConfig(_Strict):
    name: str = Field(min_length=1, max_length=120, description="What it is, e.g. 'concert'.")
    start: datetime = Field(description="Local start time, e.g. 2026-12-05T17:30 (gates open).")
    end: datetime = Field(description="Local end time.")
    zones: list[str] | None = Field(None, description="Zones it affects; all when absent.")
    factor: float | None = Field(
        None,
        gt=0.0,
        le=100.0,
        description="Expected counts during it as a multiple of a usual week's; when absent, "
        "measured from past events of the same name in the history, else left at 1 and "
        "flagged 'effect unknown'.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> EventConfig:
        if self.end <= self.start:
            raise ValueError(
                f"event '{self.name}' ends ({self.end}) before it starts ({self.start})"
            )
        return self


class StaffingConfig(_Strict):
    """Stewards per zone and slot; sources of the defaults in forecast/staffing.py."""

    persons_per_steward: float = Field(
        250.0,
        gt=0.0,
        le=100000.0,
        description="People per steward (default: NFPA 101 crowd managers, 1 per 250).",
    )
    minimum: int = Field(1, ge=0, le=1000, description="Stewards in any zone expecting people.")
    uplift: dict[LosLetter, float] = Field(
        default_factory=_default_uplift,
        description="Ratio multiplier by forecast level of service (crowdsafe's defaults, "
        "not from a standard: set your own from your risk assessment).",
    )

    @field_validator("uplift")
    @classmethod
    def _at_least_one(cls, v: dict[LosLetter, float]) -> dict[LosLetter, float]:
        for level, factor in v.items():
            if factor < 1.0:
                raise ValueError(f"uplift for {level} must be >= 1, got {factor}")
        return v


class ForecastConfig(_Strict):
    timezone: str = Field(
        "UTC", description="The site's IANA time zone: daily and weekly patterns are local."
    )
    horizon_h: int = Field(
        24, ge=1, le=168, description="Hours ahead the planning forecast covers."
    )
    history_weeks: int = Field(12, ge=2, le=104, description="Weeks of history the model fits.")
    holidays_country: str | None = Field(
        None, description="Public holidays from python-holidays, e.g. 'NZ', 'GB', 'DE'."
    )
    holidays_subdivision: str | None = Field(None, description="e.g. 'AUK' for Auckland.")
    holidays: list[date] = Field(default_factory=list, description="Further holiday dates.")
    events: list[EventConfig] = Field(default_factory=list, description="The event calendar.")
    nowcast_window_s: float = Field(
        600.0, ge=30.0, le=7200.0, description="Recent samples the live nowcast fits."
    )
    staffing: StaffingConfig = Field(default_factory=StaffingConfig)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{v}' (use an IANA name like Europe/London)"
            ) from None
        return v


class StorageConfig(_Strict):
    backend: Literal["sqlite"] = Field("sqlite", description="Which store.")
    path: str = Field(
        "crowdsafe.db", min_length=1, description="SQLite file (relative to the config file)."
    )
    bucket_s: float = Field(
        1.0, ge=0.1, le=3600.0, description="Length of one stored time bucket, seconds."
    )
    line_bucket_s: float = Field(
        60.0,
        ge=1.0,
        le=3600.0,
        description="Length of one flow bucket of a counting line, seconds (flow is "
        "persons/m/min; the Green Guide's limit is per minute).",
    )


class PrivacyConfig(_Strict):
    """What crowdsafe keeps of what it sees (see PRIVACY.md).  Aggregates and alerts keep
    as long as the database is kept; pixels only as anonymised alert snapshots, for at
    most 72 hours."""

    live_view: bool = Field(
        True,
        description="Serve each camera's latest frame, faces and heads pixelated, to the "
        "dashboard. False: no pixels leave crowdsafe at all.",
    )
    face_blur: bool = Field(
        True,
        description="Also find faces (CenterFace) and pixelate them, besides every detected "
        "person's head region.",
    )
    snapshots: bool = Field(
        True, description="Keep one anonymised snapshot of the camera when an alert opens."
    )
    snapshot_dir: str = Field(
        "snapshots", min_length=1, description="Folder of alert snapshots (relative to config)."
    )
    snapshot_retention_h: float = Field(
        72.0,
        gt=0.0,
        le=72.0,
        description="Snapshots are deleted after this many hours (at most 72).",
    )
    purge_interval_s: float = Field(
        600.0, ge=1.0, le=86_400.0, description="How often expired snapshots are purged."
    )


class ModelConfig(_Strict):
    path: str | None = Field(
        None, description="Model file (relative to the config file); default: the shipped one."
    )


# The only jobs a model may do in crowdsafe.  There is deliberately no role for faces
# beyond finding them to blur them, nor for any personal attribute (DESIGN.md).
MODEL_ROLES = ("person_detector", "density_counter", "face_blur")


class ModelsConfig(_Strict):
    person_detector: ModelConfig = Field(default_factory=ModelConfig)
    density_counter: ModelConfig = Field(default_factory=ModelConfig)
    face_blur: ModelConfig = Field(default_factory=ModelConfig)


class ServerConfig(_Strict):
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the HTTP server.")


class CrowdsafeConfig(_Strict):
    site: str = Field("crowdsafe", max_length=120, description="Site name on the dashboard.")
    cameras: list[CameraConfig] = Field(min_length=1, description="The cameras to analyse.")
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alert rules, sinks.")
    forecast: ForecastConfig = Field(
        default_factory=ForecastConfig, description="Planning forecast, nowcast, staffing."
    )
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    models: ModelsConfig = Field(
        default_factory=ModelsConfig,
        description=f"Models by role; the only roles are {', '.join(MODEL_ROLES)}.",
    )
    base_dir: Path = Field(Path("."), exclude=True, description="Set by load_config.")

    @model_validator(mode="after")
    def _unique_ids(self) -> CrowdsafeConfig:
        seen_cam: set[str] = set()
        seen_zone: dict[str, str] = {}
        for cam in self.cameras:
            if cam.id in seen_cam:
                raise ValueError(f"camera id '{cam.id}' is used twice; ids must be unique")
            seen_cam.add(cam.id)
            ids: list[str] = [z.id for z in cam.zones] + [ln.id for ln in cam.lines]
            for zone_id in ids:
                if zone_id in seen_zone:
                    raise ValueError(
                        f"zone id '{zone_id}' is used by cameras '{seen_zone[zone_id]}' and "
                        f"'{cam.id}'; zone and line ids must be unique across the site"
                    )
                seen_zone[zone_id] = cam.id
        return self

    @model_validator(mode="after")
    def _event_zones(self) -> CrowdsafeConfig:
        zones = {z.id for cam in self.cameras for z in cam.zones}
        for i, event in enumerate(self.forecast.events):
            for j, zone_id in enumerate(event.zones or []):
                if zone_id not in zones:
                    raise ValueError(
                        f"forecast.events[{i}].zones[{j}]: unknown zone '{zone_id}' in "
                        f"event '{event.name}'; the zones are: {', '.join(sorted(zones))}"
                    )
        return self

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)


# A check across sections (such as a reference to a zone defined under a camera) fails
# at the top level; its message starts with the key path it is about.
_KEY_PATH = re.compile(r"([a-z_]+(?:\.[a-z_]+|\[\d+\])*): (.*)", re.DOTALL)


def _located(msg: str) -> tuple[tuple[int | str, ...], str] | None:
    """(key path, rest of the message) of a top-level message that starts with a key
    path such as ``forecast.events[0].zones[1]: ...``, or None."""
    m = _KEY_PATH.fullmatch(msg)
    if m is None:
        return None
    loc: list[int | str] = []
    for name, index in re.findall(r"([a-z_]+)|\[(\d+)\]", m.group(1)):
        loc.append(int(index) if index else name)
    return tuple(loc), m.group(2)


def _loc_to_str(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or its nearest existing parent)."""
    node = root
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if key.value == part:
                    nxt = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


def _format_errors(exc: ValidationError, source: str, root: yaml.Node | None) -> str:
    lines = [f"invalid config {source}:"]
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        msg = str(err["msg"]).removeprefix("Value error, ")
        located = _located(msg) if not loc else None
        if located is not None:
            loc, msg = located
        line = _line_of(root, loc)
        where = f"{source}:{line}" if line is not None else source
        if err["type"] == "extra_forbidden" and loc[:1] == ("models",) and len(loc) == 2:
            msg = (
                f"unknown model role '{loc[-1]}'; crowdsafe accepts only "
                f"{', '.join(MODEL_ROLES)}: it counts people and never identifies them or "
                "infers anything about them"
            )
        elif err["type"] == "extra_forbidden":
            parent = _loc_to_str(loc[:-1])
            msg = f"unknown key '{loc[-1]}' under {parent}; check its spelling"
        elif err["type"] == "missing":
            msg = "required key is missing"
        lines.append(f"  {where}: {_loc_to_str(loc)}: {msg}")
    return "\n".join(lines)


def parse_config(
    text: str, *, source: str = "<string>", base_dir: Path | None = None
) -> CrowdsafeConfig:
    """Parse and validate YAML text; ``source`` names it in error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML: {problem}") from None
    if data is None:
        raise ConfigError(f"{source}: the config is empty; it needs at least a 'cameras' list")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the config must be a mapping of keys, got {type(data).__name__}"
        )
    if "base_dir" in data:
        raise ConfigError(f"{source}: unknown key 'base_dir' under (top level)")
    data["base_dir"] = base_dir or Path(".")
    try:
        return CrowdsafeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, source, root)) from None


def load_config(path: str | Path) -> CrowdsafeConfig:
    """Read and validate a config file; relative paths in it are taken from its folder."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from None
    return parse_config(text, source=str(p), base_dir=p.resolve().parent)


def is_sample(url: str) -> bool:
    return url.startswith(SAMPLE_PREFIX)
