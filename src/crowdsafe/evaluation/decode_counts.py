"""Do the decode modes change what is counted?  Counts from a decode mode against full
decoding, on the same analysed frames and at the same analysis rate.

A keyframe decoded alone is the same picture as decoded after its predecessors (it
refers to none), and a frame nonref decoding keeps is decoded from the same references
as in full decoding; so on the frames a mode analyses, counts should not change at
all.  What can change is *which* frames are analysed: keyframes only at 2 fps from a
0.48 s GOP analyses the keyframes, full decoding at 2 fps the frames nearest its 0.5 s
grid.  :func:`compare_decode_modes` reports both: per-frame counts on the same frames
(the mode's own effect, the acceptance bound of 1 %), and the mean count over the
sequence at the same rate (the effect of sampling other frames).

Frames go through the deployed path: the reader's decode control
(``ingest/decode.py``), FFmpeg's scaling to the detector's input
(``ingest/convert.py``) and the camera pipeline's rate grid and thresholds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from crowdsafe.assembly.stages import ThresholdedDetector
from crowdsafe.detect.base import Detector
from crowdsafe.ingest.convert import analysis_frame, analysis_size
from crowdsafe.ingest.decode import DecodeControl, DecodeMode
from crowdsafe.ingest.health import CameraHealth
from crowdsafe.ingest.video import iter_decoded
from crowdsafe.measure.zones import Zone
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import Frame

__all__ = ["DecodeCountReport", "compare_decode_modes", "decoded_frames"]


@dataclass(frozen=True)
class DecodeCountReport:
    video: str
    mode: str  # the decode mode asked
    decoded_as: str | None  # the mode the stream got
    keyframe_interval_frames: int | None
    analysis_fps: float
    frames_decoded: int
    frames_analysed: int
    count_mode: float  # people counted over the analysed frames, in the mode
    count_full: float  # on the same frames, decoded in full
    same_frames_diff: float  # sum |mode - full| / sum full, per frame
    mean_mode: float  # mean people per analysed frame, in the mode
    mean_full_same_rate: float  # full decoding analysed at the same rate, own grid
    same_rate_diff: float  # |mean_mode - mean_full_same_rate| / mean_full_same_rate

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def decoded_frames(
    video: Path, detector: object, mode: DecodeMode, analysis_fps: float, health: CameraHealth
) -> Iterator[Frame]:
    """The frames of ``video`` a reader in ``mode`` delivers, made at the detector's
    input size; ``Frame.t`` is seconds since the first frame."""
    control = DecodeControl("eval", mode, analysis_fps, health)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        control.start(stream)
        for t, vframe in iter_decoded(container, stream, on_packet=control.packet):
            size = analysis_size(detector, vframe.width, vframe.height)
            yield analysis_frame("eval", t, vframe, size)


def _counts(
    frames: Iterator[Frame],
    detector: Detector,
    analysis_fps: float,
    score_threshold: float,
    only_at: set[float] | None = None,
) -> tuple[dict[float, int], int]:
    """People (scoring at least ``score_threshold``) per analysed frame, by its time,
    and the number of frames decoded.  ``only_at``: analyse exactly the frames at these
    times instead of following the analysis rate."""
    pipe = CameraPipeline(
        "eval",
        ThresholdedDetector(detector, score_threshold),
        [_whole_frame()],
        SQLiteStore(":memory:"),
        analysis_fps=None if only_at is not None else analysis_fps,
        count_score_threshold=score_threshold,
    )
    counts: dict[float, int] = {}
    decoded = 0
    for frame in frames:
        decoded += 1
        if only_at is not None and round(frame.t, 6) not in only_at:
            continue
        before = pipe.health.frames_analysed
        pipe.step(frame)
        if pipe.health.frames_analysed > before and pipe.last_detections is not None:
            sure = pipe.last_detections.score >= score_threshold
            counts[round(frame.t, 6)] = int(sure.sum())
    pipe.store.close()
    return counts, decoded


def _whole_frame() -> Zone:
    # Far larger than any frame: every detection's feet are inside it.
    square = np.array([[0, 0], [100_000, 0], [100_000, 100_000], [0, 100_000]], np.float64)
    return Zone("all", "eval", "all", square, 100.0, (5.6, 3.7, 2.2, 1.4, 0.75))


def compare_decode_modes(
    detector: Detector,
    video: str | Path,
    *,
    mode: DecodeMode,
    analysis_fps: float,
    score_threshold: float = 0.3,
) -> DecodeCountReport:
    """Counts of ``video`` decoded in ``mode`` and analysed at ``analysis_fps``,
    against full decoding (see the module docstring)."""
    path = Path(video)
    health = CameraHealth("eval", str(path))
    mode_counts, decoded = _counts(
        decoded_frames(path, detector, mode, analysis_fps, health),
        detector,
        analysis_fps,
        score_threshold,
    )
    snap = health.snapshot()
    full = CameraHealth("eval", str(path))
    same, _ = _counts(
        decoded_frames(path, detector, DecodeMode.ALL, analysis_fps, full),
        detector,
        analysis_fps,
        score_threshold,
        only_at=set(mode_counts),
    )
    rate, _ = _counts(
        decoded_frames(path, detector, DecodeMode.ALL, analysis_fps, full),
        detector,
        analysis_fps,
        score_threshold,
    )
    times = sorted(mode_counts)
    total_full = sum(same.get(t, 0) for t in times)
    diff = sum(abs(mode_counts[t] - same.get(t, 0)) for t in times)
    mean_mode = float(np.mean([mode_counts[t] for t in times])) if times else 0.0
    mean_rate = float(np.mean(list(rate.values()))) if rate else 0.0
    return DecodeCountReport(
        video=str(path),
        mode=mode.value,
        decoded_as=snap.decode_mode,
        keyframe_interval_frames=snap.keyframe_interval_frames,
        analysis_fps=analysis_fps,
        frames_decoded=decoded,
        frames_analysed=len(times),
        count_mode=float(sum(mode_counts.values())),
        count_full=float(total_full),
        same_frames_diff=round(diff / max(total_full, 1), 4),
        mean_mode=round(mean_mode, 3),
        mean_full_same_rate=round(mean_rate, 3),
        same_rate_diff=round(abs(mean_mode - mean_rate) / max(mean_rate, 1e-9), 4),
    )
