"""From a decoded frame to the pixels the analysis needs: converted and scaled once.

A 1080p frame converted to RGB in full and then resized in numpy to a 416-pixel
detector input costs 14 ms, of which the detector uses a twentieth of the pixels;
asking FFmpeg for the detector's input size directly (one swscale pass from YUV,
area-averaged, with the camera's scaler kept: :class:`FrameScaler`) costs 0.9 ms
(measured on this machine, README "Measured").  So the
analysis frame is made at the size the detector fits a frame to (its ``fit_size``),
and the full-size RGB frame is made only when a live view or snapshot needs it.

Zones and lines are drawn in the camera's own pixels, so a frame made smaller carries
its camera's size (``Frame.source_size``) and every detection is mapped back to those
pixels (:func:`to_source_pixels`) before anything counts it.  The mapping is exact for
a letterboxing detector: scaling by ``w/W`` in FFmpeg and then by 1 in the detector is
the letterbox's own scale.  Detectors without ``fit_size`` (tiling, which needs every
pixel) get the full frame.
"""

from __future__ import annotations

from typing import Protocol, cast, runtime_checkable

import av
import numpy as np
import numpy.typing as npt
from av.video.reformatter import VideoReformatter

from crowdsafe.types import Detections, Frame

__all__ = ["FitsFrames", "FrameScaler", "analysis_frame", "analysis_size", "to_source_pixels"]


@runtime_checkable
class FitsFrames(Protocol):
    """A detector that resizes every frame to one size before it runs."""

    def fit_size(self, width: int, height: int) -> tuple[int, int] | None:
        """(width, height) a ``width`` x ``height`` frame is resized to, or None when
        the detector needs the frame as it is."""
        ...


def analysis_size(detector: object, width: int, height: int) -> tuple[int, int] | None:
    """The size to decode a camera's frames to for ``detector``; None for full size
    (also when the detector would not make the frame smaller)."""
    if not isinstance(detector, FitsFrames):
        return None
    size = detector.fit_size(width, height)
    if size is None or size[0] >= width or size[1] >= height:
        return None
    return size


class FrameScaler:
    """Converts one camera's frames, keeping FFmpeg's scaler between them: setting up
    an area-averaging scaler costs more than scaling a 1080p frame with it (measured:
    3.9 ms a frame with a new one, 0.9 ms with a kept one).  Not thread-safe: one per
    camera, used by the analysis thread."""

    def __init__(self) -> None:
        self._reformatter = VideoReformatter()

    def scaled(self, frame: av.VideoFrame, width: int, height: int) -> npt.NDArray[np.uint8]:
        """``frame`` as RGB at ``width`` x ``height``, area-averaged."""
        scaled = self._reformatter.reformat(
            frame, width=width, height=height, format="rgb24", interpolation="AREA"
        )
        return cast("npt.NDArray[np.uint8]", scaled.to_ndarray())


def analysis_frame(
    camera_id: str,
    t: float,
    frame: av.VideoFrame,
    size: tuple[int, int] | None,
    scaler: FrameScaler | None = None,
) -> Frame:
    """``frame`` as an RGB :class:`Frame` at ``size`` (None: its own size), made by
    FFmpeg in one pass (with the camera's ``scaler`` when given)."""
    if size is None:
        image = cast("npt.NDArray[np.uint8]", frame.to_ndarray(format="rgb24"))
        return Frame(camera_id, t, image)
    image = (scaler or FrameScaler()).scaled(frame, size[0], size[1])
    return Frame(
        camera_id,
        t,
        image,
        source_size=(int(frame.width), int(frame.height)),
        source_image=_FullImage(frame),
    )


class _FullImage:
    """The full-size RGB conversion of a decoded frame, made once, when first asked."""

    __slots__ = ("_frame", "_image")

    def __init__(self, frame: av.VideoFrame) -> None:
        self._frame: av.VideoFrame | None = frame
        self._image: npt.NDArray[np.uint8] | None = None

    def __call__(self) -> npt.NDArray[np.uint8]:
        if self._image is None:
            assert self._frame is not None
            self._image = cast("npt.NDArray[np.uint8]", self._frame.to_ndarray(format="rgb24"))
            self._frame = None  # the decoded frame is not needed any more
        return self._image


def to_source_pixels(detections: Detections, frame: Frame) -> Detections:
    """``detections`` found in ``frame.image`` in the camera's own pixels."""
    if frame.source_size is None or not len(detections):
        return detections
    width, height = frame.source_size
    scale = np.array(
        [width / frame.width, height / frame.height] * 2,
        dtype=np.float64,
    )
    xyxy = (detections.xyxy.astype(np.float64) * scale).astype(np.float32)
    return Detections(xyxy=xyxy, score=detections.score, track_id=detections.track_id)
