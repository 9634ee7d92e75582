"""The density-map counter: dataset readers, targets, training and export, the
detection/density switch per zone, tiled detection, and the shipped model on real data."""

from __future__ import annotations

import itertools
import json
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from crowdsafe.cli import main
from crowdsafe.density.counter import DensityCounter, DensityMap, grid_shape
from crowdsafe.density.selector import DENSITY, DETECTION, DensityStage
from crowdsafe.detect.tiled import TiledDetector, tile_windows
from crowdsafe.evaluation.datasets import DatasetError, Sample, dataset_samples, list_items
from crowdsafe.measure.zones import BucketAggregator, Zone
from crowdsafe.pipeline import CameraPipeline
from crowdsafe.store import SQLiteStore
from crowdsafe.types import Detections, Frame

from .conftest import SHARED_EVAL

RNG = np.random.default_rng(7)


# -- tiny datasets in their authors' layouts ------------------------------------------
def _image(path: Path, h: int, w: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = RNG.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


def _shanghaitech_mat(path: Path, points: np.ndarray) -> None:
    record = np.empty((1, 1), dtype=[("location", "O"), ("number", "O")])
    record[0, 0] = (points.astype(np.float64), np.array([[len(points)]], dtype=np.uint16))
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"image_info": cell})


def make_shanghaitech(root: Path, part: str, n: int, size: tuple[int, int] = (192, 256)) -> None:
    for k in range(1, n + 1):
        base = root / f"part_{part}" / "train_data"
        _image(base / "images" / f"IMG_{k}.jpg", *size)
        pts = RNG.uniform([0, 0], [size[1], size[0]], size=(3 * k, 2))
        _shanghaitech_mat(base / "ground-truth" / f"GT_IMG_{k}.mat", pts)


def make_mall(root: Path, n: int) -> None:
    frames = np.empty((1, n), dtype=[("loc", "O")])
    for i in range(n):
        _image(root / "frames" / f"seq_{i + 1:06d}.jpg", 96, 128)
        pts = np.array([[10.0 + i, 20.0], [100.0, 80.0], [120.0, 5.0]])  # the last is outside
        loc = np.empty((1, 1), dtype=object)
        loc[0, 0] = pts
        frames[0, i] = (loc,)
    savemat(str(root / "mall_gt.mat"), {"frame": frames, "count": np.full((n, 1), 3)})
    mask = np.zeros((96, 128), dtype=np.uint8)
    mask[:, :110] = 1
    roi = np.empty((1, 1), dtype=[("mask", "O")])
    roi[0, 0] = (mask,)
    savemat(str(root / "perspective_roi.mat"), {"roi": roi, "pMapN": np.ones((96, 128))})


def test_shanghaitech_is_read_in_its_own_layout_in_numeric_order(tmp_path: Path) -> None:
    make_shanghaitech(tmp_path, "B", 11)
    items = list_items("shanghaitech-b", tmp_path)
    assert [i.key.rsplit("_", 1)[1] for i in items[:3]] == ["1", "2", "3"]  # not 1, 10, 11
    samples = list(dataset_samples("shanghaitech-b", tmp_path))
    assert [s.count for s in samples] == [3 * k for k in range(1, 12)]
    assert samples[0].image.shape == (192, 256, 3)


def test_mall_counts_only_inside_its_region_and_splits_at_frame_800(tmp_path: Path) -> None:
    make_mall(tmp_path, 4)
    samples = list(dataset_samples("mall", tmp_path))
    assert [s.count for s in samples] == [2, 2, 2, 2]  # (120, 5) is outside the roi
    assert samples[0].roi is not None and samples[0].roi.shape == (96, 128)
    with pytest.raises(DatasetError, match="no test images of mall"):
        list_items("mall", tmp_path, "test")  # frames 1-4 are all training frames


