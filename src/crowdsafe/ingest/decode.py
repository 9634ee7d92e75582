"""Decode modes: decode only the frames a camera's analysis will look at.

An H.264 stream must be decoded from its last keyframe, so a reader that keeps one
frame a second still decodes all 25.  FFmpeg can skip work instead
(``AVCodecContext.skip_frame``):

* ``all``: every frame (lines and tracking at 5-10 fps need them);
* ``nonref``: frames no other frame refers to (most B-frames) are not decoded; at
  least one frame in four remains for an x264-style stream (``IBBBP``), so this mode
  is chosen for analysis rates up to a quarter of the stream's frame rate;
* ``keyframes``: keyframes only, about 30 times cheaper than ``all`` for a 1 s GOP
  (README, "Measured"); it meets the analysis rate only when the keyframe interval is
  no longer than the analysis period.

``auto`` picks from the camera's analysis rate and the keyframe interval measured from
the packets as the stream plays (their keyframe flags and timestamps; the demuxer sees
every packet whatever the decoder skips, so the measure goes on in every mode).  Until
the first interval is measured a stream is decoded whole.  A mode asked for that cannot
meet the rate (keyframes with a GOP longer than the analysis period) is replaced by the
cheapest one that can, and the camera's health and the log say so: a camera analysed at
half its rate because of its encoder settings must not look healthy.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import av

    from crowdsafe.ingest.health import CameraHealth

__all__ = [
    "NONREF_MAX_SHARE",
    "DecodeChoice",
    "DecodeControl",
    "DecodeMode",
    "KeyframeMeter",
    "choose_mode",
]

log = logging.getLogger(__name__)

# The share of a stream's frame rate that nonref decoding surely still delivers: with
# three B-frames between references (x264's default), one frame in four is a reference.
NONREF_MAX_SHARE = 0.25
# A keyframe interval up to this much longer than the analysis period still counts as
# meeting it: timestamps jitter by a tick, and the pipeline's grid has 1 ms of slack.
_PERIOD_SLACK = 1.02


class DecodeMode(StrEnum):
    AUTO = "auto"
    ALL = "all"
    NONREF = "nonref"
    KEYFRAMES = "keyframes"


_SKIP_FRAME: dict[DecodeMode, Literal["DEFAULT", "NONREF", "NONKEY"]] = {
    DecodeMode.ALL: "DEFAULT",
    DecodeMode.NONREF: "NONREF",
    DecodeMode.KEYFRAMES: "NONKEY",
}


@dataclass(frozen=True)
class DecodeChoice:
    """The mode a stream is decoded in and, when it is not the one asked, why."""

    mode: DecodeMode
    note: str | None = None


def choose_mode(
    asked: DecodeMode,
    analysis_fps: float | None,
    stream_fps: float,
    keyframe_interval_s: float | None,
) -> DecodeChoice:
    """The cheapest mode that still delivers ``analysis_fps`` (None: every frame).

    ``asked`` is the camera's setting: ``all`` is always honoured; ``auto``,
    ``nonref`` and ``keyframes`` get the mode that meets the rate, with a note when
    that is not what was asked (``auto`` notes what it chose)."""
    if asked is DecodeMode.ALL:
        return DecodeChoice(DecodeMode.ALL)
    if not analysis_fps:
        return DecodeChoice(DecodeMode.ALL, "every frame is analysed: decoding all")
    period_s = 1.0 / analysis_fps
    nonref_ok = analysis_fps <= stream_fps * NONREF_MAX_SHARE
    fallback = DecodeMode.NONREF if nonref_ok else DecodeMode.ALL
    if keyframe_interval_s is None:
        # Asked for explicitly, a mode is tried at once: within one keyframe interval it
        # is measured, and replaced if it cannot meet the rate.  Auto waits for it.
        if asked is DecodeMode.KEYFRAMES or (asked is DecodeMode.NONREF and nonref_ok):
            return DecodeChoice(asked)
        if asked is DecodeMode.AUTO:
            return DecodeChoice(DecodeMode.ALL, "auto: keyframe interval not measured yet")
        return DecodeChoice(
            DecodeMode.ALL,
            f"{analysis_fps:g} fps is over {NONREF_MAX_SHARE:g} of the stream's "
            f"{stream_fps:g} fps, more than nonref decoding surely delivers: decoding all",
        )
    keyframes_ok = keyframe_interval_s <= period_s * _PERIOD_SLACK
    rate = f"{analysis_fps:g} fps"
    gop = f"keyframe interval {keyframe_interval_s:.2f} s"
    if asked is DecodeMode.KEYFRAMES:
        if keyframes_ok:
            return DecodeChoice(DecodeMode.KEYFRAMES)
        return DecodeChoice(
            fallback,
            f"{gop} is longer than the analysis period {period_s:.2f} s: "
            f"decoding {fallback.value} to keep {rate}",
        )
    if asked is DecodeMode.NONREF:
        if nonref_ok:
            return DecodeChoice(DecodeMode.NONREF)
        return DecodeChoice(
            DecodeMode.ALL,
            f"{rate} is over {NONREF_MAX_SHARE:g} of the stream's {stream_fps:g} fps, "
            "more than nonref decoding surely delivers: decoding all",
        )
    if keyframes_ok:
        return DecodeChoice(DecodeMode.KEYFRAMES, f"auto: {gop} meets {rate}")
    return DecodeChoice(
        fallback,
        f"auto: {gop} is longer than the analysis period {period_s:.2f} s: "
        f"decoding {fallback.value} to keep {rate}",
    )


class KeyframeMeter:
    """Measures a stream's keyframe interval from its packets.

    :attr:`interval_s` is the longest of the last ``keep`` intervals, because a mode
    chosen from it must meet the rate at every keyframe, not on average."""

    def __init__(self, stream_fps: float, keep: int = 4) -> None:
        self.stream_fps = stream_fps
        self._frames_since = 0
        self._last_key_s: float | None = None
        self._seen_key = False
        self._intervals_s: deque[float] = deque(maxlen=keep)
        self._frames: deque[int] = deque(maxlen=keep)

    def packet(self, is_keyframe: bool, pts_s: float | None) -> bool:
        """Count one packet of the stream; True when it closed an interval."""
        if not is_keyframe:
            self._frames_since += 1
            return False
        closed = False
        # An interval of one frame is not a GOP: encoders flag a few frames in a row
        # as keyframes at a stream's start (x264 does), and in an intra-only stream
        # every frame is one, where no mode saves anything.
        if self._seen_key and self._frames_since > 1:
            frames = self._frames_since
            by_pts = (
                pts_s - self._last_key_s
                if pts_s is not None and self._last_key_s is not None
                else None
            )
            seconds = by_pts if by_pts is not None and by_pts > 0 else frames / self.stream_fps
            self._intervals_s.append(seconds)
            self._frames.append(frames)
            closed = True
        self._seen_key = True
        self._last_key_s = pts_s
        self._frames_since = 1
        return closed

    @property
    def interval_s(self) -> float | None:
        return max(self._intervals_s) if self._intervals_s else None

    @property
    def interval_frames(self) -> int | None:
        return max(self._frames) if self._frames else None


class DecodeControl:
    """Chooses and applies one camera's decode mode while its stream plays."""

    def __init__(
        self,
        camera_id: str,
        asked: DecodeMode,
        analysis_fps: float | None,
        health: CameraHealth,
    ) -> None:
        self.camera_id = camera_id
        self.asked = asked
        self.analysis_fps = analysis_fps
        self.health = health
        self.choice: DecodeChoice | None = None
        self._meter: KeyframeMeter | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._time_base: float | None = None
        self._known: tuple[int | None, float | None] | None = None

    def start(self, stream: av.video.stream.VideoStream) -> None:
        """A (re)opened stream: measure it afresh, decode by what is known of it."""
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        self._stream = stream
        self._time_base = float(stream.time_base) if stream.time_base is not None else None
        # A reconnect or a file's next loop is most likely the same encoder: start from
        # what was measured before; the stream's own first interval corrects it.
        if self._meter is not None and self._meter.interval_s is not None:
            self._known = (self._meter.interval_frames, self._meter.interval_s)
        known = self._known[1] if self._known is not None else None
        self.choice = None
        if stream.codec_context.codec.intra_only:
            # Every frame is a keyframe (MJPEG, raw video): no mode saves anything; the
            # reader skips whole packets instead (ingest/reader.py).
            self._meter = None
            self._apply(
                DecodeChoice(DecodeMode.ALL, "intra-only stream: every frame is a keyframe")
            )
            return
        self._meter = KeyframeMeter(fps)
        self._apply(choose_mode(self.asked, self.analysis_fps, fps, known))

    def packet(self, packet: av.Packet[Any]) -> None:
        """One demuxed packet (not the flush one): measure, and switch mode if due."""
        meter = self._meter
        if meter is None:
            return
        pts_s = (
            float(packet.pts) * self._time_base
            if packet.pts is not None and self._time_base is not None
            else None
        )
        if meter.packet(bool(packet.is_keyframe), pts_s):
            choice = choose_mode(self.asked, self.analysis_fps, meter.stream_fps, meter.interval_s)
            self._apply(choice)

    def _apply(self, choice: DecodeChoice) -> None:
        meter = self._meter
        frames, seconds = self._known or (None, None)
        if meter is not None and meter.interval_s is not None:
            frames, seconds = meter.interval_frames, meter.interval_s
        self.health.set_decode(choice.mode.value, frames, seconds, choice.note)
        if choice == self.choice:
            return
        if self._stream is not None:
            self._stream.codec_context.skip_frame = _SKIP_FRAME[choice.mode]
        if self.choice is not None or choice.note:
            # A mode asked for that the stream cannot serve is a warning: the operator
            # set it and gets something else.
            short = self.asked not in (DecodeMode.AUTO, choice.mode)
            log.log(
                logging.WARNING if short else logging.INFO,
                "camera %s: decoding %s%s",
                self.camera_id,
                choice.mode.value,
                f" ({choice.note})" if choice.note else "",
            )
        self.choice = choice
