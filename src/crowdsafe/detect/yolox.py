"""YOLOX-Nano person detector on ONNX Runtime (CPU).

The model is YOLOX-Nano at 416x416 (COCO, 80 classes, Apache-2.0; Ge et al. 2021),
shipped in ``models/yolox_nano/`` with its provenance.  Only the person class (COCO
index 0) is kept.

Input and output, as the export defines them (checked against its source repository's
runner): BGR float32 in 0-255 with no normalisation, letterboxed into the square input
with grey 114 at the bottom and right.  One output ``(1, N, 85)`` over the anchor points
of the strides 8, 16 and 32 (52² + 26² + 13² = 3549 at 416), each row ``(x, y, w, h)``
as grid offsets -- centre ``(x + col) * stride``, size ``exp(w) * stride`` -- then
objectness and 80 class scores, all already through a sigmoid; a person's score is
objectness times the person class score.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from crowdsafe.detect.letterbox import Letterbox, letterbox, letterbox_size
from crowdsafe.detect.nms import nms
from crowdsafe.detect.session import Provider, open_detector_model
from crowdsafe.errors import ModelError
from crowdsafe.types import Detections, Frame

__all__ = [
    "INPUT_SIZES",
    "STRIDES",
    "YoloxDetector",
    "anchor_grid",
    "default_model_path",
    "dynamic_model_path",
]

STRIDES = (8, 16, 32)
_PERSON = 0
_OBJ, _CLS = 4, 5


# The input sizes shipped: the original 416 px export (batch 1), and the same graph
# declared at 512 and 640 px with a dynamic batch by tools/resize_yolox.py (weights and
# nodes unchanged); and yolox_nano_dynamic.onnx, whose height and width are symbolic.
INPUT_SIZES = (416, 512, 640)


def default_model_path(input_px: int = 416) -> Path:
    """The YOLOX-Nano ONNX file shipped inside the package for a ``input_px`` input."""
    if input_px not in INPUT_SIZES:
        sizes = ", ".join(map(str, INPUT_SIZES))
        raise ValueError(f"YOLOX-Nano ships at {sizes} px, not {input_px}")
    folder = resources.files("crowdsafe.detect") / "models" / "yolox_nano"
    return Path(str(folder / f"yolox_nano_{input_px}x{input_px}.onnx"))


def dynamic_model_path() -> Path:
    """The YOLOX-Nano ONNX file whose input height and width are symbolic
    (``tools/resize_yolox.py dynamic``): a frame is padded to a multiple of 32, not to
    a square."""
    folder = resources.files("crowdsafe.detect") / "models" / "yolox_nano"
    return Path(str(folder / "yolox_nano_dynamic.onnx"))


def anchor_grid(
    size: int, width: int | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Each anchor point's (col, row) and stride for a ``size`` x ``size`` input (or
    ``size`` high and ``width`` wide), in the order of the model's output rows (stride
    8 first, row-major)."""
    height, width = size, size if width is None else width
    cells, strides = [], []
    for s in STRIDES:
        rows, cols = height // s, width // s
        ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full(rows * cols, s, dtype=np.float32))
    return np.concatenate(cells), np.concatenate(strides)[:, None]


