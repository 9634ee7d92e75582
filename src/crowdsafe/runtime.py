"""Scheduling: the threads that run what :mod:`crowdsafe.assembly` built.

Nothing here decides what to build: :func:`~crowdsafe.assembly.assemble` turns the config
into cameras, pipelines, store, sinks and alert engine, and this module only starts
threads, hands frames to pipelines and serves what the API asks of a :class:`Site`.

Threads, and why (measured with ``crowdsafe bench --cameras N``, figures in the README;
the decision is ADR 0002):

* one **reader** thread per camera (``ingest/reader.py``): FFmpeg demuxing and decoding
  run in C with the GIL released, so readers scale across cores like processes would,
  without copying frames between processes;
* one **analysis** thread for all cameras: it takes each camera's newest frame when the
  camera is due and runs the shared detector.  ONNX Runtime already uses every core
  for one frame, so a second analysis thread would only make frames wait on each other.
  Cameras are served most-overdue first, so under overload every camera slows evenly
  and lag stays bounded instead of one camera starving.

The live view is made on a third kind of thread, one low-priority worker for all cameras
(``livecache.py``): each camera's image is anonymised at most once per analysed frame and
at most ``live_view_limits.max_fps`` times a second, and the worker is busy at most
``live_view_limits.max_busy`` of the time, however many dashboards ask, so viewers cannot
take the cores from the analysis (``crowdsafe bench live`` measures it).

Measured 2026-11-26 on 2 cores (README, "Measured"): a reader costs 0.015-0.020 cores
per 10 fps 768x576 H.264 camera, an analysed frame 0.06 CPU-seconds; 8 cameras asking
5 fps each (more than 2 cores can do) all got 3.4 fps with lag p95 under 0.1 s.

Frames are not batched across cameras.  The YOLOX-Nano 512 and 640 px files take a
batch (``YoloxDetector.detect_batch``), but on 2 CPU cores a batch of 2-8 frames ran
3-15 % fewer frames a second than one at a time (``crowdsafe bench --batch``, README
"Measured"; ADR 0002), so the analysis thread runs one frame per session run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from crowdsafe.alerts.base import AlertSink, SinkHealth
from crowdsafe.alerts.engine import AlertEngine
from crowdsafe.assembly import CameraParts, assemble
from crowdsafe.assembly.layout import site_groups
from crowdsafe.config import CameraConfig, CrowdsafeConfig
from crowdsafe.density.counter import DensityCounter
from crowdsafe.detect.base import Detector
from crowdsafe.feed import LiveFeed
from crowdsafe.forecast.service import ForecastService
from crowdsafe.ingest.convert import FrameScaler, analysis_frame, analysis_size
from crowdsafe.ingest.health import CameraHealth, StreamState
from crowdsafe.ingest.reader import FrameSlot, StreamReader
from crowdsafe.ingest.url import SourceAddress
from crowdsafe.livecache import SingleFlight
from crowdsafe.measure.lines import CountingLine
from crowdsafe.measure.zones import Zone
from crowdsafe.overlay import anonymised_jpeg
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.privacy.snapshots import SnapshotStore
from crowdsafe.site import CameraInfo, SiteGroup, fresh_for_s
from crowdsafe.store.base import Store
from crowdsafe.store.maintenance import MaintenanceStatus
from crowdsafe.store.resolution import Resolutions
from crowdsafe.types import AlertEvent, AlertEventKind, Detections, Frame, LiveView

__all__ = ["SINK_DRAIN_S", "AnalysedFrame", "CameraRuntime", "Runtime"]

log = logging.getLogger(__name__)

# How long a stop waits for the alert sinks to deliver what they hold: long enough for a
# reachable receiver to take a queue of events, short enough for systemd's and container
# runtimes' stop timeouts (90 s and 10 s by default) with the rest of a stop.
SINK_DRAIN_S = 5.0


@dataclass(frozen=True)
class AnalysedFrame:
    """A camera's last analysed frame (at the detector's size, the full size made on
    demand) and the people found in it; in memory only, like :class:`LiveView`."""

    seq: int
    frame: Frame
    people: Detections

    def view(self) -> LiveView:
        """The frame at the camera's own size with its people."""
        return LiveView(self.seq, self.frame.full_image(), self.people)


