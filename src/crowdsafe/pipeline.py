"""One camera's pipeline: source -> detect (and, in crowds, the density model) -> zones
-> buckets -> store and live feed.

The pipeline owns no threads; :class:`crowdsafe.runtime.Runtime` runs one pipeline per
camera in its own thread.  Frames and detections never leave :meth:`CameraPipeline.step`:
what goes out (to the store and the live feed) is :class:`ZoneSample` aggregates only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crowdsafe.density.selector import DensityStage
from crowdsafe.detect.base import Detector
from crowdsafe.ingest.base import Source
from crowdsafe.measure.lines import FlowAggregator, LineCounter
from crowdsafe.measure.zones import BucketAggregator, Zone, ZoneCounter
from crowdsafe.store.base import Store
from crowdsafe.track.bytetrack import ByteTracker
from crowdsafe.types import Detections, Frame, LineSample, ZoneSample

__all__ = ["CameraPipeline", "CameraStats", "LineStage"]

SampleSink = Callable[[Sequence[ZoneSample]], None]
LineSink = Callable[[Sequence[LineSample]], None]


@dataclass
class LineStage:
    """Tracking and counting lines of one camera: tracker -> line counter -> flow buckets.

    Track ids exist only inside this stage (and the tracker); what leaves is
    :class:`LineSample` aggregates.
    """

    tracker: ByteTracker
    counter: LineCounter
    flow: FlowAggregator


@dataclass
class CameraStats:
    """Counters of one camera's pipeline, read by the status line and the API."""

    frames_decoded: int = 0
    frames_analysed: int = 0
    last_frame_t: float | None = None
    analysed_fps: float = 0.0
    detect_ms: float = 0.0
    density_ms: float = 0.0  # the last run of the density model
    state: str = "starting"
    last_error: str | None = None
    last_counts: dict[str, float] | None = None


class CameraPipeline:
    """Analyses the frames of one camera at most ``analysis_fps`` times per second."""

    def __init__(
        self,
        camera_id: str,
        detector: Detector,
        zones: Sequence[Zone],
        store: Store,
        *,
        bucket_s: float = 1.0,
        analysis_fps: float | None = None,
        min_person_height_px: float = 0.0,
        count_score_threshold: float = 0.0,
        on_samples: SampleSink | None = None,
        lines: LineStage | None = None,
        on_line_samples: LineSink | None = None,
        density: DensityStage | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.camera_id = camera_id
        self.detector = detector
        self.counter = ZoneCounter(zones)
        self.aggregator = BucketAggregator(camera_id, zones, bucket_s)
        self.store = store
        self.interval_s = 0.0 if not analysis_fps else 1.0 / analysis_fps
        self.min_person_height_px = min_person_height_px
        self.count_score_threshold = count_score_threshold
        self.on_samples = on_samples
        self.lines = lines
        self.on_line_samples = on_line_samples
        self.density = density
        self.stats = CameraStats()
        # The people of the last analysed frame, kept in memory only so the live view
        # and alert snapshots can pixelate their heads; never stored or sent.
        self.last_detections: Detections | None = None
        self._clock = clock
        self._next_due: float | None = None
        self._rate_window: list[float] = []

    def is_due(self, t: float) -> bool:
        """Whether a frame captured at ``t`` would be analysed (changes nothing)."""
        return self._next_due is None or t >= self._next_due - 1e-3

    @property
    def has_open_bucket(self) -> bool:
        return self.aggregator.pending

    def _due(self, t: float) -> bool:
        # Analysis times follow a fixed grid (next = previous + interval) so the average
        # rate is exactly analysis_fps; 1 ms of slack absorbs timestamp rounding.  After
        # a gap longer than one interval the grid restarts at the current frame.
        due = self._next_due
        if due is not None and t < due - 1e-3:
            return False
        if due is None or t - due >= self.interval_s:
            self._next_due = t + self.interval_s
        else:
            self._next_due = due + self.interval_s
        return True

    def step(self, frame: Frame) -> list[ZoneSample]:
        """Process one frame if it is due; returns the samples of any bucket it closed."""
        self.stats.frames_decoded += 1
        self.stats.last_frame_t = frame.t
        if not self._due(frame.t):
            return []
        return self.analyse(frame)

    def analyse(self, frame: Frame) -> list[ZoneSample]:
        """Detect, count and bucket one frame (no rate check)."""
        started = self._clock()
        detections = self.detector.detect(frame)
        self.stats.detect_ms = (self._clock() - started) * 1000.0
        self.last_detections = detections
        if self.min_person_height_px > 0 and len(detections):
            heights = detections.xyxy[:, 3] - detections.xyxy[:, 1]
            detections = detections[heights >= self.min_person_height_px]
        # Zones count sure detections only; the tracker also uses the weak ones.
        sure = detections
        if self.count_score_threshold > 0 and len(detections):
            sure = detections[detections.score >= self.count_score_threshold]
        counts: dict[str, float] = dict(self.counter.count(sure))
        methods: dict[str, str] | None = None
        if self.density is not None:
            started = self._clock()
            chosen = self.density.apply(frame.image, frame.t, counts)
            if chosen.model_ran:
                self.stats.density_ms = (self._clock() - started) * 1000.0
            counts, methods = chosen.counts, chosen.methods
        self.stats.frames_analysed += 1
        self.stats.last_counts = counts
        self._tick_rate()
        if self.lines is not None:
            tracked = self.lines.tracker.update(detections, frame.t)
            crossings = self.lines.counter.update(tracked, frame.t, self.camera_id)
            self._emit_lines(self.lines.flow.add(crossings, frame.t, self.camera_id))
        return self._emit(self.aggregator.add(frame.t, counts, methods))

    def _emit_lines(self, samples: list[LineSample]) -> None:
        if samples:
            self.store.write_line_samples(samples)
            if self.on_line_samples is not None:
                self.on_line_samples(samples)

    def _tick_rate(self) -> None:
        now = self._clock()
        window = self._rate_window
        window.append(now)
        while len(window) > 2 and now - window[0] > 5.0:
            window.pop(0)
        if len(window) >= 2 and window[-1] > window[0]:
            self.stats.analysed_fps = (len(window) - 1) / (window[-1] - window[0])

    def _emit(self, samples: list[ZoneSample]) -> list[ZoneSample]:
        if samples:
            self.store.write_samples(samples)
            if self.on_samples is not None:
                self.on_samples(samples)
        return samples

    def finish(self) -> list[ZoneSample]:
        """Close the open buckets (at the end of a stream, on shutdown or when the camera
        is lost); tracks are forgotten, since a gap breaks them anyway."""
        if self.lines is not None:
            self._emit_lines(self.lines.flow.flush())
            self.lines.tracker.reset()
            self.lines.counter.reset()
        if self.density is not None:
            self.density.reset()
        return self._emit(self.aggregator.flush())

    def run(self, source: Source, stop: threading.Event | None = None) -> CameraStats:
        """Process every frame of ``source`` until it ends or ``stop`` is set."""
        self.stats.state = "live"
        try:
            for frame in source.frames():
                self.step(frame)
                if stop is not None and stop.is_set():
                    break
        except Exception as exc:
            self.stats.state = "failed"
            self.stats.last_error = str(exc)
            raise
        finally:
            self.finish()
        self.stats.state = "stopped"
        return self.stats
