"""Wiring: from a validated config to running cameras.

Threads, and why (measured with ``crowdsafe bench --cameras N``, figures in the README):

* one **reader** thread per camera (``ingest/reader.py``): FFmpeg demuxing and decoding
  run in C with the GIL released, so readers scale across cores like processes would,
  without copying frames between processes;
* one **analysis** thread for all cameras: it takes each camera's newest frame when the
  camera is due and runs the shared detector.  ONNX Runtime already uses every core
  for one frame, so a second analysis thread would only make frames wait on each other.
  Cameras are served most-overdue first, so under overload every camera slows evenly
  and lag stays bounded instead of one camera starving.

Measured 2026-11-26 on 2 cores (README, "Measured"): a reader costs 0.015-0.020 cores
per 10 fps 768x576 H.264 camera, an analysed frame 0.06 CPU-seconds; 8 cameras asking
5 fps each (more than 2 cores can do) all got 3.4 fps with lag p95 under 0.1 s.

The NanoDet graph we ship has its batch size fixed at 1 (its reshapes were baked in
by the TF.js conversion; a dynamic-batch conversion gives wrong boxes), so frames are
not batched across cameras.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.alerts.engine import AlertEngine
from crowdsafe.alerts.settings import SinksConfig
from crowdsafe.alerts.sinks import AlertSink, MqttSink, WebhookSink
from crowdsafe.api.live import LiveFeed
from crowdsafe.config import CameraConfig, CrowdsafeConfig, is_sample
from crowdsafe.density.counter import DensityCounter
from crowdsafe.density.selector import DensityStage
from crowdsafe.detect.base import Detector
from crowdsafe.detect.nanodet import NanoDetDetector
from crowdsafe.detect.tiled import TiledDetector
from crowdsafe.errors import ConfigError
from crowdsafe.forecast.service import ForecastService
from crowdsafe.ingest.health import CameraHealth, StreamState
from crowdsafe.ingest.reader import FrameSlot, ReaderOptions, StreamReader
from crowdsafe.ingest.url import SourceAddress, SourceKind
from crowdsafe.ingest.video import sample_video_path
from crowdsafe.measure.lines import CountingLine, FlowAggregator, LineCounter
from crowdsafe.measure.zones import Zone, zones_from_config
from crowdsafe.pipeline import CameraPipeline, LineStage
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.privacy.faces import FaceFinder
from crowdsafe.privacy.snapshots import RetentionPurger, SnapshotStore
from crowdsafe.store.base import Store
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.track.bytetrack import ByteTracker
from crowdsafe.types import AlertEvent, Detections, Frame, LineSample, ZoneSample

__all__ = ["CameraRuntime", "Runtime", "address_for", "build_sinks", "reader_options"]

log = logging.getLogger(__name__)


def address_for(camera: CameraConfig, config: CrowdsafeConfig) -> SourceAddress:
    """The parsed source address of a camera (``sample:vtest`` -> the bundled file)."""
    url = camera.source.url
    if is_sample(url):
        name = url.split(":", 1)[1]
        if name != "vtest":
            raise ConfigError(
                f"camera '{camera.id}': unknown sample '{url}'; "
                "the bundled sample is 'sample:vtest'"
            )
        return SourceAddress.parse(str(sample_video_path()))
    return SourceAddress.parse(url, base_dir=config.base_dir)


def reader_options(camera: CameraConfig) -> ReaderOptions:
    src = camera.source
    return ReaderOptions(
        transport=src.transport,
        open_timeout_s=src.open_timeout_s,
        stall_s=src.stall_s,
        backoff_min_s=src.reconnect_min_s,
        backoff_max_s=src.reconnect_max_s,
        loop=src.loop,
        realtime=src.realtime,
        folder_fps=src.folder_fps,
        format=src.format,
        probe_s=src.probe_s,
        # decode intra-only streams at most twice as often as they are analysed
        min_decode_interval_s=0.5 / camera.analysis_fps,
    )


def build_sinks(config: SinksConfig) -> list[AlertSink]:
    """The webhook and MQTT sinks a config asks for (they connect in the background)."""
    sinks: list[AlertSink] = [
        WebhookSink(
            w.url,
            secret=w.secret,
            timeout_s=w.timeout_s,
            max_retries=w.max_retries,
            name=f"webhook-{i + 1}" if len(config.webhooks) > 1 else "webhook",
        )
        for i, w in enumerate(config.webhooks)
    ]
    if config.mqtt is not None:
        m = config.mqtt
        sinks.append(
            MqttSink(
                m.host,
                m.port,
                topic_prefix=m.topic_prefix,
                username=m.username,
                password=m.password,
                tls=m.tls,
            )
        )
    return sinks


def _default_anonymiser(config: CrowdsafeConfig) -> Anonymiser:
    faces = None
    if config.privacy.face_blur:
        path = config.models.face_blur.path
        faces = FaceFinder(config.resolve(path) if path else None)
    return Anonymiser(faces)


def counting_lines(camera: CameraConfig) -> list[CountingLine]:
    """The camera's counting lines, widths measured on the ground where not given."""
    hom = camera.calibration.homography()
    out = []
    for ln in camera.lines:
        width = ln.width_m
        if width is None:
            a, b = hom.to_ground(list(ln.points))
            width = float(np.hypot(*(b - a)))
        out.append(
            CountingLine(ln.id, camera.id, ln.display_name, ln.points[0], ln.points[1], width)
        )
    return out


