"""One camera's pipeline: source -> detect -> zones -> buckets -> store and live feed.

The pipeline owns no threads; :class:`crowdsafe.runtime.Runtime` runs one pipeline per
camera in its own thread.  Frames and detections never leave :meth:`CameraPipeline.step`:
what goes out (to the store and the live feed) is :class:`ZoneSample` aggregates only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crowdsafe.detect.base import Detector
from crowdsafe.ingest.base import Source
from crowdsafe.measure.zones import BucketAggregator, Zone, ZoneCounter
from crowdsafe.store.base import Store
from crowdsafe.types import Frame, ZoneSample

__all__ = ["CameraPipeline", "CameraStats"]

SampleSink = Callable[[Sequence[ZoneSample]], None]


@dataclass
class CameraStats:
    """Counters of one camera's pipeline, read by the status line and the API."""

    frames_decoded: int = 0
    frames_analysed: int = 0
    last_frame_t: float | None = None
    analysed_fps: float = 0.0
    detect_ms: float = 0.0
    state: str = "starting"
    last_error: str | None = None
    last_counts: dict[str, int] | None = None


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
        on_samples: SampleSink | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.camera_id = camera_id
        self.detector = detector
        self.counter = ZoneCounter(zones)
        self.aggregator = BucketAggregator(camera_id, zones, bucket_s)
        self.store = store
        self.interval_s = 0.0 if not analysis_fps else 1.0 / analysis_fps
        self.min_person_height_px = min_person_height_px
        self.on_samples = on_samples
        self.stats = CameraStats()
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
        if self.min_person_height_px > 0 and len(detections):
            heights = detections.xyxy[:, 3] - detections.xyxy[:, 1]
            detections = detections[heights >= self.min_person_height_px]
        counts = self.counter.count(detections)
        self.stats.frames_analysed += 1
        self.stats.last_counts = counts
        self._tick_rate()
        return self._emit(self.aggregator.add(frame.t, counts))

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
        """Close the open bucket (at the end of a stream or on shutdown)."""
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
