"""Density-map crowd counter: an image in, a map of persons per cell out.

Detection finds people one by one and so fails where they hide each other; a
density model instead regresses, for every 8x8-pixel cell, how many heads it holds,
and the count of any region is the sum over its cells.  The model
(``models/density-nanodet.onnx``, see ``models/PROVENANCE.md``) is the COCO-trained
NanoDet-m backbone and feature pyramid shipped with the detector, frozen, plus a small
head trained here on ShanghaiTech A/B and Mall (``crowdsafe train density``).

Input: the whole frame, resized so that each side is a multiple of 32 and the longer
side at most ``max_side`` pixels (people the size of the frame's own get the
features they were trained with).  Output: (H/8, W/8) float32 density in persons per
cell of the *resized* image; :meth:`DensityCounter.count_in` sums it inside a mask given
at the frame's own size.  Nothing of the image is kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from crowdsafe.detect.nanodet import NANODET_MEAN_BGR as _MEAN_BGR
from crowdsafe.detect.nanodet import NANODET_STD_BGR as _STD_BGR
from crowdsafe.errors import ModelError

__all__ = ["DensityCounter", "DensityMap", "default_density_model_path", "grid_shape"]

STRIDE = 8
ALIGN = 32


def default_density_model_path() -> Path:
    return Path(str(resources.files("crowdsafe.density") / "models" / "density-nanodet.onnx"))


def grid_shape(height: int, width: int, max_side: int) -> tuple[int, int]:
    """Model input (H, W) for a ``height`` x ``width`` image: multiples of 32, the
    longer side scaled down to ``max_side`` if it is longer."""
    scale = min(1.0, max_side / max(height, width))
    h = max(ALIGN, round(height * scale / ALIGN) * ALIGN)
    w = max(ALIGN, round(width * scale / ALIGN) * ALIGN)
    return h, w


def preprocess(image_rgb: npt.NDArray[np.uint8], max_side: int) -> npt.NDArray[np.float32]:
    """RGB uint8 (H, W, 3) -> the model's (1, 3, h, w) float32 input."""
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image_rgb.shape}")
    h, w = grid_shape(image_rgb.shape[0], image_rgb.shape[1], max_side)
    resized: npt.NDArray[np.uint8] = image_rgb
    if (h, w) != image_rgb.shape[:2]:
        resized = np.asarray(
            cv2.resize(image_rgb, (w, h), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
    x = np.empty((1, 3, h, w), dtype=np.float32)
    for c in range(3):  # BGR planes, as NanoDet was trained
        np.subtract(resized[:, :, 2 - c], _MEAN_BGR[c], out=x[0, c], dtype=np.float32)
        x[0, c] *= 1.0 / _STD_BGR[c]
    return x


def cell_weights(mask: npt.NDArray[np.bool_], cells: tuple[int, int]) -> npt.NDArray[np.float32]:
    """The fraction of each density cell that lies inside ``mask`` (given at the frame's
    own size): the weights that turn a density map into the count inside the mask."""
    gh, gw = cells
    m = cv2.resize(mask.astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA)
    return np.clip(m, 0.0, 1.0)


@dataclass(frozen=True)
class DensityMap:
    """Persons per cell over a frame.  ``cells`` is (H/8, W/8) of the resized frame."""

    cells: npt.NDArray[np.float32]
    frame_shape: tuple[int, int]  # (height, width) of the original frame

    @property
    def total(self) -> float:
        return float(self.cells.sum())

    def count_in(self, mask: npt.NDArray[np.bool_]) -> float:
        """Persons inside ``mask``, a bool array at the frame's own (H, W)."""
        if mask.shape != self.frame_shape:
            raise ValueError(f"mask is {mask.shape}, the frame is {self.frame_shape}")
        weights = cell_weights(mask, (self.cells.shape[0], self.cells.shape[1]))
        return float((self.cells * weights).sum())


class DensityCounter:
    """Runs the density ONNX model with ONNX Runtime on the CPU.

    ``max_side`` caps the longer side of the model input (1024 by default: a
    1024x768 frame runs at its own size).  ``threads``: ONNX Runtime intra-op threads.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        max_side: int = 1024,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        path = Path(model_path) if model_path is not None else default_density_model_path()
        if not path.is_file():
            raise ModelError(f"density model not found: {path}")
        if max_side < ALIGN:
            raise ValueError(f"max_side must be >= {ALIGN}, got {max_side}")
        self.model_path = path
        self.max_side = int(max_side)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load density model {path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name

    def density(self, image_rgb: npt.NDArray[np.uint8]) -> DensityMap:
        """The density map of one RGB frame."""
        x = preprocess(image_rgb, self.max_side)
        (out,) = self._session.run(None, {self._input: x})
        cells = np.maximum(np.asarray(out, dtype=np.float32)[0, 0], 0.0)
        return DensityMap(cells, (int(image_rgb.shape[0]), int(image_rgb.shape[1])))

    def count(
        self, image_rgb: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_] | None = None
    ) -> float:
        """Persons in the frame, or inside ``mask`` (bool, the frame's own size)."""
        dmap = self.density(image_rgb)
        return dmap.total if mask is None else dmap.count_in(mask)
