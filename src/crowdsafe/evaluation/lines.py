"""Line-crossing counts against MOT ground truth: detector -> tracker -> counter.

The rule: **the truth is the same counting rule applied to the annotated tracks.**
Ground-truth crossings are what :class:`~crowdsafe.measure.lines.LineCounter` counts
when fed the annotated boxes (flag 1) of every frame with their annotated ids; the
pipeline's crossings are what it counts when fed the tracker's output on every
``every``-th frame.  Any difference is therefore due to detection and tracking, not
to two definitions of "crossing".  The ground-truth counter never forgets a track
(annotated ids are stable across occlusions); the pipeline's counter forgets after
the tracker's ``max_lost_s``, as in production.

The pipeline side is the deployed line stage itself:
:func:`crowdsafe.assembly.build_line_stage` with the camera's ``tracking:`` settings,
the builder the runtime uses, so an evaluated setting is exactly what a camera runs.
Give the detector a score threshold at or below the tracker's ``low_score``
(``NanoDetDetector(score_threshold=0.1)``), or the tracker's low-score stage gets no
boxes.  Annotated ids are read only here, in memory, and never reported.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from crowdsafe.assembly.stages import LINE_MARGIN_PX, build_line_stage
from crowdsafe.config import TrackingConfig
from crowdsafe.detect.base import Detector
from crowdsafe.evaluation.mot import load_mot_tracks
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.measure.flux import FluxCounter
from crowdsafe.measure.lines import CountingLine, LineCounter
from crowdsafe.measure.motion import FlowImage, box_image_velocities
from crowdsafe.types import Detections, Frame, LineCrossing

__all__ = [
    "FluxReport",
    "FluxSettings",
    "LineResult",
    "LineSetReport",
    "SingleLineReport",
    "evaluate_line_set",
    "evaluate_lines",
]

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


@dataclass(frozen=True)
class LineResult:
    """One line's crossings per direction: the truth and what the pipeline counted."""

    line: tuple[float, float, float, float]
    gt_in: int
    gt_out: int
    counted_in: int
    counted_out: int

    def to_dict(self) -> dict[str, object]:
        return {
            "line": list(self.line),
            "gt_in": self.gt_in,
            "gt_out": self.gt_out,
            "counted_in": self.counted_in,
            "counted_out": self.counted_out,
            "error_in_pct": _relative_error_pct(self.counted_in, self.gt_in),
            "error_out_pct": _relative_error_pct(self.counted_out, self.gt_out),
        }


@dataclass(frozen=True)
class LineSetReport:
    """The lines of one run of detector and tracker over a video."""

    video: str
    frames: int
    every: int
    lines: list[LineResult]
    ms_per_frame: float
    track_ms_per_frame: float
    flux: FluxReport | None = None

    def _total(self) -> dict[str, object]:
        gt = {"in": sum(r.gt_in for r in self.lines), "out": sum(r.gt_out for r in self.lines)}
        got = {
            "in": sum(r.counted_in for r in self.lines),
            "out": sum(r.counted_out for r in self.lines),
        }
        total: dict[str, object] = {"lines": len(self.lines)}
        for d in _DIRECTIONS:
            total |= {f"gt_{d}": gt[d], f"counted_{d}": got[d]}
        for d in _DIRECTIONS:
            total[f"error_{d}_pct"] = _relative_error_pct(got[d], gt[d])
        total["abs_error_in"] = sum(abs(r.counted_in - r.gt_in) for r in self.lines)
        total["abs_error_out"] = sum(abs(r.counted_out - r.gt_out) for r in self.lines)
        total["exact_lines"] = sum(
            r.counted_in == r.gt_in and r.counted_out == r.gt_out for r in self.lines
        )
        return total

    def to_dict(self) -> dict[str, object]:
        """The JSON ``crowdsafe eval lines`` prints for several lines."""
        return {
            "video": self.video,
            "frames": self.frames,
            "every": self.every,
            "lines": [r.to_dict() for r in self.lines],
            "total": self._total(),
            "ms_per_frame": self.ms_per_frame,
            "track_ms_per_frame": self.track_ms_per_frame,
            **({"flux": self.flux.to_dict(self.lines)} if self.flux is not None else {}),
        }


