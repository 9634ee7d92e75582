"""SIMULATION ONLY: scripted cameras for ``crowdsafe fleet simulate``; never a real site.

A city of 8,000 cameras cannot be decoded on one test machine, and what the fleet
simulation measures is everything after the detector: zone counting, buckets, the
write queue, the shared PostgreSQL store, the live feed, the controller's placements and
failover, and the API.  So each synthetic camera is the ordinary pipeline of
:mod:`crowdsafe.assembly` (zones, buckets, alerts, store) given *scripted detections*:

* :class:`ScriptedCrowd` says how many people stand in each zone at a time ``t``: a
  build-up before an event (arrivals), a plateau, egress, a quiet tail, repeating every
  ``cycle_s``, each camera with its own phase and peak, each zone its own share, and a
  little noise; all from ``zlib.crc32`` of the seed, camera and second, so every worker
  process (and a rerun) scripts the same numbers;
* :class:`ScriptedCrowdDetector` turns those counts into boxes whose feet stand inside
  each zone's polygon, so the real :class:`~crowdsafe.measure.zones.ZoneCounter` counts
  them; no pixel is looked at and no model runs;
* :class:`SyntheticRuntime` has no reader thread per camera (thousands of threads per
  worker would measure the scheduler, not the fleet): one driver thread steps every
  camera's pipeline once per ``1 / analysis_fps`` second with one shared blank frame,
  stamped with the tick's time; a tick that starts a whole tick late skips to the
  current one, as a reader keeps only its newest frame, so an overloaded worker
  loses buckets (counted in ``ticks_skipped``, and lost in the store) instead of
  falling ever further behind (the lateness of the last ticks is in ``lateness_s``);
* :class:`SyntheticFleetWorker` is a :class:`~crowdsafe.cluster.worker.FleetWorker`
  whose runtime is a :class:`SyntheticRuntime`; everything else (assignment, status rows,
  alert states) is the real worker's.

Counts only: the script is numbers of people, and the boxes carry nothing else.
"""

from __future__ import annotations

import functools
import logging
import math
import resource
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdsafe.cluster.worker import FleetWorker
from crowdsafe.config import CrowdsafeConfig
from crowdsafe.detect.base import Detector
from crowdsafe.ingest.health import StreamState
from crowdsafe.ingest.reader import StreamReader
from crowdsafe.runtime import CameraRuntime, Runtime
from crowdsafe.store.base import Store
from crowdsafe.types import Detections, Frame

__all__ = [
    "FRAME_SIZE",
    "IdleReader",
    "ScriptedCrowd",
    "ScriptedCrowdDetector",
    "SyntheticFleetWorker",
    "SyntheticRuntime",
    "crowd_level",
]

log = logging.getLogger(__name__)

FRAME_SIZE = (768, 576)
"""(width, height) of the synthetic cameras' frame, in pixels."""

_BOX_W, _BOX_H = 16.0, 40.0  # a standing person's box, in pixels
_JITTER = 5  # feet spread around a zone's centre, pixels (stays inside any test zone)


def crowd_level(u: float) -> float:
    """The share of its peak a camera sees at phase ``u`` in [0, 1) of an event cycle:
    arrivals build up (smoothstep 0.05 -> 1 over 35 % of the cycle), a plateau (30 %),
    egress (1 -> 0.05 over 15 %), then a quiet tail."""
    u = u % 1.0
    quiet = 0.05
    if u < 0.35:
        x = u / 0.35
        return quiet + (1.0 - quiet) * x * x * (3.0 - 2.0 * x)
    if u < 0.65:
        return 1.0
    if u < 0.80:
        x = (u - 0.65) / 0.15
        return 1.0 - (1.0 - quiet) * x * x * (3.0 - 2.0 * x)
    return quiet


def _unit(*parts: object) -> float:
    """A number in [0, 1) from ``parts``, the same in every process (not ``hash``)."""
    return zlib.crc32(repr(parts).encode()) / 2**32


