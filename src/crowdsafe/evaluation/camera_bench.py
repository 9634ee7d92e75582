"""``crowdsafe bench --cameras N``: what a camera costs, per decode mode, on this machine.

N copies of one video play as live cameras (paced at the video's own rate, looped),
each analysed at the asked rate by the deployed runtime, once per decode mode
(``ingest/decode.py``).  For each mode, over ``seconds`` after a warm-up:

* **decode cores per camera**: the CPU time of the reader threads (each one's own
  thread clock, so a neighbour's load on a shared machine does not count), per second
  of wall time, per camera;
* **analysis CPU-seconds per frame**: the process's CPU time less the readers', per
  analysed frame: conversion, detector (ONNX Runtime's threads included), zones,
  buckets, store and alerts.  Writing samples is not separable from it (0 in the
  profile's ``store_cpu_s_per_frame``);
* **cameras per core** at the asked rate: ``1 / (decode + fps x analysis)``;
* achieved fps and analysis lag p50/p95 of every camera.

The decode mode asked for may not be the one a stream gets (keyframes with a keyframe
interval longer than the analysis period); each run reports the mode that ran, and
that is what its profile entry is filed under.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from crowdsafe.config import CrowdsafeConfig
from crowdsafe.config.storage import scratch_sqlite
from crowdsafe.detect.base import Detector
from crowdsafe.evaluation.profile import CostEntry
from crowdsafe.ingest.decode import DecodeMode
from crowdsafe.ingest.video import probe_video

__all__ = [
    "BENCH_MODES",
    "CameraBench",
    "CameraRun",
    "ModeRun",
    "cost_entries",
    "machine_name",
    "run_camera_bench",
]

BENCH_MODES = (DecodeMode.ALL, DecodeMode.NONREF, DecodeMode.KEYFRAMES)


def machine_name() -> str:
    """ "N cores, <cpu model>" of this machine."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"


def _camera_config(
    config: CrowdsafeConfig, video: Path, cameras: int, fps: float, mode: DecodeMode
) -> CrowdsafeConfig:
    """``cameras`` copies of the config's first camera, each playing ``video`` live.

    Below 4 fps the copies have no counting lines: the config refuses lines there
    (they need tracks), and such a camera measures density and occupancy."""
    template = config.cameras[0]
    cams = []
    for i in range(cameras):
        cams.append(
            template.model_copy(
                update={
                    "id": f"cam{i + 1}",
                    "name": f"bench camera {i + 1}",
                    "analysis_fps": fps,
                    "source": template.source.model_copy(
                        update={
                            "url": str(video),
                            "loop": True,
                            "realtime": True,
                            "decode": mode.value,
                        }
                    ),
                    "zones": [
                        z.model_copy(update={"id": f"c{i + 1}-{z.id}"}) for z in template.zones
                    ],
                    "lines": template.lines if fps >= 4 else [],
                }
            )
        )
    return config.model_copy(update={"cameras": cams})


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(np.asarray(values), q)), 3) if values else None


@dataclass(frozen=True)
class CameraRun:
    """One camera's figures over a measured run."""

    camera: str
    state: str
    decode_mode: str | None
    keyframe_interval_frames: int | None
    achieved_fps: float
    lag_p50_s: float | None
    lag_p95_s: float | None


@dataclass(frozen=True)
class ModeRun:
    """Every camera analysed in one decode mode: the costs and what they achieved."""

    decode_mode: str | None  # the mode that ran (None: the cameras ran different ones)
    decode_note: str | None
    keyframe_interval_frames: int | None
    decode_cores_per_camera: float
    analysis_cpu_s_per_frame: float
    cameras_per_core: float
    achieved_fps_min: float
    achieved_fps_median: float
    lag_p50_s: float | None
    lag_p95_s: float | None
    cpu_cores_used: float
    per_camera: list[CameraRun]


