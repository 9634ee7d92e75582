"""The NanoDet detector on real frames, NMS, and model-loading errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crowdsafe.detect.base import Detector, FakeDetector
from crowdsafe.detect.nanodet import NanoDetDetector, default_model_path
from crowdsafe.detect.nms import box_iou, nms
from crowdsafe.errors import ModelError
from crowdsafe.evaluation.counts import match_frame
from crowdsafe.evaluation.mot import load_mot_boxes
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.types import Detections, Frame

from .conftest import MOT15, requires_mot15


@pytest.fixture(scope="module")
def detector() -> NanoDetDetector:
    return NanoDetDetector(threads=2)


def test_shipped_model_matches_its_provenance_note() -> None:
    import hashlib

    model = default_model_path()
    note = (model.parent / "PROVENANCE.md").read_text()
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert digest in note, "PROVENANCE.md must give the sha256 of the shipped ONNX file"


def test_detector_satisfies_the_protocol(detector: NanoDetDetector) -> None:
    assert isinstance(detector, Detector)
    assert isinstance(FakeDetector(), Detector)
    assert detector.input_size == 416


@requires_mot15()
def test_finds_people_where_the_ground_truth_says(detector: NanoDetDetector) -> None:
    seq = MOT15 / "TUD-Stadtmitte"
    gt = load_mot_boxes(seq / "gt" / "gt.txt")
    tp = fp = fn = 0
    for frame in VideoFileSource("tud", seq / "TUD-Stadtmitte.mp4").frames():
        if frame.index % 20:
            continue
        det = detector.detect(frame)
        m = match_frame(det, gt[frame.index + 1], min_height_px=90)
        tp, fp, fn = tp + m.tp, fp + m.fp, fn + m.fn
    assert tp + fn > 50  # the frames hold real annotated people
    assert tp / (tp + fn) >= 0.6, (tp, fp, fn)
    assert tp / (tp + fp) >= 0.85, (tp, fp, fn)


def test_people_on_the_sample_video_stand_on_the_ground(
    detector: NanoDetDetector, sample_video: Path
) -> None:
    for frame in VideoFileSource("cam", sample_video).frames():
        if frame.index == 300:  # six people walk the path in this frame
            break
    det = detector.detect(frame)
    assert 4 <= len(det) <= 8, det.score
    heights = det.xyxy[:, 3] - det.xyxy[:, 1]
    assert np.all((heights > 40) & (heights < 140)), heights  # people, not buildings or heads
    assert np.all((det.score >= 0.35) & (det.score <= 1.0))
    assert np.all(det.xyxy[:, [0, 2]] <= 768)
    assert np.all(det.xyxy[:, [1, 3]] <= 576)


def test_empty_picture_has_nobody(detector: NanoDetDetector) -> None:
    blank = Frame("cam", 0.0, np.full((480, 640, 3), 128, dtype=np.uint8))
    assert len(detector.detect(blank)) == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model_path": "/nope/model.onnx"}, ModelError, "detector model not found"),
        ({"score_threshold": 1.5}, ValueError, r"score_threshold must be in \[0, 1\)"),
        ({"iou_threshold": 0.0}, ValueError, r"iou_threshold must be in \(0, 1\]"),
    ],
)
def test_bad_detector_settings(kwargs: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        NanoDetDetector(**kwargs)  # type: ignore[arg-type]


def test_corrupt_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not an onnx file" * 10)
    with pytest.raises(ModelError, match=r"cannot load detector model .*bad.onnx"):
        NanoDetDetector(bad)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]], dtype=np.float32
    )
    scores = np.array([0.8, 0.9, 0.7, 0.6], dtype=np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(boxes, scores, 1.5)


def test_box_iou_known_values() -> None:
    a = np.array([[0, 0, 10, 10]], dtype=np.float64)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], dtype=np.float64)
    assert box_iou(a, b)[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0, 0.0])


def test_detections_validate_their_shapes() -> None:
    with pytest.raises(ValueError, match=r"xyxy must have shape \(N, 4\)"):
        Detections(xyxy=np.zeros((3, 5), np.float32), score=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"score must have shape \(3,\)"):
        Detections(xyxy=np.zeros((3, 4), np.float32), score=np.zeros(2, np.float32))
    d = Detections(xyxy=np.array([[10, 20, 30, 60]], np.float32), score=np.ones(1, np.float32))
    assert d.ground_points.tolist() == [[20.0, 60.0]]
