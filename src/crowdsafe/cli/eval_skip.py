"""``crowdsafe eval skip``: the share of frames an unchanged scene holds, the analysis CPU
it saves, and whether counts and alerts change (``evaluation/skip.py``).

``--threshold`` and ``--max-hold-s`` are a camera's ``skip_unchanged`` settings, checked
by the same config model before the video is opened; ``--fps`` its ``analysis_fps``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crowdsafe.cli._common import (
    Subcommands,
    add_detector,
    add_json,
    add_threads,
    add_tile_px,
    detector_settings,
    eval_detector,
    report,
)
from crowdsafe.errors import UsageError

__all__ = ["register"]


def register(evaluations: Subcommands) -> None:
    skip = evaluations.add_parser(
        "skip", help="frames held and CPU saved by skip_unchanged; counts and alerts kept"
    )
    skip.add_argument("--video", required=True, help="video file (e.g. TUD-Stadtmitte.mp4)")
    skip.add_argument(
        "--gt", help="MOT gt.txt for count errors (default: gt/gt.txt beside the video, if any)"
    )
    skip.add_argument(
        "--fps", type=float, default=10.0, help="analysis rate, as a camera's analysis_fps"
    )
    skip.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="as skip_unchanged.threshold (default: the config's)",
    )
    skip.add_argument(
        "--max-hold-s",
        type=float,
        default=None,
        help="as skip_unchanged.max_hold_s (default: the config's)",
    )
    skip.add_argument(
        "--static-s",
        type=float,
        default=None,
        help="instead of the video, its first frame repeated this many seconds with noise",
    )
    skip.add_argument(
        "--noise", type=float, default=3.0, help="sensor noise of --static-s, grey levels"
    )
    skip.add_argument(
        "--score-threshold",
        type=float,
        default=None,
        help="minimum person score (default: the detector kind's, as in a config)",
    )
    add_detector(skip)
    add_tile_px(skip)
    add_threads(skip)
    add_json(skip)
    skip.set_defaults(handler=_eval_skip)


def _eval_skip(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from crowdsafe.config import SkipUnchangedConfig
    from crowdsafe.evaluation.skip import evaluate_skip

    given = {"threshold": args.threshold, "max_hold_s": args.max_hold_s}
    try:
        settings = SkipUnchangedConfig.model_validate(
            {k: v for k, v in given.items() if v is not None} | {"enabled": True}
        )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"--threshold/--max-hold-s: {problems}") from None
    if not 0 < args.fps <= 60:
        raise UsageError(f"--fps must be in (0, 60], got {args.fps}")
    if args.static_s is not None and not 0 < args.static_s <= 3600:
        raise UsageError(f"--static-s must be in (0, 3600] seconds, got {args.static_s}")
    if not 0 <= args.noise <= 50:
        raise UsageError(f"--noise must be in [0, 50] grey levels, got {args.noise}")
    video = Path(args.video)
    gt: Path | None = Path(args.gt) if args.gt else video.parent / "gt" / "gt.txt"
    if args.gt and not Path(args.gt).exists():
        raise UsageError(f"--gt: no such file {args.gt}")
    if args.static_s is not None or (gt is not None and not gt.exists()):
        gt = None  # a static scene repeats one frame: the video's annotations do not apply
    result = evaluate_skip(
        eval_detector(args),
        video,
        gt_path=gt,
        fps=args.fps,
        threshold=settings.threshold,
        max_hold_s=settings.max_hold_s,
        score_threshold=args.score_threshold,
        static_s=args.static_s,
        noise=args.noise,
    ).to_dict()
    result["settings"] = dict(result["settings"]) | detector_settings(args)  # type: ignore[call-overload]
    return report(result, args.json)
