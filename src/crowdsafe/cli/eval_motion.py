"""``crowdsafe eval motion``: people's image velocity from optical flow against annotated
tracks, and a still scene's ground speed against zero (``evaluation/motion.py``).

``--video`` with MOT ground truth measures velocity; ``--static`` shows the first frame of
a configured camera's video again and again with sensor noise and compression (default:
the bundled demo camera), runs the person detector on each copy and reports every zone's
mean ground speed, which should be ~0.
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
    demo_config_path,
    detector_settings,
    eval_detector,
    report,
)
from crowdsafe.errors import UsageError

__all__ = ["register"]


def register(evaluations: Subcommands) -> None:
    motion = evaluations.add_parser(
        "motion", help="crowd velocity from optical flow against tracks; a still scene's speed"
    )
    motion.add_argument("--video", help="a MOT sequence's video (e.g. TUD-Stadtmitte.mp4)")
    motion.add_argument("--gt", help="MOT gt.txt (default: gt/gt.txt beside the video)")
    motion.add_argument(
        "--step", type=int, default=5, help="frames between the two frames of a flow"
    )
    motion.add_argument(
        "--width", type=int, default=None, help="flow image width, pixels (default 640)"
    )
    motion.add_argument(
        "--static",
        action="store_true",
        help="instead: a still scene with noise through a camera's zones and calibration",
    )
    motion.add_argument(
        "--config", help="the camera's config for --static (default: the bundled demo)"
    )
    motion.add_argument("--camera", help="camera id in --config (default: the first)")
    motion.add_argument("--frames", type=int, default=50, help="copies of the --static frame")
    motion.add_argument(
        "--noise", type=float, default=3.0, help="--static sensor noise, grey levels"
    )
    motion.add_argument("--jpeg-quality", type=int, default=75, help="--static compression, 1-100")
    motion.add_argument("--score-threshold", type=float, default=None, help="detector threshold")
    add_detector(motion)
    add_tile_px(motion)
    add_threads(motion)
    add_json(motion)
    motion.set_defaults(handler=_eval_motion)


def _eval_motion(args: argparse.Namespace) -> int:
    from crowdsafe.measure.motion import DEFAULT_WIDTH_PX

    width = DEFAULT_WIDTH_PX if args.width is None else args.width
    if width < 32:
        raise UsageError(f"--width must be at least 32 pixels, got {width}")
    if args.static:
        return _static(args, width)
    if not args.video:
        raise UsageError("give --video (a MOT sequence) or --static")
    from crowdsafe.evaluation.motion import evaluate_track_velocity
    from crowdsafe.ingest.video import probe_video

    if args.step < 1:
        raise UsageError(f"--step must be at least 1 frame, got {args.step}")
    video = Path(args.video)
    gt = Path(args.gt) if args.gt else video.parent / "gt" / "gt.txt"
    if not gt.is_file():
        raise UsageError(f"no ground truth at {gt}; give --gt")
    fps = probe_video(video).fps
    result = evaluate_track_velocity(video, gt, fps=fps, step_frames=args.step, width=width)
    return report(result.to_dict(), args.json)


def _static(args: argparse.Namespace, width: int) -> int:
    from crowdsafe.assembly.layout import build_zones
    from crowdsafe.assembly.sources import address_for
    from crowdsafe.config.load import load_config
    from crowdsafe.evaluation.motion import evaluate_static, read_rgb_frames
    from crowdsafe.ingest.url import SourceKind
    from crowdsafe.types import Frame

    if args.frames < 2:
        raise UsageError(f"--frames must be at least 2, got {args.frames}")
    if not 1 <= args.jpeg_quality <= 100:
        raise UsageError(f"--jpeg-quality must be 1-100, got {args.jpeg_quality}")
    if not 0 <= args.noise <= 50:
        raise UsageError(f"--noise must be 0-50 grey levels, got {args.noise}")
    config = load_config(args.config or demo_config_path())
    cameras = {c.id: c for c in config.cameras}
    camera = cameras.get(args.camera) if args.camera else config.cameras[0]
    if camera is None:
        raise UsageError(f"--camera {args.camera!r} is not in the config ({', '.join(cameras)})")
    address = address_for(camera, config)
    if address.kind is not SourceKind.FILE:
        raise UsageError(f"camera '{camera.id}': --static needs a video file source")
    image = read_rgb_frames(address.url, limit=1)[0]
    detector = eval_detector(args)
    result = evaluate_static(
        image,
        build_zones(camera, config.thresholds),
        camera.calibration.homography(),
        lambda rgb: detector.detect(Frame(camera.id, 0.0, rgb)),
        frames=args.frames,
        noise_sigma=args.noise,
        jpeg_quality=args.jpeg_quality,
        width=width,
    ).to_dict()
    result["camera"] = camera.id
    result["settings"] = detector_settings(args)
    return report(result, args.json)
