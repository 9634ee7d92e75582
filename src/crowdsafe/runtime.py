"""Wiring: from a validated config to running camera pipelines.

One thread per camera.  Why threads and not processes: the detector runs in ONNX
Runtime and decoding in FFmpeg, both of which release the GIL, so threads share one
model in memory at no measured loss for a handful of cameras (see ``crowdsafe bench``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from crowdsafe.api.live import LiveFeed
from crowdsafe.config import CameraConfig, CrowdsafeConfig, is_sample
from crowdsafe.detect.base import Detector
from crowdsafe.detect.nanodet import NanoDetDetector
from crowdsafe.errors import CrowdsafeError
from crowdsafe.ingest.base import Source
from crowdsafe.ingest.video import VideoFileSource, sample_video_path
from crowdsafe.measure.zones import Zone, zones_from_config
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.store.base import Store
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import Detections, Frame

__all__ = ["CameraRuntime", "Runtime", "source_for"]

log = logging.getLogger(__name__)


def source_for(camera: CameraConfig, config: CrowdsafeConfig) -> Source:
    """The frame source a camera's config describes."""
    url = camera.source.url
    path: Path
    if is_sample(url):
        name = url.split(":", 1)[1]
        if name != "vtest":
            raise CrowdsafeError(
                f"camera '{camera.id}': unknown sample '{url}'; "
                "the bundled sample is 'sample:vtest'"
            )
        path = sample_video_path()
    else:
        path = config.resolve(url)
    return VideoFileSource(
        camera.id, path, loop=camera.source.loop, realtime=camera.source.realtime
    )


@dataclass
class CameraRuntime:
    config: CameraConfig
    zones: list[Zone]
    pipeline: CameraPipeline
    source: Source | None = None
    thread: threading.Thread | None = None
    error: str | None = field(default=None)


class Runtime:
    """Runs every camera of a config; ``start()`` returns at once, ``stop()`` joins."""

    def __init__(
        self,
        config: CrowdsafeConfig,
        *,
        detector: Detector | None = None,
        store: Store | None = None,
        feed: LiveFeed | None = None,
    ) -> None:
        self.config = config
        self.store_path = str(config.resolve(config.storage.path)) if store is None else "(given)"
        self.store: Store = store or SQLiteStore(self.store_path)
        self.feed = feed or LiveFeed()
        self.detector: Detector = detector or NanoDetDetector(
            score_threshold=min(c.detector.score_threshold for c in config.cameras)
        )
        self._stop = threading.Event()
        self.cameras: dict[str, CameraRuntime] = {}
        for cam in config.cameras:
            zones = zones_from_config(cam, config.thresholds)
            pipeline = CameraPipeline(
                cam.id,
                _ThresholdedDetector(self.detector, cam.detector.score_threshold),
                zones,
                self.store,
                bucket_s=config.storage.bucket_s,
                analysis_fps=cam.analysis_fps,
                min_person_height_px=cam.detector.min_person_height_px,
                on_samples=self.feed.publish,
            )
            self.cameras[cam.id] = CameraRuntime(config=cam, zones=zones, pipeline=pipeline)

    def zones(self) -> list[Zone]:
        return [z for cam in self.cameras.values() for z in cam.zones]

    def start(self) -> None:
        for cam_id, cam in self.cameras.items():
            cam.thread = threading.Thread(
                target=self._run_camera, args=(cam,), name=f"camera-{cam_id}", daemon=True
            )
            cam.thread.start()

    def _run_camera(self, cam: CameraRuntime) -> None:
        try:
            cam.source = source_for(cam.config, self.config)
            cam.pipeline.run(cam.source, self._stop)
        except CrowdsafeError as exc:
            cam.error = str(exc)
            cam.pipeline.stats.state = "failed"
            cam.pipeline.stats.last_error = str(exc)
            log.error("camera %s stopped: %s", cam.config.id, exc)
        except Exception as exc:  # keep other cameras alive, but say what broke
            cam.error = f"{type(exc).__name__}: {exc}"
            cam.pipeline.stats.state = "failed"
            cam.pipeline.stats.last_error = cam.error
            log.exception("camera %s crashed", cam.config.id)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        for cam in self.cameras.values():
            if cam.source is not None:
                cam.source.close()
        for cam in self.cameras.values():
            if cam.thread is not None:
                cam.thread.join(timeout_s)

    def close(self) -> None:
        self.stop()
        self.store.close()

    def status_line(self) -> str:
        parts = []
        latest = self.feed.latest()
        for cam_id, cam in self.cameras.items():
            st = cam.pipeline.stats
            zones = " ".join(
                f"{z.id}={latest[z.id].count:.1f}p/{latest[z.id].density_per_m2:.2f}/m²({latest[z.id].los.value})"
                for z in cam.zones
                if z.id in latest
            )
            head = f"{cam_id} {st.state} {st.frames_analysed} frames {st.analysed_fps:.1f} fps"
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
