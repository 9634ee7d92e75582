"""Each camera's pipeline, with the line and density stages its config asks for.

:func:`build_line_stage` is the one builder of a tracker + line counter + flow buckets:
the runtime and ``crowdsafe eval lines`` both call it, so an evaluated line counts with
exactly the tracking settings a camera deploys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from crowdsafe.config import CameraConfig, TrackingConfig
from crowdsafe.density.counter import DensityCounter
from crowdsafe.density.selector import DensityStage
from crowdsafe.detect.base import Detector
from crowdsafe.ingest.convert import FitsFrames
from crowdsafe.ingest.health import CameraHealth
from crowdsafe.measure.change import ChangeGate
from crowdsafe.measure.flux import FluxCounter
from crowdsafe.measure.lines import CountingLine, FlowAggregator, LineCounter
from crowdsafe.measure.motion import CrowdMotion
from crowdsafe.measure.zones import Zone
from crowdsafe.pipeline import CameraPipeline, LineSink, LineStage, SampleSink
from crowdsafe.store.base import Store
from crowdsafe.track.bytetrack import ByteTracker
from crowdsafe.types import Detections, Frame

__all__ = [
    "BLUR_SCORE_THRESHOLD",
    "FLUX_BAND_M",
    "ThresholdedDetector",
    "build_change_gate",
    "build_density_stage",
    "build_line_stage",
    "build_motion",
    "build_pipeline",
    "detect_threshold",
]

FLUX_BAND_M = 0.5
"""Half-width of the band either side of a line the track-free count measures, metres on
the ground: wider than a walker's step between two analysed frames (0.34 m at 1.34 m/s
and the 4 fps lines need at least), narrow enough to be the crowd at the line."""

# Weak detections are kept for blurring: pixelating a head that was not a person costs
# nothing, missing one exposes a face.  Measured with `crowdsafe eval anonymise` on
# TUD-Stadtmitte: at 0.35 the head zones cover 79 % of all annotated heads (every head of
# a detected person); at 0.1, 100 %.  Zones count only detections at the camera's
# score_threshold.
BLUR_SCORE_THRESHOLD = 0.1

# A track must move this far (px) past a line before a crossing counts: jitter of a
# standing person's box does not count as crossings.
LINE_MARGIN_PX = 5.0


def detect_threshold(camera: CameraConfig) -> float:
    """Score the detector must keep for a camera: low enough for blurring, and for the
    tracker of a camera with lines, which extends tracks with weak detections."""
    low = min(camera.detector.score_threshold, BLUR_SCORE_THRESHOLD)
    if camera.lines:
        return min(low, camera.tracking.low_score)
    return low


class ThresholdedDetector:
    """Applies one camera's score threshold on top of a detector shared by all cameras."""

    def __init__(self, inner: Detector, threshold: float) -> None:
        self.inner = inner
        self.threshold = threshold

    def fit_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The inner detector's input size for such a frame (None: it takes any size)."""
        inner = self.inner
        return inner.fit_size(width, height) if isinstance(inner, FitsFrames) else None

    def detect(self, frame: Frame) -> Detections:
        d = self.inner.detect(frame)
        return d if not len(d) else d.keep(d.score >= self.threshold)


def build_tracker(tracking: TrackingConfig) -> ByteTracker:
    """The per-camera tracker with a camera's ``tracking:`` settings."""
    return ByteTracker.from_settings(tracking)


def build_line_stage(
    lines: Sequence[CountingLine],
    tracking: TrackingConfig,
    bucket_s: float,
    *,
    margin_px: float = LINE_MARGIN_PX,
    flux_of: CameraConfig | None = None,
) -> LineStage:
    """Tracker -> line counter -> flow buckets of ``bucket_s`` seconds for ``lines``;
    with ``flux_of`` (the lines' camera, its motion on) the track-free count of the same
    lines beside it, on the camera's ground in a band of ``FLUX_BAND_M`` either side.

    The counter forgets a track after the tracker's ``max_lost_s``, so a person lost and
    found again within that time is one crossing, not two.  Raises ValueError for a bad
    setting or a line given twice."""
    tracker = build_tracker(tracking)
    flux, weight = None, 1.0
    if flux_of is not None and flux_of.motion.enabled:
        hom = flux_of.calibration.homography()
        flux = FluxCounter(lines, band=FLUX_BAND_M, homography=hom)
        weight = flux_of.detector.precision / flux_of.detector.recall
    return LineStage(
        tracker=tracker,
        counter=LineCounter(lines, margin_px=margin_px, max_gap_s=tracker.max_lost_s),
        flow=FlowAggregator(lines, bucket_s),
        flux=flux,
        flux_weight=weight,
    )


def build_density_stage(
    camera: CameraConfig, zones: Sequence[Zone], model: Callable[[], DensityCounter]
) -> DensityStage | None:
    """The camera's detection/density switch; None when it counts by detection only.
    ``model`` gives the shared density model, loaded on first use."""
    settings = camera.density
    if settings.method == "detection":
        return None
    return DensityStage(
        model(),
        zones,
        method=settings.method,
        switch_up_per_m2=settings.switch_up_per_m2,
        switch_down_per_m2=settings.switch_down_per_m2,
        probe_interval_s=settings.probe_interval_s,
        max_fps=settings.max_fps,
        switch_up_ratio=settings.switch_up_ratio,
        switch_down_ratio=settings.switch_down_ratio,
    )


def build_pipeline(
    camera: CameraConfig,
    detector: Detector,
    zones: Sequence[Zone],
    lines: Sequence[CountingLine],
    store: Store,
    *,
    bucket_s: float,
    line_bucket_s: float,
    on_samples: SampleSink,
    on_line_samples: LineSink,
    density: DensityStage | None,
    health: CameraHealth,
    measures_lag: bool,
) -> CameraPipeline:
    """One camera's detect -> count (-> track -> lines) pipeline, writing to ``store``
    and recording each analysed frame (and, with ``measures_lag``, its lag) in
    ``health``."""
    return CameraPipeline(
        camera.id,
        ThresholdedDetector(detector, detect_threshold(camera)),
        zones,
        store,
        bucket_s=bucket_s,
        analysis_fps=camera.analysis_fps,
        min_person_height_px=camera.detector.min_person_height_px,
        count_score_threshold=camera.detector.score_threshold,
        on_samples=on_samples,
        lines=(
            build_line_stage(lines, camera.tracking, line_bucket_s, flux_of=camera)
            if lines
            else None
        ),
        on_line_samples=on_line_samples,
        density=density,
        health=health,
        measures_lag=measures_lag,
        skip=build_change_gate(camera),
        motion=build_motion(camera, zones, lines),
    )


def build_motion(
    camera: CameraConfig, zones: Sequence[Zone], lines: Sequence[CountingLine]
) -> CrowdMotion | None:
    """The camera's crowd-speed stage (``motion:``), its flow kept to the ground its zones
    and lines cover; None when it is off."""
    settings = camera.motion
    if not settings.enabled:
        return None
    ground = [z.polygon_px for z in zones] + [[ln.p1, ln.p2] for ln in lines]
    return CrowdMotion(
        zones,
        camera.calibration.homography(),
        roi_polygons_px=ground,
        width=settings.width_px,
        min_flow_px=settings.min_flow_px,
        max_gap_s=settings.max_gap_s,
    )


def build_change_gate(camera: CameraConfig) -> ChangeGate | None:
    """The camera's unchanged-scene gate (``skip_unchanged``); None when it is off."""
    settings = camera.skip_unchanged
    if not settings.enabled:
        return None
    return ChangeGate(settings.threshold, settings.max_hold_s)