# Weak detections are kept for blurring: pixelating a head that was not a person costs
# nothing, missing one exposes a face.  Measured with `crowdsafe eval anonymise` on
# TUD-Stadtmitte: at 0.35 the head zones cover 79 % of all annotated heads (every head of
# a detected person); at 0.1, 100 %.  Zones count only detections at the camera's
# score_threshold.
BLUR_SCORE_THRESHOLD = 0.1


def _detect_threshold(camera: CameraConfig) -> float:
    """Score the detector must keep for a camera: low enough for blurring, and for the
    tracker of a camera with lines, which extends tracks with weak detections."""
    low = min(camera.detector.score_threshold, BLUR_SCORE_THRESHOLD)
    if camera.lines:
        return min(low, camera.tracking.low_score)
    return low


def line_stage(camera: CameraConfig, bucket_s: float) -> LineStage | None:
    """Tracker, line counter and flow buckets for a camera with counting lines."""
    lines = counting_lines(camera)
    if not lines:
        return None
    tr = camera.tracking
    return LineStage(
        tracker=ByteTracker(
            high_score=tr.high_score,
            low_score=tr.low_score,
            match_iou=tr.match_iou,
            min_hits=tr.min_hits,
            max_lost_s=tr.max_lost_s,
            recover_dist=tr.recover_dist,
        ),
        counter=LineCounter(lines, max_gap_s=tr.max_lost_s),
        flow=FlowAggregator(lines, bucket_s),
    )


@dataclass
class CameraRuntime:
    config: CameraConfig
    address: SourceAddress
    zones: list[Zone]
    pipeline: CameraPipeline
    health: CameraHealth
    reader: StreamReader
    lines: list[CountingLine] = field(default_factory=list)
    last_analysed_at: float = 0.0
    # The last analysed frame with the people found in it, in memory only: the source of
    # the (anonymised) live view and alert snapshots; never served, stored or logged as
    # it is.  One tuple, replaced whole, so a reader never pairs a frame with the people
    # of another frame (which would pixelate the wrong places).
    last_view: tuple[int, npt.NDArray[np.uint8], Detections] | None = None
    live_cache: tuple[int, bytes] | None = None

    @property
    def measures_lag(self) -> bool:
        """Lag means something for live and paced sources, not for offline files."""
        return self.config.source.realtime or self.address.kind not in (
            SourceKind.FILE,
            SourceKind.FOLDER,
        )


