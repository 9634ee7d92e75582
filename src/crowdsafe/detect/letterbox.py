"""Letterboxing: fit a frame into a detector's square input without distorting people.

Stretching a 640x480 frame to 416x416 squeezes people horizontally by 0.65/0.87, so a
detector trained on undistorted COCO boxes sees unusually thin people and misses some
(NanoDet-m on TUD-Stadtmitte: recall 0.676 stretched, 0.774 letterboxed).  Here the
frame is scaled by one factor, about ``size / max(h, w)``, into the top-left corner of
the input and the rest is padded with grey 114 (as YOLOX was trained).  The scale is
kept per axis (the resized sides are whole pixels), so boxes map back exactly:
``x_frame = x_input / scale_x``, ``y_frame = y_input / scale_y``, with no offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["PAD_VALUE", "Letterbox", "letterbox", "letterbox_size"]

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """A frame placed in a square model input; maps boxes back to the frame."""

    image: npt.NDArray[np.uint8]  # (size, size, C), or padded to a stride
    scale_x: float  # input px per frame px
    scale_y: float
    width: int  # the frame's size
    height: int

    def to_frame(self, xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Boxes (N, 4) in input pixels -> the frame's pixels, clipped to the frame."""
        scale = np.array([self.scale_x, self.scale_y] * 2, dtype=np.float32)
        out = (np.asarray(xyxy, dtype=np.float32) / scale).astype(np.float32)
        np.clip(out[:, 0::2], 0, self.width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, self.height, out=out[:, 1::2])
        return out


def letterbox_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) of a ``width`` x ``height`` frame scaled into a ``size`` square."""
    scale = size / max(height, width)
    return max(1, min(size, round(width * scale))), max(1, min(size, round(height * scale)))


def letterbox(image: npt.NDArray[np.uint8], size: int, *, pad_to: int = 0) -> Letterbox:
    """``image`` (H, W, C) scaled to fit ``size`` x ``size`` keeping its aspect ratio,
    in the top-left corner of a grey (114) canvas: ``size`` square, or with ``pad_to``
    the scaled frame's own sides rounded up to multiples of ``pad_to`` (a model with a
    dynamic input then runs on no more padding than its strides need)."""
    height, width = image.shape[:2]
    if height < 1 or width < 1:
        raise ValueError(f"cannot letterbox an empty image of shape {image.shape}")
    new_w, new_h = letterbox_size(width, height, size)
    canvas_h, canvas_w = size, size
    if pad_to > 0:
        canvas_h, canvas_w = -(-new_h // pad_to) * pad_to, -(-new_w // pad_to) * pad_to
    canvas = np.full((canvas_h, canvas_w, image.shape[2]), PAD_VALUE, dtype=np.uint8)
    if (new_w, new_h) == (width, height):
        canvas[:new_h, :new_w] = image
    else:
        canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return Letterbox(canvas, new_w / width, new_h / height, width, height)