@functools.lru_cache(maxsize=65536)
def _camera_script(seed: int, camera_id: str, zones: int) -> tuple[float, float, tuple[float, ...]]:
    """A camera's (phase, peak scale, zone shares): fixed for a run, so worked out once."""
    return (
        _unit(seed, camera_id, "phase"),
        0.4 + 0.6 * _unit(seed, camera_id, "peak"),
        tuple(0.5 + 0.5 * _unit(seed, camera_id, j, "share") for j in range(zones)),
    )


@dataclass(frozen=True)
class ScriptedCrowd:
    """People per zone over time, scripted (module docstring): ``peak`` people at most
    in a camera's busiest zone, cycles of ``cycle_s`` seconds, noise of ``noise``
    people at most either way."""

    seed: int = 0
    cycle_s: float = 240.0
    peak: int = 24
    noise: int = 2

    def counts(self, camera_id: str, zones: int, t: float) -> list[int]:
        """People in each of a camera's ``zones`` zones at ``t`` (Unix seconds)."""
        phase, scale, shares = _camera_script(self.seed, camera_id, zones)
        level = self.peak * scale * crowd_level(t / self.cycle_s + phase)
        # one hash per camera and second, one cheap step of it per zone
        second = zlib.crc32(f"{camera_id}:{math.floor(t)}".encode(), self.seed)
        out = []
        for j, share in enumerate(shares):
            wobble = round((2 * zlib.crc32(_ZONE_BYTES[j % 256], second) / 2**32 - 1) * self.noise)
            out.append(max(0, round(level * share) + wobble))
        return out


_ZONE_BYTES = [bytes((j,)) for j in range(256)]


class ScriptedCrowdDetector:
    """A :class:`~crowdsafe.detect.base.Detector` that finds the people
    :class:`ScriptedCrowd` scripts for a frame's camera and time, their feet inside each
    of the camera's zones (at the mean of the zone's vertices, a few pixels apart, so
    zones must be convex).  Raises KeyError in ``detect`` for a camera not in ``config``."""

    def __init__(self, config: CrowdsafeConfig, crowd: ScriptedCrowd | None = None) -> None:
        self.crowd = crowd or ScriptedCrowd()
        rng = np.random.default_rng(self.crowd.seed)
        jitter = rng.integers(-_JITTER, _JITTER + 1, size=(4096, 2)).astype(np.float32)
        # Each zone's boxes for as many people as the script can put there, made once;
        # a frame takes the first n of each (a city's worth of cameras per worker)
        most = self.crowd.peak + self.crowd.noise + 1
        self._boxes: dict[str, list[npt.NDArray[np.float32]]] = {}
        for cam in config.cameras:
            boxes, offset = [], 0
            for z in cam.zones:
                anchor = np.mean(np.asarray(z.polygon, dtype=np.float64), axis=0)
                feet = anchor.astype(np.float32) + jitter[(offset + np.arange(most)) % 4096]
                offset += most
                xyxy = np.empty((most, 4), dtype=np.float32)
                xyxy[:, 0] = feet[:, 0] - _BOX_W / 2
                xyxy[:, 1] = feet[:, 1] - _BOX_H
                xyxy[:, 2] = feet[:, 0] + _BOX_W / 2
                xyxy[:, 3] = feet[:, 1]
                boxes.append(xyxy)
            self._boxes[cam.id] = boxes
        self._scores = np.ones(most * max((len(b) for b in self._boxes.values()), default=1),
                               dtype=np.float32)  # fmt: skip

    def detect(self, frame: Frame) -> Detections:
        boxes = self._boxes[frame.camera_id]
        counts = self.crowd.counts(frame.camera_id, len(boxes), frame.t)
        total = sum(counts)
        if total == 0:
            return Detections()
        xyxy = np.concatenate([b[:n] for b, n in zip(boxes, counts, strict=True)])
        return Detections(xyxy=xyxy, score=self._scores[:total].copy())


