"""``crowdsafe eval anonymise``: are the annotated heads pixelated in what crowdsafe serves?

The default detector threshold is the runtime's (0.1), not the counting one: what is
measured is the anonymiser as deployed, where a weak detection is still blurred because
a missed head is a privacy failure and an extra blurred patch costs nothing.
"""

from __future__ import annotations

import argparse

from crowdsafe.cli._common import (
    Subcommands,
    add_detector,
    add_json,
    add_mot_sequence,
    add_threads,
    detector,
    detector_section,
    input_px,
    mot_sequence,
    report,
)

__all__ = ["register"]


def register(evaluations: Subcommands) -> None:
    anon = evaluations.add_parser(
        "anonymise", help="are the annotated heads pixelated in what crowdsafe serves?"
    )
    add_mot_sequence(anon)
    anon.add_argument("--every", type=int, default=1, help="evaluate every N-th frame")
    anon.add_argument(
        "--score-threshold",
        type=float,
        default=0.1,
        help="detector threshold for blurring (default: the runtime's, 0.1)",
    )
    anon.add_argument("--heads-only", action="store_true", help="without the face model")
    add_detector(anon)
    add_threads(anon)
    add_json(anon)
    anon.set_defaults(handler=_eval_anonymise)


def _eval_anonymise(args: argparse.Namespace) -> int:
    from crowdsafe.evaluation.anonymise import evaluate_anonymisation
    from crowdsafe.privacy.anonymise import Anonymiser
    from crowdsafe.privacy.faces import FaceFinder

    video, gt = mot_sequence(args)
    anonymiser = Anonymiser(None if args.heads_only else FaceFinder())
    result = evaluate_anonymisation(
        detector(
            detector_section(args.detector, **input_px(args)), args.score_threshold, args.threads
        ),
        video,
        gt,
        every=args.every,
        anonymiser=anonymiser,
    )
    return report(result.to_dict(), args.json)
