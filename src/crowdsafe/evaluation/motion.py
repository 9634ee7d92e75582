"""How well :mod:`crowdsafe.measure.motion` measures movement: people's image velocity
against their annotated tracks, and a static scene's speed against zero.

**Tracks** (``evaluate_track_velocity``): on a MOT sequence, the flow between frames
``k - step`` and ``k`` gives each annotated box of frame ``k`` an image velocity by the
deployed estimator (:func:`~crowdsafe.measure.motion.box_image_velocities`: the median
flow over the box's torso).  The truth is the annotated track's velocity at the middle of
that interval: a least-squares line through its box centres over ``fit_frames`` frames
either side, so the annotators' jitter of a pixel or two is not mistaken for motion.
People slower than ``min_speed_px_s`` are left out of the relative errors (a relative
error of a near-zero speed means nothing).  Two figures: per person (each box's vector
error over its true speed: what one person's estimate is worth, shown to say how noisy
it is though it never leaves the pipeline) and per frame (the error of the people's mean
velocity and of their mean speed: what a zone reports).  The boxes are the annotated
ones, so detector misses are not counted here; the ids are read in memory only.

**Static scene** (``evaluate_static``): one real frame shown again and again with fresh
sensor noise and JPEG compression each time (what a camera watching a scene where no one
moves delivers), through the deployed :class:`~crowdsafe.measure.motion.CrowdMotion`
with the camera's calibration: every person found stands still, so every zone's mean
speed should be ~0 m/s.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.evaluation.mot import load_mot_tracks
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.measure.geometry import Homography
from crowdsafe.measure.motion import (
    DEFAULT_MIN_FLOW_PX,
    DEFAULT_WIDTH_PX,
    CrowdMotion,
    FlowImage,
    ZoneMotion,
    box_image_velocities,
)
from crowdsafe.measure.zones import Zone
from crowdsafe.types import Detections

__all__ = [
    "StaticReport",
    "TrackVelocityReport",
    "evaluate_static",
    "evaluate_track_velocity",
    "noisy_copy",
    "read_rgb_frames",
]

_CAMERA = "eval"


def read_rgb_frames(path: str | Path, limit: int | None = None) -> list[npt.NDArray[np.uint8]]:
    """The frames of a video file (the first ``limit``; None: all), RGB, in order, by
    the project's own decoder, which names a missing or unreadable file."""
    out = []
    for frame in VideoFileSource(_CAMERA, Path(path)).frames():
        out.append(frame.image)
        if limit is not None and len(out) >= limit:
            break
    return out


def _quantiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p75": None}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "median": round(float(np.median(arr)), 4),
        "p75": round(float(np.percentile(arr, 75)), 4),
    }


@dataclass(frozen=True)
class TrackVelocityReport:
    """Image velocity against annotated tracks on one sequence (module docstring)."""

    sequence: str
    fps: float
    step_frames: int
    flow_width_px: int
    people: int
    frames: int
    median_true_speed_px_s: float | None
    person_vector_error: list[float]
    person_speed_error: list[float]
    frame_velocity_error: list[float]
    frame_speed_error: list[float]
    flow_ms: float

    def to_dict(self) -> dict[str, object]:
        return {
            "sequence": self.sequence,
            "fps": self.fps,
            "step_frames": self.step_frames,
            "flow_width_px": self.flow_width_px,
            "people_measured": self.people,
            "frames_measured": self.frames,
            "median_true_speed_px_s": self.median_true_speed_px_s,
            "per_person": {
                "vector_error": _quantiles(self.person_vector_error),
                "speed_error": _quantiles(self.person_speed_error),
            },
            "per_frame_mean": {
                "velocity_error": _quantiles(self.frame_velocity_error),
                "speed_error": _quantiles(self.frame_speed_error),
            },
            "flow_ms_per_frame": round(self.flow_ms, 2),
        }