class IdleReader(StreamReader):
    """A reader that reads nothing: the driver thread of :class:`SyntheticRuntime`
    delivers the frames.  It only keeps the camera's health state."""

    def start(self) -> None:
        self.health.set_state(StreamState.LIVE)

    def stop(self, timeout_s: float = 5.0) -> None:
        self.health.set_state(StreamState.STOPPED)


class SyntheticRuntime(Runtime):
    """A :class:`~crowdsafe.runtime.Runtime` whose cameras are scripted (module
    docstring): no reader threads; one driver thread steps every camera's pipeline once
    a tick, in place of the analysis thread."""

    ticks = 0
    ticks_skipped = 0

    def __init__(self, config: CrowdsafeConfig, **parts: Any) -> None:
        super().__init__(config, **parts)
        # how late each of the last ticks started, seconds (the driver's lag)
        self.lateness_s: deque[float] = deque(maxlen=600)

    def _camera(self, parts: Any) -> CameraRuntime:
        cam = super()._camera(parts)
        cam.reader = IdleReader(parts.config.id, parts.address, parts.options, parts.health)
        return cam

    def _analyse_forever(self) -> None:
        width, height = FRAME_SIZE
        image = np.zeros((height, width, 3), dtype=np.uint8)
        image.flags.writeable = False
        tick_s = 1.0 / min((c.analysis_fps for c in self.config.cameras), default=1.0)
        # mid-bucket, so that a tick's frame is well inside its bucket
        next_t = (math.floor(time.time() / tick_s) + 0.5) * tick_s
        while not self._stop.is_set():
            wait_s = next_t - time.time()
            if wait_s > 0 and self._stop.wait(wait_s):
                break
            late_s = time.time() - next_t
            if self.cameras:
                self.lateness_s.append(late_s)
            if late_s >= tick_s:
                # behind by a whole tick: skip to the current one, as a camera's reader
                # keeps only its newest frame; the buckets skipped are missing, not late
                skipped = math.floor(late_s / tick_s)
                self.ticks_skipped += skipped if self.cameras else 0
                next_t += skipped * tick_s
            self._tick(next_t, image)
            self.ticks += 1
            next_t += tick_s

    def _tick(self, t: float, image: npt.NDArray[np.uint8]) -> None:
        for cam in list(self.cameras.values()):
            cam.health.frame_received(time.time())
            frame = Frame(cam.config.id, t, image)
            with self._pipelines:
                if self.cameras.get(cam.config.id) is not cam:
                    continue  # removed during this tick: its buckets are stored
                try:
                    cam.pipeline.step(frame)
                except Exception:  # one camera's failure must not stop the others
                    log.exception("synthetic camera %s: step failed", cam.config.id)
            cam.last_analysed_at = t


class SyntheticFleetWorker(FleetWorker):
    """A fleet worker of scripted cameras (module docstring).  The detector factory, when
    given, must build a scripted detector; without one, :class:`ScriptedCrowdDetector`
    with the default script is used."""

    def _runtime(self, config: CrowdsafeConfig, detector: Detector | None, store: Store) -> Runtime:
        scripted = detector if detector is not None else ScriptedCrowdDetector(config)
        return SyntheticRuntime(config, detector=scripted, store=store, camera_ids=())

    def synthetic(self) -> SyntheticRuntime:
        assert isinstance(self.runtime, SyntheticRuntime)  # made by _runtime
        return self.runtime

    def usage(self) -> dict[str, float]:
        """This worker process's CPU seconds and peak RSS (MiB), its cameras, and how
        late its driver's last (at most 600) ticks started: p95 and worst, seconds."""
        ru = resource.getrusage(resource.RUSAGE_SELF)
        runtime = self.synthetic()
        late = sorted(runtime.lateness_s) or [0.0]
        return {
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
            "peak_rss_mib": round(ru.ru_maxrss / 1024, 1),
            "cameras": float(len(runtime.cameras)),
            "tick_late_p95_s": round(late[min(len(late) - 1, int(0.95 * len(late)))], 3),
            "tick_late_max_s": round(late[-1], 3),
            "ticks_skipped": float(runtime.ticks_skipped),
        }
