"""``crowdsafe eval counts``: detector precision/recall and count MAE against MOT ground truth.

The report repeats the settings it ran with (``score_threshold``, ``tile_px``), so a
figure quoted from it can always be reproduced, and a camera's detector settings can be
measured before they are deployed.
"""

from __future__ import annotations

import argparse

from crowdsafe.cli._common import (
    Subcommands,
    add_detector,
    add_json,
    add_mot_sequence,
    add_threads,
    add_tile_px,
    detector_settings,
    eval_detector,
    mot_sequence,
    report,
)

__all__ = ["register"]


def register(evaluations: Subcommands) -> None:
    counts = evaluations.add_parser(
        "counts", help="detection precision/recall and count MAE (MOT gt)"
    )
    add_mot_sequence(counts)
    counts.add_argument("--every", type=int, default=1, help="evaluate every N-th frame")
    counts.add_argument(
        "--min-height",
        type=float,
        default=None,
        help="smallest person height evaluated, px (default: from the gt)",
    )
    counts.add_argument(
        "--score-threshold",
        type=float,
        default=None,
        help="minimum person score (default: the detector kind's, as in a config)",
    )
    add_detector(counts)
    add_tile_px(counts)
    add_threads(counts)
    add_json(counts)
    counts.set_defaults(handler=_eval_counts)


def _eval_counts(args: argparse.Namespace) -> int:
    from crowdsafe.evaluation.counts import evaluate_counts

    video, gt = mot_sequence(args)
    result = evaluate_counts(
        eval_detector(args),
        video,
        gt,
        every=args.every,
        min_height_px=args.min_height,
        progress=not args.json,
    ).to_dict()
    result["settings"] = detector_settings(args)
    return report(result, args.json)