def _run_mode(
    detector: Detector,
    config: CrowdsafeConfig,
    *,
    seconds: float,
    warmup_s: float,
    fps: float,
) -> ModeRun:
    from crowdsafe.runtime import Runtime

    rt = Runtime(config, detector=detector)
    rt.start()
    try:
        time.sleep(warmup_s)
        start = {cid: c.health.frames_analysed for cid, c in rt.cameras.items()}
        readers0 = sum(c.reader.cpu_s() for c in rt.cameras.values())
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        readers = sum(c.reader.cpu_s() for c in rt.cameras.values()) - readers0
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        per_camera: list[CameraRun] = []
        all_lags: list[float] = []
        notes: set[str | None] = set()
        for cid, cam in rt.cameras.items():
            snap = cam.health.snapshot()
            n = snap.frames_analysed - start[cid]
            lags = cam.health.lags()[-n:] if n > 0 else []
            all_lags.extend(lags)
            notes.add(snap.decode_note)
            per_camera.append(
                CameraRun(
                    camera=cid,
                    state=snap.state.value,
                    decode_mode=snap.decode_mode,
                    keyframe_interval_frames=snap.keyframe_interval_frames,
                    achieved_fps=round(n / wall, 3),
                    lag_p50_s=_percentile(lags, 50),
                    lag_p95_s=_percentile(lags, 95),
                )
            )
    finally:
        rt.close()
    analysed = sum(c.achieved_fps for c in per_camera) * wall
    decode_per_camera = readers / wall / len(per_camera)
    analysis_per_frame = max(cpu - readers, 0.0) / max(analysed, 1.0)
    achieved = [c.achieved_fps for c in per_camera]
    modes = {c.decode_mode for c in per_camera}
    gops = {c.keyframe_interval_frames for c in per_camera}
    return ModeRun(
        decode_mode=modes.pop() if len(modes) == 1 else None,
        decode_note=notes.pop() if len(notes) == 1 else "; ".join(sorted(map(str, notes))),
        keyframe_interval_frames=gops.pop() if len(gops) == 1 else None,
        decode_cores_per_camera=round(decode_per_camera, 4),
        analysis_cpu_s_per_frame=round(analysis_per_frame, 4),
        cameras_per_core=round(1.0 / (decode_per_camera + fps * analysis_per_frame), 1),
        achieved_fps_min=min(achieved),
        achieved_fps_median=round(statistics.median(achieved), 3),
        lag_p50_s=_percentile(all_lags, 50),
        lag_p95_s=_percentile(all_lags, 95),
        cpu_cores_used=round(cpu / wall, 3),
        per_camera=per_camera,
    )


@dataclass(frozen=True)
class CameraBench:
    """A :func:`run_camera_bench` result: the stream, the machine, one run per mode."""

    cameras: int
    analysis_fps: float
    seconds: float
    video: str
    width: int
    height: int
    stream_fps: float
    machine: str
    modes: dict[str, ModeRun]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def run_camera_bench(
    detector: Detector,
    video: Path,
    config: CrowdsafeConfig,
    *,
    cameras: int,
    fps: float,
    seconds: float = 30.0,
    warmup_s: float = 4.0,
    modes: Sequence[DecodeMode] = BENCH_MODES,
    log: Callable[[str], None] | None = None,
) -> CameraBench:
    """N live streams of ``video`` analysed at ``fps`` each, one run per decode mode
    in ``modes`` (see the module docstring).  Raises ValueError for a non-positive
    number of cameras, rate or duration."""
    if cameras < 1 or fps <= 0 or seconds <= 0:
        raise ValueError(
            f"cameras, fps and seconds must be positive, got {cameras}, {fps}, {seconds}"
        )
    info = probe_video(video)
    runs: dict[str, ModeRun] = {}
    with tempfile.TemporaryDirectory(prefix="crowdsafe-bench-") as tmp:
        for mode in modes:
            cfg = _camera_config(config, video, cameras, fps, mode)
            db = str(Path(tmp) / f"{mode.value}.db")
            cfg = cfg.model_copy(update={"storage": scratch_sqlite(cfg.storage, db)})
            run = _run_mode(detector, cfg, seconds=seconds, warmup_s=warmup_s, fps=fps)
            runs[mode.value] = run
            if log is not None:
                log(
                    f"{mode.value} (ran {run.decode_mode}): decode "
                    f"{run.decode_cores_per_camera} cores/camera, analysis "
                    f"{run.analysis_cpu_s_per_frame} CPU-s/frame, "
                    f"{run.cameras_per_core} cameras/core at {fps:g} fps, achieved >= "
                    f"{run.achieved_fps_min} fps, lag p95 {run.lag_p95_s} s"
                )
    return CameraBench(
        cameras=cameras,
        analysis_fps=fps,
        seconds=seconds,
        video=str(video),
        width=info.width,
        height=info.height,
        stream_fps=info.fps,
        machine=machine_name(),
        modes=runs,
    )


def cost_entries(result: CameraBench) -> list[CostEntry]:
    """The profile entries of a :func:`run_camera_bench` result: one per mode that ran
    (a mode asked for that fell back to another is filed under the one that ran)."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    entries: dict[str, CostEntry] = {}
    for run in result.modes.values():
        mode = run.decode_mode
        if mode is None or run.keyframe_interval_frames is None:
            continue  # the cameras ran different modes, or no GOP was measured
        entries[mode] = CostEntry.model_validate(
            {
                "resolution": f"{result.height}p",
                "width": result.width,
                "height": result.height,
                "stream_fps": result.stream_fps,
                "gop": run.keyframe_interval_frames,
                "mode": mode,
                "analysed_fps": result.analysis_fps,
                "decode_cores_per_camera": run.decode_cores_per_camera,
                "analysis_cpu_s_per_frame": run.analysis_cpu_s_per_frame,
                "store_cpu_s_per_frame": 0.0,  # not separable from the analysis
                "cameras_per_core": run.cameras_per_core,
                "achieved_fps_min": run.achieved_fps_min,
                "lag_p95_s": run.lag_p95_s or 0.0,
                "device": "cpu",
                "measured_at": now,
                "machine": result.machine,
            }
        )
    return list(entries.values())
