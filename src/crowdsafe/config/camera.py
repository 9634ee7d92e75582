"""A camera's section: its source, its ground-plane calibration, its zones and lines.

Each check that needs the calibration is made here, when the config loads, not when the
camera first runs: a zone reaching above the horizon or covering no ground, or a line
that does, is refused with the zone's id, before a site goes live on a bad drawing.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, PrivateAttr, field_validator, model_validator

from crowdsafe.alerts.settings import LevelsConfig
from crowdsafe.config.analysis import (
    DensityConfig,
    DetectorSection,
    MotionConfig,
    SkipUnchangedConfig,
    TrackingConfig,
    YoloxNanoConfig,
)
from crowdsafe.config.frame import outside_frame
from crowdsafe.config.source import SourceConfig
from crowdsafe.errors import CalibrationError
from crowdsafe.measure.geometry import Homography, polygon_area, polygon_is_simple
from crowdsafe.strict import StrictModel

__all__ = [
    "CalibrationConfig",
    "CameraConfig",
    "Identifier",
    "LineConfig",
    "Point",
    "ZoneConfig",
]

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Identifier = Annotated[
    str,
    Field(
        pattern=_ID_PATTERN,
        description="lower-case letters, digits, '-' and '_', starting with a letter or digit",
    ),
]
Point = tuple[float, float]
FrameSide = Annotated[int, Field(ge=16, le=16384)]


class CalibrationConfig(StrictModel):
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
    # The fit made when the section was checked: a city's config has thousands of
    # cameras, and fitting each again for every use was most of its loading time.
    _fitted: Homography | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _fits(self) -> CalibrationConfig:
        if len(self.image_points) != len(self.ground_points_m):
            raise ValueError(
                f"image_points has {len(self.image_points)} points but ground_points_m has "
                f"{len(self.ground_points_m)}; give each image point its ground position"
            )
        try:
            self._fitted = self._fit()
        except CalibrationError as exc:
            raise ValueError(str(exc)) from None
        return self

    def _fit(self) -> Homography:
        return Homography.fit(self.image_points, self.ground_points_m, max_error_m=self.max_error_m)

    def homography(self) -> Homography:
        """The fitted image -> ground homography (the fit made when it was checked)."""
        if self._fitted is None:  # a section made without validation (model_construct)
            self._fitted = self._fit()
        return self._fitted


class ZoneConfig(StrictModel):
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
    exits: list[Identifier] = Field(
        default_factory=list,
        description="Ids of this camera's counting lines the zone empties through; their "
        "widths give the zone's time to clear.",
    )

    @field_validator("polygon")
    @classmethod
    def _simple(cls, polygon: list[Point]) -> list[Point]:
        if any(x < 0 or y < 0 for x, y in polygon):
            raise ValueError("polygon vertices must have non-negative pixel coordinates")
        # Collinearity first, crossing next, area last: a bow-tie's two halves cancel in
        # the shoelace sum, so an area test alone would call it "on one line".
        if _on_one_line(polygon):
            raise ValueError("polygon has no area (its vertices are on one line)")
        if not polygon_is_simple(polygon):
            raise ValueError(
                "polygon is self-intersecting: its edges cross each other (a bow-tie); "
                "list the vertices in order around the zone"
            )
        if polygon_area(polygon) < 1.0:
            raise ValueError("polygon has no area (under 1 px²)")
        return polygon

    @property
    def display_name(self) -> str:
        return self.name or self.id


def _on_one_line(points: list[Point], tol_px: float = 0.5) -> bool:
    """Whether every point lies within ``tol_px`` of the line through the two points
    furthest apart (all points equal counts as on one line)."""
    p = np.asarray(points, dtype=np.float64)
    gaps = np.linalg.norm(p[:, None, :] - p[None, :, :], axis=-1)
    i, j = np.unravel_index(int(np.argmax(gaps)), gaps.shape)
    length = gaps[i, j]
    if length < tol_px:
        return True
    d = (p[j] - p[i]) / length
    rel = p - p[i]
    return bool(np.all(np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0]) <= tol_px))


class LineConfig(StrictModel):
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


class CameraConfig(StrictModel):
    id: Identifier
    name: str = Field("", max_length=120, description="Name shown on the dashboard.")
    site: Identifier | None = Field(
        None,
        description="The id of the site (sites:) this camera belongs to; may be left out "
        "when there is one site.",
    )
    source: SourceConfig
    analysis_fps: float = Field(
        10.0, gt=0.0, le=60.0, description="Frames analysed per second of video, at most."
    )
    detector: DetectorSection = Field(
        default_factory=YoloxNanoConfig, description="The person detector, by kind."
    )
    density: DensityConfig = Field(default_factory=DensityConfig)
    calibration: CalibrationConfig
    zones: list[ZoneConfig] = Field(min_length=1, description="Counting zones of this camera.")
    lines: list[LineConfig] = Field(
        default_factory=list, description="Counting lines (flow through gates and exits)."
    )
    tracking: TrackingConfig = Field(
        default_factory=TrackingConfig, description="Tracker settings (used for lines)."
    )
    skip_unchanged: SkipUnchangedConfig = Field(
        default_factory=SkipUnchangedConfig,
        description="Repeat the last measurement while the scene has not changed.",
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig,
        description="Crowd speed from optical flow, per zone.",
    )
    frame_size_px: tuple[FrameSide, FrameSide] | None = Field(
        None,
        description="The camera's frame size [width, height] in pixels. When given, every "
        "zone vertex and line end must lie inside it; 'crowdsafe check' probes a file's "
        "size itself.",
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
        lines = {ln.id for ln in self.lines}
        for zone in self.zones:
            for exit_id in zone.exits:
                if exit_id not in lines:
                    known = ", ".join(sorted(lines)) or "none"
                    raise ValueError(
                        f"zone '{zone.id}': exit '{exit_id}' is not a counting line of this "
                        f"camera (its lines: {known})"
                    )
        return self

    @model_validator(mode="after")
    def _inside_frame(self) -> CameraConfig:
        if self.frame_size_px is not None:
            for loc, problem in outside_frame(self.zones, self.lines, self.frame_size_px):
                path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
                # a path first: the loader reports it at that vertex's own line
                raise ValueError(f"{path.lstrip('.')}: {problem} (frame_size_px)")
        return self

    @property
    def display_name(self) -> str:
        return self.name or self.id
