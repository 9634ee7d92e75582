"""``crowdsafe eval density``: crowd-count MAE/RMSE on ShanghaiTech, Mall, UCF_CC_50 or MOT15.

``--held-out`` evaluates on exactly the training-split images the model was validated
on, as listed in the report written beside it by ``crowdsafe train density``: a figure
on images the model was trained on would flatter it, and a split chosen afresh here
could overlap its training images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crowdsafe.cli._common import (
    Subcommands,
    add_detector,
    add_json,
    detector_section,
    input_px,
    report,
)
from crowdsafe.errors import CrowdsafeError

__all__ = ["register"]


def register(evaluations: Subcommands) -> None:
    dens = evaluations.add_parser(
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
    add_detector(dens)
    add_json(dens)
    dens.set_defaults(handler=_eval_density)


def _eval_density(args: argparse.Namespace) -> int:
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
        detector_section=detector_section(args.detector, tile_px=args.tile_px, **input_px(args)),
    )
    return report(result.to_dict(), args.json)


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