class YoloxDetector:
    """Person detector: letterbox -> YOLOX -> decode -> NMS, all vectorised.

    ``score_threshold`` is the minimum person score kept (0..1); ``iou_threshold``
    the NMS overlap; ``threads`` the ONNX Runtime intra-op threads (default: all
    cores up to 4).  Boxes come back in the frame's own pixel coordinates.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        score_threshold: float = 0.3,
        iou_threshold: float = 0.45,
        threads: int | None = None,
        min_box_height_px: float = 0.0,
        provider: Provider = "cpu",
        input_px: int | None = None,
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        model = open_detector_model(
            path,
            score_threshold=score_threshold,
            iou_threshold=iou_threshold,
            threads=threads,
            provider=provider,
            input_px=input_px,
        )
        self._session = model.session
        self._input_name = model.input_name
        self.input_size = model.input_size
        self.provider = model.provider  # where it runs, e.g. CPUExecutionProvider
        self.batch = model.batch  # None: the model takes any batch (detect_batch)
        # A dynamic model runs on the letterboxed frame padded to its largest stride
        # only: 512x288 for a 16:9 frame instead of 512x512, 44 % fewer pixels.
        self.pad_to = STRIDES[-1] if model.dynamic else 0
        self._grids: dict[tuple[int, int], tuple[npt.NDArray[np.float32], ...]] = {}
        self._cells, self._strides = anchor_grid(self.input_size)
        out_shape = self._session.get_outputs()[0].shape
        if not model.dynamic and list(out_shape[1:]) != [len(self._cells), 85]:
            raise ModelError(
                f"{path}: expected output (1, {len(self._cells)}, 85) for a "
                f"{self.input_size} px input, got {out_shape}"
            )
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.min_box_height_px = min_box_height_px

    def _grid(
        self, height: int, width: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        if height == width == self.input_size:
            return self._cells, self._strides
        grid = self._grids.get((height, width))
        if grid is None:
            grid = self._grids[(height, width)] = anchor_grid(height, width)
        return grid[0], grid[1]

    def fit_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) a frame is letterboxed to (``ingest/convert.py``)."""
        return letterbox_size(width, height, self.input_size)

    def detect(self, frame: Frame) -> Detections:
        return self.detect_image(frame.image)

    def detect_image(self, image: npt.NDArray[np.uint8]) -> Detections:
        """Detect people in an RGB image; boxes in that image's pixels."""
        boxed = self._fit(image)
        (out,) = self._session.run(None, {self._input_name: self._tensor([boxed])})
        return self._decode(out[0], boxed)

    def detect_batch(self, frames: Sequence[Frame]) -> list[Detections]:
        """The people in each of ``frames`` (of any sizes), in order, each in its own
        frame's pixels: the same boxes and scores as :meth:`detect` frame by frame.  With
        a dynamic-batch model (the 512 and 640 px files) frames letterboxed to the same
        shape go through the model in one session run; a model fixed at batch 1 (the 416
        px export) runs them one at a time.  ``batch`` says which."""
        boxed = [self._fit(f.image) for f in frames]
        if not boxed:
            return []
        same_shape = len({b.image.shape for b in boxed}) == 1
        groups = [boxed] if self.batch is None and same_shape else [[b] for b in boxed]
        outputs = [
            rows
            for group in groups
            for rows in self._session.run(None, {self._input_name: self._tensor(group)})[0]
        ]
        return [self._decode(rows, b) for rows, b in zip(outputs, boxed, strict=True)]

    def _fit(self, image: npt.NDArray[np.uint8]) -> Letterbox:
        # the model reads BGR
        return letterbox(image[:, :, ::-1], self.input_size, pad_to=self.pad_to)

    @staticmethod
    def _tensor(boxed: Sequence[Letterbox]) -> npt.NDArray[np.float32]:
        """Letterboxed HWC images (of one shape) as one float32 NCHW batch."""
        stacked = np.stack([b.image for b in boxed]).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(stacked, dtype=np.float32)

    def _decode(self, rows: npt.NDArray[np.float32], boxed: Letterbox) -> Detections:
        """One image's output rows (N, 85) -> its people, in its frame's pixels."""
        height, width = boxed.image.shape[:2]
        cells, strides = self._grid(int(height), int(width))
        score = rows[:, _OBJ] * rows[:, _CLS + _PERSON]
        keep = np.flatnonzero(score >= self.score_threshold)
        if keep.size == 0:
            return Detections()
        stride = strides[keep]
        centre = (rows[keep, 0:2] + cells[keep]) * stride
        half = np.exp(rows[keep, 2:4]) * stride / 2
        xyxy = boxed.to_frame(np.concatenate([centre - half, centre + half], axis=1))
        score = score[keep].astype(np.float32)
        tall_enough = (xyxy[:, 3] - xyxy[:, 1]) >= self.min_box_height_px
        xyxy, score = xyxy[tall_enough], score[tall_enough]
        kept = nms(xyxy, score, self.iou_threshold)
        return Detections(xyxy=xyxy[kept], score=score[kept])
