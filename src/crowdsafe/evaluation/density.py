"""Counting accuracy on crowd-counting datasets: ``crowdsafe eval density``.

Per image, the predicted count (the density map summed, inside the dataset's region
where it has one) against the annotated heads.  ``mae`` is the mean absolute error and
``mse`` the root of the mean squared error, as the crowd-counting literature names it.
``method="detection"`` counts with the person detector instead (boxes whose foot point
lies in the region); ``method="auto"`` lets :class:`~crowdsafe.density.selector.DensityStage`
choose per image, as a camera's zone would, with the image (or its region) as the zone
and no calibrated area, so the choice rests on how the two counts compare.  On a video
(``mot15``) one stage runs over the frames at their own times, with the production
probe interval; a still image is shown to a fresh stage as a still scene, for as many
model runs as a switch needs to be confirmed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from crowdsafe.density.selector import DensityStage
from crowdsafe.evaluation.datasets import dataset_samples, list_items
from crowdsafe.measure.zones import Zone
from crowdsafe.types import CountMethod, Frame

if TYPE_CHECKING:
    from crowdsafe.config import DetectorConfig
    from crowdsafe.detect.base import Detector

__all__ = ["DensityReport", "evaluate_density"]

_MOT15_FPS = 25.0  # the TUD sequences' frame rate (seqinfo.ini)


@dataclass(frozen=True)
class DensityReport:
    """Counting accuracy of one method on one dataset split.

    ``mae`` and ``mse`` (the root of the mean squared error) and ``mean_error`` (signed:
    above 0 over-counts) are persons per image, ``mean_count`` the annotated persons
    per image, ``ms_per_image`` the counting time.  ``chosen`` (``method="auto"`` only)
    counts the images each method counted.  :meth:`to_dict` is the JSON the CLI
    prints, rounded as it prints it.
    """

    dataset: str
    split: str
    method: str
    images: int
    mae: float
    mse: float
    mean_error: float
    mean_count: float
    ms_per_image: float
    chosen: Mapping[CountMethod, int] | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "dataset": self.dataset,
            "split": self.split,
            "method": self.method,
            "images": self.images,
            "mae": round(self.mae, 3),
            "mse": round(self.mse, 3),
            "mean_error": round(self.mean_error, 3),
            "mean_count": round(self.mean_count, 2),
            "ms_per_image": round(self.ms_per_image, 1),
        }
        if self.chosen is not None:
            out["chosen"] = {str(m): n for m, n in self.chosen.items()}
        return out


def evaluate_density(
    dataset: str,
    root: str | Path,
    *,
    split: str = "train",
    keys: Sequence[str] | None = None,
    model_path: str | Path | None = None,
    method: str = "density",
    limit: int | None = None,
    tile_px: int = 0,
    progress: Callable[[int], None] | None = None,
    detector_section: DetectorConfig | None = None,
) -> DensityReport:
    """Evaluate ``method`` (density, detection or auto) on ``dataset`` under ``root``.
    ``keys`` limits it to those images; ``limit`` to the first N.  Detection runs the
    detector a camera with ``detector_section`` runs (default: the default kind, with
    ``tile_px``), built as the runtime builds it.  Raises ValueError for an unknown
    method or when there is no image to evaluate."""
    list_items(dataset, root, split)  # a missing or malformed folder fails before any model loads
    if method not in ("density", "detection", "auto"):
        raise ValueError(f"unknown method {method!r}; expected density, detection or auto")
    counter = None
    detector: Detector | None = None
    if method in ("density", "auto"):
        from crowdsafe.density.counter import DensityCounter

        counter = DensityCounter(model_path)
    if method in ("detection", "auto"):
        from crowdsafe.assembly import build_detector
        from crowdsafe.config import YoloxNanoConfig

        detector = build_detector(detector_section or YoloxNanoConfig(tile_px=tile_px))
    stage: DensityStage | None = None
    chosen = {CountMethod.DETECTION: 0, CountMethod.DENSITY: 0}

    def detect_count(image: np.ndarray, roi: np.ndarray | None) -> float:
        assert detector is not None
        det = detector.detect(Frame("eval", 0.0, image))
        if roi is None:
            return float(len(det))
        fx = ((det.xyxy[:, 0] + det.xyxy[:, 2]) / 2).astype(np.int64)
        fy = det.xyxy[:, 3].astype(np.int64) - 1
        h, w = roi.shape
        return float(np.count_nonzero(roi[np.clip(fy, 0, h - 1), np.clip(fx, 0, w - 1)]))

    def predict(image: np.ndarray, roi: np.ndarray | None, t: float) -> float:
        nonlocal stage
        if method == "density":
            assert counter is not None
            return counter.count(image, roi)
        if method == "detection":
            return detect_count(image, roi)
        assert counter is not None
        detected = {"image": detect_count(image, roi)}
        if stage is None or dataset != "mot15":
            # a still image is a camera watching a still scene: a fresh zone sees it
            # for as many model runs as a switch needs to be confirmed
            stage = DensityStage(counter, [_image_zone(image, roi)])
            for k in range(stage.confirm_runs - 1):
                stage.apply(image, k / stage.max_fps, detected)
            t = (stage.confirm_runs - 1) / stage.max_fps
        result = stage.apply(image, t, detected)
        chosen[result.methods["image"]] += 1
        return result.counts["image"]

    errors: list[float] = []
    truths: list[int] = []
    elapsed = 0.0
    for i, sample in enumerate(dataset_samples(dataset, root, split, keys=keys)):
        if limit is not None and len(errors) >= limit:
            break
        t0 = time.perf_counter()
        count = predict(sample.image, sample.roi, i / _MOT15_FPS)
        elapsed += time.perf_counter() - t0
        errors.append(count - sample.count)
        truths.append(sample.count)
        if progress is not None:
            progress(len(errors))
    n = len(errors)
    if n == 0:
        raise ValueError(f"no images of {dataset} to evaluate under {root}")
    err = np.asarray(errors)
    return DensityReport(
        dataset=dataset,
        split=split,
        method=method,
        images=n,
        mae=float(np.abs(err).mean()),
        mse=math.sqrt(float((err**2).mean())),
        mean_error=float(err.mean()),
        mean_count=float(np.mean(truths)),
        ms_per_image=1000.0 * elapsed / n,
        chosen=chosen if method == "auto" else None,
    )


def _image_zone(image: np.ndarray, roi: np.ndarray | None) -> Zone:
    """The whole image, or the outline of its counted region, as an uncalibrated zone."""
    h, w = image.shape[:2]
    polygon = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    if roi is not None:
        contours, _ = cv2.findContours(
            roi.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        if contours:
            polygon = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    return Zone(
        id="image",
        camera_id="eval",
        name="image",
        polygon_px=polygon,
        area_m2=0.0,
        space_bounds_m2=(),
    )
