"""``crowdsafe bench``: raw detector speed against the whole pipeline's, in one run.

Both are measured on the same frames, alternately, ``repeats`` times; the report gives
medians and the ratio of the medians, because these machines are shared and noisy.
The raw figure is ``detector.detect`` on frames already decoded in memory; the
pipeline figure is decode -> detect -> zones -> store from the file, as in production.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from crowdsafe.config import CrowdsafeConfig
from crowdsafe.detect.base import Detector
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.measure.zones import zones_from_config
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import Frame

__all__ = ["run_bench"]


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
    zones = zones_from_config(camera, config.thresholds)
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
            pipeline = CameraPipeline(camera.id, detector, zones, store, bucket_s=1.0)
            source = VideoFileSource(camera.id, video)
            t0 = time.perf_counter()
            for frame in source.frames():
                pipeline.step(frame)
                if pipeline.stats.frames_analysed >= n:
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
    first = decoded[0]
    return {
        "video": str(video),
        "frames": n,
        "repeats": repeats,
        "frame_size": [first.width, first.height],
        "detector_fps": round(raw, 2),
        "pipeline_fps": round(pipe, 2),
        "ratio": round(pipe / raw, 3),
        "detector_ms_per_frame": round(1000.0 / raw, 2),
        "detector_fps_runs": [round(x, 2) for x in raw_fps],
        "pipeline_fps_runs": [round(x, 2) for x in pipe_fps],
    }
