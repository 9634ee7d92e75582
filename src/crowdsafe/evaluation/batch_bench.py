"""``crowdsafe bench --batch 1,2,4,8``: does running several cameras' frames through the
detector in one session run gain, on this machine?

Batching is worth wiring into the runtime only if it gains where the runtime runs, so it
is measured, not assumed: the same ``frames`` decoded frames go through
``detect_batch`` in groups of each batch size, every size once per repeat, in an order
that rotates between repeats so that a neighbour's load on a shared machine falls on
every size alike.  Reported per size: the median over repeats of frames per second
(wall) and of CPU-seconds per frame (this process), and the ratio of each to batch 1.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from crowdsafe.detect.yolox import YoloxDetector
from crowdsafe.errors import UsageError
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.types import Frame

__all__ = ["parse_batches", "run_batch_bench"]


def parse_batches(text: str) -> list[int]:
    """``--batch 1,2,4,8`` as sizes; UsageError naming the option otherwise."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(
            f"--batch must be sizes separated by commas (1,2,4,8), got '{text}'"
        ) from None
    if not sizes or any(not 1 <= s <= 64 for s in sizes) or len(set(sizes)) != len(sizes):
        raise UsageError(f"--batch sizes must be distinct, each 1 to 64, got '{text}'")
    return sizes


def _frames(video: Path, count: int) -> list[Frame]:
    """``count`` frames a second apart (distinct scenes, as distinct cameras give)."""
    out: list[Frame] = []
    for frame in VideoFileSource("bench", video).frames():
        if frame.index % 10 == 0:
            out.append(frame)
        if len(out) == count:
            break
    return out


def run_batch_bench(
    detector: YoloxDetector,
    video: Path,
    *,
    batches: Sequence[int],
    frames: int = 16,
    repeats: int = 7,
    log: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Frames/s and CPU-s per frame of ``detector.detect_batch`` at each batch size in
    ``batches`` over the same ``frames`` frames of ``video``, medians of ``repeats``.
    Raises ValueError for fewer than one frame or repeat."""
    if frames < 1 or repeats < 1:
        raise ValueError(f"frames and repeats must be >= 1, got {frames} and {repeats}")
    decoded = _frames(video, frames)
    n = len(decoded)
    for size in batches:  # warm-up: the first run at a new shape allocates
        detector.detect_batch(decoded[:size])
    fps: dict[int, list[float]] = {s: [] for s in batches}
    cpu: dict[int, list[float]] = {s: [] for s in batches}
    for r in range(repeats):
        order = [*batches[r % len(batches) :], *batches[: r % len(batches)]]
        for size in order:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for start in range(0, n, size):
                detector.detect_batch(decoded[start : start + size])
            wall = time.perf_counter() - wall0
            fps[size].append(n / wall)
            cpu[size].append((time.process_time() - cpu0) / n)
        if log is not None:
            log(
                f"repeat {r + 1}/{repeats}: " + ", ".join(f"{s}: {fps[s][-1]:.1f}" for s in batches)
            )
    base = batches[0]
    med_fps = {s: statistics.median(v) for s, v in fps.items()}
    med_cpu = {s: statistics.median(v) for s, v in cpu.items()}
    return {
        "input_px": detector.input_size,
        "model_batch": "dynamic" if detector.batch is None else detector.batch,
        "provider": detector.provider,
        "frames": n,
        "frame_size": [decoded[0].width, decoded[0].height],
        "repeats": repeats,
        "by_batch": [
            {
                "batch": s,
                "frames_per_s": round(med_fps[s], 2),
                "cpu_s_per_frame": round(med_cpu[s], 5),
                "fps_vs_first": round(med_fps[s] / med_fps[base], 3),
                "cpu_vs_first": round(med_cpu[s] / med_cpu[base], 3),
            }
            for s in batches
        ],
    }
