"""YOLOX-Nano: the shipped file, letterboxing both ways round, decoding, real people."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from crowdsafe.detect.base import Detector
from crowdsafe.detect.letterbox import PAD_VALUE, letterbox
from crowdsafe.detect.yolox import (
    INPUT_SIZES,
    YoloxDetector,
    anchor_grid,
    default_model_path,
    dynamic_model_path,
)
from crowdsafe.errors import ModelError
from crowdsafe.evaluation.counts import match_frame
from crowdsafe.evaluation.mot import load_mot_boxes
from crowdsafe.ingest.video import VideoFileSource, sample_video_path
from crowdsafe.types import Frame

from .conftest import MOT15, requires_mot15


@pytest.fixture(scope="module")
def yolox() -> YoloxDetector:
    return YoloxDetector(threads=2)


@pytest.mark.parametrize("size", INPUT_SIZES)
def test_shipped_models_match_their_provenance_note(size: int) -> None:
    model = default_model_path(size)
    note = (model.parent / "PROVENANCE.md").read_text()
    assert hashlib.sha256(model.read_bytes()).hexdigest() in note
    assert YoloxDetector(model, threads=1).input_size == size
    licence = (model.parent / "LICENSE-Apache-2.0").read_bytes()
    assert hashlib.sha256(licence).hexdigest() in note
    assert b"Apache License" in licence


def test_detector_satisfies_the_protocol_and_reads_its_input_size(yolox: YoloxDetector) -> None:
    assert isinstance(yolox, Detector)
    assert yolox.input_size == 416
    cells, strides = anchor_grid(416)
    assert len(cells) == 52 * 52 + 26 * 26 + 13 * 13 == 3549
    assert strides[0, 0] == 8 and strides[-1, 0] == 32
    assert tuple(cells[52 * 52 + 1]) == (1.0, 0.0)  # second cell of the stride-16 grid


@pytest.mark.parametrize(("width", "height"), [(640, 480), (480, 640), (1920, 1080), (333, 777)])
def test_letterbox_maps_a_drawn_box_back_exactly(width: int, height: int) -> None:
    image = np.zeros((height, width, 3), np.uint8)
    box = np.array([[width * 0.2, height * 0.3, width * 0.6, height * 0.9]], np.float32)
    x1, y1, x2, y2 = (int(v) for v in box[0])
    image[y1:y2, x1:x2] = 255
    boxed = letterbox(image, 416)
    assert boxed.image.shape == (416, 416, 3)
    # the padding is grey 114 at the right or the bottom, never at the top or left
    assert (boxed.image[0, 0] == 0).all()
    if width > height:
        assert (boxed.image[-1, :, :] == PAD_VALUE).all()
    elif height > width:
        assert (boxed.image[:, -1, :] == PAD_VALUE).all()
    ys, xs = np.nonzero(boxed.image[:, :, 0] > 127)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = boxed.to_frame(found)
    # one input pixel is 1/scale frame pixels: the drawn box comes back within one
    assert np.abs(back - [[x1, y1, x2, y2]]).max() <= 1.0 / min(boxed.scale_x, boxed.scale_y)
    exact = boxed.to_frame(box * np.array([boxed.scale_x, boxed.scale_y] * 2, np.float32))
    np.testing.assert_allclose(exact, box, rtol=0, atol=1e-3)


def test_letterbox_refuses_an_empty_image() -> None:
    with pytest.raises(ValueError, match="empty image"):
        letterbox(np.zeros((0, 10, 3), np.uint8), 416)


@requires_mot15()
def test_the_same_people_are_found_in_a_landscape_and_a_portrait_frame(
    yolox: YoloxDetector,
) -> None:
    """A 480x480 crop on a grey 640x480 canvas and on a grey 480x640 canvas give the
    model the same input; the boxes must come back the same, in each frame's pixels."""
    frame = next(VideoFileSource("tud", MOT15 / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4").frames())
    crop = frame.image[:, 80:560]
    landscape = np.full((480, 640, 3), PAD_VALUE, np.uint8)
    landscape[:, :480] = crop
    portrait = np.full((640, 480, 3), PAD_VALUE, np.uint8)
    portrait[:480, :] = crop
    a, b = yolox.detect_image(landscape), yolox.detect_image(portrait)
    assert len(a) >= 3  # people were found
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)
    np.testing.assert_allclose(a.score, b.score, atol=1e-6)
    # and in the original frame, at the crop's offset
    whole = yolox.detect_image(frame.image)
    shifted = a.xyxy + np.array([80, 0, 80, 0], np.float32)
    centres = (shifted[:, :2] + shifted[:, 2:]) / 2
    inside = (centres[:, 0] > 120) & (centres[:, 0] < 520)  # away from the crop's edges
    for box in shifted[inside]:
        assert np.abs(whole.xyxy - box).max(axis=1).min() < 25, box


@requires_mot15()
def test_finds_people_where_the_ground_truth_says(yolox: YoloxDetector) -> None:
    seq = MOT15 / "TUD-Stadtmitte"
    gt = load_mot_boxes(seq / "gt" / "gt.txt")
    tp = fp = fn = 0
    for frame in VideoFileSource("tud", seq / "TUD-Stadtmitte.mp4").frames():
        if frame.index % 20:
            continue
        m = match_frame(yolox.detect(frame), gt[frame.index + 1], min_height_px=90)
        tp, fp, fn = tp + m.tp, fp + m.fp, fn + m.fn
    assert tp + fn > 50
    assert tp / (tp + fn) >= 0.78, (tp, fp, fn)
    assert tp / (tp + fp) >= 0.85, (tp, fp, fn)  # measured on these 9 frames: 47, 6, 12


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"score_threshold": 1.0}, ValueError, "score_threshold must be in"),
        ({"iou_threshold": 0.0}, ValueError, "iou_threshold must be in"),
        ({"model_path": "/no/such.onnx"}, ModelError, "detector model not found"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        YoloxDetector(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [512, 640])
def test_the_larger_inputs_are_the_shipped_graph_redeclared_by_the_tool(size: int) -> None:
    """tools/resize_yolox.py reproduces the committed file byte for byte."""
    import importlib.util

    onnx = pytest.importorskip("onnx")
    tool = Path(__file__).resolve().parents[1] / "tools" / "resize_yolox.py"
    spec = importlib.util.spec_from_file_location("resize_yolox", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module.resized(onnx.load(str(default_model_path(416))), size)
    assert rebuilt.SerializeToString() == default_model_path(size).read_bytes()


def test_an_input_size_that_is_not_shipped_is_refused() -> None:
    with pytest.raises(ValueError, match="ships at 416, 512, 640 px, not 500"):
        default_model_path(500)


def test_a_model_of_another_layout_is_refused() -> None:
    from crowdsafe.detect.nanodet import default_model_path as nanodet_path

    with pytest.raises(ModelError, match="expected output"):
        YoloxDetector(nanodet_path())


@pytest.fixture(scope="module")
def sample_frames() -> list[Frame]:
    """Four frames of the sample video a second apart, one of them halved (sizes vary
    across cameras)."""
    every_tenth = (
        f for f in VideoFileSource("s", sample_video_path()).frames() if f.index % 10 == 0
    )
    frames = list(itertools.islice(every_tenth, 4))
    small = frames[2]
    half = cv2.resize(small.image, (small.image.shape[1] // 2, small.image.shape[0] // 2))
    return [
        frames[0],
        frames[1],
        Frame("s", small.t, np.ascontiguousarray(half), small.index),
        frames[3],
    ]


@pytest.mark.parametrize(("size", "batch"), [(416, 1), (512, None), (640, None)])
def test_a_batch_finds_what_each_frame_finds_alone(
    size: int, batch: int | None, sample_frames: list[Frame]
) -> None:
    """One session run over frames of different sizes gives each frame its own people,
    the same boxes and scores as one frame at a time (416 px: fixed at batch 1, run
    one by one)."""
    yolox = YoloxDetector(default_model_path(size), threads=2)
    assert yolox.batch == batch
    together = yolox.detect_batch(sample_frames)
    assert len(together) == len(sample_frames)
    assert sum(len(d) for d in together) >= 8  # people were found
    for frame, found in zip(sample_frames, together, strict=True):
        alone = yolox.detect(frame)
        assert len(found) == len(alone)
        np.testing.assert_allclose(found.xyxy, alone.xyxy, atol=1e-3)
        np.testing.assert_allclose(found.score, alone.score, atol=1e-5)
    assert yolox.detect_batch([]) == []


def test_the_dynamic_model_is_the_shipped_graph_redeclared_by_the_tool() -> None:
    """tools/resize_yolox.py dynamic reproduces the committed file, named in PROVENANCE."""
    import importlib.util

    model = dynamic_model_path()
    note = (model.parent / "PROVENANCE.md").read_text()
    assert hashlib.sha256(model.read_bytes()).hexdigest() in note
    onnx = pytest.importorskip("onnx")
    tool = Path(__file__).resolve().parents[1] / "tools" / "resize_yolox.py"
    spec = importlib.util.spec_from_file_location("resize_yolox", tool)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module.dynamic(onnx.load(str(default_model_path(416))))
    assert rebuilt.SerializeToString() == model.read_bytes()


def test_a_frame_shaped_input_finds_the_people_a_square_one_finds() -> None:
    """On a 16:9 frame the dynamic model runs at 512x288, not 512x512, and finds the
    same people within a few pixels (only the padding under the frame differs)."""
    import av

    from crowdsafe.ingest.video import sample_video_path

    with av.open(str(sample_video_path())) as video:
        decoded = next(video.decode(video=0)).reformat(1920, 1080, format="rgb24")
    image = decoded.to_ndarray()
    square = YoloxDetector(default_model_path(512), threads=1)
    framed = YoloxDetector(dynamic_model_path(), threads=1, input_px=512)
    assert framed.fit_size(1920, 1080) == square.fit_size(1920, 1080) == (512, 288)
    assert letterbox(image, 512, pad_to=framed.pad_to).image.shape == (288, 512, 3)
    a, b = square.detect_image(image), framed.detect_image(image)
    a, b = a[a.score >= 0.3], b[b.score >= 0.3]
    assert len(a) >= 3 and abs(len(a) - len(b)) <= 1
    matched = sum(int(np.abs(b.xyxy - box).max(axis=1).min() <= 8.0) for box in a.xyxy)
    assert matched >= len(a) - 1


def test_a_dynamic_model_needs_its_input_size() -> None:
    with pytest.raises(ModelError, match="input size is dynamic; give input_px"):
        YoloxDetector(dynamic_model_path(), threads=1)