def _track_velocity(
    centres: dict[int, npt.NDArray[np.float64]], frame: float, fit_frames: int, fps: float
) -> npt.NDArray[np.float64] | None:
    """The least-squares velocity (px/s) of one track's centres around ``frame``."""
    lo, hi = frame - fit_frames, frame + fit_frames
    frames = [f for f in centres if lo <= f <= hi]
    if len(frames) < fit_frames:  # too little of the track is annotated here
        return None
    t = np.asarray(frames, dtype=np.float64) / fps
    xy = np.stack([centres[f] for f in frames])
    slope = np.polyfit(t - t.mean(), xy, 1)[0]
    return np.asarray(slope, dtype=np.float64)


def evaluate_track_velocity(
    video: str | Path,
    gt_path: str | Path,
    *,
    fps: float,
    step_frames: int = 5,
    width: int = DEFAULT_WIDTH_PX,
    fit_frames: int = 8,
    min_speed_px_s: float = 10.0,
    name: str = "",
) -> TrackVelocityReport:
    """Flow velocities of the annotated people against their tracks (module docstring);
    ``gt_path`` in MOT format, frame 1 being the video's first frame."""
    if step_frames < 1:
        raise ValueError(f"step_frames must be >= 1, got {step_frames}")
    gt = load_mot_tracks(gt_path)
    centres: dict[int, dict[int, npt.NDArray[np.float64]]] = defaultdict(dict)
    for number, people in gt.items():
        assert people.track_id is not None  # load_mot_tracks fills it
        mids = (people.xyxy[:, :2] + people.xyxy[:, 2:]).astype(np.float64) / 2
        for tid, mid in zip(people.track_id.tolist(), mids, strict=True):
            centres[tid][number] = mid
    frames = read_rgb_frames(video)
    if not frames:
        raise ValueError(f"{video}: no frames")
    height, width_px = frames[0].shape[:2]
    flow_image = FlowImage((width_px, height), width=width)
    dt = step_frames / fps
    person_vec: list[float] = []
    person_speed: list[float] = []
    frame_vel: list[float] = []
    frame_speed: list[float] = []
    speeds: list[float] = []
    flow_s: list[float] = []
    for k in range(step_frames, len(frames), step_frames):
        found = gt.get(k + 1)
        if found is None or not len(found):
            continue
        people = found
        flow_image.reset()
        flow_image.update(frames[k - step_frames])
        started = time.perf_counter()
        flow = flow_image.update(frames[k])
        flow_s.append(time.perf_counter() - started)
        assert flow is not None  # two frames of one size
        measured = box_image_velocities(
            flow,
            people.xyxy,
            scale=flow_image.scale,
            origin=flow_image.origin,
            dt_s=dt,
            min_flow_px=DEFAULT_MIN_FLOW_PX,
        )
        assert people.track_id is not None
        truth_rows, measured_rows = [], []
        for j, tid in enumerate(people.track_id.tolist()):
            true_v = _track_velocity(centres[tid], k + 1 - step_frames / 2, fit_frames, fps)
            if true_v is None:
                continue
            truth_rows.append(true_v)
            measured_rows.append(measured[j])
            speed = float(np.hypot(*true_v))
            if speed >= min_speed_px_s:
                speeds.append(speed)
                person_vec.append(float(np.hypot(*(measured[j] - true_v))) / speed)
                person_speed.append(abs(float(np.hypot(*measured[j])) - speed) / speed)
        if not truth_rows:
            continue
        truth, est = np.stack(truth_rows), np.stack(measured_rows)
        true_mean_speed = float(np.hypot(truth[:, 0], truth[:, 1]).mean())
        if true_mean_speed >= min_speed_px_s:
            mean_error = float(np.hypot(*(est.mean(axis=0) - truth.mean(axis=0))))
            frame_vel.append(mean_error / true_mean_speed)
            est_speed = float(np.hypot(est[:, 0], est[:, 1]).mean())
            frame_speed.append(abs(est_speed - true_mean_speed) / true_mean_speed)
    return TrackVelocityReport(
        sequence=name or Path(video).stem,
        fps=fps,
        step_frames=step_frames,
        flow_width_px=flow_image.size[0],
        people=len(person_vec),
        frames=len(frame_vel),
        median_true_speed_px_s=round(float(np.median(speeds)), 1) if speeds else None,
        person_vector_error=person_vec,
        person_speed_error=person_speed,
        frame_velocity_error=frame_vel,
        frame_speed_error=frame_speed,
        flow_ms=1000 * float(np.median(flow_s)) if flow_s else 0.0,
    )


