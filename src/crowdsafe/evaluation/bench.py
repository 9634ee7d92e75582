"""``crowdsafe bench``: raw detector speed against the whole pipeline's, in one run.

Both are measured on the same frames, alternately, ``repeats`` times; the report gives
the medians of each and the median of the per-repeat ratios (each ratio compares two
runs made seconds apart, so a neighbour's load on this shared machine mostly cancels).
The raw figure is ``detector.detect`` on frames already decoded in memory; the
pipeline figure is decode -> detect -> zones -> store from the file, as in production.
What N live cameras cost per decode mode is ``evaluation/camera_bench.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from crowdsafe.assembly import build_zones, counting_lines
from crowdsafe.assembly.stages import build_pipeline
from crowdsafe.config import CrowdsafeConfig
from crowdsafe.detect.base import Detector
from crowdsafe.ingest.health import CameraHealth
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import Frame

__all__ = ["run_bench", "run_density_bench"]


def _ignore(samples: Sequence[object]) -> None:
    """Samples the benchmark makes go to its throw-away store only."""


def _decode(video: Path, frames: int) -> list[Frame]:
    out: list[Frame] = []
    for frame in VideoFileSource("bench", video).frames():
        out.append(frame)
        if len(out) >= frames:
            break
    return out


def run_bench(
    detector: Detector,
    video: Path,
    config: CrowdsafeConfig,
    *,
    frames: int = 100,
    repeats: int = 3,
    log: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Measure raw detector and full pipeline frames/s on the first ``frames`` frames."""
    if frames < 1 or repeats < 1:
        raise ValueError(f"frames and repeats must be >= 1, got {frames} and {repeats}")
    decoded = _decode(video, frames)
    n = len(decoded)
    camera = config.cameras[0]
    zones = build_zones(camera, config.thresholds)
    detector.detect(decoded[0])  # warm-up: first run allocates
    raw_fps: list[float] = []
    pipe_fps: list[float] = []
    with tempfile.TemporaryDirectory(prefix="crowdsafe-bench-") as tmp:
        for r in range(repeats):
            t0 = time.perf_counter()
            for frame in decoded:
                detector.detect(frame)
            raw_fps.append(n / (time.perf_counter() - t0))

            store = SQLiteStore(Path(tmp) / f"bench-{r}.db")
            # The camera's deployed pipeline (thresholds, line stage), built as the runtime
            # builds it; the density model is measured on its own (`bench --density`).
            pipeline = build_pipeline(
                camera,
                detector,
                zones,
                counting_lines(camera),
                store,
                bucket_s=config.storage.bucket_s,
                line_bucket_s=config.storage.line_bucket_s,
                on_samples=_ignore,
                on_line_samples=_ignore,
                density=None,
                health=CameraHealth(camera.id, str(video)),
                measures_lag=False,
            )
            source = VideoFileSource(camera.id, video)
            t0 = time.perf_counter()
            for frame in source.frames():
                pipeline.step(frame)
                if pipeline.health.frames_analysed >= n:
                    break
            pipeline.finish()
            pipe_fps.append(n / (time.perf_counter() - t0))
            store.close()
            if log is not None:
                log(
                    f"repeat {r + 1}/{repeats}: detector {raw_fps[-1]:.1f} fps, "
                    f"pipeline {pipe_fps[-1]:.1f} fps"
                )
    raw, pipe = statistics.median(raw_fps), statistics.median(pipe_fps)
    ratios = [p / r for p, r in zip(pipe_fps, raw_fps, strict=True)]
    first = decoded[0]
    return {
        "video": str(video),
        "frames": n,
        "repeats": repeats,
        "frame_size": [first.width, first.height],
        "detector_fps": round(raw, 2),
        "pipeline_fps": round(pipe, 2),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_of_medians": round(pipe / raw, 3),
        "detector_ms_per_frame": round(1000.0 / raw, 2),
        "detector_fps_runs": [round(x, 2) for x in raw_fps],
        "pipeline_fps_runs": [round(x, 2) for x in pipe_fps],
    }


def run_density_bench(
    video: Path,
    *,
    size: tuple[int, int] = (1024, 768),
    frames: int = 10,
    repeats: int = 5,
    threads: int | None = None,
    model_path: Path | None = None,
) -> dict[str, object]:
    """Density-model time per frame at ``size`` (width, height): frames of ``video``
    resized to it, each repeat timing every frame once; medians over repeats.  The
    person detector on the same frames is timed in the same run, for a ratio that
    survives a noisy machine."""
    import cv2
    import numpy as np

    from crowdsafe.density.counter import DensityCounter
    from crowdsafe.detect.nanodet import NanoDetDetector

    counter = DensityCounter(model_path, threads=threads)
    detector = NanoDetDetector(threads=threads)
    images = [
        np.asarray(cv2.resize(f.image, size, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
        for f in _decode(video, frames)
    ]
    counter.density(images[0])  # warm up
    detector.detect_image(images[0])
    density_ms: list[float] = []
    detect_ms: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for image in images:
            counter.density(image)
        t1 = time.perf_counter()
        for image in images:
            detector.detect_image(image)
        t2 = time.perf_counter()
        density_ms.append(1000.0 * (t1 - t0) / len(images))
        detect_ms.append(1000.0 * (t2 - t1) / len(images))
    med_density = statistics.median(density_ms)
    med_detect = statistics.median(detect_ms)
    return {
        "frame_size": list(size),
        "frames": len(images),
        "repeats": repeats,
        "density_ms_per_frame": round(med_density, 1),
        "density_ms_runs": [round(v, 1) for v in density_ms],
        "detector_ms_per_frame": round(med_detect, 1),
        "density_over_detector": round(med_density / med_detect, 2),
    }
