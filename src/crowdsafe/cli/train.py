"""``crowdsafe train density``: train the density-map counter and write it as ONNX.

Training needs the ``train`` extra (JAX, onnx); without it the command says which
install to run instead of failing on an import deep inside training. A validation part
of each set is held out and listed in the report written beside the model, which is
what ``crowdsafe eval density --held-out`` reads back.
"""

from __future__ import annotations

import argparse
import json

from crowdsafe.cli._common import Subcommands
from crowdsafe.errors import CrowdsafeError

__all__ = ["register"]


def register(trainers: Subcommands) -> None:
    tden = trainers.add_parser(
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
    tden.set_defaults(handler=_train_density)


def _train_density(args: argparse.Namespace) -> int:
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
