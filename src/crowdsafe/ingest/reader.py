"""Live ingestion: one reader thread per camera that keeps only the newest frame.

Why a reader apart from analysis: a camera sends frames at its own pace whether or not
we keep up.  If decoding waited for the detector, unread packets would pile up in the
socket and lag would grow without bound (the 20 s lag users report of peer tools).
So the reader decodes continuously and overwrites a one-frame :class:`FrameSlot`; the
analysis loop takes the newest frame when a camera is due.  Lag is then at most one
analysis interval plus one frame, whatever the load.

CPU: the reader converts nothing to RGB; that happens only for frames that are
analysed, at the detector's size (``ingest/convert.py``).  For intra-only codecs
(MJPEG) packets that arrive faster than analysis needs are not decoded at all.
Inter-frame codecs (H.264) are decoded only as far as the camera's decode mode needs
(``ingest/decode.py``: all frames, reference frames only, or keyframes only, chosen from
the analysis rate and the keyframe interval measured from the packets), on one decoder
thread per camera: with many cameras, parallelism comes from having many cameras, and
a frame-threaded decoder would add a frame of latency per thread.

Reconnect: on an error, end of stream or stall the reader reopens the source, forever,
after an exponential backoff with jitter (``min * 2**attempt``, capped, times a random
factor in [0.5, 1]) so a site's cameras do not all retry in step after a network blip.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.error

from crowdsafe.errors import StreamStalled
from crowdsafe.ingest.decode import DecodeControl, DecodeMode
from crowdsafe.ingest.health import CameraHealth, StreamState
from crowdsafe.ingest.url import SourceAddress, SourceKind
from crowdsafe.ingest.video import iter_decoded

__all__ = ["FrameSlot", "ReaderOptions", "SlotFrame", "StreamReader"]

log = logging.getLogger(__name__)

# Errors that retrying soon will not fix: the camera says no, or it is not a video.
_PERMANENT = (
    av.error.HTTPUnauthorizedError,
    av.error.HTTPForbiddenError,
    av.error.HTTPNotFoundError,
    av.error.HTTPBadRequestError,
    av.error.FileNotFoundError,
    av.error.InvalidDataError,
    av.error.ProtocolNotFoundError,
    av.error.DemuxerNotFoundError,
    av.error.PermissionError,
    av.error.IsADirectoryError,
)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class ReaderOptions:
    """How a reader opens and watches its source.  Times in seconds."""

    transport: str = "tcp"
    open_timeout_s: float = 10.0
    stall_s: float = 5.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 2.0
    loop: bool = False
    realtime: bool = True
    folder_fps: float = 1.0
    format: str | None = None
    # How much of a live stream FFmpeg reads to learn its format before the first frame.
    # FFmpeg's own default (5 s, 5 MB) holds a reconnect back by about 2 s.
    probe_s: float = 0.5
    # Skip decoding intra-only packets that arrive sooner than this after the last one.
    min_decode_interval_s: float = 0.0
    # Which frames to decode, and the analysis rate that decides it (ingest/decode.py).
    decode: DecodeMode = DecodeMode.AUTO
    analysis_fps: float | None = None


@dataclass(frozen=True)
class SlotFrame:
    seq: int
    t: float
    frame: av.VideoFrame


class FrameSlot:
    """The newest frame of one camera.  ``blocking`` slots make the producer wait until
    its frame is taken (offline files: every frame is seen, none is dropped)."""

    def __init__(self, blocking: bool = False, notify: threading.Condition | None = None) -> None:
        self.blocking = blocking
        self._cond = threading.Condition()
        self._notify = notify
        self._item: SlotFrame | None = None
        self._taken_seq = 0
        self._seq = 0
        self.dropped = 0

    def put(self, t: float, frame: av.VideoFrame, stop: threading.Event) -> None:
        with self._cond:
            if self.blocking:
                while self._item is not None and not stop.is_set():
                    self._cond.wait(0.1)
            elif self._item is not None:
                self.dropped += 1
            self._seq += 1
            self._item = SlotFrame(self._seq, t, frame)
        if self._notify is not None:
            with self._notify:
                self._notify.notify_all()

    def peek_t(self) -> float | None:
        """Capture time of the waiting frame, if any."""
        with self._cond:
            return None if self._item is None else self._item.t

    def take(self) -> SlotFrame | None:
        with self._cond:
            item, self._item = self._item, None
            if item is not None:
                self._taken_seq = item.seq
                self._cond.notify_all()
            return item

    def clear(self) -> None:
        with self._cond:
            self._item = None
            self._cond.notify_all()


class StreamReader:
    """Reads one camera forever in a daemon thread; see the module docstring."""

    def __init__(
        self,
        camera_id: str,
        address: SourceAddress,
        options: ReaderOptions,
        health: CameraHealth | None = None,
        *,
        slot: FrameSlot | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.address = address
        self.options = options
        self.health = health or CameraHealth(camera_id, address.display)
        offline = address.kind in (SourceKind.FILE, SourceKind.FOLDER) and not options.realtime
        self.slot = slot or FrameSlot(blocking=offline)
        self._clock = clock
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ended = threading.Event()  # set when a non-looping file has been read through
        self.decode = DecodeControl(camera_id, options.decode, options.analysis_fps, self.health)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"reader-{self.camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self.slot.clear()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.health.set_state(StreamState.STOPPED)

    def cpu_s(self) -> float:
        """CPU seconds the reader thread has used so far (demuxing, decoding): its own
        thread clock, so the figure holds whatever else runs on the machine; 0 before
        it starts or once it has ended."""
        thread = self._thread
        if thread is None or thread.ident is None or not thread.is_alive():
            return 0.0
        try:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, ProcessLookupError):  # it ended between the check and the read
            return 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop ----------------------------------------------------------------------
    def backoff_s(self, attempt: int) -> float:
        """Delay before reconnect attempt ``attempt`` (0-based), with jitter."""
        o = self.options
        base = min(o.backoff_max_s, o.backoff_min_s * (2.0 ** min(attempt, 30)))
        return base * self._rng.uniform(0.5, 1.0)

    def _run(self) -> None:
        attempt = 0
        ever_live = False
        last_logged: str | None = None
        while not self._stop.is_set():
            self.health.set_state(StreamState.RECONNECTING if ever_live else StreamState.STARTING)
            self.health.attempted()
            went_live = False
            permanent = False
            try:
                frames = 0
                for t, frame in self._frames():
                    frames += 1
                    if not went_live:
                        went_live = True
                        if ever_live:
                            self.health.reconnected()
                        ever_live = True
                        attempt = 0
                        self.health.set_state(StreamState.LIVE)
                    self.slot.put(t, frame, self._stop)
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                if frames == 0 and self.address.kind is SourceKind.FILE:
                    raise av.error.InvalidDataError(
                        1094995529,
                        "no frame could be decoded (truncated or corrupt file)",
                        self.address.url,
                    )
                if self.address.kind in (SourceKind.FILE, SourceKind.FOLDER):
                    if not self.options.loop:
                        self.health.set_state(StreamState.STOPPED)
                        self.ended.set()
                        return
                    continue  # loop: read it again at once
                error = "the stream ended"
                state = StreamState.RECONNECTING
            except StreamStalled as exc:
                error, state = str(exc), StreamState.STALLED
            except _PERMANENT as exc:
                error, state, permanent = self._describe(exc), StreamState.FAILED, True
            except (av.error.FFmpegError, OSError) as exc:
                error, state = self._describe(exc), StreamState.RECONNECTING
            except Exception as exc:  # a bug must not kill the camera for good
                log.exception("camera %s: unexpected reader error", self.camera_id)
                error, state = (
                    f"{type(exc).__name__}: {self.address.scrub(str(exc))}",
                    (StreamState.RECONNECTING),
                )
            self.health.set_state(state, error)
            delay = self.options.backoff_max_s if permanent else self.backoff_s(attempt)
            attempt += 1
            # Say it once; a camera that stays down must not flood the log.
            log.log(
                logging.WARNING if error != last_logged else logging.DEBUG,
                "camera %s (%s): %s; retrying in %.1f s",
                self.camera_id,
                self.address.display,
                error,
                delay,
            )
            last_logged = error
            if state is StreamState.STALLED:
                # show "stalled" for a moment, then say what we do about it
                self._stop.wait(min(delay, 0.5))
                self.health.set_state(StreamState.RECONNECTING)
                delay = max(0.0, delay - 0.5)
            self._stop.wait(delay)

    def _describe(self, exc: BaseException) -> str:
        """A one-line reason with the source named, credentials scrubbed."""
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        filename = getattr(exc, "filename", None)
        if filename:
            text = f"{text}: {filename}"
        return self.address.scrub(text)

    # -- sources -----------------------------------------------------------------------
    def _frames(self) -> Iterator[tuple[float, av.VideoFrame]]:
        if self.address.kind is SourceKind.FOLDER:
            yield from self._folder_frames()
            return
        o = self.options
        options: dict[str, str] = {}
        fmt = o.format
        if self.address.kind is SourceKind.RTSP:
            options["rtsp_transport"] = o.transport
        if self.address.kind in (SourceKind.RTSP, SourceKind.HTTP):
            options["analyzeduration"] = str(round(o.probe_s * 1_000_000))
        elif self.address.kind is SourceKind.DEVICE:
            fmt = fmt or "v4l2"
        if self.address.kind is SourceKind.FILE and not Path(self.address.url).is_file():
            raise av.error.FileNotFoundError(2, "video file not found", self.address.url)
        try:
            container = av.open(
                self.address.url,
                mode="r",
                format=fmt,
                options=options,
                timeout=(o.open_timeout_s, o.stall_s),
            )
        except av.error.ExitError:
            raise StreamStalled(
                f"no answer within {o.open_timeout_s:g} s of connecting (open timeout)"
            ) from None
        with container:
            if not container.streams.video:
                raise av.error.InvalidDataError(1094995529, "no video stream", "")
            stream = container.streams.video[0]
            stream.thread_count = 1
            self.decode.start(stream)
            live = self.address.kind in (SourceKind.RTSP, SourceKind.HTTP, SourceKind.DEVICE)
            paced = self.address.kind is SourceKind.FILE and o.realtime
            skip = (
                live and o.min_decode_interval_s > 0 and bool(stream.codec_context.codec.intra_only)
            )
            start_wall = self._clock()
            progress = [self._clock(), 0.0]  # last frame or deliberate skip; last decode

            def on_packet(packet: av.Packet[Any]) -> None:
                self.decode.packet(packet)
                now = self._clock()
                if live and now - progress[0] > o.stall_s:
                    raise StreamStalled(f"no decodable frame for {now - progress[0]:.1f} s")

            def decode_if() -> bool:
                now = self._clock()
                if now - progress[1] >= o.min_decode_interval_s:
                    progress[1] = now
                    return True
                progress[0] = now
                self.health.frame_received(now)  # intra-only: one packet is one frame
                return False

            try:
                for t_rel, frame in iter_decoded(
                    container,
                    stream,
                    on_corrupt=self._on_corrupt,
                    on_packet=on_packet,
                    decode_if=decode_if if skip else None,
                ):
                    now = self._clock()
                    progress[0] = now
                    self.health.frame_received(now)
                    if paced:
                        due = start_wall + t_rel
                        if due > now and self._stop.wait(due - now):
                            return
                        t = due
                    elif live:
                        t = now
                    else:
                        t = start_wall + t_rel
                    yield t, frame
                    if self._stop.is_set():
                        return
            except av.error.ExitError:
                raise StreamStalled(f"no data for {o.stall_s:g} s (stall)") from None

    def _on_corrupt(self, exc: BaseException) -> None:
        reason = f"damaged data skipped: {self._describe(exc)}"
        self.health.set_state(self.health.state, reason)
        log.warning("camera %s: %s", self.camera_id, reason)

    def _folder_frames(self) -> Iterator[tuple[float, av.VideoFrame]]:
        folder = Path(self.address.url)
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise av.error.FileNotFoundError(
                2, f"no images ({', '.join(_IMAGE_SUFFIXES)}) in folder", str(folder)
            )
        period = 1.0 / self.options.folder_fps
        start_wall = self._clock()
        for i, path in enumerate(files):
            self.health.frame_received(self._clock())
            due = start_wall + i * period
            if self.options.realtime:
                now = self._clock()
                if due > now and self._stop.wait(due - now):
                    return
            try:
                with av.open(str(path)) as img:
                    frame = next(img.decode(video=0))
            except (av.error.FFmpegError, StopIteration) as exc:
                self._on_corrupt(exc if isinstance(exc, av.error.FFmpegError) else OSError(path))
                continue
            yield due, frame
