"""``crowdsafe eval lines``: line crossings per direction against MOT ground-truth tracks.

``--tile-px`` and ``--tracking`` are a camera's ``detector.tile_px`` and ``tracking:``
settings, checked by the same config models, and all of them are refused before the
video is opened. Unless ``--score-threshold`` is given the detector keeps everything
down to the tracker's ``low_score``: ByteTrack's second stage matches the weak
detections, and a detector that dropped them would measure a different tracker from the
one deployed.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from crowdsafe.cli._common import (
    Subcommands,
    add_detector,
    add_json,
    add_mot_sequence,
    add_threads,
    add_tile_px,
    detector_section,
    detector_settings,
    eval_detector,
    input_px,
    mot_sequence,
    report,
    tracking_settings,
)
from crowdsafe.errors import UsageError

if TYPE_CHECKING:
    from crowdsafe.evaluation.lines import FluxSettings

__all__ = ["register"]


def register(evaluations: Subcommands) -> None:
    lines = evaluations.add_parser(
        "lines", help="line crossings per direction against MOT ground-truth tracks"
    )
    add_mot_sequence(lines)
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
    add_detector(lines)
    add_tile_px(lines)
    lines.add_argument(
        "--tracking",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a tracker setting, as in a camera's tracking: block (high_score, low_score, "
        "match_iou, min_hits, max_lost_s, recover_dist, direction_weight); repeat for "
        "several.  Unset ones keep the config defaults",
    )
    lines.add_argument(
        "--flux",
        action="store_true",
        help="also count each line without tracks: the flux of the people's optical-flow "
        "velocities across a band around it, at the detector kind's counting threshold, "
        "corrected by its precision and recall (report key 'flux'; several lines only)",
    )
    lines.add_argument(
        "--flux-band-px",
        type=float,
        default=20.0,
        help="half-width of the band either side of a line for --flux, pixels (default 20)",
    )
    add_threads(lines)
    add_json(lines)
    lines.set_defaults(handler=_eval_lines)


def _eval_lines(args: argparse.Namespace) -> int:
    from crowdsafe.evaluation.lines import evaluate_line_set, evaluate_lines

    lines = [_line(text) for text in args.line]
    video, gt = mot_sequence(args)
    tracking = tracking_settings(args.tracking)
    # The tracker's low-score stage needs the weak detections too (ByteTrack).
    if args.score_threshold is None:
        args.score_threshold = tracking.low_score
    detector = eval_detector(args)
    flux = _flux_settings(args) if args.flux else None
    if flux is not None and len(lines) == 1:
        raise UsageError("--flux needs at least two --line (it reports their totals)")
    if len(lines) == 1:
        one = evaluate_lines(detector, video, gt, lines[0], every=args.every, tracking=tracking)
        result = one.to_dict()
    else:
        result = evaluate_line_set(
            detector, video, gt, lines, every=args.every, tracking=tracking, flux=flux
        ).to_dict()
    result["settings"] = {
        **detector_settings(args),
        "tracking": tracking.model_dump(),
    }
    return report(result, args.json)


def _flux_settings(args: argparse.Namespace) -> FluxSettings:
    """The --flux count's settings: the detector kind's own counting threshold and
    measured precision and recall, as a camera of that kind counts its zones."""
    from crowdsafe.evaluation.lines import FluxSettings

    if not args.flux_band_px > 0:
        raise UsageError(f"--flux-band-px must be > 0, got {args.flux_band_px}")
    section = detector_section(args.detector, tile_px=args.tile_px, **input_px(args))
    return FluxSettings(
        score_threshold=section.score_threshold,
        precision=section.precision,
        recall=section.recall,
        band_px=args.flux_band_px,
    )


def _line(text: str) -> tuple[float, float, float, float]:
    """One ``--line x1,y1,x2,y2`` in pixels; UsageError if it is not four numbers."""
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--line must be x1,y1,x2,y2 in pixels, got '{text}'") from None
    return (x1, y1, x2, y2)
