"""Video files through PyAV (FFmpeg's demuxers and decoders).

Timestamps: a frame's time comes from its presentation timestamp, relative to the
first frame, so that gaps and variable frame rates are kept.  With ``realtime`` the
file is paced like a live camera and ``Frame.t`` is the wall-clock time the frame is
due (Unix seconds); without it the file is read as fast as it decodes and ``Frame.t``
is seconds since the start of the file (plus the length of earlier loops).

Corrupt input: a file that cannot be opened or has no video stream raises
:class:`SourceUnreadable` at once; a damaged packet in the middle of a file is
skipped and counted (``corrupt_packets``), because a camera recording with one bad
packet is still worth analysing; a file that yields no frame at all is unreadable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

import av
import av.error
import numpy as np
import numpy.typing as npt

from crowdsafe.errors import SourceNotFound, SourceUnreadable
from crowdsafe.types import Frame

__all__ = ["VideoFileSource", "VideoInfo", "iter_decoded", "probe_video", "sample_video_path"]

log = logging.getLogger(__name__)


def sample_video_path() -> Path:
    """The bundled sample video (see crowdsafe/data/SAMPLE_VIDEO.md)."""
    return Path(str(resources.files("crowdsafe") / "data" / "vtest.mp4"))


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int | None
    duration_s: float | None


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise SourceNotFound(f"video file not found: {path}")
    if not path.is_file():
        raise SourceUnreadable(f"not a file: {path}")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise SourceUnreadable(f"cannot open video {path}: {exc}") from None
    if not container.streams.video:
        container.close()
        raise SourceUnreadable(f"no video stream in {path}")
    return container


def probe_video(path: str | Path) -> VideoInfo:
    """Size, frame rate and length of a video file (length may be unknown)."""
    p = Path(path)
    with _open(p) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        duration = (
            float(stream.duration * stream.time_base)
            if stream.duration is not None and stream.time_base is not None
            else None
        )
        return VideoInfo(
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=rate,
            frames=int(stream.frames) or None,
            duration_s=duration,
        )


def iter_decoded(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    *,
    on_corrupt: Callable[[BaseException], None] | None = None,
    on_packet: Callable[[av.Packet[Any]], None] | None = None,
    decode_if: Callable[[], bool] | None = None,
) -> Iterator[tuple[float, av.VideoFrame]]:
    """Decode ``stream``: (seconds since its first frame, frame), in order.

    ``on_packet`` is given each packet before it is decoded (not the flush packet).
    A packet that fails to decode is skipped (``on_corrupt`` is told); damage to the
    container itself ends the iteration, as the end of the file would.  ``decode_if``,
    when given, is asked before each packet and a False skips decoding it: only safe
    for intra-only codecs, where no later frame depends on the skipped one.
    Timestamps come from the frames' pts; missing or non-increasing ones are replaced
    by the previous time plus one frame period, so time always moves forward.
    """
    period = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
    first_pts: float | None = None
    last_t = -1.0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.ExitError:
            raise  # a timeout: the caller decides what a stall means
        except av.error.FFmpegError as exc:  # the container itself is damaged
            if on_corrupt is not None:
                on_corrupt(exc)
            return
        if packet.size:  # size 0: the flush packet at the end, which must be decoded
            if on_packet is not None:
                on_packet(packet)
            if decode_if is not None and not decode_if():
                continue
        try:
            decoded = packet.decode()
        except av.error.ExitError:
            raise
        except av.error.FFmpegError as exc:
            if on_corrupt is not None:
                on_corrupt(exc)
            continue
        for frame in decoded:
            if frame.pts is not None and frame.time_base is not None:
                pts = float(frame.pts * frame.time_base)
            else:
                pts = last_t + period if last_t >= 0 else 0.0
            if first_pts is None:
                first_pts = pts
            t = pts - first_pts
            if t <= last_t:
                t = last_t + period
            last_t = t
            yield t, frame


class VideoFileSource:
    """Frames of a video file, optionally looped and paced in real time.

    ``clock`` and ``sleep`` are injectable so tests control time.  ``close()`` from
    another thread ends the iteration at the next frame.
    """

    def __init__(
        self,
        camera_id: str,
        path: str | Path,
        *,
        loop: bool = False,
        realtime: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.path = Path(path)
        self.loop = loop
        self.realtime = realtime
        self._clock = clock
        self._stop = threading.Event()
        self._sleep = sleep or (lambda s: self._stop.wait(s) and None)
        self.corrupt_packets = 0
        self.loops = 0
        self.info = probe_video(self.path)  # fails now, not in the pipeline thread

    def close(self) -> None:
        self._stop.set()

    def _decode_once(self) -> Iterator[tuple[float, av.VideoFrame]]:
        """(seconds since the first frame, frame) for one pass over the file."""
        with _open(self.path) as container:
            stream = container.streams.video[0]
            # One decoder thread: the detector uses the cores, and a frame-threaded
            # decoder would compete with it (measured: slower pipeline, not faster).
            stream.thread_count = 1
            yield from iter_decoded(container, stream, on_corrupt=self._on_corrupt)

    def _on_corrupt(self, exc: BaseException) -> None:
        self.corrupt_packets += 1
        log.warning("camera %s: skipped a corrupt packet in %s: %s", self.camera_id, self.path, exc)

    def frames(self) -> Iterator[Frame]:
        index = 0
        offset = 0.0
        start_wall = self._clock()
        while not self._stop.is_set():
            last_t = 0.0
            got_any = False
            for t_rel, vframe in self._decode_once():
                if self._stop.is_set():
                    return
                got_any = True
                last_t = t_rel
                t = offset + t_rel
                if self.realtime:
                    due = start_wall + t
                    wait = due - self._clock()
                    if wait > 0:
                        self._sleep(wait)
                        if self._stop.is_set():
                            return
                    t = due
                image = cast("npt.NDArray[np.uint8]", vframe.to_ndarray(format="rgb24"))
                yield Frame(camera_id=self.camera_id, t=t, image=image, index=index)
                index += 1
            if not got_any:
                raise SourceUnreadable(
                    f"no frame could be decoded from {self.path} "
                    f"({self.corrupt_packets} corrupt packets)"
                )
            if not self.loop:
                return
            self.loops += 1
            offset += last_t + 1.0 / self.info.fps
