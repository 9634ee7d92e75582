"""Which frames of a stream a camera decodes: the one rule, shared by the runtime's
reader and by ``crowdsafe plan``.

Decoding costs per frame decoded, not per frame analysed, so a camera analysed once a
second should not decode 25 frames a second.  The cheapest mode that still delivers the
analysis rate asked is chosen:

* ``keyframes`` -- decode only the keyframes (FFmpeg ``skip_frame=NONKEY``), when the
  rate asked is at most the stream's keyframe rate ``stream_fps / gop``;
* ``nonref`` -- skip the frames no other frame refers to (``skip_frame=NONREF``), when
  the rate asked is at most a quarter of the stream's rate: what the mode is sure to
  keep of an x264-style stream with three B-frames between references (``IBBBP``); a
  stream without B-frames keeps every frame.  The runtime's reader uses the same share
  (:data:`crowdsafe.ingest.decode.NONREF_MAX_SHARE`), so a plan never assumes a mode
  the reader would not pick;
* ``all`` -- every frame, otherwise (counting lines at 5-10 fps on a GOP of 25).

A stream whose keyframe interval is longer than the analysis period asked for thus
gets ``nonref`` or ``all``, and :func:`explain_decode_mode` says why, for the camera's
health and for the plan.
"""

from __future__ import annotations

from typing import Literal

from crowdsafe.ingest.decode import NONREF_MAX_SHARE

__all__ = ["NONREF_KEPT_SHARE", "DecodeMode", "choose_decode_mode", "explain_decode_mode"]

DecodeMode = Literal["all", "nonref", "keyframes"]

# The share of a stream's frames that skipping non-reference frames is sure to keep
# (module docstring): the reader's own.
NONREF_KEPT_SHARE = NONREF_MAX_SHARE

# Rates are compared with a relative tolerance so that 1 fps on 25 fps / GOP 25, a
# keyframe rate of exactly 1.0 computed in floating point, stays keyframes-only.
_TOLERANCE = 1e-9


def _check(analysed_fps: float, stream_fps: float, gop: int) -> None:
    if not 0.0 < analysed_fps < float("inf"):
        raise ValueError(f"analysed_fps must be a positive rate, got {analysed_fps}")
    if not 0.0 < stream_fps < float("inf"):
        raise ValueError(f"stream_fps must be a positive rate, got {stream_fps}")
    if gop < 1:
        raise ValueError(f"gop (the keyframe interval, frames) must be at least 1, got {gop}")


def choose_decode_mode(analysed_fps: float, stream_fps: float, gop: int) -> DecodeMode:
    """The cheapest decode mode that still delivers ``analysed_fps`` (frames/s) from a
    stream of ``stream_fps`` frames/s with a keyframe every ``gop`` frames (module
    docstring).  Raises ValueError for a non-positive rate or a gop below 1."""
    _check(analysed_fps, stream_fps, gop)
    limit = analysed_fps * (1 - _TOLERANCE)
    if limit <= stream_fps / gop:
        return "keyframes"
    if limit <= stream_fps * NONREF_KEPT_SHARE:
        return "nonref"
    return "all"


def explain_decode_mode(analysed_fps: float, stream_fps: float, gop: int) -> str:
    """One sentence saying which mode :func:`choose_decode_mode` picks and why."""
    mode = choose_decode_mode(analysed_fps, stream_fps, gop)
    keyframe_fps = stream_fps / gop
    asked = f"{analysed_fps:g} fps asked of a {stream_fps:g} fps stream"
    if mode == "keyframes":
        return f"keyframes only: {asked} with a keyframe every {gop} frames ({keyframe_fps:g}/s)"
    why = (
        f"the keyframe interval ({gop} frames, {gop / stream_fps:g} s) is longer than the "
        f"analysis period ({1 / analysed_fps:g} s)"
    )
    if mode == "nonref":
        return f"non-reference frames skipped: {asked}; {why}"
    return f"all frames: {asked} is more than skipping non-reference frames keeps; {why}"
