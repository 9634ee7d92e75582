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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from crowdsafe.detect.base import Detector
from crowdsafe.evaluation.mot import load_mot_tracks
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.measure.lines import CountingLine, LineCounter
from crowdsafe.track.bytetrack import ByteTracker
from crowdsafe.types import Detections, LineCrossing

__all__ = ["evaluate_line_set", "evaluate_lines"]

_CAMERA = "eval"
_DIRECTIONS = ("in", "out")


def _relative_error_pct(counted: int, truth: int) -> float | None:
    """Signed error in percent of the truth; None when there is no truth to divide by
    and the pipeline counted something (0 when both are 0)."""
    if truth == 0:
        return 0.0 if counted == 0 else None
    return round(100.0 * (counted - truth) / truth, 2)


def _tally(crossings: list[LineCrossing], counts: dict[tuple[str, str], int]) -> None:
    for c in crossings:
        counts[c.line_id, c.direction] += 1


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
    report = evaluate_line_set(
        detector,
        video,
        gt_path,
        [line_xyxy],
        every=every,
        tracker_kwargs=tracker_kwargs,
        margin_px=margin_px,
    )
    (row,) = cast("list[dict[str, object]]", report["lines"])
    keys = ("video", "frames", "every")
    timing = ("ms_per_frame", "track_ms_per_frame")
    return {**{k: report[k] for k in keys}, **row, **{k: report[k] for k in timing}}


def evaluate_line_set(
    detector: Detector,
    video: str | Path,
    gt_path: str | Path,
    lines_xyxy: Sequence[tuple[float, float, float, float]],
    *,
    every: int = 1,
    tracker_kwargs: Mapping[str, Any] | None = None,
    margin_px: float = 5.0,
) -> dict[str, object]:
    """:func:`evaluate_lines` for several lines at once, from one run of the detector
    and tracker.

    Returns a JSON-ready dict: video, frames, every, ``lines`` (per line: line, gt_in,
    gt_out, counted_in, counted_out, error_in_pct, error_out_pct), ``total`` (those
    counts summed over the lines, their signed errors, ``abs_error_in`` /
    ``abs_error_out``: the sum over lines of |counted - truth|, which errors of
    opposite sign on different lines cannot cancel, and ``exact_lines``: lines counted
    exactly in both directions), ms_per_frame and track_ms_per_frame.  Raises
    ValueError for no line, ``every`` < 1 or a bad line or tracker argument.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    if not lines_xyxy:
        raise ValueError("at least one line is needed")
    lines = []
    for i, xyxy in enumerate(lines_xyxy):
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        lines.append(
            CountingLine(
                id=f"l{i}",
                camera_id=_CAMERA,
                name=f"line {i}",
                p1=(x1, y1),
                p2=(x2, y2),
                width_m=1.0,
            )
        )
    tracker = ByteTracker(**dict(tracker_kwargs or {}))
    gt = load_mot_tracks(gt_path)
    source = VideoFileSource(_CAMERA, video)
    truth_counter = LineCounter(lines, margin_px=margin_px, max_gap_s=float("inf"))
    counter = LineCounter(lines, margin_px=margin_px, max_gap_s=tracker.max_lost_s)
    truth = {(ln.id, d): 0 for ln in lines for d in _DIRECTIONS}
    counted = dict(truth)
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
    per_line = [
        {
            "line": [ln.p1[0], ln.p1[1], ln.p2[0], ln.p2[1]],
            "gt_in": truth[ln.id, "in"],
            "gt_out": truth[ln.id, "out"],
            "counted_in": counted[ln.id, "in"],
            "counted_out": counted[ln.id, "out"],
            "error_in_pct": _relative_error_pct(counted[ln.id, "in"], truth[ln.id, "in"]),
            "error_out_pct": _relative_error_pct(counted[ln.id, "out"], truth[ln.id, "out"]),
        }
        for ln in lines
    ]
    gt_sum = {d: sum(truth[ln.id, d] for ln in lines) for d in _DIRECTIONS}
    counted_sum = {d: sum(counted[ln.id, d] for ln in lines) for d in _DIRECTIONS}
    total: dict[str, object] = {"lines": len(lines)}
    for d in _DIRECTIONS:
        total |= {f"gt_{d}": gt_sum[d], f"counted_{d}": counted_sum[d]}
    for d in _DIRECTIONS:
        total[f"error_{d}_pct"] = _relative_error_pct(counted_sum[d], gt_sum[d])
    for d in _DIRECTIONS:
        total[f"abs_error_{d}"] = sum(abs(counted[ln.id, d] - truth[ln.id, d]) for ln in lines)
    total["exact_lines"] = sum(
        all(counted[ln.id, d] == truth[ln.id, d] for d in _DIRECTIONS) for ln in lines
    )
    return {
        "video": str(video),
        "frames": frames,
        "every": every,
        "lines": per_line,
        "total": total,
        "ms_per_frame": round(1000.0 * elapsed_s / max(frames, 1), 2),
        "track_ms_per_frame": round(1000.0 * track_elapsed_s / max(frames, 1), 3),
    }
