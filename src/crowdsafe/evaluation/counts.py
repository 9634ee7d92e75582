"""``crowdsafe eval counts``: detection quality and per-frame count error on MOT data.

Matching follows the PASCAL VOC protocol: detections in decreasing score order are
matched to the unmatched ground-truth box of highest IoU, a match needs IoU >= 0.5.

Size range: annotators label people down to some size only (MOT15's TUD sequences:
about 120 px and taller).  As in the Caltech pedestrian benchmark, evaluation covers
the annotated size range: ground-truth boxes shorter than ``min_height_px`` are not
required, and unmatched detections shorter than it are ignored rather than counted
false, since the ground truth says nothing about people that small.  By default the
range starts at 75% of the 1st percentile of annotated heights; the report gives the
value used and also the figures over all sizes, so nothing is hidden.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from crowdsafe.detect.base import Detector
from crowdsafe.detect.nms import box_iou
from crowdsafe.evaluation.mot import load_mot_boxes
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.types import Detections, Frame

__all__ = ["CountReport", "FrameMatch", "evaluate_counts", "match_frame"]


@dataclass(frozen=True)
class FrameMatch:
    """Matched (true positive), false and missed detections of one frame or a sum of
    frames; ``ignored`` are those outside the annotated size range."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    ignored: int = 0

    def __add__(self, other: FrameMatch) -> FrameMatch:
        return FrameMatch(
            self.tp + other.tp,
            self.fp + other.fp,
            self.fn + other.fn,
            self.ignored + other.ignored,
        )

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)


def match_frame(
    det: Detections, gt: npt.NDArray[np.float64], min_height_px: float = 0.0, iou_min: float = 0.5
) -> FrameMatch:
    """VOC-style greedy matching of one frame's detections to its ground truth."""
    gt_h = gt[:, 3] - gt[:, 1] if len(gt) else np.zeros(0)
    required = gt_h >= min_height_px
    matched = np.zeros(len(gt), dtype=bool)
    tp = fp = ignored = 0
    iou = box_iou(det.xyxy, gt) if len(det) and len(gt) else np.zeros((len(det), len(gt)))
    det_h = det.xyxy[:, 3] - det.xyxy[:, 1]
    for i in np.argsort(-det.score, kind="stable"):
        j = -1
        if len(gt):
            cand = np.where(matched, -1.0, iou[i])
            j = int(np.argmax(cand))
            if cand[j] < iou_min:
                j = -1
        if j >= 0:
            matched[j] = True
            if required[j]:
                tp += 1
            else:
                ignored += 1
        elif det_h[i] < min_height_px:
            ignored += 1
        else:
            fp += 1
    fn = int((required & ~matched).sum())
    return FrameMatch(tp=tp, fp=fp, fn=fn, ignored=ignored)


@dataclass(frozen=True)
class CountReport:
    """Detection quality of one video (rule: see the module docstring).  ``count_mae``
    is persons per frame, ``ms_per_frame`` the detector's time; the ``_all_sizes``
    figures count people of every size.  :meth:`to_dict` is the JSON the CLI prints,
    floats rounded to 4 places."""

    video: str
    frames: int
    min_height_px: float
    precision: float
    recall: float
    count_mae: float
    precision_all_sizes: float
    recall_all_sizes: float
    count_mae_all_sizes: float
    ms_per_frame: float
    gt_people: int

    def to_dict(self) -> dict[str, object]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def evaluate_counts(
    detector: Detector,
    video: str | Path,
    gt_path: str | Path,
    *,
    every: int = 1,
    min_height_px: float | None = None,
    progress: bool = False,
) -> CountReport:
    """Run ``detector`` on every ``every``-th frame of ``video`` and score it."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    gt = load_mot_boxes(gt_path)
    heights = np.concatenate([b[:, 3] - b[:, 1] for b in gt.values()]) if gt else np.zeros(1)
    if min_height_px is None:
        min_height_px = float(0.75 * np.percentile(heights, 1))
    source = VideoFileSource("eval", video)
    tot = tot_all = FrameMatch()
    abs_err: list[float] = []
    abs_err_all: list[float] = []
    elapsed = 0.0
    n = 0
    gt_people = 0
    empty = np.zeros((0, 4))
    for frame in _every(source, every):
        number = frame.index + 1  # MOT frames count from 1
        t0 = time.perf_counter()
        det = detector.detect(frame)
        elapsed += time.perf_counter() - t0
        boxes = gt.get(number, empty)
        tot += match_frame(det, boxes, min_height_px)
        tot_all += match_frame(det, boxes, 0.0)
        det_h = det.xyxy[:, 3] - det.xyxy[:, 1]
        gt_h = boxes[:, 3] - boxes[:, 1]
        abs_err.append(
            abs(int((det_h >= min_height_px).sum()) - int((gt_h >= min_height_px).sum()))
        )
        abs_err_all.append(abs(len(det) - len(boxes)))
        gt_people += len(boxes)
        n += 1
        if progress and n % 25 == 0:
            print(f"  {n} frames…", flush=True)
    return CountReport(
        video=str(video),
        frames=n,
        min_height_px=round(min_height_px, 1),
        precision=tot.precision,
        recall=tot.recall,
        count_mae=float(np.mean(abs_err)) if abs_err else 0.0,
        precision_all_sizes=tot_all.precision,
        recall_all_sizes=tot_all.recall,
        count_mae_all_sizes=float(np.mean(abs_err_all)) if abs_err_all else 0.0,
        ms_per_frame=1000.0 * elapsed / max(n, 1),
        gt_people=gt_people,
    )


def _every(source: VideoFileSource, every: int) -> Iterator[Frame]:
    for frame in source.frames():
        if frame.index % every == 0:
            yield frame
