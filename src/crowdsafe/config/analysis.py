"""A camera's analysis sections: ``detector:``, ``density:`` and ``tracking:``.

The detector section is picked by ``kind`` (a discriminated union, see
:mod:`crowdsafe.strict`): :class:`DetectorConfig` holds what every detector kind is
configured by (score threshold, smallest person, measured precision and recall, tiling),
and each kind is one subclass with a ``Literal`` kind and its own measured defaults:
``yolox-nano`` (the default: a ``detector:`` block without ``kind`` is YOLOX-Nano) and
``nanodet``.  Adding a kind is adding its class to :data:`DetectorSection`; which
detector a kind builds is decided by the code that assembles the pipeline, not here.

Every kind's ``precision`` and ``recall`` defaults are its own figures from ``crowdsafe
eval counts`` on MOT15 TUD-Stadtmitte at its default threshold (README, "Measured"):
they turn a count into an estimate of the true density and its interval, so they must
be the figures of the detector that counted.

:class:`SkipUnchangedConfig` says when an unchanged scene repeats its last measurement
instead of being analysed again (``measure/change.py``).

:class:`TrackingConfig` is a model, not a dict of settings, so that the tracker can be
handed it as it is, its bounds checked.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from crowdsafe.strict import StrictModel, default_tag

__all__ = [
    "DETECTOR_SECTIONS",
    "DensityConfig",
    "DetectorConfig",
    "DetectorSection",
    "NanoDetConfig",
    "SkipUnchangedConfig",
    "TrackingConfig",
    "YoloxNanoConfig",
]


class DetectorConfig(StrictModel):
    """What every detector kind is configured by.  Not a section by itself: a camera's
    ``detector:`` is one of its kinds (:data:`DetectorSection`)."""

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
    # Placeholders: every kind redefines these two with its own measured figures.
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
    provider: Literal["cpu", "cuda", "auto"] = Field(
        "cpu",
        description="Where the model runs: 'cpu'; 'cuda', an NVIDIA GPU through ONNX "
        "Runtime's CUDA provider (needs the onnxruntime-gpu build: the 'gpu' extra), an "
        "error where it is missing; 'auto', the GPU when there is one, else the CPU.",
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


class YoloxNanoConfig(DetectorConfig):
    """YOLOX-Nano on ONNX Runtime, letterboxed: the default person detector."""

    kind: Literal["yolox-nano"] = Field("yolox-nano", description="Which person detector runs.")
    input_px: Literal[416, 512, 640] = Field(
        512,
        description="The model's square input: the frame is letterboxed to this size. "
        "Larger finds smaller and half-hidden people at more cost (measured on 640x480: "
        "416 px 14 ms, 512 px 18 ms, 640 px 32 ms per frame on 2 threads).",
    )
    input_shape: Literal["square", "frame"] = Field(
        "square",
        description="'square': the frame is letterboxed into input_px x input_px. 'frame': "
        "into the frame's own shape, input_px on its longer side and padded to a multiple "
        "of 32 (a model with a dynamic input): a 16:9 frame runs at 512x288, 44 % fewer "
        "pixels and about a third less CPU per frame (README, 'Measured').",
    )
    # Measured 2026-12-01 with `crowdsafe eval counts --detector yolox-nano`: at 0.30 the
    # summed count MAE of both TUD sequences is lowest with precision >= 0.88 on both.
    score_threshold: float = Field(
        0.30, ge=0.05, le=0.95, description="Minimum person score a detection must reach."
    )
    precision: float = Field(
        0.94, gt=0.0, le=1.0, description="Measured precision (TUD-Stadtmitte, 512 px, 0.30)."
    )
    recall: float = Field(
        0.84, gt=0.0, le=1.0, description="Measured recall (TUD-Stadtmitte, 512 px, 0.30)."
    )


class NanoDetConfig(DetectorConfig):
    """NanoDet-m on ONNX Runtime, the earlier person detector."""

    kind: Literal["nanodet"] = Field("nanodet", description="Which person detector runs.")
    letterbox: bool = Field(
        True,
        description="Fit the frame into the model's input keeping its aspect ratio "
        "(measured: count MAE 1.26 against 2.00 stretched on TUD-Stadtmitte).",
    )
    precision: float = Field(
        0.81, gt=0.0, le=1.0, description="Measured precision (TUD-Stadtmitte, letterboxed)."
    )
    recall: float = Field(
        0.77, gt=0.0, le=1.0, description="Measured recall (TUD-Stadtmitte, letterboxed)."
    )


# default_tag makes a block without `kind` the default detector.
DetectorSection = Annotated[
    YoloxNanoConfig | NanoDetConfig,
    Field(discriminator="kind"),
    default_tag("kind", "yolox-nano"),
]

# Each kind's section class, for the tools that build a detector without a config.
DETECTOR_SECTIONS: dict[str, type[DetectorConfig]] = {
    "yolox-nano": YoloxNanoConfig,
    "nanodet": NanoDetConfig,
}


class DensityConfig(StrictModel):
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


class TrackingConfig(StrictModel):
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
    direction_weight: float = Field(
        0.9,
        ge=0.0,
        le=2.0,
        description="Weight of each track's recent walking direction when detections are "
        "matched to tracks, so two people crossing in opposite directions keep their own "
        "tracks (and a counting line counts both). 0: overlap only.",
    )

    @model_validator(mode="after")
    def _order(self) -> TrackingConfig:
        if self.low_score >= self.high_score:
            raise ValueError(
                f"low_score ({self.low_score}) must be below high_score ({self.high_score})"
            )
        return self


class SkipUnchangedConfig(StrictModel):
    """Repeat the last measurement while the scene has not changed (``measure/change.py``).

    A held frame runs neither the detector nor the density model; its zone counts are
    those of the last analysed frame (never a zero) and its samples say ``held``.  A
    camera with counting lines holds a frame only while its tracker follows no one and no
    thumbnail cell changed at all, so no crossing can be missed (ADR 0005).  Defaults
    measured with ``crowdsafe eval skip`` (README, "Measured")."""

    enabled: bool = Field(
        False,
        description="Hold unchanged frames instead of analysing them again (off: every due "
        "frame is analysed).",
    )
    # Measured with `crowdsafe eval skip` (README): the largest of 0.002/0.01/0.02/0.05
    # at which no frame's count changed on the sample video and both TUD sequences
    # (0.02 changed 37 of 795 frames' counts, 0.05 changed the alerts); a still scene is
    # held as often at any of them, sensor noise moving no cell past PIXEL_DELTA.
    threshold: float = Field(
        0.01,
        ge=0.0,
        le=0.5,
        description="Largest fraction of the 64-cell-wide grey thumbnail whose level may move "
        "(by more than 10 of 255) for a frame to count as unchanged; 0 holds only frames "
        "where no cell moved.",
    )
    max_hold_s: float = Field(
        5.0,
        gt=0.0,
        le=300.0,
        description="Longest a measurement is repeated, seconds: after this a frame is "
        "analysed even if unchanged, so a slow build-up is always re-measured (default: half "
        "the alerts' 10 s persistence, so a level that persists is measured at least twice).",
    )


class MotionConfig(StrictModel):
    """How fast the crowd moves: optical flow between analysed frames, through the
    calibration, per zone (``measure/motion.py``).  Defaults measured with ``crowdsafe eval
    motion`` (README, "Measured")."""

    enabled: bool = Field(
        True,
        description="Measure each zone's mean ground speed (m/s) and its spread; off: the "
        "samples' speed is null.",
    )
    width_px: int = Field(
        640,
        ge=64,
        le=1920,
        description="Width of the grey copy of the frame the flow is computed on, pixels "
        "(never more than the frame's): smaller is cheaper, larger follows smaller people.",
    )
    min_flow_px: float = Field(
        0.3,
        ge=0.0,
        le=5.0,
        description="A person whose median flow between two analysed frames is under this "
        "many pixels of the flow image stands still (the camera's noise floor).",
    )
    max_gap_s: float = Field(
        1.5,
        gt=0.0,
        le=10.0,
        description="Frames further apart than this give no speed (a dropped stream, a held "
        "frame): the flow of a long gap is no velocity. Keep it above 1 / analysis_fps.",
    )