@dataclass(frozen=True)
class FluxSettings:
    """The track-free count of ``evaluate_line_set`` (``measure/flux.py``): people at or
    above ``score_threshold`` (a camera's counting threshold), a band of ``band_px``
    either side of each line, and the detector's measured ``precision`` and ``recall``,
    which correct the flux as they correct a zone's density."""

    score_threshold: float
    precision: float
    recall: float
    band_px: float = 20.0


@dataclass(frozen=True)
class FluxReport:
    """Each line's (in, out) flux over the run, corrected (see :class:`FluxSettings`)."""

    settings: FluxSettings
    crossings: list[tuple[float, float]]
    flow_ms_per_frame: float

    def to_dict(self, lines: Sequence[LineResult]) -> dict[str, object]:
        got_in = sum(c[0] for c in self.crossings)
        got_out = sum(c[1] for c in self.crossings)
        gt_in = sum(r.gt_in for r in lines)
        gt_out = sum(r.gt_out for r in lines)
        pairs = list(zip(lines, self.crossings, strict=True))
        return {
            "settings": asdict(self.settings),
            "lines": [
                {"line": list(r.line), "flux_in": round(c[0], 2), "flux_out": round(c[1], 2)}
                for r, c in pairs
            ],
            "total": {
                "gt_in": gt_in,
                "gt_out": gt_out,
                "flux_in": round(got_in, 1),
                "flux_out": round(got_out, 1),
                "error_in_pct": _pct(got_in, gt_in),
                "error_out_pct": _pct(got_out, gt_out),
                "error_pct": _pct(got_in + got_out, gt_in + gt_out),
                # each line's flux rounded to whole crossings, as the tracker's are
                "abs_error_in": sum(abs(round(c[0]) - r.gt_in) for r, c in pairs),
                "abs_error_out": sum(abs(round(c[1]) - r.gt_out) for r, c in pairs),
            },
            "flow_ms_per_frame": round(self.flow_ms_per_frame, 2),
        }


def _pct(got: float, truth: int) -> float | None:
    return None if truth == 0 else round(100.0 * (got - truth) / truth, 2)


@dataclass(frozen=True)
class SingleLineReport:
    """A run with one line, reported flat (the line's fields beside the run's)."""

    run: LineSetReport

    def to_dict(self) -> dict[str, object]:
        """The JSON ``crowdsafe eval lines`` prints for one line."""
        (row,) = self.run.lines
        r = self.run
        return {
            "video": r.video,
            "frames": r.frames,
            "every": r.every,
            **row.to_dict(),
            "ms_per_frame": r.ms_per_frame,
            "track_ms_per_frame": r.track_ms_per_frame,
        }


def evaluate_lines(
    detector: Detector,
    video: str | Path,
    gt_path: str | Path,
    line_xyxy: tuple[float, float, float, float],
    *,
    every: int = 1,
    tracking: TrackingConfig | None = None,
    margin_px: float = LINE_MARGIN_PX,
) -> SingleLineReport:
    """Count crossings of the segment ``line_xyxy`` = (x1, y1, x2, y2) pixels in ``video``.

    Runs ``detector`` -> the deployed line stage (tracker with ``tracking``, default the
    config's defaults -> LineCounter with ``margin_px``) on every ``every``-th frame,
    with the frames' own times, and compares with the crossings of the annotated tracks
    in ``gt_path`` (a MOT ``gt.txt`` or its sequence folder).  "in" is the left-hand
    side of the direction from (x1, y1) to (x2, y2) as drawn on the image.

    The report's JSON: video, frames (analysed), line, gt_in, gt_out, counted_in,
    counted_out, error_in_pct and error_out_pct (signed, percent of the truth; None
    where the truth is 0 but something was counted), ms_per_frame (detect + track +
    count per analysed frame) and track_ms_per_frame (track + count only).  Raises
    ValueError for ``every`` < 1 or a bad line, and FileNotFoundError / SourceNotFound
    for missing inputs.
    """
    report = evaluate_line_set(
        detector, video, gt_path, [line_xyxy], every=every, tracking=tracking, margin_px=margin_px
    )
    return SingleLineReport(report)


