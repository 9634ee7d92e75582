"""``crowdsafe bench``: detector frames/s against the whole pipeline's, or other timings.

The default mode times the detector alone and decode -> detect -> zones -> store
alternately on the same frames in one run (``crowdsafe.evaluation.bench``), so their ratio compares
runs seconds apart and a neighbour's load on a shared machine mostly cancels.
``--cameras N`` measures N live streams instead (per-camera fps, lag, CPU) and
``--density`` the density model; every mode ends with its JSON line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from crowdsafe.cli._common import Subcommands, add_json, add_threads, demo_config_path, detector
from crowdsafe.errors import UsageError

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    bench = commands.add_parser("bench", help="detector vs whole-pipeline frames/s")
    bench.add_argument("--video", help="video file (default: the bundled sample)")
    bench.add_argument(
        "--config", help="config whose first camera's zones are used (default: the demo config)"
    )
    bench.add_argument("--frames", type=int, default=100)
    bench.add_argument(
        "--cameras",
        type=int,
        default=0,
        help="run N live streams of the video instead (per-camera fps, lag, CPU)",
    )
    bench.add_argument(
        "--fps",
        type=float,
        default=1.0,
        help="with --cameras: analysis rate per camera (default 1)",
    )
    bench.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        help="with --cameras: how long to measure (default 30)",
    )
    bench.add_argument("--repeats", type=int, default=7)
    bench.add_argument(
        "--density",
        action="store_true",
        help="time the density model per frame (and the detector, for a ratio) instead",
    )
    bench.add_argument("--size", default="1024x768", help="with --density: frame size WIDTHxHEIGHT")
    add_threads(bench)
    add_json(bench)
    bench.set_defaults(handler=_bench)


def _bench(args: argparse.Namespace) -> int:
    from crowdsafe.config import load_config
    from crowdsafe.evaluation.bench import run_bench, run_camera_bench, run_density_bench
    from crowdsafe.ingest.video import sample_video_path

    video = Path(args.video) if args.video else sample_video_path()
    if args.density:
        width, height = _size(args.size)
        result = run_density_bench(
            video,
            size=(width, height),
            frames=min(args.frames, 20),
            repeats=args.repeats,
            threads=args.threads,
        )
        print(json.dumps(result))
        return 0
    config = load_config(args.config or demo_config_path())
    found = detector(config.cameras[0].detector, None, args.threads)
    log = None if args.json else print
    if args.cameras:
        result = run_camera_bench(
            found,
            video,
            config,
            cameras=args.cameras,
            fps=args.fps,
            seconds=args.seconds,
            log=log,
        )
    else:
        result = run_bench(found, video, config, frames=args.frames, repeats=args.repeats, log=log)
    print(json.dumps(result))
    return 0


def _size(text: str) -> tuple[int, int]:
    """``--size WIDTHxHEIGHT`` in pixels; UsageError otherwise."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must be WIDTHxHEIGHT, got '{text}'") from None
    return (width, height)
