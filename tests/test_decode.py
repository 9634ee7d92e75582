"""Decode modes: which mode a stream gets, the keyframe interval measured from its
packets, and what a real H.264 stream decodes in each mode."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from crowdsafe.ingest.decode import DecodeMode, KeyframeMeter, choose_mode
from crowdsafe.ingest.health import CameraHealth
from crowdsafe.ingest.reader import ReaderOptions, StreamReader
from crowdsafe.ingest.url import SourceAddress

A, N, R, K = DecodeMode.ALL, DecodeMode.NONREF, DecodeMode.KEYFRAMES, DecodeMode.AUTO

# (asked, analysis fps, stream fps, keyframe interval s, mode got, fragment of the note)
CHOICES = [
    (A, 1.0, 25.0, 1.0, A, None),
    (K, 1.0, 25.0, 1.0, R, "meets 1 fps"),
    (K, 0.5, 25.0, 2.0, R, "meets 0.5 fps"),
    (K, 1.0, 25.0, 2.0, N, "longer than the analysis period 1.00 s"),
    (K, 10.0, 25.0, 1.0, A, "decoding all to keep 10 fps"),
    (K, 1.0, 25.0, None, A, "not measured yet"),
    (N, 10.0, 25.0, None, A, "more than nonref decoding surely delivers"),
    (R, 1.0, 25.0, 1.0, R, None),
    (R, 1.0, 25.0, 4.0, N, "keyframe interval 4.00 s is longer"),
    (R, 8.0, 25.0, 4.0, A, "decoding all to keep 8 fps"),
    (R, 1.0, 25.0, None, R, None),  # tried at once, replaced if the GOP is too long
    (N, 5.0, 25.0, 2.0, N, None),
    (N, 10.0, 25.0, 2.0, A, "more than nonref decoding surely delivers"),
    (K, None, 25.0, 1.0, A, "every frame is analysed"),
]


@pytest.mark.parametrize(("asked", "fps", "stream_fps", "gop_s", "mode", "note"), CHOICES)
def test_the_mode_chosen_meets_the_analysis_rate(
    asked: DecodeMode,
    fps: float | None,
    stream_fps: float,
    gop_s: float | None,
    mode: DecodeMode,
    note: str | None,
) -> None:
    choice = choose_mode(asked, fps, stream_fps, gop_s)
    assert choice.mode is mode
    if note is None:
        assert choice.note is None
    else:
        assert choice.note is not None and note in choice.note


def test_the_keyframe_interval_is_the_longest_of_the_last_ones() -> None:
    meter = KeyframeMeter(25.0)
    # x264 flags its first frames as keyframes: intervals of one frame are no GOP
    flags = [True, True, True] + ([False] * 24 + [True]) * 2 + [False] * 49 + [True]
    closed = [meter.packet(k, i / 25.0) for i, k in enumerate(flags)]
    assert sum(closed) == 3
    assert meter.interval_frames == 50
    assert meter.interval_s == pytest.approx(2.0)


def make_h264(path: Path, *, gop: int, frames: int, fps: int = 25) -> None:
    """A small H.264 stream with B-frames and a fixed keyframe interval."""
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {
            "preset": "veryfast",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3",
        }
        rng = np.random.default_rng(7)
        base = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def read_all(path: Path, decode: DecodeMode, analysis_fps: float) -> tuple[int, CameraHealth]:
    """Frames a reader delivers from ``path`` read through once, and its health."""
    health = CameraHealth("cam1", str(path))
    options = ReaderOptions(realtime=False, decode=decode, analysis_fps=analysis_fps)
    reader = StreamReader("cam1", SourceAddress.parse(str(path)), options, health)
    reader.start()
    delivered = 0
    while not (reader.ended.is_set() and reader.slot.peek_t() is None):
        if reader.slot.take() is not None:
            delivered += 1
        reader.ended.wait(0.001)
        assert reader.running or reader.ended.is_set()
    reader.stop()
    return delivered, health


def test_keyframes_only_decodes_one_frame_per_gop_and_health_says_so(tmp_path: Path) -> None:
    path = tmp_path / "gop25.mp4"
    make_h264(path, gop=25, frames=250)
    every, _ = read_all(path, DecodeMode.ALL, 1.0)
    keyframes, health = read_all(path, DecodeMode.AUTO, 1.0)
    snap = health.snapshot()
    assert every == 250
    # The first GOP is decoded whole while its interval is measured, then 9 keyframes.
    assert keyframes <= 25 + 10
    assert snap.decode_mode == "keyframes"
    assert snap.keyframe_interval_frames == 25
    assert snap.keyframe_interval_s == pytest.approx(1.0)
    assert snap.decode_note is not None and "meets 1 fps" in snap.decode_note


def test_a_gop_longer_than_the_analysis_period_gets_a_mode_that_meets_the_rate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gop50.mp4"
    make_h264(path, gop=50, frames=200)
    with caplog.at_level("WARNING", logger="crowdsafe.ingest.decode"):
        delivered, health = read_all(path, DecodeMode.KEYFRAMES, 1.0)
    snap = health.snapshot()
    assert snap.decode_mode == "nonref"
    assert snap.keyframe_interval_frames == 50
    assert snap.decode_note is not None and "longer than the analysis period" in snap.decode_note
    assert any("decoding nonref" in r.getMessage() for r in caplog.records)
    # nonref still delivers more than one frame per analysis period (1 s = 25 frames)
    assert delivered >= 200 / 25 * 2


def test_an_intra_only_stream_is_decoded_whole_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "mjpeg.mkv"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        for i in range(20):
            image = np.full((48, 64, 3), 10 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    delivered, health = read_all(path, DecodeMode.AUTO, 1.0)
    snap = health.snapshot()
    assert delivered == 20
    assert snap.decode_mode == "all" and snap.decode_note is not None
    assert "intra-only" in snap.decode_note and snap.keyframe_interval_frames is None
