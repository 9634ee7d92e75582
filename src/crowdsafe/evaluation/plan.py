"""The cost model behind ``crowdsafe plan``: what N cameras need, from measured costs.

Every per-camera figure comes from a cost profile (:mod:`crowdsafe.evaluation.profile`)
that ``crowdsafe bench --cameras --profile FILE`` wrote on real streams; nothing here is
a constant of the model, so a plan is as good as the measurement it names.  One camera
costs, in cores (CPU-seconds per second)::

    decode_cores_per_camera + fps * (analysis_cpu_s_per_frame + store_cpu_s_per_frame)

The decode term does not depend on the analysis rate (a decode mode decodes the same
frames whatever is analysed), so an entry measured at another rate of the same
resolution, keyframe interval and mode is scaled to the rate asked with that formula,
from the entry whose rate is nearest, and the plan says it did.  Nothing is
extrapolated across resolutions, keyframe intervals or modes: a plan for an
unmeasured one fails (:class:`~crowdsafe.errors.ConfigError`) naming what is missing
and the bench command that would measure it.

A decode mode given instead of ``auto`` is planned as given, except keyframes-only at a
rate above the keyframe rate, which no stream can deliver (refused).

GPUs are planned only from an entry measured with the detector on one (``device:
cuda``): its ``analysis_cpu_s_per_frame`` is then read as the detector's seconds per
analysed frame on the GPU, and its decode and store figures as the CPU work that stays.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from crowdsafe.errors import ConfigError
from crowdsafe.evaluation.profile import CostEntry, CostProfile
from crowdsafe.ingest.modes import DecodeMode, choose_decode_mode, explain_decode_mode

__all__ = ["CostPlan", "GpuPlan", "PartCores", "plan_cameras"]

Part = Literal["decode", "analysis", "storage"]
_T = TypeVar("_T", int, float)


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartCores(_Result):
    """Cores one camera and all of them need for each part."""

    decode: float
    analysis: float
    storage: float

    def total(self) -> float:
        return self.decode + self.analysis + self.storage

    def dominant(self) -> Part:
        parts: dict[Part, float] = {
            "decode": self.decode,
            "analysis": self.analysis,
            "storage": self.storage,
        }
        return max(parts, key=lambda p: parts[p])


class GpuPlan(_Result):
    """The same cameras with the detector on GPUs (from a ``device: cuda`` entry)."""

    gpus: int
    gpu_busy_s_per_s: float  # GPU-seconds per second, all cameras
    cores: int  # the CPU work that stays: decode and storage
    measured_at: str
    machine: str


class CostPlan(_Result):
    """What ``cameras`` cameras of one stream kind analysed at ``fps`` need."""

    cameras: int
    resolution: str
    width: int
    height: int
    stream_fps: float
    gop: int
    fps: float
    mode: DecodeMode
    mode_reason: str
    measured_fps: float  # the analysis rate of the entry the costs come from
    scaled: bool  # True when measured_fps differs from fps
    per_camera: PartCores
    all_cameras: PartCores
    cores: int  # whole cores, rounded up
    cameras_per_core: float | None  # None when a camera was measured to cost nothing
    dominant: Part
    dominant_share: float  # of all cores, 0..1
    measured_at: str
    machine: str
    profile: str
    gpu: GpuPlan | None


def _bench_command(resolution: str, gop: int | None, fps: float, mode: str, path: Path) -> str:
    stream = f"a {resolution} stream" + (f" with GOP {gop}" if gop is not None else "")
    return (
        f"`crowdsafe bench --video <{stream}> --cameras 4 --fps {fps:g} --seconds 20 "
        f"--profile {path} --json` (decode mode {mode})"
    )


def _one(values: set[_T], what: str, where: str) -> _T:
    if len(values) != 1:
        listed = ", ".join(sorted(map(str, values)))
        raise ConfigError(f"{where}: the profile has several {what} ({listed}); give --gop")
    return next(iter(values))


def _nearest(entries: list[CostEntry], fps: float) -> CostEntry:
    # Ties go to the higher rate: its per-frame figures include more of the rate's
    # contention, so the plan errs towards more cores.
    return min(entries, key=lambda e: (abs(e.analysed_fps - fps), -e.analysed_fps))


def _cores(entry: CostEntry, fps: float) -> PartCores:
    return PartCores(
        decode=entry.decode_cores_per_camera,
        analysis=fps * entry.analysis_cpu_s_per_frame,
        storage=fps * entry.store_cpu_s_per_frame,
    )


def _scaled(per: PartCores, n: int) -> PartCores:
    return PartCores(decode=per.decode * n, analysis=per.analysis * n, storage=per.storage * n)


def _gpu(entries: list[CostEntry], cameras: int, fps: float) -> GpuPlan | None:
    if not entries:
        return None
    entry = _nearest(entries, fps)
    busy = cameras * fps * entry.analysis_cpu_s_per_frame
    cpu = cameras * (entry.decode_cores_per_camera + fps * entry.store_cpu_s_per_frame)
    return GpuPlan(
        gpus=max(1, math.ceil(busy - 1e-9)),
        gpu_busy_s_per_s=busy,
        cores=max(1, math.ceil(cpu - 1e-9)),
        measured_at=entry.measured_at,
        machine=entry.machine,
    )


def plan_cameras(
    profile: CostProfile,
    *,
    cameras: int,
    resolution: str,
    fps: float,
    gop: int | None = None,
    mode: DecodeMode | Literal["auto"] = "auto",
    profile_path: Path,
) -> CostPlan:
    """The plan for ``cameras`` cameras of ``resolution`` analysed at ``fps`` frames/s,
    with keyframe interval ``gop`` (the only one measured for that resolution when None)
    in decode ``mode`` (``auto``: :func:`~crowdsafe.ingest.modes.choose_decode_mode`).

    Raises ConfigError naming what is missing (and the bench command that measures it)
    when the profile has no CPU entry for that resolution, interval and mode, or when
    the mode asked cannot deliver ``fps``; ValueError for a non-positive count or rate."""
    if cameras < 1:
        raise ValueError(f"cameras must be at least 1, got {cameras}")
    if not 0.0 < fps < float("inf"):
        raise ValueError(f"fps must be a positive rate, got {fps}")
    where = f"{profile_path}"
    same = [e for e in profile.entries if e.resolution == resolution]
    if gop is not None:
        same = [e for e in same if e.gop == gop]
    cpu = [e for e in same if e.device == "cpu"]
    if not cpu:
        measured = sorted({(e.resolution, e.gop) for e in profile.entries if e.device == "cpu"})
        have = ", ".join(f"{r} GOP {g}" for r, g in measured) or "nothing"
        raise ConfigError(
            f"{where}: no CPU measurement of {resolution}"
            + (f" with GOP {gop}" if gop is not None else "")
            + f" (the profile has: {have}); measure it with "
            + _bench_command(resolution, gop, fps, mode, profile_path)
        )
    found_gop = _one({e.gop for e in cpu}, "keyframe intervals", where)
    cpu = [e for e in cpu if e.gop == found_gop]
    stream_fps = _one({e.stream_fps for e in cpu}, "stream frame rates", where)
    chosen: DecodeMode = choose_decode_mode(fps, stream_fps, found_gop) if mode == "auto" else mode
    reason = explain_decode_mode(fps, stream_fps, found_gop)
    if mode != "auto":
        reason = f"{mode} as asked (auto would choose {reason})"
        if mode == "keyframes" and fps > stream_fps / found_gop * (1 + 1e-9):
            raise ConfigError(
                f"--mode keyframes cannot deliver {fps:g} fps: a {stream_fps:g} fps stream "
                f"with GOP {found_gop} has {stream_fps / found_gop:g} keyframes a second"
            )
    matching = [e for e in cpu if e.mode == chosen]
    if not matching:
        modes = ", ".join(sorted({e.mode for e in cpu}))
        raise ConfigError(
            f"{where}: no CPU measurement of {resolution} GOP {found_gop} in mode {chosen} "
            f"(measured modes: {modes}; decode mode {reason}); measure it with "
            + _bench_command(resolution, found_gop, fps, chosen, profile_path)
        )
    entry = _nearest(matching, fps)
    per = _cores(entry, fps)
    total = _scaled(per, cameras)
    gpu_entries = [
        e for e in same if e.device == "cuda" and e.gop == found_gop and e.mode == chosen
    ]
    return CostPlan(
        cameras=cameras,
        resolution=resolution,
        width=entry.width,
        height=entry.height,
        stream_fps=stream_fps,
        gop=found_gop,
        fps=fps,
        mode=chosen,
        mode_reason=reason,
        measured_fps=entry.analysed_fps,
        scaled=entry.analysed_fps != fps,
        per_camera=per,
        all_cameras=total,
        cores=max(1, math.ceil(total.total() - 1e-9)),
        cameras_per_core=1.0 / per.total() if per.total() > 0 else None,
        dominant=total.dominant(),
        dominant_share=getattr(total, total.dominant()) / total.total() if total.total() else 0.0,
        measured_at=entry.measured_at,
        machine=entry.machine,
        profile=str(profile_path),
        gpu=_gpu(gpu_entries, cameras, fps),
    )
