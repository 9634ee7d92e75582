"""What several commands share: their common options, the report they print, the detector.

Two rules hold here for every command. A bad argument is refused by raising
:class:`~crowdsafe.errors.UsageError` whose message names the option, the value given and
what would be valid, before any video or model is opened, so that a mistyped option
costs nothing and is tested without data; ``crowdsafe.cli.main`` alone turns it into
exit status 2. And a report ends with one JSON line, last on stdout, so that scripts
read the figures from ``tail -n 1`` whatever was printed above it. Options that are also
config settings (``--tile-px``, ``--tracking``) are checked by the config's own models,
so an evaluation refuses exactly what a deployment would.

Heavy modules (pydantic models, ONNX Runtime) are imported inside the functions that use
them: ``crowdsafe --help`` imports this module and should stay instant.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from crowdsafe.errors import UsageError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from crowdsafe.config import DetectorConfig, TrackingConfig
    from crowdsafe.detect.base import Detector

__all__ = [
    "DEFAULT_DETECTOR",
    "Subcommands",
    "add_detector",
    "add_json",
    "add_mot_sequence",
    "add_threads",
    "add_tile_px",
    "demo_config_path",
    "detector",
    "detector_section",
    "detector_settings",
    "eval_detector",
    "input_px",
    "mot_sequence",
    "report",
    "tracking_settings",
]

# The config's default detector kind (config/analysis.py, DetectorSection); a test keeps
# the two equal, so --help need not import the config to print it.
DEFAULT_DETECTOR = "yolox-nano"

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns; each command module's ``register`` adds to one."""


def demo_config_path() -> Path:
    """The bundled demo config (``crowdsafe/data/demo.yaml``)."""
    return Path(str(resources.files("crowdsafe") / "data" / "demo.yaml"))


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print only the JSON line")


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")


def add_mot_sequence(parser: argparse.ArgumentParser) -> None:
    """``--video`` and ``--gt``: a MOT sequence with per-person ground truth."""
    parser.add_argument("--video", required=True, help="video file (e.g. TUD-Stadtmitte.mp4)")
    parser.add_argument("--gt", help="MOT gt.txt (default: gt/gt.txt beside the video)")


def mot_sequence(args: argparse.Namespace) -> tuple[Path, Path]:
    """The video and its ground truth from ``add_mot_sequence``'s options."""
    video = Path(args.video)
    return video, Path(args.gt) if args.gt else video.parent / "gt" / "gt.txt"


def add_tile_px(parser: argparse.ArgumentParser) -> None:
    """The ``--tile-px`` option of the eval commands that run the person detector."""
    parser.add_argument(
        "--tile-px",
        type=int,
        default=0,
        help="also detect on overlapping tiles of about this size, as a camera's "
        "detector.tile_px (default 0: off)",
    )


def report(result: dict[str, object], json_only: bool) -> int:
    """Print an evaluation's figures (unless ``json_only``), then the JSON line, last."""
    if not json_only:
        width = max(len(k) for k in result)
        for k, v in result.items():
            print(f"{k:>{width}}: {v}")
    print(json.dumps(result))
    return 0


def add_detector(parser: argparse.ArgumentParser) -> None:
    """``--detector KIND``: which person detector kind runs, as a camera's
    ``detector.kind`` (default: the config's default kind)."""
    parser.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        metavar="KIND",
        help=f"person detector kind, as a camera's detector.kind (default {DEFAULT_DETECTOR})",
    )
    parser.add_argument(
        "--input-px",
        type=int,
        default=None,
        help="YOLOX-Nano's input size, as a camera's detector.input_px (416, 512 or 640; "
        "default 512)",
    )


def detector_section(kind: str, **settings: object) -> DetectorConfig:
    """A camera's ``detector:`` section of ``kind`` with ``settings``, checked by the
    config's own model.  Raises UsageError naming the option that is wrong."""
    from pydantic import ValidationError

    from crowdsafe.config import DETECTOR_SECTIONS

    section_cls = DETECTOR_SECTIONS.get(kind)
    if section_cls is None:
        known = ", ".join(DETECTOR_SECTIONS)
        raise UsageError(f"--detector: unknown kind '{kind}'; the kinds are {known}")
    try:
        return section_cls.model_validate(settings)
    except ValidationError as exc:
        option = "--input-px" if "input_px" in str(exc) else "--tile-px"
        raise UsageError(f"{option}: {_settings_problems(exc, keys=False)}") from None


def input_px(args: argparse.Namespace) -> dict[str, object]:
    """``--input-px`` as a section setting, when given."""
    return {} if args.input_px is None else {"input_px": args.input_px}


def detector(
    section: DetectorConfig, score_threshold: float | None, threads: int | None
) -> Detector:
    """The detector a camera with ``section`` runs, built as the runtime builds it."""
    from crowdsafe.assembly import build_detector

    return build_detector(section, score_threshold=score_threshold, threads=threads)


def eval_detector(args: argparse.Namespace) -> Detector:
    """The detector an ``eval`` command asked for: ``--detector`` (the default kind
    unless given), tiled when ``--tile-px`` is set (checked as a camera's
    ``detector.tile_px``), at ``--score-threshold`` or the kind's default.

    Raises UsageError when ``--detector`` or ``--tile-px`` would be refused in a config."""
    section = detector_section(args.detector, tile_px=args.tile_px, **input_px(args))
    if args.score_threshold is None:
        args.score_threshold = section.score_threshold
    args.input_px = getattr(section, "input_px", None)  # reported with the settings
    return detector(section, args.score_threshold, args.threads)


def detector_settings(args: argparse.Namespace) -> dict[str, object]:
    """The detector settings an eval report repeats (after :func:`eval_detector`)."""
    out: dict[str, object] = {"detector": args.detector}
    if args.input_px is not None:
        out["input_px"] = args.input_px
    return out | {"score_threshold": args.score_threshold, "tile_px": args.tile_px}


def tracking_settings(pairs: list[str]) -> TrackingConfig:
    """``--tracking KEY=VALUE`` options, checked as a camera's ``tracking:`` block.

    Raises UsageError for a pair that is not KEY=VALUE, a key given twice, or settings
    the config would refuse (the message lists the known settings)."""
    from pydantic import ValidationError

    from crowdsafe.config import TrackingConfig

    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--tracking must be KEY=VALUE, got '{pair}'")
        if key in values:
            raise UsageError(f"--tracking: {key} is given twice")
        values[key] = value.strip()
    try:
        return TrackingConfig.model_validate(values)
    except ValidationError as exc:
        known = ", ".join(TrackingConfig.model_fields)
        raise UsageError(f"--tracking: {_settings_problems(exc)} (settings: {known})") from None


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
