"""One camera's pipeline: source -> detect (and, in crowds, the density model) -> zones
-> buckets -> store and live feed.

The pipeline owns no threads; :class:`crowdsafe.runtime.Runtime` feeds each camera's
pipeline from its analysis thread.  Frames never leave :meth:`CameraPipeline.step`:
what goes out (to the store and the live feed) is :class:`ZoneSample` and
:class:`LineSample` aggregates only.  A closed bucket goes to both; the provisional
checkpoints of an open flow bucket go to the store only (``measure/lines.py``), so that
a crash loses at most a few seconds of flow.  The people of the last analysed frame stay in
memory (``last_detections``) for the anonymised live view, never stored or sent.

Its numbers go into the camera's :class:`~crowdsafe.ingest.health.CameraHealth` (frames
analysed, analysis lag; the analysed rate is computed there, the one fps window), which
the API, the metrics and the status line read.  Given the record that the camera's
stream reader writes the source side of (frames received, state), the pipeline adds the
analysis side; :meth:`CameraPipeline.run`, which reads a source itself, writes both.

With a :class:`~crowdsafe.measure.change.ChangeGate` (``skip_unchanged``), a due frame
whose scene has not changed since the last analysed one is *held*: neither the detector
nor the density model runs, the zones repeat the last analysed counts (never a zero) and
the bucket says ``held``.  A held frame counts as analysed in the health (the camera is
measured at its rate) but ``last_detections`` and the live view stay those of the last
frame the detector saw, so the heads pixelated are that frame's.  Lines need every frame
for tracking, so a camera with lines holds a frame only while its tracker follows no one
(a crossing needs a track) and no thumbnail cell changed at all (someone too small to
pass the threshold could still walk across a line); its flow buckets still advance with
the held frames (docs/adr/0005-hold-unchanged-scenes.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crowdsafe.density.selector import DensityStage
from crowdsafe.detect.base import Detector
from crowdsafe.ingest.base import Source
from crowdsafe.ingest.convert import to_source_pixels
from crowdsafe.ingest.health import CameraHealth, HealthSnapshot, StreamState
from crowdsafe.measure.change import ChangeGate
from crowdsafe.measure.flux import FluxCounter
from crowdsafe.measure.lines import FlowAggregator, LineCounter
from crowdsafe.measure.motion import CrowdMotion
from crowdsafe.measure.zones import BucketAggregator, Zone, ZoneCounter
from crowdsafe.store.base import Store
from crowdsafe.track.bytetrack import ByteTracker
from crowdsafe.types import Detections, Frame, LineCrossing, LineSample, ZoneCounts, ZoneSample

__all__ = ["CameraPipeline", "LineStage"]

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
    # the track-free count of the same lines (``measure/flux.py``), and what one detected
    # person counts for (precision over recall); None: not measured
    flux: FluxCounter | None = None
    flux_weight: float = 1.0

    def fluxes(
        self, people: Detections, motion: CrowdMotion | None
    ) -> dict[str, tuple[float, float]] | None:
        """The frame's track-free crossings of each line, from the velocities ``motion``
        measured for ``people``; None when it measured none."""
        if self.flux is None or motion is None or motion.last_velocities is None:
            return None
        velocities, dt = motion.last_velocities
        w = self.flux_weight
        got = self.flux.add(people.ground_points, velocities, dt)
        return {line_id: (n_in * w, n_out * w) for line_id, (n_in, n_out) in got.items()}

    def crossings(self, detections: Detections, t: float, camera_id: str) -> list[LineCrossing]:
        """Track one frame's people (captured at ``t`` s) and return the line crossings
        they made; the runtime and ``crowdsafe eval lines`` both count through here."""
        return self.counter.update(self.tracker.update(detections, t), t, camera_id)


class CameraPipeline:
    """Analyses the frames of one camera at most ``analysis_fps`` times per second.

    ``health`` is the camera's health record (one is made when none is given);
    ``measures_lag`` says whether frame times are wall-clock times (live and paced
    sources), so that analysis lag means something; otherwise lag is recorded as 0.
    """

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
        health: CameraHealth | None = None,
        measures_lag: bool = False,
        skip: ChangeGate | None = None,
        motion: CrowdMotion | None = None,
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
        self.health = health if health is not None else CameraHealth(camera_id, "")
        self.measures_lag = measures_lag
        # The people of the last analysed frame, kept in memory only so the live view
        # and alert snapshots can pixelate their heads; never stored or sent.
        self.last_detections: Detections | None = None
        self._next_due: float | None = None
        self.skip = skip
        self.motion = motion
        # What a held frame repeats: the zone counts of the last analysed frame.
        self._last_counts: ZoneCounts | None = None
        self.last_held = False
        """Whether the last frame :meth:`analyse` took was held, not analysed afresh."""

    def is_due(self, t: float) -> bool:
        """Whether a frame captured at ``t`` would be analysed (changes nothing)."""
        return self._next_due is None or t >= self._next_due - 1e-3

    @property
    def last_counts(self) -> ZoneCounts | None:
        """The zone counts of the last frame the detector saw (what a held frame repeats);
        None before the first frame and after :meth:`finish`."""
        return self._last_counts

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
        if not self._due(frame.t):
            return []
        return self.analyse(frame)

    def analyse(self, frame: Frame) -> list[ZoneSample]:
        """Detect, count and bucket one frame (no rate check), or hold it when the scene
        has not changed (module docstring)."""
        started = self.health.now()
        # Lines hold strictly: a person too small to pass the threshold could still
        # cross a line, so any changed cell is analysed.
        strict = self.lines is not None
        if self.skip is not None and self.skip.hold(
            frame.image, frame.t, allowed=self._may_hold(), strict=strict
        ):
            return self._hold(frame, started)
        self.last_held = False
        # In the camera's pixels, where zones and lines are drawn, whatever size the
        # detector was given (ingest/convert.py).
        detections = to_source_pixels(self.detector.detect(frame), frame)
        self.last_detections = detections
        if self.min_person_height_px > 0 and len(detections):
            heights = detections.xyxy[:, 3] - detections.xyxy[:, 1]
            detections = detections.keep(heights >= self.min_person_height_px)
        # Zones count sure detections only; the tracker also uses the weak ones.
        sure = detections
        if self.count_score_threshold > 0 and len(detections):
            sure = detections.keep(detections.score >= self.count_score_threshold)
        zone_counts = ZoneCounts.detected(self.counter.count(sure))
        if self.density is not None:
            # full size: its zone masks are in camera pixels; made only if the model runs
            zone_counts = self.density.apply(frame.full_image, frame.t, zone_counts.counts)
        self._last_counts = zone_counts
        motion = None
        if self.motion is not None:  # the speed of the people counted
            motion = self.motion.measure(frame.image, frame.t, sure, frame.source_size)
        self.health.frame_analysed(started, started - frame.t if self.measures_lag else 0.0)
        if self.lines is not None:
            crossings = self.lines.crossings(detections, frame.t, self.camera_id)
            self._flow(crossings, frame.t, self.lines.fluxes(sure, self.motion))
        return self._emit(
            self.aggregator.add(frame.t, zone_counts.counts, zone_counts.methods, motion=motion)
        )

    def _may_hold(self) -> bool:
        """A frame may repeat a measurement once there is one, and, on a camera with
        lines, only while no track is followed (a crossing needs a track)."""
        if self._last_counts is None:
            return False
        return self.lines is None or self.lines.tracker.track_count == 0

    def _hold(self, frame: Frame, started: float) -> list[ZoneSample]:
        """Repeat the last analysed frame's counts for an unchanged ``frame``."""
        counts = self._last_counts
        assert counts is not None  # _may_hold allowed the hold
        self.last_held = True
        self.health.frame_analysed(started, started - frame.t if self.measures_lag else 0.0)
        if self.lines is not None:
            self._flow([], frame.t)  # no track, so no crossing: the flow buckets advance
        return self._emit(self.aggregator.add(frame.t, counts.counts, counts.methods, held=True))

    def _flow(
        self,
        crossings: list[LineCrossing],
        t: float,
        flux: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        assert self.lines is not None
        self._emit_lines(self.lines.flow.add(crossings, t, self.camera_id, flux))
        # The open bucket, every few seconds, to the store only: what a crash may
        # lose is bounded (measure/lines.py), and alerts judge closed buckets alone.
        self.store.write_line_samples(self.lines.flow.checkpoint(t, self.camera_id))

    def _emit_lines(self, samples: list[LineSample]) -> None:
        if samples:
            self.store.write_line_samples(samples)
            if self.on_line_samples is not None:
                self.on_line_samples(samples)

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
        if self.skip is not None:
            self.skip.reset()  # after a gap the scene is measured afresh
        if self.motion is not None:
            self.motion.reset()  # no flow across a gap
        self._last_counts = None
        return self._emit(self.aggregator.flush())

    def run(self, source: Source, stop: threading.Event | None = None) -> HealthSnapshot:
        """Process every frame of ``source`` until it ends or ``stop`` is set; returns
        the camera's health at the end.  The pipeline reads the source itself here, so
        it also records the source side: frames received and the state (live, then
        stopped, or failed with the error, which is raised again)."""
        health = self.health
        health.set_state(StreamState.LIVE)
        try:
            for frame in source.frames():
                health.frame_received(health.now())
                self.step(frame)
                if stop is not None and stop.is_set():
                    break
        except Exception as exc:
            health.set_state(StreamState.FAILED, str(exc))
            raise
        finally:
            self.finish()
        health.set_state(StreamState.STOPPED)
        return health.snapshot()