@dataclass
class CameraRuntime:
    """One running camera: its assembled parts, its reader thread, its last view."""

    config: CameraConfig
    address: SourceAddress
    zones: list[Zone]
    lines: list[CountingLine]
    pipeline: CameraPipeline
    health: CameraHealth
    reader: StreamReader
    last_analysed_at: float = 0.0
    # In memory only (see LiveView): the last analysed frame's number, frame and people,
    # replaced whole after each analysed frame.  The frame's full-size pixels are made
    # only when a live view or a snapshot asks for them (ingest/convert.py).
    last_analysed: AnalysedFrame | None = None
    # FFmpeg's scaler for this camera's analysis frames, kept between frames.
    scaler: FrameScaler = field(default_factory=FrameScaler)

    @property
    def last_view(self) -> LiveView | None:
        """The last analysed frame at full size with its people; None before the first."""
        last = self.last_analysed
        return None if last is None else last.view()


class Runtime:
    """Runs every camera of a config; ``start()`` returns at once, ``close()`` joins.

    Implements :class:`crowdsafe.site.Site` for the API.  Parts given as arguments are
    used instead of being built (see :func:`crowdsafe.assembly.assemble`)."""

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
        camera_ids: Collection[str] | None = None,
    ) -> None:
        built = assemble(
            config,
            detector=detector,
            store=store,
            feed=feed,
            sinks=sinks,
            anonymiser=anonymiser,
            density_model=density_model,
            on_alert_event=[self._snapshot],
            camera_ids=camera_ids,
        )
        self.config = config
        self._build_camera = built.build_camera
        self.store: Store = built.store
        self.store_path = built.store_location
        self.feed: LiveFeed = built.feed
        self.sinks: list[AlertSink] = built.sinks
        self.alerts: AlertEngine = built.alerts
        self.anonymiser: Anonymiser = built.anonymiser
        self.snapshots: SnapshotStore | None = built.snapshots
        self.forecast: ForecastService = built.forecast
        self._purger = built.purger
        self._maintenance = built.maintenance
        limits = config.live_view_limits
        # The JPEG bytes of each camera's latest live image, never frames (livecache.py).
        self.live_images: SingleFlight[bytes | None] = SingleFlight(
            min_interval_s=1.0 / limits.max_fps, max_busy=limits.max_busy, wait_s=limits.wait_s
        )
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._analysis: threading.Thread | None = None
        # Held while a camera's pipeline steps or finishes, so that a camera removed
        # while running is finished once, after its last frame, never during one.
        self._pipelines = threading.Lock()
        self._started = False
        # Replaced whole, never changed in place: the analysis thread iterates it.
        self.cameras: dict[str, CameraRuntime] = {
            cid: self._camera(parts) for cid, parts in built.cameras.items()
        }

    def _camera(self, parts: CameraParts) -> CameraRuntime:
        reader = StreamReader(
            parts.config.id,
            parts.address,
            parts.options,
            parts.health,
            slot=FrameSlot(blocking=parts.offline, notify=self._wake),
        )
        return CameraRuntime(
            config=parts.config,
            address=parts.address,
            zones=parts.zones,
            lines=parts.lines,
            pipeline=parts.pipeline,
            health=parts.health,
            reader=reader,
        )

    # --- cameras added and removed while running (a cluster worker's share) ----------

    def add_camera(self, camera: CameraConfig) -> None:
        """Build ``camera`` with this runtime's store, feed and alert engine, and start
        its reader if the runtime runs; the other cameras carry on undisturbed.
        Raises ValueError when a camera of that id runs already."""
        if camera.id in self.cameras:
            raise ValueError(f"camera {camera.id} is already running")
        cam = self._camera(self._build_camera(camera))
        self.cameras = {**self.cameras, camera.id: cam}
        if self._started and not self._stop.is_set():
            cam.reader.start()

    def remove_camera(self, camera_id: str, timeout_s: float = 5.0) -> None:
        """Stop one camera's reader and store its open zone and line buckets; the others
        carry on.  Raises KeyError for a camera that is not running."""
        cam = self.cameras[camera_id]
        self.cameras = {cid: c for cid, c in self.cameras.items() if cid != camera_id}
        cam.reader.stop(timeout_s)
        with self._pipelines:
            cam.pipeline.finish()

    # --- scheduling ----------------------------------------------------------------

    def start(self) -> None:
        self._started = True
        if self._purger is not None:
            self._purger.start()
        if self._maintenance is not None:
            self._maintenance.start()
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
        keep_view = self.config.privacy.live_view or self.config.privacy.snapshots
        while not self._stop.is_set():
            # Look and wait under the same lock a reader notifies through, so a frame put
            # between the look and the wait cannot be missed for the whole timeout.
            with self._wake:
                cam = self._next()
                if cam is None:
                    # Readers notify each frame, and a frame waiting that is not due
                    # never becomes due, so this timeout only paces the flush of idle
                    # cameras: short timeouts cost 2-3 ms of CPU per analysed frame at
                    # 0.5 fps (README, "Measured").
                    self._wake.wait(0.25)
            if cam is None:
                self._flush_idle_cameras()
                continue
            item = cam.reader.slot.take()
            if item is None:
                continue
            started = time.time()
            analysed_before = cam.health.frames_analysed
            try:
                # Converted and scaled once, in FFmpeg, to what the detector takes; the
                # full-size frame is made only if asked for (ingest/convert.py).
                size = analysis_size(cam.pipeline.detector, item.frame.width, item.frame.height)
                frame = analysis_frame(cam.config.id, item.t, item.frame, size, cam.scaler)
                with self._pipelines:
                    if self.cameras.get(cam.config.id) is not cam:
                        continue  # removed since it was picked: its buckets are stored
                    cam.pipeline.step(frame)
            except Exception as exc:  # one camera's bad frame must not stop the others
                log.exception("camera %s: analysis failed", cam.config.id)
                cam.health.set_state(cam.health.state, f"analysis failed: {exc}")
                continue
            cam.last_analysed_at = started
            # Only a frame the detector saw is shown, so its heads are the ones pixelated
            # (a held frame was not seen: the view stays the last analysed one).
            analysed = cam.health.frames_analysed > analysed_before
            analysed = analysed and not cam.pipeline.last_held
            if analysed and keep_view:
                people = cam.pipeline.last_detections
                cam.last_analysed = AnalysedFrame(
                    item.seq, frame, people if people is not None else Detections()
                )

    def _flush_idle_cameras(self) -> None:
        """Close the open bucket of a camera that stopped delivering, so that what it
        measured before going down is stored, and nothing is made up after."""
        for cam in self.cameras.values():
            if cam.health.state is not StreamState.LIVE and cam.pipeline.has_open_bucket:
                with self._pipelines:
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
        """Stop, store every camera's open zone and line buckets, deliver what the alert
        sinks still hold for at most :data:`SINK_DRAIN_S` (all sinks at once, so the
        bound does not grow with their number), then close the store."""
        self.stop()
        self.live_images.close()
        if self._purger is not None:
            self._purger.stop()
        if self._maintenance is not None:
            self._maintenance.stop()
        drains = [
            threading.Thread(target=sink.close, args=(SINK_DRAIN_S,), name="drain", daemon=True)
            for sink in self.sinks
        ]
        for drain in drains:
            drain.start()
        for drain in drains:
            # each sink bounds its own close (a request under way ends within its timeout)
            drain.join(SINK_DRAIN_S + 10.0)
        self.store.close()

    # --- the Site the API serves --------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.site

    @property
    def live_view_enabled(self) -> bool:
        return self.config.privacy.live_view

    @property
    def resolutions(self) -> Resolutions:
        return Resolutions.of(self.config.storage)

    @property
    def live_view_requests_max(self) -> int:
        return self.config.live_view_limits.max_requests

    def camera_infos(self) -> list[CameraInfo]:
        return [
            CameraInfo(
                id=cid,
                name=cam.config.display_name,
                zone_ids=[z.id for z in cam.zones],
                health=cam.health.snapshot(),
                site_id=self.config.site_of(cam.config),
            )
            for cid, cam in self.cameras.items()
        ]

    def site_groups(self) -> list[SiteGroup]:
        return site_groups(self.config)

    def lines(self) -> list[CountingLine]:
        return [ln for cam in self.cameras.values() for ln in cam.lines]

    def zones(self) -> list[Zone]:
        return [z for cam in self.cameras.values() for z in cam.zones]

    def sink_health(self) -> list[SinkHealth]:
        return [s.health() for s in self.sinks]

    @property
    def store_maintenance(self) -> MaintenanceStatus | None:
        return None if self._maintenance is None else self._maintenance.status

    def anonymised_jpeg(self, camera_id: str) -> bytes | None:
        """The camera's last analysed frame as JPEG, faces and heads pixelated first,
        zones and lines drawn; None before the first frame.  The only way pixels leave.

        Made once per analysed frame at most, within ``live_view_limits`` (``max_fps``,
        ``max_busy``), on the live-view worker and shared by every caller, so it can be
        a little older than the last analysed frame.  Raises KeyError for an
        unknown camera, ServiceBusy when the image is not made within
        ``live_view_limits.wait_s``."""
        cam = self.cameras[camera_id]
        last = cam.last_analysed
        if last is None:
            return None
        # the full-size frame is made on the worker, and only when no JPEG of it is cached
        return self.live_images.get(camera_id, last.seq, lambda: self._jpeg(cam, last.view()))

    def _jpeg(self, cam: CameraRuntime, view: LiveView) -> bytes | None:
        return anonymised_jpeg(view, self.anonymiser, cam.zones, cam.lines)

    def snapshot(self, alert_id: str) -> bytes | None:
        return self.snapshots.get(alert_id) if self.snapshots is not None else None

    def _snapshot(self, event: AlertEvent) -> None:
        """Keep one anonymised snapshot of the camera when an alert opens."""
        if self.snapshots is None or event.kind is not AlertEventKind.OPENED:
            return
        cam = self.cameras.get(event.alert.camera_id)
        view = cam.last_view if cam is not None else None
        if cam is None or view is None:
            return
        # The frame the alert opened on, made here on the analysis thread (an alert is
        # rare) rather than queued behind the low-priority live-view worker.
        jpeg = self.live_images.cached(cam.config.id, view.seq) or self._jpeg(cam, view)
        if jpeg is not None:
            self.snapshots.save(event.alert.id, jpeg)

    def zone_has_data(self, zone: Zone, now: float | None = None) -> bool:
        """False when a zone's camera is not live or its last sample is stale."""
        return bool(self.fresh_zones([zone], now))

    def fresh_zones(self, zones: Sequence[Zone], now: float | None = None) -> set[str]:
        """The ids of ``zones`` whose camera is live and whose last sample is fresh."""
        now = time.time() if now is None else now
        times = self.feed.latest_times([z.id for z in zones])
        bucket_s = self.config.storage.bucket_s
        out = set()
        for zone in zones:
            cam = self.cameras[zone.camera_id]
            t = times.get(zone.id)
            if t is None or cam.health.state is not StreamState.LIVE:
                continue
            if now - t <= fresh_for_s(bucket_s, cam.config.source.stall_s):
                out.add(zone.id)
        return out

    def status_line(self) -> str:
        """One line per refresh for the terminal: each camera's state, fps, lag, zones."""
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
