"""Whether a frame must be analysed again: a cheap change measure on a grey thumbnail.

Rule carried here: a camera whose scene has not changed since its last analysed frame
need not run the detector (and the density model) again; it repeats the last
measurement, marked as held, never a zero.  Two guards keep that honest:

* the change is measured against the **last analysed frame**, not the previous one, so
  a slow build-up adds up until it crosses the threshold instead of hiding in many small
  steps;
* a measurement is held for at most ``max_hold_s``: after that the frame is analysed
  whatever the measure says, so whatever the measure cannot see (a crowd thickening
  too slowly, a change smaller than one thumbnail cell) is re-measured that often.

The thumbnail is the grey frame averaged over cells 1/64 of its width
(``cv2.INTER_AREA``; 1-2 ms of CPU for a 1080p frame, 0.1-0.2 ms for 640x480, where a
detection costs some 20 ms).  Averaging is what makes the measure cheap and robust:
sensor noise of a few grey levels averages out over a cell, while a person entering,
leaving or moving changes the cells they cover by tens of levels.  The measure is the
fraction of cells whose grey level moved by more than :data:`PIXEL_DELTA`; the frame is
changed when that fraction is above the camera's ``threshold`` (README, "Measured", for
how the defaults were chosen with ``crowdsafe eval skip``).  It looks at no one: a
thumbnail cell is tens of pixels wide and the measure is one number per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["PIXEL_DELTA", "THUMB_WIDTH", "ChangeGate", "grey_thumbnail"]

THUMB_WIDTH = 64
"""Thumbnail cells across the frame (64x36 for 16:9, 64x48 for 4:3)."""

PIXEL_DELTA = 10.0
"""Grey levels (of 255) a cell must move to count as changed.  Measured on the sample
video (768x576): Gaussian sensor noise of 3 or 8 levels per pixel moves no cell by more
than 1 or 2 levels; between frames 0.1 s apart the cells people move through change by
a median 38 levels (90th percentile 101), and 1.3-3.6 % of all cells change per frame."""


def grey_thumbnail(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The (rows, 64) grey thumbnail of an (H, W, 3) RGB or (H, W) grey frame, levels
    0-255, rows keeping the frame's aspect (36 for 16:9, 48 for 4:3).  Raises ValueError
    for an image of another shape."""
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected an (H, W, 3) or (H, W) image, got shape {image.shape}")
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    rows = max(1, round(THUMB_WIDTH * image.shape[0] / image.shape[1]))
    small = cv2.resize(grey, (THUMB_WIDTH, rows), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


@dataclass
class ChangeGate:
    """Decides, frame by frame, whether one camera's frame must be analysed.

    ``threshold`` is the fraction of thumbnail cells (0-1) that may change before the
    frame counts as changed; ``max_hold_s`` the longest a measurement is repeated.
    Raises ValueError for a threshold outside [0, 1) or a hold that is not positive.
    """

    threshold: float
    max_hold_s: float
    pixel_delta: float = PIXEL_DELTA
    last_change: float = field(default=0.0, init=False)
    """Changed fraction of the last frame looked at (1.0 when it had no reference)."""
    _ref: npt.NDArray[np.float32] | None = field(default=None, init=False, repr=False)
    _ref_t: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {self.threshold}")
        if not self.max_hold_s > 0.0:
            raise ValueError(f"max_hold_s must be > 0 seconds, got {self.max_hold_s}")

    def change(self, thumb: npt.NDArray[np.float32]) -> float:
        """Fraction of cells of ``thumb`` that moved by more than ``pixel_delta`` from
        the reference (the last analysed frame's); 1.0 without a comparable one."""
        if self._ref is None or self._ref.shape != thumb.shape:
            return 1.0
        return float(np.mean(np.abs(thumb - self._ref) > self.pixel_delta))

    def hold(
        self,
        image: npt.NDArray[np.uint8],
        t: float,
        *,
        allowed: bool = True,
        strict: bool = False,
    ) -> bool:
        """True when the frame captured at ``t`` (s) may repeat the last measurement:
        ``allowed``, unchanged (at most ``threshold`` of its cells moved; none with
        ``strict``) and within ``max_hold_s`` of the last analysed frame.  Otherwise the
        caller must analyse it, and it becomes the reference the next frames are compared
        with."""
        thumb = grey_thumbnail(image)
        self.last_change = self.change(thumb)
        since_ref_s = t - self._ref_t
        limit = 0.0 if strict else self.threshold
        if allowed and self.last_change <= limit and 0.0 <= since_ref_s < self.max_hold_s:
            return True
        self._ref, self._ref_t = thumb, t
        return False

    def reset(self) -> None:
        """Forget the reference (a gap in the stream): the next frame is analysed."""
        self._ref = None
        self.last_change = 0.0
