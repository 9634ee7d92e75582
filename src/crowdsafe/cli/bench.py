"""``crowdsafe bench``: detector frames/s against the whole pipeline's, or other timings.

The default mode times the detector alone and decode -> detect -> zones -> store
alternately on the same frames in one run (``crowdsafe.evaluation.bench``), so their ratio compares
runs seconds apart and a neighbour's load on a shared machine mostly cancels.
``--cameras N`` measures N live streams instead, per decode mode (decode cores per
camera, analysis CPU per frame, cameras per core, fps, lag; ``evaluation/camera_bench.py``)
and writes the cost profile ``crowdsafe plan`` reads (``--profile``), ``--density`` the
density model and ``--batch 1,2,4,8`` the detector at several batch sizes
(``evaluation/batch_bench.py``); ``crowdsafe bench live`` serves the demo and measures
whether a crowd of live-view clients slows its analysis (``evaluation/live_bench.py``);
``crowdsafe bench store`` times a store backend's writes and series queries
(``evaluation/store_bench.py``).
Every mode ends with its JSON line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from crowdsafe.cli._common import (
    Subcommands,
    add_json,
    add_threads,
    demo_config_path,
    detector,
    report,
)
from crowdsafe.errors import UsageError
from crowdsafe.evaluation.profile import DEFAULT_PROFILE
from crowdsafe.ingest.decode import DecodeMode

if TYPE_CHECKING:
    from collections.abc import Callable

    from crowdsafe.config import CrowdsafeConfig
    from crowdsafe.detect.base import Detector

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
    bench.add_argument(
        "--decode",
        choices=[m.value for m in DecodeMode if m is not DecodeMode.AUTO],
        help="with --cameras: measure this decode mode only (default: each of them)",
    )
    bench.add_argument(
        "--profile",
        default=str(DEFAULT_PROFILE),
        help="with --cameras: the cost profile to write or update, read by `crowdsafe plan` "
        f"(default {DEFAULT_PROFILE})",
    )
    bench.add_argument("--repeats", type=int, default=7)
    bench.add_argument(
        "--density",
        action="store_true",
        help="time the density model per frame (and the detector, for a ratio) instead",
    )
    bench.add_argument("--size", default="1024x768", help="with --density: frame size WIDTHxHEIGHT")
    bench.add_argument(
        "--batch",
        help="time the YOLOX detector over the same --frames frames at these batch sizes "
        "instead (e.g. 1,2,4,8; frames/s and CPU-s per frame, medians of --repeats)",
    )
    add_threads(bench)
    add_json(bench)
    bench.set_defaults(handler=_bench)
    modes = bench.add_subparsers(dest="mode", required=False, metavar="MODE")
    live = modes.add_parser(
        "live",
        help="the demo served with N clients polling its live view: analysed fps "
        "unloaded, loaded and after, memory, requests served and refused, latency",
    )
    live.add_argument("--clients", type=int, default=40, help="concurrent clients (default 40)")
    live.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    live.add_argument(
        "--unloaded",
        type=float,
        default=20.0,
        help="seconds measured without clients first (default 20)",
    )
    live.add_argument(
        "--after", type=float, default=10.0, help="seconds measured after them (default 10)"
    )
    live.add_argument(
        "--warmup",
        type=float,
        default=10.0,
        help="seconds of one client before anything is measured (default 10)",
    )
    live.add_argument(
        "--no-backoff",
        action="store_true",
        help="clients ignore Retry-After and ask again at once, as a hostile one would",
    )
    add_json(live)
    live.set_defaults(handler=_bench_live)
    _register_store(modes)


def _bench(args: argparse.Namespace) -> int:
    from crowdsafe.config import load_config
    from crowdsafe.evaluation.bench import run_bench, run_density_bench
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
    if args.batch is not None:
        return _bench_batch(args, video)
    config = load_config(args.config or demo_config_path())
    found = detector(config.cameras[0].detector, None, args.threads)
    log = None if args.json else print
    if args.cameras:
        return _bench_cameras(args, found, video, config, log)
    else:
        result = run_bench(found, video, config, frames=args.frames, repeats=args.repeats, log=log)
    print(json.dumps(result))
    return 0


def _bench_batch(args: argparse.Namespace, video: Path) -> int:
    from crowdsafe.config import load_config
    from crowdsafe.detect.yolox import YoloxDetector
    from crowdsafe.evaluation.batch_bench import parse_batches, run_batch_bench

    sizes = parse_batches(args.batch)  # before any model is opened
    section = load_config(args.config or demo_config_path()).cameras[0].detector
    found = detector(section.model_copy(update={"tile_px": 0}), None, args.threads)
    if not isinstance(found, YoloxDetector):
        raise UsageError(f"--batch times the yolox-nano detector; the config's runs {section.kind}")
    log = None if args.json else print
    result = run_batch_bench(
        found, video, batches=sizes, frames=args.frames, repeats=args.repeats, log=log
    )
    print(json.dumps(result))
    return 0


def _bench_cameras(
    args: argparse.Namespace,
    found: Detector,
    video: Path,
    config: CrowdsafeConfig,
    log: Callable[[str], None] | None,
) -> int:
    """Each decode mode (or the one asked) on N cameras; the profile written."""
    from crowdsafe.evaluation.camera_bench import BENCH_MODES, cost_entries, run_camera_bench
    from crowdsafe.evaluation.profile import CostProfile, save_profile

    if args.cameras < 1 or not 0 < args.fps <= 1000 or not 0 < args.seconds < float("inf"):
        raise UsageError(
            f"--cameras, --fps and --seconds must be positive, got {args.cameras}, "
            f"{args.fps}, {args.seconds}"
        )
    modes = [DecodeMode(args.decode)] if args.decode else list(BENCH_MODES)
    result = run_camera_bench(
        found,
        video,
        config,
        cameras=args.cameras,
        fps=args.fps,
        seconds=args.seconds,
        modes=modes,
        log=log,
    )
    entries = cost_entries(result)
    if entries:
        save_profile(args.profile, CostProfile(entries=entries))
        if log is not None:
            log(f"cost profile: {len(entries)} entries written to {args.profile}")
    print(json.dumps(result.to_dict()))
    return 0


def _bench_live(args: argparse.Namespace) -> int:
    import sys

    from crowdsafe.config import load_config
    from crowdsafe.evaluation.live_bench import run_live_bench

    if args.clients < 1:
        raise UsageError(f"--clients must be at least 1, got {args.clients}")
    for option in ("duration", "unloaded", "after", "warmup"):
        value = getattr(args, option)
        if not 0 < value < float("inf"):
            raise UsageError(f"--{option} must be a positive number of seconds, got {value}")

    def progress(line: str) -> None:
        print(f"bench live: {line}", file=sys.stderr, flush=True)

    result = run_live_bench(
        load_config(demo_config_path()),
        clients=args.clients,
        duration_s=args.duration,
        unloaded_s=args.unloaded,
        after_s=args.after,
        warmup_s=args.warmup,
        backoff=not args.no_backoff,
        log=progress,
    )
    return report(result, args.json)


def _register_store(modes: Subcommands) -> None:
    store = modes.add_parser(
        "store",
        help="a store backend: zone samples written per second, series-query latency "
        "p50/p95 (10 min at 1 s), table size",
    )
    store.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    store.add_argument(
        "--dsn",
        help="with --backend postgresql (needed): the DSN of an empty scratch database",
    )
    store.add_argument(
        "--path", help="with --backend sqlite: the file to write (default: a temporary one)"
    )
    store.add_argument("--seconds", type=float, default=60.0, help="seconds of writes (default 60)")
    store.add_argument(
        "--rows", type=int, default=0, help="fill the table to N rows before querying"
    )
    store.add_argument(
        "--zones", type=int, default=1000, help="zones per write batch (default 1000)"
    )
    store.add_argument("--queries", type=int, default=200, help="series queries (default 200)")
    store.add_argument(
        "--keep", action="store_true", help="leave the rows in the database afterwards"
    )
    add_json(store)
    store.set_defaults(handler=_bench_store)


def _bench_store(args: argparse.Namespace) -> int:
    import sys
    import tempfile

    from crowdsafe.evaluation.store_bench import check_counts, run_store_bench
    from crowdsafe.store.base import Store

    check_counts(args.seconds, args.rows, args.zones, args.queries)

    def progress(line: str) -> None:
        print(f"bench store: {line}", file=sys.stderr, flush=True)

    opened: Store
    with tempfile.TemporaryDirectory(prefix="crowdsafe-bench-") as scratch:
        if args.backend == "postgresql":
            if not args.dsn:
                raise UsageError(
                    "bench store --backend postgresql needs --dsn DSN: the connection "
                    "string of an empty scratch database, e.g. "
                    "postgresql://crowdsafe@127.0.0.1:5432/bench"
                )
            from crowdsafe.store.postgres import PostgresStore

            target = args.dsn
            opened = PostgresStore(target)
        else:
            from crowdsafe.store.sqlite import SQLiteStore

            target = args.path or str(Path(scratch) / "bench.db")
            opened = SQLiteStore(target)
        try:
            result = run_store_bench(
                opened,
                backend=args.backend,
                target=target,
                seconds=args.seconds,
                rows=args.rows,
                zones=args.zones,
                queries=args.queries,
                keep=args.keep,
                log=progress,
            )
        finally:
            opened.close()
    return report(result, args.json)


def _size(text: str) -> tuple[int, int]:
    """``--size WIDTHxHEIGHT`` in pixels; UsageError otherwise."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must be WIDTHxHEIGHT, got '{text}'") from None
    return (width, height)
