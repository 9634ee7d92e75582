"""``crowdsafe plan``: the cores (and GPUs) N cameras need, from measured per-camera costs.

The costs are read from the profile file that ``crowdsafe bench --cameras --profile FILE
--json`` writes (default ``crowdsafe-profile.json`` in the current folder); the model and
how it scales a measurement to another analysis rate are in
:mod:`crowdsafe.evaluation.plan`.  A plan for something the profile has not measured
fails with exit status 2 and the bench command that would measure it.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import TYPE_CHECKING

from crowdsafe.cli._common import Subcommands, add_json
from crowdsafe.errors import UsageError

if TYPE_CHECKING:
    from crowdsafe.evaluation.plan import CostPlan

__all__ = ["register"]

_RESOLUTION = re.compile(r"[1-9][0-9]{1,4}p")


def register(commands: Subcommands) -> None:
    plan = commands.add_parser(
        "plan", help="cores (and GPUs) N cameras need, from a measured cost profile"
    )
    plan.add_argument("--cameras", type=int, required=True, help="how many cameras")
    plan.add_argument(
        "--resolution", required=True, help="the streams' height + 'p', e.g. 1080p, as profiled"
    )
    plan.add_argument("--fps", type=float, required=True, help="analysis rate per camera")
    plan.add_argument(
        "--gop",
        type=int,
        default=None,
        help="the streams' keyframe interval, frames (default: the one the profile "
        "measured for that resolution)",
    )
    plan.add_argument(
        "--mode",
        choices=("auto", "all", "nonref", "keyframes"),
        default="auto",
        help="decode mode (default auto: keyframes only when the rate is at most the "
        "keyframe rate, else non-reference frames skipped when the rate is at most half "
        "the stream's, else all frames)",
    )
    plan.add_argument(
        "--profile",
        default="crowdsafe-profile.json",
        help="cost profile written by `crowdsafe bench --cameras --profile FILE` "
        "(default crowdsafe-profile.json)",
    )
    add_json(plan)
    plan.set_defaults(handler=_plan)


def _plan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from crowdsafe.evaluation.plan import plan_cameras
    from crowdsafe.evaluation.profile import load_profile

    if args.cameras < 1:
        raise UsageError(f"--cameras must be at least 1, got {args.cameras}")
    if not 0 < args.fps < float("inf"):
        raise UsageError(f"--fps must be a positive rate, got {args.fps}")
    if args.gop is not None and args.gop < 1:
        raise UsageError(f"--gop must be at least 1 frame, got {args.gop}")
    if not _RESOLUTION.fullmatch(args.resolution):
        raise UsageError(f"--resolution must be a height and 'p' (1080p), got '{args.resolution}'")
    path = Path(args.profile)
    result = plan_cameras(
        load_profile(path),
        cameras=args.cameras,
        resolution=args.resolution,
        fps=args.fps,
        gop=args.gop,
        mode=args.mode,
        profile_path=path,
    )
    if not args.json:
        print(_text(result))
    print(json.dumps(result.model_dump()))
    return 0


def _text(p: CostPlan) -> str:
    per, every = p.per_camera, p.all_cameras
    scaled = f", scaled from the measurement at {p.measured_fps:g} fps" if p.scaled else ""
    rate = f"{p.cameras_per_core:.1f}" if p.cameras_per_core is not None else "unbounded"
    lines = [
        f"{p.cameras} cameras of {p.resolution} ({p.width}x{p.height}, {p.stream_fps:g} fps, "
        f"GOP {p.gop}) analysed at {p.fps:g} fps",
        f"decode mode: {p.mode_reason}",
        f"per camera (measured {p.measured_at} on {p.machine}{scaled}; {p.profile}):",
        f"  decode    {per.decode:.4f} cores",
        f"  analysis  {per.analysis:.4f} cores",
        f"  storage   {per.storage:.4f} cores",
        f"  total     {per.total():.4f} cores ({rate} cameras per core)",
        f"all cameras: {p.cores} cores (decode {every.decode:.1f}, analysis "
        f"{every.analysis:.1f}, storage {every.storage:.1f})",
        f"{p.dominant} dominates: {p.dominant_share:.0%} of the cores",
    ]
    if p.gpu is not None:
        lines.append(
            f"with the detector on GPUs: {p.gpu.gpus} GPUs ({p.gpu.gpu_busy_s_per_s:.1f} "
            f"GPU-seconds a second) and {p.gpu.cores} cores (measured {p.gpu.measured_at} "
            f"on {p.gpu.machine})"
        )
    else:
        lines.append("GPUs: no measurement with the detector on a GPU (device cuda) in the profile")
    return "\n".join(lines)
