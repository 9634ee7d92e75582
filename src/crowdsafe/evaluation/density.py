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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from crowdsafe.density.selector import DENSITY, DETECTION, DensityStage
from crowdsafe.evaluation.datasets import dataset_samples, list_items
from crowdsafe.measure.zones import Zone

if TYPE_CHECKING:
    from crowdsafe.detect.nanodet import NanoDetDetector
    from crowdsafe.detect.tiled import TiledDetector

__all__ = ["evaluate_density"]

_MOT15_FPS = 25.0  # the TUD sequences' frame rate (seqinfo.ini)


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
) -> dict[str, Any]:
    """Evaluate on ``dataset`` under ``root``; returns a JSON-ready dict with ``mae``,
    ``mse`` (RMSE), ``images``, ``ms_per_image``, ``mean_count`` (annotated) and
    ``method``.  ``keys`` limits it to those images; ``limit`` to the first N."""
    list_items(dataset, root, split)  # a missing or malformed folder fails before any model loads
    if method not in ("density", "detection", "auto"):
        raise ValueError(f"unknown method {method!r}; expected density, detection or auto")
    counter = None
    detector: NanoDetDetector | TiledDetector | None = None
    if method in ("density", "auto"):
        from crowdsafe.density.counter import DensityCounter

        counter = DensityCounter(model_path)
    if method in ("detection", "auto"):
        from crowdsafe.detect.nanodet import NanoDetDetector
        from crowdsafe.detect.tiled import TiledDetector

        base = NanoDetDetector()
        detector = TiledDetector(base, tile_px) if tile_px else base
    stage: DensityStage | None = None
    chosen: dict[str, int] = {DETECTION: 0, DENSITY: 0}

    def detect_count(image: np.ndarray, roi: np.ndarray | None) -> float:
        assert detector is not None
        det = detector.detect_image(image)
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
    return {
        "dataset": dataset,
        "split": split,
        "method": method,
        "images": n,
        "mae": round(float(np.abs(err).mean()), 3),
        "mse": round(math.sqrt(float((err**2).mean())), 3),
        "mean_error": round(float(err.mean()), 3),
        "mean_count": round(float(np.mean(truths)), 2),
        "ms_per_image": round(1000.0 * elapsed / n, 1),
        **({"chosen": chosen} if method == "auto" else {}),
    }


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