@dataclass(frozen=True)
class StaticReport:
    """A still scene's measured speed (module docstring): each zone's mean over the
    frames, with the deployed noise floor (``min_flow_px``) and with none."""

    frames: int
    people_per_frame: float
    noise_sigma: float
    jpeg_quality: int
    min_flow_px: float
    zone_mean_speed_m_s: dict[str, float]
    zone_mean_speed_no_floor_m_s: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "people_per_frame": round(self.people_per_frame, 1),
            "noise_sigma_grey_levels": self.noise_sigma,
            "jpeg_quality": self.jpeg_quality,
            "min_flow_px": self.min_flow_px,
            "zone_mean_speed_m_s": _rounded(self.zone_mean_speed_m_s),
            "max_zone_mean_speed_m_s": round(max(self.zone_mean_speed_m_s.values(), default=0), 4),
            "without_noise_floor": {
                "zone_mean_speed_m_s": _rounded(self.zone_mean_speed_no_floor_m_s),
                "max_zone_mean_speed_m_s": round(
                    max(self.zone_mean_speed_no_floor_m_s.values(), default=0), 4
                ),
            },
        }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


class _ZoneMeans:
    """People-weighted mean speed of each zone over frames."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.people: dict[str, int] = defaultdict(int)

    def add(self, motions: dict[str, ZoneMotion]) -> None:
        for zone_id, zm in motions.items():
            self.sums[zone_id] += zm.speed_m_s * zm.people
            self.people[zone_id] += zm.people

    def means(self) -> dict[str, float]:
        return {z: self.sums[z] / n for z, n in self.people.items() if n}


def noisy_copy(
    image: npt.NDArray[np.uint8], rng: np.random.Generator, sigma: float, jpeg_quality: int
) -> npt.NDArray[np.uint8]:
    """``image`` (RGB) with Gaussian sensor noise of ``sigma`` grey levels, then
    compressed as JPEG at ``jpeg_quality`` and decoded again."""
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    clipped = np.clip(noisy, 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", clipped[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("JPEG decoding failed")
    return np.ascontiguousarray(decoded[:, :, ::-1])


def evaluate_static(
    image: npt.NDArray[np.uint8],
    zones: Sequence[Zone],
    homography: Homography,
    detect: Callable[[npt.NDArray[np.uint8]], Detections],
    *,
    frames: int = 50,
    fps: float = 5.0,
    noise_sigma: float = 3.0,
    jpeg_quality: int = 75,
    seed: int = 0,
    width: int = DEFAULT_WIDTH_PX,
) -> StaticReport:
    """Mean speed of each zone over ``frames`` noisy copies of one still ``image``
    (module docstring), people found by ``detect`` on each copy."""
    rng = np.random.default_rng(seed)
    floored = CrowdMotion(zones, homography, width=width)
    raw = CrowdMotion(zones, homography, width=width, min_flow_px=0.0)
    with_floor, without = _ZoneMeans(), _ZoneMeans()
    people = 0
    for i in range(frames):
        frame = noisy_copy(image, rng, noise_sigma, jpeg_quality)
        found = detect(frame)
        people += len(found)
        with_floor.add(floored.measure(frame, i / fps, found))
        without.add(raw.measure(frame, i / fps, found))
    return StaticReport(
        frames=frames,
        people_per_frame=people / max(1, frames),
        noise_sigma=noise_sigma,
        jpeg_quality=jpeg_quality,
        min_flow_px=floored.min_flow_px,
        zone_mean_speed_m_s=with_floor.means(),
        zone_mean_speed_no_floor_m_s=without.means(),
    )
