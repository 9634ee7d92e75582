"""Is every head anonymised?  Coverage of annotated heads on MOT ground truth.

For each evaluated frame the detector runs, the :class:`Anonymiser` pixelates, and every
ground-truth person box is checked: its head — the top fifth of the annotated box,
clipped to the frame — must have lost at least 90% of its high-frequency energy.
Energy is the variance of the 3x3 (4-neighbour) Laplacian of the grey region, computed
on the region alone so pixels outside it cannot count.  Why the variance (a power) and
not the mean |Laplacian|: after any smoothing, 8-bit rounding alone leaves a mean
|Laplacian| of about one grey level, while TUD heads start near nine, so even a
sigma-8 Gaussian blur of the whole frame removes a median 86-88% of it, as little as
73% (measured on TUD-Stadtmitte and TUD-Campus); the variance, dominated by real edges,
falls by at least 93.5% (median 98-99%) under the same blur.

A head whose original energy is below :data:`FLAT_FLOOR` (Laplacian variance under one
grey level squared: a uniform patch, e.g. a black or saturated area) has nothing left to
hide and counts as covered; such heads are counted apart (``flat_heads``) and left out
of the energy-drop distribution.  A head clipped to fewer than 2x2 pixels (the box lies
outside the frame) is not scored (``heads_outside_frame``).

"Detected" people are ground-truth boxes matched by a detection at IoU >= 0.5 in the
VOC greedy order of ``evaluation/counts.py``: for them coverage must be complete, since
their heads are pixelated by rule; for the others (``missed_people``) only the face
finder can help, and their coverage is reported as found.  The report carries counts
and times only, never a box.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.detect.base import Detector
from crowdsafe.detect.nms import box_iou
from crowdsafe.evaluation.mot import load_mot_boxes
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.types import Detections, Frame

__all__ = [
    "DROP_MIN",
    "FLAT_FLOOR",
    "GT_HEAD_FRACTION",
    "AnonymisationReport",
    "EnergyDrop",
    "evaluate_anonymisation",
    "gt_head_regions",
    "hf_energy",
    "matched_gt",
]

GT_HEAD_FRACTION = 0.2
"""The head of an annotated person: the top fifth of the ground-truth box."""
DROP_MIN = 0.9
"""A head is covered when its high-frequency energy falls by at least this share."""
FLAT_FLOOR = 1.0
"""Laplacian variance (grey levels squared) under which a region is flat: nothing to hide."""


@dataclass(frozen=True)
class EnergyDrop:
    """The share of high-frequency energy removed, over the non-flat heads scored."""

    min: float
    p5: float
    median: float

    def to_dict(self) -> dict[str, object]:
        return {
            "min": round(self.min, 4),
            "p5": round(self.p5, 4),
            "median": round(self.median, 4),
        }


@dataclass(frozen=True)
class AnonymisationReport:
    """Head coverage of one video (rule: see the module docstring); counts and times
    only, never a box.

    ``gt_heads`` are the heads scored, ``covered`` those anonymised, split into heads
    of detected people and of ``missed_people``; a fraction is 0 where there is no head
    to divide by.  Times are medians over frames, in milliseconds.
    ``face_max_side_px`` is the face finder's working size (None without one).
    :meth:`to_dict` is the JSON the CLI prints, rounded as it prints it.
    """

    video: str
    frames: int
    every: int
    gt_heads: int
    covered: int
    gt_heads_of_detected_people: int
    covered_of_detected: int
    missed_people: int
    covered_of_missed: int
    flat_heads: int
    heads_outside_frame: int
    energy_drop: EnergyDrop
    faces_per_frame: float
    anonymise_ms_per_frame: float
    face_ms_per_frame: float
    face_max_side_px: int | None

    @property
    def covered_fraction(self) -> float:
        return _fraction(self.covered, self.gt_heads)

    @property
    def covered_fraction_of_detected(self) -> float:
        return _fraction(self.covered_of_detected, self.gt_heads_of_detected_people)

    @property
    def covered_fraction_of_missed(self) -> float:
        return _fraction(self.covered_of_missed, self.missed_people)

    @property
    def criterion(self) -> str:
        return (
            f"head = top {GT_HEAD_FRACTION:g} of the GT box; covered when the variance of its "
            f"Laplacian falls by >= {DROP_MIN:.0%}, or was below {FLAT_FLOOR:g} (flat)"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "video": self.video,
            "frames": self.frames,
            "every": self.every,
            "gt_heads": self.gt_heads,
            "covered": self.covered,
            "covered_fraction": round(self.covered_fraction, 4),
            "gt_heads_of_detected_people": self.gt_heads_of_detected_people,
            "covered_of_detected": self.covered_of_detected,
            "covered_fraction_of_detected": round(self.covered_fraction_of_detected, 4),
            "missed_people": self.missed_people,
            "covered_of_missed": self.covered_of_missed,
            "covered_fraction_of_missed": round(self.covered_fraction_of_missed, 4),
            "flat_heads": self.flat_heads,
            "heads_outside_frame": self.heads_outside_frame,
            "energy_drop": self.energy_drop.to_dict(),
            "faces_per_frame": round(self.faces_per_frame, 2),
            "anonymise_ms_per_frame": round(self.anonymise_ms_per_frame, 2),
            "face_ms_per_frame": round(self.face_ms_per_frame, 2),
            "face_max_side_px": self.face_max_side_px,
            "criterion": self.criterion,
        }


def hf_energy(gray: npt.NDArray[np.uint8]) -> float:
    """Variance of the 3x3 Laplacian of a grey region (grey levels squared)."""
    return float(cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F).var())


def gt_head_regions(gt: npt.NDArray[np.float64], width: int, height: int) -> npt.NDArray[np.int32]:
    """(N, 4) integer heads (top fifth) of ground-truth boxes, clipped to the image."""
    h = gt[:, 3] - gt[:, 1]
    out = np.stack(
        [
            np.floor(gt[:, 0]),
            np.floor(gt[:, 1]),
            np.ceil(gt[:, 2]),
            np.ceil(gt[:, 1] + GT_HEAD_FRACTION * h),
        ],
        axis=1,
    )
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out.astype(np.int32)


def matched_gt(
    det: Detections, gt: npt.NDArray[np.float64], iou_min: float = 0.5
) -> npt.NDArray[np.bool_]:
    """Which ground-truth boxes a detection matches, VOC greedy order as ``match_frame``."""
    matched = np.zeros(len(gt), dtype=bool)
    if not len(det) or not len(gt):
        return matched
    iou = box_iou(det.xyxy, gt)
    for i in np.argsort(-det.score, kind="stable"):
        cand = np.where(matched, -1.0, iou[i])
        j = int(np.argmax(cand))
        if cand[j] >= iou_min:
            matched[j] = True
    return matched


def evaluate_anonymisation(
    detector: Detector,
    video: str | Path,
    gt_path: str | Path,
    *,
    every: int = 1,
    anonymiser: Anonymiser,
) -> AnonymisationReport:
    """Run detector + anonymiser on every ``every``-th frame and score head coverage.

    Raises ValueError for ``every`` < 1 and FileNotFoundError for a missing video or
    ground truth.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    gt = load_mot_boxes(gt_path)
    source = VideoFileSource("eval", video)
    empty = np.zeros((0, 4))
    frames = heads = covered = flat = outside = 0
    det_heads = det_covered = missed = missed_covered = 0
    drops: list[float] = []
    anon_ms: list[float] = []
    face_ms: list[float] = []
    faces_found = 0
    for frame in _every(source, every):
        image = frame.image
        h, w = image.shape[:2]
        boxes = gt.get(frame.index + 1, empty)  # MOT frames count from 1
        people = detector.detect(frame)
        shown = anonymiser.anonymise(image, people)
        stats = anonymiser.stats
        anon_ms.append(stats.ms)
        face_ms.append(stats.face_ms)
        faces_found += stats.faces
        frames += 1
        matched = matched_gt(people, boxes)
        gray_raw = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        gray_out = np.asarray(cv2.cvtColor(shown, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        for (x1, y1, x2, y2), is_matched in zip(
            gt_head_regions(boxes, w, h).tolist(), matched.tolist(), strict=True
        ):
            if x2 - x1 < 2 or y2 - y1 < 2:
                outside += 1
                continue
            before = hf_energy(gray_raw[y1:y2, x1:x2])
            after = hf_energy(gray_out[y1:y2, x1:x2])
            if before < FLAT_FLOOR:
                flat += 1
                ok = True
            else:
                drop = 1.0 - after / before
                drops.append(drop)
                ok = drop >= DROP_MIN
            heads += 1
            covered += ok
            if is_matched:
                det_heads += 1
                det_covered += ok
            else:
                missed += 1
                missed_covered += ok
    dist = np.asarray(drops) if drops else np.zeros(1)
    return AnonymisationReport(
        video=str(video),
        frames=frames,
        every=every,
        gt_heads=heads,
        covered=covered,
        gt_heads_of_detected_people=det_heads,
        covered_of_detected=det_covered,
        missed_people=missed,
        covered_of_missed=missed_covered,
        flat_heads=flat,
        heads_outside_frame=outside,
        energy_drop=EnergyDrop(
            min=float(dist.min()),
            p5=float(np.percentile(dist, 5)),
            median=float(np.median(dist)),
        ),
        faces_per_frame=faces_found / max(frames, 1),
        anonymise_ms_per_frame=float(np.median(anon_ms)) if anon_ms else 0.0,
        face_ms_per_frame=float(np.median(face_ms)) if face_ms else 0.0,
        face_max_side_px=None if anonymiser.faces is None else anonymiser.faces.max_side_px,
    )


def _fraction(num: int, den: int) -> float:
    return num / den if den else 0.0


def _every(source: VideoFileSource, every: int) -> Iterator[Frame]:
    for frame in source.frames():
        if frame.index % every == 0:
            yield frame
