"""``crowdsafe calibrate CONFIG --camera ID``: a camera's ground-plane fit and its error.

The check image has every head pixelated by the shipped detector before it is written,
like any image that leaves crowdsafe; ``--no-image`` reports the errors without running
the detector at all.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from crowdsafe.cli._common import Subcommands, add_json, detector
from crowdsafe.errors import UsageError

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    cal = commands.add_parser(
        "calibrate", help="fit a camera's ground plane, report its error, and draw a check image"
    )
    cal.add_argument("config", help="YAML config file")
    cal.add_argument("--camera", required=True, help="camera id")
    cal.add_argument("--out", help="check image path (default calibration-CAMERA.png)")
    cal.add_argument("--frame", type=int, default=0, help="which frame of the source to draw on")
    cal.add_argument("--no-image", action="store_true", help="only report the errors")
    add_json(cal)
    cal.set_defaults(handler=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    from crowdsafe.calibrate import calibrate
    from crowdsafe.config import load_config

    config = load_config(args.config)
    out = None if args.no_image else Path(args.out or f"calibration-{args.camera}.png")
    try:
        camera = config.camera(args.camera)
    except KeyError:
        known = ", ".join(c.id for c in config.cameras)
        raise UsageError(f"unknown camera '{args.camera}'; the config has: {known}") from None
    blur = None if out is None else detector(camera.detector, None, None)
    report = calibrate(config, args.camera, out=out, detector=blur, frame_index=args.frame)
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
