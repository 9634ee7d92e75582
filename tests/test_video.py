"""The PyAV video source on real files, and its errors on broken ones."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from crowdsafe.errors import SourceNotFound, SourceUnreadable
from crowdsafe.ingest.video import VideoFileSource, probe_video

from .conftest import MOT15, requires_mot15


def test_sample_video_decodes_with_timestamps(sample_video: Path) -> None:
    info = probe_video(sample_video)
    assert (info.width, info.height) == (768, 576)
    assert info.fps == pytest.approx(10.0)
    frames = []
    for frame in VideoFileSource("cam", sample_video).frames():
        frames.append(frame)
        if len(frames) == 25:
            break
    assert [f.index for f in frames] == list(range(25))
    assert frames[0].image.shape == (576, 768, 3)
    assert frames[0].image.dtype == np.uint8
    assert [round(f.t, 3) for f in frames[:3]] == [0.0, 0.1, 0.2]
    # real pictures, not blank frames, and they change over time
    assert frames[0].image.std() > 20
    assert np.abs(frames[0].image.astype(int) - frames[24].image.astype(int)).mean() > 0.5


@requires_mot15()
def test_mot_video_has_every_frame() -> None:
    video = MOT15 / "TUD-Campus" / "TUD-Campus.mp4"
    frames = list(VideoFileSource("cam", video).frames())
    assert len(frames) == 71  # seqinfo.ini: seqLength=71
    assert frames[1].t - frames[0].t == pytest.approx(1 / 25, abs=1e-3)
    assert all(b.t > a.t for a, b in itertools.pairwise(frames))


def test_loop_continues_time_forward(tmp_path: Path, sample_video: Path) -> None:
    short = tmp_path / "short.mp4"
    _cut(sample_video, short, 12)
    source = VideoFileSource("cam", short, loop=True)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 30:
            break
    assert source.loops == 2
    times = [f.t for f in frames]
    assert all(b > a for a, b in itertools.pairwise(times))
    assert times[12] == pytest.approx(1.2, abs=1e-6)  # first frame of the second pass


def test_realtime_pacing_waits_until_each_frame_is_due(sample_video: Path) -> None:
    now = [1000.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    source = VideoFileSource("cam", sample_video, realtime=True, clock=lambda: now[0], sleep=sleep)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 5:
            break
    assert [round(f.t, 3) for f in frames] == [1000.0, 1000.1, 1000.2, 1000.3, 1000.4]
    assert sum(waits) == pytest.approx(0.4, abs=1e-6)


def test_close_stops_iteration(sample_video: Path) -> None:
    source = VideoFileSource("cam", sample_video)
    it = source.frames()
    next(it)
    source.close()
    assert list(it) == []


def test_missing_file() -> None:
    with pytest.raises(SourceNotFound, match=r"video file not found: /no/such\.mp4") as info:
        VideoFileSource("cam", "/no/such.mp4")
    assert isinstance(info.value, FileNotFoundError)


def test_not_a_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceUnreadable, match=r"junk.mp4"):
        list(VideoFileSource("cam", junk).frames())


def test_a_folder_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(SourceUnreadable, match="not a file"):
        VideoFileSource("cam", tmp_path)


def test_truncated_file_yields_what_it_has_then_ends(tmp_path: Path, sample_video: Path) -> None:
    data = sample_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    # an MP4 whose index (moov) is at the start survives truncation of the media data
    cut.write_bytes(data[: len(data) // 3])
    frames = list(VideoFileSource("cam", cut).frames())
    assert 0 < len(frames) < 795


def test_corrupted_middle_still_decodes(tmp_path: Path, sample_video: Path) -> None:
    data = bytearray(sample_video.read_bytes())
    rng = np.random.default_rng(7)
    start = len(data) // 2
    data[start : start + 20_000] = rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    frames = list(VideoFileSource("cam", bad).frames())
    assert len(frames) > 600  # damage costs some frames, not the file


def _cut(src: Path, dst: Path, n: int) -> None:
    from fractions import Fraction

    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.time_base = Fraction(1, 10)
        stream.width, stream.height, stream.pix_fmt = 768, 576, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i == n:
                break
            frame.pts = i
            frame.time_base = Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
