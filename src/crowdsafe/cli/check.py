"""``crowdsafe check CONFIG``: validate a config, look at its sources, and print what it
measures on the ground.

Each camera's calibration error and each zone's area in m² are printed, because a
config can be valid and still wrong: a zone of 400 m² where 40 were meant turns every
density it reports into a tenth of the truth.  Beyond loading, each camera's source is
looked at (:mod:`crowdsafe.assembly.preflight`): a missing file, an image folder without
images, or a zone reaching outside the probed frame fails the check with exit status 2,
each finding at its line of the YAML.
"""

from __future__ import annotations

import argparse

from crowdsafe.cli._common import Subcommands

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    check = commands.add_parser("check", help="validate a config file and its sources")
    check.add_argument("config", help="YAML config file")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from crowdsafe.assembly import build_zones
    from crowdsafe.assembly.preflight import check_sources
    from crowdsafe.config import load_config
    from crowdsafe.config.load import findings_error

    config = load_config(args.config)
    reports, findings = check_sources(config)
    if findings:
        raise findings_error(args.config, [(f.loc, f.message) for f in findings])
    for cam, source in zip(config.cameras, reports, strict=True):
        errors = cam.calibration.homography().reprojection_errors_m()
        print(f"camera {cam.id}: frame {source.note}")
        print(f"camera {cam.id}: calibration max error {errors.max() * 100:.1f} cm")
        for z in build_zones(cam, config.thresholds):
            print(f"  zone {z.id}: {z.area_m2:.1f} m² ({z.profile})")
    print("config OK")
    return 0
