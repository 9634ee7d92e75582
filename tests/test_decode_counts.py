"""Counts from the decode modes against full decoding on the shared MOT15 sequences
(25 fps MPEG-4, a keyframe every 12 frames = 0.48 s, no B-frames)."""

from __future__ import annotations

import pytest

from crowdsafe.detect.yolox import YoloxDetector
from crowdsafe.evaluation.decode_counts import compare_decode_modes
from crowdsafe.ingest.decode import DecodeMode
from tests.conftest import MOT15, requires_mot15

# (sequence, mode, analysis fps): rates each mode meets on a 0.48 s GOP
CASES = [
    ("TUD-Campus", DecodeMode.KEYFRAMES, 2.0),
    ("TUD-Stadtmitte", DecodeMode.KEYFRAMES, 2.0),
    ("TUD-Stadtmitte", DecodeMode.KEYFRAMES, 1.0),
    ("TUD-Stadtmitte", DecodeMode.NONREF, 5.0),
]


@pytest.fixture(scope="module")
def detector() -> YoloxDetector:
    return YoloxDetector(score_threshold=0.1)  # weak ones kept, as deployed (blurring)


@requires_mot15()
@pytest.mark.parametrize(("sequence", "mode", "fps"), CASES)
def test_a_decode_mode_counts_within_one_percent_of_full_decoding(
    detector: YoloxDetector, sequence: str, mode: DecodeMode, fps: float
) -> None:
    video = MOT15 / sequence / f"{sequence}.mp4"
    report = compare_decode_modes(detector, video, mode=mode, analysis_fps=fps)
    assert report.decoded_as == mode.value  # the mode applies: the GOP meets the rate
    assert report.keyframe_interval_frames == 12
    assert report.count_full > 0  # there are people to count
    assert report.same_frames_diff <= 0.01
    # the analysed rate is met (to the frame: at most one analysis step fewer)
    seconds = report.frames_decoded / 25.0 if mode is DecodeMode.NONREF else None
    if seconds is not None:
        assert report.frames_analysed >= seconds * fps - 1
    if mode is DecodeMode.KEYFRAMES:
        assert report.frames_decoded <= 179 // 12 + 1  # keyframes only were decoded