def evaluate_line_set(
    detector: Detector,
    video: str | Path,
    gt_path: str | Path,
    lines_xyxy: Sequence[tuple[float, float, float, float]],
    *,
    every: int = 1,
    tracking: TrackingConfig | None = None,
    margin_px: float = LINE_MARGIN_PX,
    flux: FluxSettings | None = None,
) -> LineSetReport:
    """:func:`evaluate_lines` for several lines at once, from one run of the detector
    and tracker; with ``flux``, the same frames' track-free counts beside them
    (``measure/flux.py``: optical flow between the analysed frames, the detector's
    people at the counting threshold).

    The report's JSON: video, frames, every, ``lines`` (per line: line, gt_in, gt_out,
    counted_in, counted_out, error_in_pct, error_out_pct), ``total`` (those counts
    summed over the lines, their signed errors, ``abs_error_in`` / ``abs_error_out``:
    the sum over lines of |counted - truth|, which errors of opposite sign on different
    lines cannot cancel, and ``exact_lines``: lines counted exactly in both
    directions), ms_per_frame and track_ms_per_frame.  Raises ValueError for no line,
    ``every`` < 1 or a bad line.
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
    # The deployed stage: the runtime builds every camera's line stage with this call.
    stage = build_line_stage(lines, tracking or TrackingConfig(), 60.0, margin_px=margin_px)
    gt = load_mot_tracks(gt_path)
    source = VideoFileSource(_CAMERA, video)
    truth_counter = LineCounter(lines, margin_px=margin_px, max_gap_s=float("inf"))
    truth = {(ln.id, d): 0 for ln in lines for d in _DIRECTIONS}
    counted = dict(truth)
    frames = 0
    elapsed_s = 0.0
    track_elapsed_s = 0.0
    fluxes = _Flux(lines, flux) if flux is not None else None
    for frame in source.frames():
        people = gt.get(frame.index + 1)  # MOT frames count from 1
        if people is not None:
            _tally(truth_counter.update(people, frame.t, _CAMERA), truth)
        if frame.index % every:
            continue
        t0 = time.perf_counter()
        detections: Detections = detector.detect(frame)
        t1 = time.perf_counter()
        crossings = stage.crossings(detections, frame.t, _CAMERA)
        t2 = time.perf_counter()
        _tally(crossings, counted)
        if fluxes is not None:
            fluxes.add(frame, detections)
        elapsed_s += t2 - t0
        track_elapsed_s += t2 - t1
        frames += 1
    return LineSetReport(
        video=str(video),
        frames=frames,
        every=every,
        lines=[
            LineResult(
                line=(ln.p1[0], ln.p1[1], ln.p2[0], ln.p2[1]),
                gt_in=truth[ln.id, "in"],
                gt_out=truth[ln.id, "out"],
                counted_in=counted[ln.id, "in"],
                counted_out=counted[ln.id, "out"],
            )
            for ln in lines
        ],
        ms_per_frame=round(1000.0 * elapsed_s / max(frames, 1), 2),
        track_ms_per_frame=round(1000.0 * track_elapsed_s / max(frames, 1), 3),
        flux=fluxes.report() if fluxes is not None else None,
    )


class _Flux:
    """The track-free side of ``evaluate_line_set``: flow, velocities, flux."""

    def __init__(self, lines: Sequence[CountingLine], settings: FluxSettings) -> None:
        self.settings = settings
        self.counter = FluxCounter(lines, band=settings.band_px)
        self.lines = list(lines)
        self.image: FlowImage | None = None
        self.last_t: float | None = None
        self.flow_s: list[float] = []

    def add(self, frame: Frame, detections: Detections) -> None:
        if self.image is None:
            self.image = FlowImage((frame.width, frame.height))
        sure = detections.keep(detections.score >= self.settings.score_threshold)
        started = time.perf_counter()
        flow = self.image.update(frame.image, compute=bool(len(sure)))
        last_t, self.last_t = self.last_t, frame.t
        if flow is None or last_t is None:
            return
        self.flow_s.append(time.perf_counter() - started)
        dt = frame.t - last_t
        velocity = box_image_velocities(
            flow, sure.xyxy, scale=self.image.scale, origin=self.image.origin, dt_s=dt
        )
        self.counter.add(sure.ground_points, velocity, dt)

    def report(self) -> FluxReport:
        correction = self.settings.precision / self.settings.recall
        got = [self.counter.crossings[ln.id] for ln in self.lines]
        return FluxReport(
            settings=self.settings,
            crossings=[(c[0] * correction, c[1] * correction) for c in got],
            flow_ms_per_frame=1000.0 * float(np.median(self.flow_s)) if self.flow_s else 0.0,
        )
