"""Line-crossing counts against MOT ground truth: detector -> tracker -> counter.

The rule: **the truth is the same counting rule applied to the annotated tracks.**
Ground-truth crossings are what :class:`~crowdsafe.measure.lines.LineCounter` counts
when fed the annotated boxes (flag 1) of every frame with their annotated ids; the
pipeline's crossings are what it counts when fed the tracker's output on every
``every``-th frame.  Any difference is therefore due to detection and tracking, not
to two definitions of "crossing".  The ground-truth counter never forgets a track
(annotated ids are stable across occlusions); the pipeline's counter forgets after
the tracker's ``max_lost_s``, as in production.

Give the detector a score threshold at or below the tracker's ``low_score``
(``NanoDetDetector(score_threshold=0.1)``), or the tracker's low-score stage gets no
boxes.  Annotated ids are read only here, in memory, and never reported.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crowdsafe.detect.base import Detector
from crowdsafe.evaluation.mot import load_mot_tracks
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.measure.lines import CountingLine, LineCounter
from crowdsafe.track.bytetrack import ByteTracker
from crowdsafe.types import Detections, LineCrossing

__all__ = ["evaluate_lines"]

_CAMERA = "eval"


def _relative_error_pct(counted: int, truth: int) -> float | None:
    """Signed error in percent of the truth; None when there is no truth to divide by
    and the pipeline counted something (0 when both are 0)."""
    if truth == 0:
        return 0.0 if counted == 0 else None
    return round(100.0 * (counted - truth) / truth, 2)


def _tally(crossings: list[LineCrossing], counts: dict[str, int]) -> None:
    for c in crossings:
        counts[c.direction] += 1


def evaluate_lines(
    detector: Detector,
    video: str | Path,
    gt_path: str | Path,
    line_xyxy: tuple[float, float, float, float],
    *,
    every: int = 1,
    tracker_kwargs: Mapping[str, Any] | None = None,
    margin_px: float = 5.0,
) -> dict[str, object]:
    """Count crossings of the segment ``line_xyxy`` = (x1, y1, x2, y2) pixels in ``video``.

    Runs ``detector`` -> :class:`ByteTracker` (``tracker_kwargs``) -> LineCounter
    (``margin_px``) on every ``every``-th frame, with the frames' own times, and
    compares with the crossings of the annotated tracks in ``gt_path`` (a MOT
    ``gt.txt`` or its sequence folder).  "in" is the left-hand side of the direction
    from (x1, y1) to (x2, y2) as drawn on the image.

    Returns a JSON-ready dict: video, frames (analysed), line, gt_in, gt_out,
    counted_in, counted_out, error_in_pct and error_out_pct (signed, percent of the
    truth; None where the truth is 0 but something was counted), ms_per_frame (detect +
    track + count per analysed frame) and track_ms_per_frame (track + count only).
    Raises ValueError for ``every`` < 1 or a bad line or tracker argument, and
    FileNotFoundError / SourceNotFound for missing inputs.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    x1, y1, x2, y2 = (float(v) for v in line_xyxy)
    line = CountingLine(
        id="eval", camera_id=_CAMERA, name="evaluation line", p1=(x1, y1), p2=(x2, y2), width_m=1.0
    )
    tracker = ByteTracker(**dict(tracker_kwargs or {}))
    gt = load_mot_tracks(gt_path)
    source = VideoFileSource(_CAMERA, video)
    truth_counter = LineCounter([line], margin_px=margin_px, max_gap_s=float("inf"))
    counter = LineCounter([line], margin_px=margin_px, max_gap_s=tracker.max_lost_s)
    truth = {"in": 0, "out": 0}
    counted = {"in": 0, "out": 0}
    frames = 0
    elapsed_s = 0.0
    track_elapsed_s = 0.0
    for frame in source.frames():
        people = gt.get(frame.index + 1)  # MOT frames count from 1
        if people is not None:
            _tally(truth_counter.update(people, frame.t, _CAMERA), truth)
        if frame.index % every:
            continue
        t0 = time.perf_counter()
        detections: Detections = detector.detect(frame)
        t1 = time.perf_counter()
        crossings = counter.update(tracker.update(detections, frame.t), frame.t, _CAMERA)
        t2 = time.perf_counter()
        _tally(crossings, counted)
        elapsed_s += t2 - t0
        track_elapsed_s += t2 - t1
        frames += 1
    return {
        "video": str(video),
        "frames": frames,
        "every": every,
        "line": [x1, y1, x2, y2],
        "gt_in": truth["in"],
        "gt_out": truth["out"],
        "counted_in": counted["in"],
        "counted_out": counted["out"],
        "error_in_pct": _relative_error_pct(counted["in"], truth["in"]),
        "error_out_pct": _relative_error_pct(counted["out"], truth["out"]),
        "ms_per_frame": round(1000.0 * elapsed_s / max(frames, 1), 2),
        "track_ms_per_frame": round(1000.0 * track_elapsed_s / max(frames, 1), 3),
    }
