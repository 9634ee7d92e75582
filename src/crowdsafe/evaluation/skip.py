"""``crowdsafe eval skip``: what holding unchanged frames saves, and what it changes.

The same frames go twice through the deployed :class:`~crowdsafe.pipeline.CameraPipeline`
(one zone covering the whole frame, analysed at ``fps``): once with every due frame
analysed, once with ``skip_unchanged`` holding the unchanged ones.  The report gives the
fraction of due frames held, the analysis CPU time of each run (``time.process_time``
around each step, so the detector's threads count and decoding does not; the held run
includes the change measure), and what the hold changed:

* per frame, the zone count of each run and, with MOT ground truth, each run's count
  error against the people annotated in that frame (all sizes);
* the 1 s zone samples and the alerts raised from them.  So that alerts happen on a
  few seconds of video, the zone is 1 m² (a density is a count) and the density levels
  are the 50th/75th/90th percentiles of the full run's samples with no persistence (each
  sample is judged on its own, the strictest comparison); the same engine settings
  judge both runs, and the report lists both runs' events.

``static_s`` replaces the video by its first frame repeated for that long with Gaussian
sensor noise (``noise`` grey levels, a fixed seed): a scene where nothing moves, people
included, which must be held nearly always and must keep counting its people.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from crowdsafe.alerts.engine import AlertEngine
from crowdsafe.alerts.settings import AlertsConfig, LevelsConfig, LosLevelsConfig, PredictiveConfig
from crowdsafe.detect.base import Detector
from crowdsafe.evaluation.mot import load_mot_boxes
from crowdsafe.ingest.video import VideoFileSource, probe_video
from crowdsafe.measure.change import ChangeGate
from crowdsafe.measure.zones import Zone
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.store import SQLiteStore
from crowdsafe.types import Detections, Frame, ZoneSample

__all__ = ["SkipReport", "SkipRun", "evaluate_skip"]

_ZONE = "all"


@dataclass(frozen=True)
class SkipRun:
    """One pass over the frames: ``detected`` frames ran the detector, ``held`` repeated
    the last count; ``counts`` is the zone count of each due frame."""

    detected: int
    held: int
    cpu_s: float
    counts: list[float]
    samples: list[ZoneSample]


@dataclass(frozen=True)
class SkipReport:
    """Both runs and what differs (module docstring); :meth:`to_dict` is the JSON."""

    video: str
    frames_due: int
    full: SkipRun
    skip: SkipRun
    gt_counts: list[int] | None
    alerts_full: list[str]
    alerts_skip: list[str]
    settings: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        full, skip = self.full, self.skip
        a, b = np.asarray(full.counts), np.asarray(skip.counts)
        out: dict[str, object] = {
            "video": self.video,
            "frames_due": self.frames_due,
            "held_fraction": _r(skip.held / max(self.frames_due, 1)),
            "cpu_s_full": _r(full.cpu_s),
            "cpu_s_skip": _r(skip.cpu_s),
            "cpu_saved_fraction": _r(1.0 - skip.cpu_s / full.cpu_s if full.cpu_s else 0.0),
            "mean_count_full": _r(float(a.mean()) if a.size else 0.0),
            "mean_count_skip": _r(float(b.mean()) if b.size else 0.0),
            "frame_count_mae_skip_vs_full": _r(float(np.abs(a - b).mean()) if a.size else 0.0),
            "frames_count_differs": int((a != b).sum()),
            "sample_count_mae_skip_vs_full": _r(_sample_mae(full.samples, skip.samples)),
            "held_samples": sum(s.held for s in skip.samples),
            "held_zero_while_full_counts_people": sum(
                1 for x, y in zip(full.counts, skip.counts, strict=True) if y == 0 < x
            ),
            "alerts_full": self.alerts_full,
            "alerts_skip": self.alerts_skip,
            "alerts_equal": self.alerts_full == self.alerts_skip,
        }
        if self.gt_counts is not None:
            gt = np.asarray(self.gt_counts)
            out["count_mae_vs_gt_full"] = _r(float(np.abs(a - gt).mean()) if gt.size else 0.0)
            out["count_mae_vs_gt_skip"] = _r(float(np.abs(b - gt).mean()) if gt.size else 0.0)
        out["settings"] = self.settings
        return out


def _r(x: float) -> float:
    return round(x, 4)


def _sample_mae(a: list[ZoneSample], b: list[ZoneSample]) -> float:
    by_t = {s.t: s.count for s in b}
    diffs = [abs(s.count - by_t.get(s.t, 0.0)) for s in a]
    return float(np.mean(diffs)) if diffs else 0.0


class _Counted:
    """The detector, counting its runs (a held frame must not reach it)."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.calls = 0

    def detect(self, frame: Frame) -> Detections:
        self.calls += 1
        return self.inner.detect(frame)


def _frames(video: Path, static_s: float | None, noise: float, fps: float) -> Iterator[Frame]:
    """The video's frames, or its first frame repeated ``static_s`` s with noise."""
    source = VideoFileSource("eval", video)
    if static_s is None:
        yield from source.frames()
        return
    first = next(iter(source.frames())).image.astype(np.float32)
    rng = np.random.default_rng(0)
    for i in range(round(static_s * fps)):
        noisy = first + rng.normal(0.0, noise, first.shape).astype(np.float32)
        yield Frame("eval", i / fps, np.clip(noisy, 0, 255).astype(np.uint8), index=0)