class Runtime:
    """Runs every camera of a config; ``start()`` returns at once, ``close()`` joins."""

    def __init__(
        self,
        config: CrowdsafeConfig,
        *,
        detector: Detector | None = None,
        store: Store | None = None,
        feed: LiveFeed | None = None,
        sinks: list[AlertSink] | None = None,
        anonymiser: Anonymiser | None = None,
        density_model: DensityCounter | None = None,
    ) -> None:
        self.config = config
        self.store_path = str(config.resolve(config.storage.path)) if store is None else "(given)"
        self.store: Store = store or SQLiteStore(self.store_path)
        self.feed = feed or LiveFeed()
        detector_path = config.models.person_detector.path
        self.detector: Detector = detector or NanoDetDetector(
            config.resolve(detector_path) if detector_path else None,
            score_threshold=min(_detect_threshold(c) for c in config.cameras),
        )
        self.sinks: list[AlertSink] = build_sinks(config.alerts.sinks) if sinks is None else sinks
        names = {z.id: z.display_name for c in config.cameras for z in c.zones}
        names.update({ln.id: ln.display_name for c in config.cameras for ln in c.lines})
        self.alerts = AlertEngine(
            config.alerts,
            self.store,
            names=names,
            zone_levels={
                z.id: z.alert_density_per_m2
                for c in config.cameras
                for z in c.zones
                if z.alert_density_per_m2 is not None
            },
            line_levels={
                ln.id: ln.alert_flow_per_m_min
                for c in config.cameras
                for ln in c.lines
                if ln.alert_flow_per_m_min is not None
            },
            on_event=[self.feed.publish_alert, self._snapshot, *(s.send for s in self.sinks)],
        )
        privacy = config.privacy
        self.anonymiser = anonymiser or _default_anonymiser(config)
        self.snapshots = (
            SnapshotStore(config.resolve(privacy.snapshot_dir), privacy.snapshot_retention_h * 3600)
            if privacy.snapshots
            else None
        )
        self._purger = (
            RetentionPurger(self.snapshots, privacy.purge_interval_s) if self.snapshots else None
        )
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._analysis: threading.Thread | None = None
        self.cameras: dict[str, CameraRuntime] = {}
        self._density_model: DensityCounter | None = density_model
        for cam in config.cameras:
            address = address_for(cam, config)
            zones = zones_from_config(cam, config.thresholds)
            health = CameraHealth(cam.id, address.display)
            options = reader_options(cam)
            offline = (
                address.kind in (SourceKind.FILE, SourceKind.FOLDER) and not cam.source.realtime
            )
            reader = StreamReader(
                cam.id,
                address,
                options,
                health,
                slot=FrameSlot(blocking=offline, notify=self._wake),
            )
            detector_for_cam: Detector = self.detector
            if cam.detector.tile_px and hasattr(self.detector, "detect_image"):
                detector_for_cam = TiledDetector(
                    cast(NanoDetDetector, self.detector), cam.detector.tile_px
                )
            elif cam.detector.tile_px:
                log.warning(
                    "camera %s: detector.tile_px is ignored: the detector %s cannot "
                    "detect in image tiles (it has no detect_image)",
                    cam.id,
                    type(self.detector).__name__,
                )
            pipeline = CameraPipeline(
                cam.id,
                _ThresholdedDetector(detector_for_cam, _detect_threshold(cam)),
                zones,
                self.store,
                bucket_s=config.storage.bucket_s,
                analysis_fps=cam.analysis_fps,
                min_person_height_px=cam.detector.min_person_height_px,
                count_score_threshold=cam.detector.score_threshold,
                on_samples=self._on_zone_samples,
                lines=line_stage(cam, config.storage.line_bucket_s),
                on_line_samples=self._on_line_samples,
                density=self._density_stage(cam, zones),
            )
            self.cameras[cam.id] = CameraRuntime(
                cam, address, zones, pipeline, health, reader, counting_lines(cam)
            )
        self.forecast = ForecastService(config.forecast, self.store, self.zones())

    def _density_stage(self, cam: CameraConfig, zones: Sequence[Zone]) -> DensityStage | None:
        """The camera's detection/density switch; None when it counts by detection only."""
        settings = cam.density
        if settings.method == "detection":
            return None
        if self._density_model is None:
            path = self.config.models.density_counter.path
            self._density_model = DensityCounter(self.config.resolve(path) if path else None)
        return DensityStage(
            self._density_model,
            zones,
            method=settings.method,
            switch_up_per_m2=settings.switch_up_per_m2,
            switch_down_per_m2=settings.switch_down_per_m2,
            probe_interval_s=settings.probe_interval_s,
            max_fps=settings.max_fps,
            switch_up_ratio=settings.switch_up_ratio,
            switch_down_ratio=settings.switch_down_ratio,
        )

    def _on_zone_samples(self, samples: Sequence[ZoneSample]) -> None:
        """Every zone sample: live feed, alert rules, retained state on the sinks."""
        self.feed.publish(samples)
        for sample in samples:
            self.alerts.observe_zone(sample)
            for sink in self.sinks:
                sink.publish_state(sample)

    def _on_line_samples(self, samples: Sequence[LineSample]) -> None:
        self.feed.publish_lines(samples)
        for sample in samples:
            self.alerts.observe_line(sample)

    def lines(self) -> list[CountingLine]:
        return [ln for cam in self.cameras.values() for ln in cam.lines]

    def zones(self) -> list[Zone]:
        return [z for cam in self.cameras.values() for z in cam.zones]

    def start(self) -> None:
        if self._purger is not None:
            self._purger.start()
        for cam in self.cameras.values():
            cam.reader.start()
        self._analysis = threading.Thread(
            target=self._analyse_forever, name="analysis", daemon=True
        )
        self._analysis.start()

    def _next(self) -> CameraRuntime | None:
        """The most overdue camera with a frame waiting, or None."""
        best: CameraRuntime | None = None
        for cam in self.cameras.values():
            t = cam.reader.slot.peek_t()
            if t is None:
                continue
            if not cam.pipeline.is_due(t):
                if cam.reader.slot.blocking:
                    cam.reader.slot.take()  # an offline file waits for each frame: skip it
                continue
            if best is None or cam.last_analysed_at < best.last_analysed_at:
                best = cam
        return best

    def _analyse_forever(self) -> None:
        while not self._stop.is_set():
            # Look and wait under the same lock a reader notifies through, so a frame put
            # between the look and the wait cannot be missed for the whole timeout.
            with self._wake:
                cam = self._next()
                if cam is None:
                    self._wake.wait(0.05)
            if cam is None:
                self._flush_idle_cameras()
                continue
            item = cam.reader.slot.take()
            if item is None:
                continue
            started = time.time()
            analysed_before = cam.pipeline.stats.frames_analysed
            try:
                image = cast("npt.NDArray[np.uint8]", item.frame.to_ndarray(format="rgb24"))
                cam.pipeline.step(Frame(cam.config.id, item.t, image))
            except Exception as exc:  # one camera's bad frame must not stop the others
                log.exception("camera %s: analysis failed", cam.config.id)
                cam.health.set_state(cam.health.state, f"analysis failed: {exc}")
                continue
            cam.last_analysed_at = started
            # Only a frame the detector saw is shown, so its heads are the ones pixelated.
            analysed = cam.pipeline.stats.frames_analysed > analysed_before
            if analysed and (self.config.privacy.live_view or self.config.privacy.snapshots):
                people = cam.pipeline.last_detections
                cam.last_view = (item.seq, image, people if people is not None else Detections())
            cam.health.frame_analysed(started, started - item.t if cam.measures_lag else 0.0)

    def _flush_idle_cameras(self) -> None:
        """Close the open bucket of a camera that stopped delivering, so that what it
        measured before going down is stored, and nothing is made up after."""
        for cam in self.cameras.values():
            if cam.health.state is not StreamState.LIVE and cam.pipeline.has_open_bucket:
                cam.pipeline.finish()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        for cam in self.cameras.values():
            cam.reader.stop(timeout_s)
        with self._wake:
            self._wake.notify_all()
        if self._analysis is not None:
            self._analysis.join(timeout_s)
        for cam in self.cameras.values():
            cam.pipeline.finish()

    def close(self) -> None:
        self.stop()
        if self._purger is not None:
            self._purger.stop()
        for sink in self.sinks:
            sink.close()
        self.store.close()

    def anonymised_jpeg(self, camera_id: str, *, draw: bool = True) -> bytes | None:
        """The camera's last analysed frame as JPEG, faces and heads pixelated first,
        zones and lines drawn; None before the first frame.  The only way pixels leave."""
        cam = self.cameras[camera_id]
        view = cam.last_view
        if view is None:
            return None
        seq, image, people = view
        cached = cam.live_cache
        if cached is not None and cached[0] == seq:
            return cached[1]
        clean = self.anonymiser.anonymise(image, people)
        bgr = np.ascontiguousarray(clean[:, :, ::-1])
        if draw:
            for zone in cam.zones:
                cv2.polylines(bgr, [zone.polygon_px.astype(np.int32)], True, (60, 220, 60), 2)
            for ln in cam.lines:
                p1 = (int(ln.p1[0]), int(ln.p1[1]))
                p2 = (int(ln.p2[0]), int(ln.p2[1]))
                cv2.arrowedLine(bgr, p1, p2, (255, 140, 0), 2, tipLength=0.05)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            return None
        jpeg = buf.tobytes()
        cam.live_cache = (seq, jpeg)
        return jpeg

    def _snapshot(self, event: AlertEvent) -> None:
        """Keep one anonymised snapshot of the camera when an alert opens."""
        if self.snapshots is None or event.kind != "opened":
            return
        if event.alert.camera_id not in self.cameras:
            return
        jpeg = self.anonymised_jpeg(event.alert.camera_id)
        if jpeg is not None:
            self.snapshots.save(event.alert.id, jpeg)

    def zone_has_data(self, zone: Zone, now: float | None = None) -> bool:
        """False when a zone's camera is not live or its last sample is stale."""
        cam = self.cameras[zone.camera_id]
        if cam.health.state is not StreamState.LIVE:
            return False
        latest = self.feed.latest().get(zone.id)
        if latest is None:
            return False
        stale_after = max(3 * self.config.storage.bucket_s, cam.config.source.stall_s) + 1.0
        return (now or time.time()) - latest.t <= stale_after + self.config.storage.bucket_s

    def status_line(self) -> str:
        parts = []
        latest = self.feed.latest()
        for cam_id, cam in self.cameras.items():
            h = cam.health.snapshot()
            zones = " ".join(
                f"{z.id}={latest[z.id].count:.1f}p/{latest[z.id].density_per_m2:.2f}/m²"
                f"({latest[z.id].los.value})"
                if z.id in latest and self.zone_has_data(z)
                else f"{z.id}=no data"
                for z in cam.zones
            )
            lag = "" if h.lag_p95_s is None else f" lag p95 {h.lag_p95_s:.2f}s"
            head = f"{cam_id} {h.state.value} {h.analysed_fps:.1f} fps{lag}"
            parts.append(f"[{head}] {zones}")
        return " | ".join(parts)


class _ThresholdedDetector:
    """Applies one camera's score threshold on top of a detector shared by all cameras."""

    def __init__(self, inner: Detector, threshold: float) -> None:
        self.inner = inner
        self.threshold = threshold

    def detect(self, frame: Frame) -> Detections:
        d = self.inner.detect(frame)
        return d if not len(d) else d[d.score >= self.threshold]
