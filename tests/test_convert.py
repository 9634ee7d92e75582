"""Analysis frames made once in FFmpeg at the detector's size, and detections mapped
back exactly to the camera's pixels, where zones are drawn."""

from __future__ import annotations

import av
import numpy as np
import pytest

from crowdsafe.assembly.stages import ThresholdedDetector
from crowdsafe.detect.base import FakeDetector
from crowdsafe.detect.letterbox import letterbox_size
from crowdsafe.detect.yolox import YoloxDetector
from crowdsafe.ingest.convert import analysis_frame, analysis_size, to_source_pixels
from crowdsafe.ingest.video import sample_video_path
from crowdsafe.measure.zones import Zone
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.store import SQLiteStore
from crowdsafe.types import Detections, Frame


class Letterboxing(FakeDetector):
    """A fake detector that, like YOLOX, letterboxes frames into 416 px."""

    def fit_size(self, width: int, height: int) -> tuple[int, int]:
        return letterbox_size(width, height, 416)


def hd_frame() -> av.VideoFrame:
    """A 1920x1080 frame: red on the left half, blue on the right."""
    image = np.zeros((1080, 1920, 3), np.uint8)
    image[:, :960, 0] = 255
    image[:, 960:, 2] = 255
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")


@pytest.mark.parametrize(
    ("detector", "size", "expected"),
    [
        (Letterboxing(), (1920, 1080), (416, 234)),
        (ThresholdedDetector(Letterboxing(), 0.3), (1920, 1080), (416, 234)),
        (Letterboxing(), (320, 240), None),  # would grow: analysed as it is
        (FakeDetector(), (1920, 1080), None),  # no fit_size (tiling): every pixel
        (ThresholdedDetector(FakeDetector(), 0.3), (1920, 1080), None),
    ],
)
def test_the_analysis_size_is_what_the_detector_resizes_to(
    detector: object, size: tuple[int, int], expected: tuple[int, int] | None
) -> None:
    assert analysis_size(detector, *size) == expected


def test_ffmpeg_converts_and_scales_in_one_pass() -> None:
    frame = analysis_frame("cam1", 5.0, hd_frame(), (416, 234))
    assert frame.image.shape == (234, 416, 3) and frame.image.dtype == np.uint8
    assert frame.source_size == (1920, 1080)
    assert frame.image[117, 100, 0] > 200 and frame.image[117, 100, 2] < 50  # red stays left
    assert frame.image[117, 316, 2] > 200 and frame.image[117, 316, 0] < 50
    full = analysis_frame("cam1", 5.0, hd_frame(), None)
    assert full.image.shape == (1080, 1920, 3) and full.source_size is None


def test_detections_come_back_in_camera_pixels_and_count_in_full_frame_zones() -> None:
    # A person whose box in the 416x234 analysis image stands at (208, 200) ...
    box = np.array([[198.0, 150.0, 218.0, 200.0]], np.float32)
    found = Detections(xyxy=box, score=np.array([0.9], np.float32))
    detector = FakeDetector(lambda f: found)
    # ... stands at (960, 923.08) in the camera's 1920x1080 pixels, inside this zone only.
    inside = Zone(
        "in",
        "cam1",
        "in",
        np.array([[900, 880], [1020, 880], [1020, 960], [900, 960]], np.float64),
        4.0,
        (5.6, 3.7, 2.2, 1.4, 0.75),
    )
    outside = Zone(
        "out",
        "cam1",
        "out",
        np.array([[180, 150], [240, 150], [240, 210], [180, 210]], np.float64),
        4.0,
        (5.6, 3.7, 2.2, 1.4, 0.75),
    )
    store = SQLiteStore(":memory:")
    pipe = CameraPipeline("cam1", detector, [inside, outside], store)
    frame = analysis_frame("cam1", 0.0, hd_frame(), (416, 234))
    pipe.step(frame)
    samples = {s.zone_id: s for s in pipe.finish()}
    assert samples["in"].count == 1.0 and samples["out"].count == 0.0
    assert pipe.last_detections is not None
    expected = box * np.array([1920 / 416, 1080 / 234] * 2, np.float32)
    np.testing.assert_allclose(pipe.last_detections.xyxy, expected, rtol=1e-6)
    store.close()


def test_a_frame_at_the_cameras_own_size_is_not_mapped() -> None:
    found = Detections(xyxy=np.array([[1, 2, 3, 4]], np.float32), score=np.ones(1, np.float32))
    frame = Frame("cam1", 0.0, np.zeros((10, 10, 3), np.uint8))
    assert to_source_pixels(found, frame) is found


def test_the_real_detector_finds_the_same_people_on_the_scaled_frame() -> None:
    with av.open(str(sample_video_path())) as video:
        decoded = next(video.decode(video=0)).reformat(1920, 1080, format="yuv420p")
    detector = YoloxDetector()
    full = detector.detect(analysis_frame("cam1", 0.0, decoded, None))
    small_frame = analysis_frame("cam1", 0.0, decoded, detector.fit_size(1920, 1080))
    small = to_source_pixels(detector.detect(small_frame), small_frame)
    assert len(full) >= 5
    # The same people, boxes within a few camera pixels: FFmpeg's area scaling and
    # OpenCV's bilinear resize differ only in how they filter.
    sure_full = full[full.score >= 0.35]
    sure_small = small[small.score >= 0.35]
    assert abs(len(sure_full) - len(sure_small)) <= 1
    matched = 0
    for b in sure_full.xyxy:
        err = np.abs(sure_small.xyxy - b).max(axis=1)
        matched += int(err.min() <= 12.0)
    assert matched >= len(sure_full) - 1