def test_ucf_cc_50_layout(tmp_path: Path) -> None:
    _image(tmp_path / "1.jpg", 64, 64)
    savemat(str(tmp_path / "1_ann.mat"), {"annPoints": np.array([[1.0, 2.0], [3.0, 4.0]])})
    (sample,) = list(dataset_samples("ucf_cc_50", tmp_path))
    assert sample.count == 2


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "part_B/train_data: not found"),
        (
            lambda root: _image(root / "part_B/train_data/images/IMG_1.jpg", 32, 32),
            "GT_IMG_1.mat: annotation missing",
        ),
        (
            lambda root: (
                _image(root / "part_B/train_data/images/IMG_1.jpg", 32, 32),
                savemat(str(root / "part_B/train_data/ground-truth/GT_IMG_1.mat"), {"x": 1})
                if (root / "part_B/train_data/ground-truth").mkdir(parents=True) is None
                else None,
            ),
            "not in the shanghaitech-b annotation format",
        ),
    ],
)
def test_a_broken_dataset_is_named_in_the_error(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    setup(tmp_path)
    with pytest.raises(DatasetError, match=message):
        list(dataset_samples("shanghaitech-b", tmp_path))


def test_targets_keep_the_count_and_respect_the_region() -> None:
    from crowdsafe.training.targets import cell_targets

    pts = np.array([[40.0, 40.0], [41.0, 44.0], [200.0, 100.0], [250.0, 150.0]])
    sample = Sample("s", np.zeros((192, 256, 3), np.uint8), pts)
    target, weight = cell_targets(sample, (192, 256), sigma_cells=1.0)
    assert target.shape == (24, 32)
    assert target.sum() == pytest.approx(4.0, abs=0.05)  # all well inside the border
    roi = np.zeros((192, 256), bool)
    roi[:, :128] = True
    target, weight = cell_targets(Sample("s", sample.image, pts, roi), (192, 256), 1.0)
    assert target.sum() == pytest.approx(2.0, abs=0.05)
    assert weight[:, :16].all() and not weight[:, 16:].any()


# -- training and export ---------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    pytest.importorskip("jax")
    from crowdsafe.training.density import TrainConfig, train_density

    data = tmp_path_factory.mktemp("data")
    make_shanghaitech(data / "shanghaitech", "A", 6)
    make_shanghaitech(data / "shanghaitech", "B", 6)
    make_mall(data / "mall", 6)
    out = data / "model.onnx"
    messages: list[str] = []
    report = train_density(
        data,
        out,
        TrainConfig(steps=30, batch=2, crop_cells=16, limit=None, val_fraction=0.34),
        progress=messages.append,
    )
    assert any("step 30/30" in m for m in messages)  # progress is shown
    return out, report


def test_training_writes_a_model_and_a_report_with_held_out_validation(tiny_model) -> None:  # type: ignore[no-untyped-def]
    out, _report = tiny_model
    assert out.is_file()
    saved = json.loads(Path(str(out) + ".report.json").read_text())
    assert saved["validation"].keys() == {"shanghaitech-a", "shanghaitech-b", "mall"}
    for name, keys in saved["validation_keys"].items():
        assert len(keys) == 2, name  # 34 % of 6
    # Mall holds out its last frames as one block, not a random pick
    assert saved["validation_keys"]["mall"] == ["mall/seq_000005", "mall/seq_000006"]
    assert saved["validation"]["mall"]["images"] == 2
    assert saved["seconds"]["total"] > 0


def test_training_is_reproducible(tiny_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same data, config and seed give the same weights (on this CPU)."""
    import onnx
    from onnx import numpy_helper

    from crowdsafe.training.density import TrainConfig, train_density

    out, report = tiny_model
    again = tmp_path / "again.onnx"
    train_density(report["data"], again, TrainConfig(**report["config"]), progress=lambda m: None)

    def head(path: Path) -> dict[str, np.ndarray]:
        model = onnx.load(str(path))
        return {
            i.name: numpy_helper.to_array(i)
            for i in model.graph.initializer
            if i.name.startswith("dens_c")
        }

    first, second = head(out), head(again)
    assert first.keys() == second.keys() and len(first) == 10
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_the_exported_model_computes_what_the_head_computes(tmp_path: Path) -> None:
    """ONNX (the production path, with the standardisation folded into per-level
    convolutions) and the JAX head as trained agree on the same image."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from crowdsafe.density.counter import preprocess
    from crowdsafe.detect.nanodet import default_model_path
    from crowdsafe.training.export import export_onnx
    from crowdsafe.training.features import INPUT_NAME, backbone_model
    from crowdsafe.training.features import backbone_session as _session
    from crowdsafe.training.head import _assemble, _head, _init_params

    params = {
        k: np.asarray(v) + 0.05 * RNG.standard_normal(np.shape(v)).astype(np.float32)
        for k, v in _init_params(jax.random.PRNGKey(1), 16).items()
    }
    mean = RNG.standard_normal(384).astype(np.float32)
    std = RNG.uniform(0.5, 2.0, 384).astype(np.float32)
    out = tmp_path / "m.onnx"
    export_onnx(backbone_model(default_model_path()), params, mean, std, out)
    image = RNG.integers(0, 255, size=(200, 300, 3), dtype=np.uint8)
    x = preprocess(image, 1024)
    p8, p16, p32 = _session(backbone_model(default_model_path()), 1).run(None, {INPUT_NAME: x})
    feats = (np.asarray(_assemble(p8, p16, p32)) - mean[None, :, None, None]) / std[
        None, :, None, None
    ]
    expected = np.maximum(np.asarray(_head(params, jnp.asarray(feats)))[0], 0)
    got = DensityCounter(out).density(image)
    assert got.cells.shape == (x.shape[2] // 8, x.shape[3] // 8) == expected.shape
    assert expected.max() > 0  # the comparison is not of two zero maps
    np.testing.assert_allclose(got.cells, expected, rtol=1e-3, atol=1e-3 * expected.max())


def test_eval_density_prints_json_last(tiny_model, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out, _ = tiny_model
    make_mall(tmp_path, 3)
    code = main(
        [
            "eval",
            "density",
            "--dataset",
            "mall",
            "--root",
            str(tmp_path),
            "--split",
            "train",
            "--model",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == 3 and result["dataset"] == "mall"
    assert {"mae", "mse", "ms_per_image"} <= result.keys()
    assert result["mse"] >= result["mae"] >= 0


def test_eval_density_can_take_exactly_the_held_out_images(tiny_model, capsys) -> None:  # type: ignore[no-untyped-def]
    out, report = tiny_model
    root = Path(report["data"]) / "shanghaitech"
    code = main(
        [
            "eval",
            "density",
            "--dataset",
            "shanghaitech-b",
            "--root",
            str(root),
            "--held-out",
            "--model",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images"] == len(report["validation_keys"]["shanghaitech-b"]) == 2
    assert result["mae"] == report["validation"]["shanghaitech-b"]["mae"]


def test_eval_density_names_a_missing_dataset(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["eval", "density", "--dataset", "shanghaitech-a", "--root", str(tmp_path)])
    assert code == 2
    assert "part_A/test_data: not found" in capsys.readouterr().err


# -- detection or density, per zone ----------------------------------------------------
def square_zone(zid: str, x0: float, area: float, side: float = 100) -> Zone:
    return Zone(
        id=zid,
        camera_id="cam1",
        name=zid,
        polygon_px=np.array([[x0, 0], [x0 + side, 0], [x0 + side, side], [x0, side]], float),
        area_m2=area,
        space_bounds_m2=(5.6, 3.7, 2.2, 1.4, 0.75),
        precision=1.0,
        recall=1.0,
        density_relative_error=0.1,
    )


class ScriptedDensity:
    """A density model whose map puts ``per_zone[zone]`` persons evenly in each zone."""

    def __init__(self) -> None:
        self.people = {"a": 0.0, "b": 0.0}
        self.calls = 0

    def density(self, image: np.ndarray) -> DensityMap:
        self.calls += 1
        h, w = image.shape[:2]
        cells = np.zeros((h // 8, w // 8), np.float32)
        cells[:, : cells.shape[1] // 2] = self.people["a"] / cells[:, : cells.shape[1] // 2].size
        cells[:, cells.shape[1] // 2 :] = self.people["b"] / cells[:, cells.shape[1] // 2 :].size
        return DensityMap(cells, (h, w))


IMAGE = np.zeros((96, 192, 3), np.uint8)


def make_stage(model: ScriptedDensity, **kw: float) -> DensityStage:
    """Zones a (left half of IMAGE) and b (right half), 10 m² each."""
    zones = [square_zone("a", 0, 10.0, 96), square_zone("b", 96, 10.0, 96)]
    return DensityStage(model, zones, **kw)  # type: ignore[arg-type]


def test_a_zone_switches_to_density_when_dense_and_back_with_hysteresis() -> None:
    model = ScriptedDensity()
    stage = make_stage(
        model, switch_up_per_m2=1.5, switch_down_per_m2=1.0, max_fps=100, probe_interval_s=1.0
    )
    t = 0.0

    def step(detected_a: float, model_a: float) -> str:
        nonlocal t
        t += 1.0
        model.people["a"] = model_a
        return stage.apply(IMAGE, t, {"a": detected_a, "b": 0.0}).methods["a"]

    assert step(3, 3) == DETECTION  # 0.3 p/m²
    assert step(16, 25) == DENSITY  # detection says 1.6 p/m²: switch, use the model's 25
    assert stage.apply(IMAGE, t + 0.5, {"a": 5, "b": 0}).counts["a"] == pytest.approx(25, rel=1e-3)
    t += 0.5
    assert step(8, 12) == DENSITY  # 1.2 p/m²: between the levels, stays (no flapping)
    assert step(8, 9) == DETECTION  # 0.9 p/m², and the two methods agree: back
    assert step(8, 12) == DETECTION  # 1.2 again: not high enough to switch up
    # at a low density, the model counts far more than detection finds (people too
    # small or hidden): detection is missing them, once the model says so twice running
    assert step(2, 9) == DETECTION
    assert step(2, 9) == DENSITY
    assert step(8, 9) == DETECTION
    assert step(2, 9) == DETECTION  # one odd frame does not switch it
    assert step(8, 9) == DETECTION
    # a crowd the detector cannot see into: the model alone switches it (confirmed)
    assert step(2, 20) == DETECTION
    assert step(2, 20) == DENSITY


def test_the_model_is_probed_rarely_while_sparse_and_capped_while_dense() -> None:
    model = ScriptedDensity()
    stage = make_stage(model, probe_interval_s=10.0, max_fps=2.0)
    for i in range(100):  # 10 s at 10 fps, all sparse
        stage.apply(IMAGE, i / 10, {"a": 1, "b": 0})
    assert model.calls == 1
    model.people["a"] = 30
    stage.apply(IMAGE, 10.0, {"a": 1, "b": 0})  # the probe finds the crowd ...
    assert stage.modes["a"] == DETECTION
    for i in range(1, 6):  # ... and the next run, 0.5 s later, confirms it
        stage.apply(IMAGE, 10.0 + i / 10, {"a": 1, "b": 0})
    assert stage.modes["a"] == DENSITY
    calls = model.calls
    for i in range(6, 26):  # 2 s at 10 fps, dense
        stage.apply(IMAGE, 10.0 + i / 10, {"a": 1, "b": 0})
    assert model.calls - calls == 4  # at most 2 per second


def test_method_fixed_by_config() -> None:
    model = ScriptedDensity()
    det = make_stage(model, method="detection")  # type: ignore[arg-type]
    assert det.apply(IMAGE, 0.0, {"a": 40, "b": 0}).methods == {"a": DETECTION, "b": DETECTION}
    assert model.calls == 0
    dens = make_stage(model, method="density")  # type: ignore[arg-type]
    model.people["a"] = 2
    assert dens.apply(IMAGE, 0.0, {"a": 0, "b": 0}).methods["a"] == DENSITY
    with pytest.raises(ValueError, match="switch_down"):
        make_stage(model, switch_up_per_m2=1.0, switch_down_per_m2=1.0)


def test_density_samples_record_their_method_and_model_error(tmp_path: Path) -> None:
    model = ScriptedDensity()
    model.people["a"] = 40.0
    stage = make_stage(model, max_fps=100)
    zones = list(stage.zones)
    store = SQLiteStore(tmp_path / "d.db")
    from crowdsafe.detect.base import FakeDetector

    pipe = CameraPipeline("cam1", FakeDetector(), zones, store, density=stage)
    for i in range(20):
        pipe.step(Frame(camera_id="cam1", t=100.0 + i / 10, image=IMAGE, index=i))
    pipe.finish()
    a = store.series("a")
    b = store.series("b")
    store.close()
    assert [s.method for s in a] == [DENSITY, DENSITY]
    assert [s.method for s in b] == [DETECTION, DETECTION]
    # first frame: the model's first say-so, unconfirmed, so detection's 0 counts
    assert a[0].count == pytest.approx(40.0 * 9 / 10, rel=1e-3)
    assert a[1].count == pytest.approx(40.0, rel=1e-3)
    assert a[1].density_per_m2 == pytest.approx(4.0, rel=1e-3)
    # 10 % relative model error -> a 95 % interval of about +-20 %
    assert a[1].density_low_per_m2 == pytest.approx(4.0 * (1 - 1.96 * 0.1), rel=0.02)
    assert a[1].density_high_per_m2 == pytest.approx(4.0 * (1 + 1.96 * 0.1), rel=0.02)


def test_bucket_method_defaults_to_detection() -> None:
    agg = BucketAggregator("cam1", [square_zone("a", 0, 10.0)])
    agg.add(0.0, {"a": 2})
    (sample,) = agg.flush()
    assert sample.method == DETECTION and sample.count == 2


# -- tiled detection ---------------------------------------------------------------------
def test_tiles_cover_the_frame_with_overlap() -> None:
    assert tile_windows(640, 480, 640) == []  # fits: no tiling
    windows = tile_windows(1920, 1080, 640)
    covered = np.zeros((1080, 1920), bool)
    for x0, y0, x1, y1 in windows:
        assert x1 - x0 == 640 and y1 - y0 == 640
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs = sorted({w[0] for w in windows})
    assert all(b - a <= 0.75 * 640 + 1 for a, b in itertools.pairwise(xs))


class SmallBlindDetector:
    """Finds white squares, but only those at least 20 px tall after the image is
    scaled to a 416-px model input: a detector's real limit on small people."""

    iou_threshold = 0.5

    def detect_image(self, image: np.ndarray) -> Detections:
        scale = 416 / max(image.shape[:2])
        mask = (image[:, :, 0] > 200).astype(np.uint8)
        _n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:] if h * scale >= 20]
        xyxy = np.array(boxes, np.float32).reshape(-1, 4)
        return Detections(xyxy=xyxy, score=np.full(len(xyxy), 0.9, np.float32))


def test_tiling_finds_small_people_the_whole_frame_misses() -> None:
    image = np.zeros((1080, 1920, 3), np.uint8)
    centres = [(100, 100), (700, 300), (1500, 900), (1000, 620), (640, 640)]
    for cx, cy in centres:
        image[cy - 20 : cy + 20, cx - 8 : cx + 8] = 255  # 40 px tall: 8.7 px at 416
    image[200:700, 1200:1400] = 255  # a big one, cut by several tiles
    inner = SmallBlindDetector()
    assert len(inner.detect_image(image)) == 1  # only the big one
    found = TiledDetector(inner, 640).detect_image(image)
    assert len(found) == len(centres) + 1  # each once: no duplicates at tile seams
    big = found.xyxy[(found.xyxy[:, 3] - found.xyxy[:, 1]) > 400]
    assert len(big) == 1 and big[0].tolist() == [1200, 200, 1400, 700]


# -- the shipped model on real data ------------------------------------------------------
def test_grid_shape_rounds_to_the_backbone_stride() -> None:
    assert grid_shape(768, 1024, 1024) == (768, 1024)
    assert grid_shape(480, 640, 1024) == (480, 640)
    assert grid_shape(1536, 2048, 1024) == (768, 1024)
    assert grid_shape(500, 700, 1024) == (512, 704)


needs_mall = pytest.mark.skipif(
    not (SHARED_EVAL / "mall" / "mall_gt.mat").is_file(),
    reason=f"Mall data not found at {SHARED_EVAL} (CI has ../shared)",
)


@needs_mall
def test_the_shipped_model_counts_held_out_mall_frames() -> None:
    from crowdsafe.evaluation.density import evaluate_density

    keys = [f"mall/seq_{k:06d}" for k in range(781, 801)]  # in the held-out block
    result = evaluate_density("mall", SHARED_EVAL / "mall", split="train", keys=keys).to_dict()
    assert result["images"] == 20
    assert result["mae"] <= 4.0, result


@pytest.mark.parametrize(
    ("insert", "message"),
    [
        (
            "    density: {switch_up_per_m2: 1.0, switch_down_per_m2: 1.0}\n",
            "switch_down_per_m2 (1.0) must be below switch_up_per_m2 (1.0)",
        ),
        ("    density: {method: tracking}\n", "density.method"),
        ("    detector: {tile_px: 64}\n", "tile_px must be 0 (no tiling) or at least 128"),
    ],
)
def test_density_and_tiling_settings_are_checked(
    tmp_path: Path, config_text: str, insert: str, message: str
) -> None:
    from crowdsafe.config import load_config
    from crowdsafe.errors import ConfigError

    default = (
        "    density:\n"
        "      method: detection  # the tests script detections; the density model would disagree\n"
    )
    text = config_text.replace(default, insert)
    assert insert in text
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_a_camera_in_density_mode_serves_the_method(tmp_path: Path, config_text: str) -> None:
    from crowdsafe.config import load_config
    from crowdsafe.detect.base import FakeDetector
    from crowdsafe.runtime import Runtime

    path = tmp_path / "c.yaml"
    path.write_text(config_text.replace("method: detection", "method: density"))
    model = ScriptedDensity()
    model.people = {"a": 30.0, "b": 0.0}  # left half of the frame: 30 people
    runtime = Runtime(load_config(path), detector=FakeDetector(), density_model=model)  # type: ignore[arg-type]
    runtime.start()
    try:
        deadline = time.monotonic() + 20
        while len(runtime.store.series("left")) < 2:
            assert time.monotonic() < deadline, "no samples stored"
            time.sleep(0.1)
        left = runtime.store.series("left")
    finally:
        runtime.close()
    assert {s.method for s in left} == {DENSITY}
    assert model.calls >= 1
    # the zone 'left' covers the frame's left half below y=200: part of the 30
    assert 0 < left[0].count < 30


def test_tiling_a_detector_that_cannot_tile_is_said_not_silently_skipped(
    tmp_path: Path, config_text: str, caplog: pytest.LogCaptureFixture
) -> None:
    from crowdsafe.config import load_config
    from crowdsafe.detect.base import FakeDetector
    from crowdsafe.runtime import Runtime

    path = tmp_path / "c.yaml"
    text = config_text.replace("    density:\n", "    detector: {tile_px: 256}\n    density:\n", 1)
    assert "tile_px" in text
    path.write_text(text)
    with caplog.at_level("WARNING", logger="crowdsafe.runtime"):
        Runtime(load_config(path), detector=FakeDetector()).close()
    assert "camera cam1: detector.tile_px is ignored: the detector FakeDetector" in caplog.text


def test_bench_density_times_the_model_against_the_detector(capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["bench", "--density", "--size", "320x240", "--frames", "2", "--repeats", "2"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["frame_size"] == [320, 240] and result["frames"] == 2
    assert len(result["density_ms_runs"]) == 2
    assert result["density_ms_per_frame"] > 0 and result["detector_ms_per_frame"] > 0
    assert main(["bench", "--density", "--size", "big"]) == 2
