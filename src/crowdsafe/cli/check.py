"""``crowdsafe check CONFIG``: validate a config and print what it measures on the ground.

Each camera's calibration error and each zone's area in m² are printed, because a
config can be valid and still wrong: a zone of 400 m² where 40 were meant turns every
density it reports into a tenth of the truth.
"""

from __future__ import annotations

import argparse

from crowdsafe.cli._common import Subcommands

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    check = commands.add_parser("check", help="validate a config file")
    check.add_argument("config", help="YAML config file")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from crowdsafe.assembly import build_zones
    from crowdsafe.config import load_config

    config = load_config(args.config)
    for cam in config.cameras:
        errors = cam.calibration.homography().reprojection_errors_m()
        print(f"camera {cam.id}: calibration max error {errors.max() * 100:.1f} cm")
        for z in build_zones(cam, config.thresholds):
            print(f"  zone {z.id}: {z.area_m2:.1f} m² ({z.profile})")
    print("config OK")
    return 0