def _run(
    detector: Detector,
    frames: Iterator[Frame],
    zone: Zone,
    *,
    fps: float,
    score_threshold: float,
    gate: ChangeGate | None,
) -> tuple[SkipRun, list[int]]:
    """One pass; also the index of each due frame (for the ground truth)."""
    counted = _Counted(detector)
    store = SQLiteStore(":memory:")
    pipe = CameraPipeline(
        "eval",
        counted,
        [zone],
        store,
        bucket_s=1.0,
        analysis_fps=fps,
        count_score_threshold=score_threshold,
        skip=gate,
    )
    counts: list[float] = []
    indices: list[int] = []
    held = 0
    cpu_s = 0.0
    for frame in frames:
        if not pipe.is_due(frame.t):
            continue
        started = time.process_time()
        pipe.step(frame)
        cpu_s += time.process_time() - started
        held += pipe.last_held
        last = pipe.last_counts
        counts.append(float(last.counts[_ZONE]) if last is not None else 0.0)
        indices.append(frame.index)
    pipe.finish()
    samples = store.series(_ZONE)
    store.close()
    return SkipRun(counted.calls, held, cpu_s, counts, samples), indices


def _alerts(samples: list[ZoneSample], levels: LevelsConfig) -> list[str]:
    """The events an engine raises from ``samples``, as 'kind rule level @t' lines."""
    config = AlertsConfig(
        density_per_m2=levels,
        los=LosLevelsConfig(advisory=None, warning=None),
        rise_per_m2_min=LevelsConfig(),
        predictive=PredictiveConfig(enabled=False),
    )
    store = SQLiteStore(":memory:")
    engine = AlertEngine(config, store, clock=lambda: 0.0)
    events = [
        f"{e.kind} {e.alert.rule} {e.alert.level} @{s.t:g}"
        for s in samples
        for e in engine.observe_zone(s)
    ]
    store.close()
    return events


def evaluate_skip(
    detector: Detector,
    video: str | Path,
    *,
    gt_path: str | Path | None = None,
    fps: float = 10.0,
    threshold: float = 0.01,
    max_hold_s: float = 5.0,
    score_threshold: float = 0.0,
    static_s: float | None = None,
    noise: float = 3.0,
) -> SkipReport:
    """Run ``video`` (or its static version) with and without holding (module docstring).

    Raises ValueError for a bad setting (``fps``, ``threshold``, ``max_hold_s``,
    ``static_s``, ``noise``)."""
    if not 0 < fps <= 60:
        raise ValueError(f"fps must be in (0, 60], got {fps}")
    if static_s is not None and not 0 < static_s <= 3600:
        raise ValueError(f"static_s must be in (0, 3600] seconds, got {static_s}")
    if not 0 <= noise <= 50:
        raise ValueError(f"noise must be in [0, 50] grey levels, got {noise}")
    gate = ChangeGate(threshold, max_hold_s)  # checks threshold and max_hold_s now
    video = Path(video)
    info = probe_video(video)
    zone = Zone(
        id=_ZONE,
        camera_id="eval",
        name=_ZONE,
        polygon_px=np.array(
            [[0, 0], [info.width, 0], [info.width, info.height], [0, info.height]],
            dtype=np.float64,
        ),
        area_m2=1.0,
        space_bounds_m2=(5.6, 3.7, 2.2, 1.4, 0.75),
    )
    src_fps = info.fps if static_s is None else fps
    full, indices = _run(
        detector,
        _frames(video, static_s, noise, src_fps),
        zone,
        fps=fps,
        score_threshold=score_threshold,
        gate=None,
    )
    skip, _ = _run(
        detector,
        _frames(video, static_s, noise, src_fps),
        zone,
        fps=fps,
        score_threshold=score_threshold,
        gate=gate,
    )
    gt_counts: list[int] | None = None
    if gt_path is not None:
        gt = load_mot_boxes(gt_path)
        empty: npt.NDArray[np.float64] = np.zeros((0, 4))
        gt_counts = [len(gt.get(i + 1, empty)) for i in indices]  # MOT frames count from 1
    q = np.percentile([s.density_per_m2 for s in full.samples] or [0.0], [50, 75, 90])
    # Levels must rise; where percentiles tie, the next level is a quarter person higher.
    q[1] = max(q[1], q[0] + 0.25)
    q[2] = max(q[2], q[1] + 0.25)
    levels = LevelsConfig(
        advisory=float(q[0]), warning=float(q[1]), critical=float(q[2]), hold_s=0.0
    )
    return SkipReport(
        video=str(video),
        frames_due=len(full.counts),
        full=full,
        skip=skip,
        gt_counts=gt_counts,
        alerts_full=_alerts(full.samples, levels),
        alerts_skip=_alerts(skip.samples, levels),
        settings={
            "fps": fps,
            "threshold": threshold,
            "max_hold_s": max_hold_s,
            "static_s": static_s,
            "noise": noise if static_s is not None else None,
            "alert_density_levels": [round(float(x), 3) for x in q],
        },
    )
