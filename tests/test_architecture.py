"""The layout's rules, checked: imports flow one way, modules stay readable, what is
evaluated is what is deployed, and only counting or anonymising models are loaded."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import crowdsafe
from crowdsafe.config import MODEL_ROLES, parse_config
from crowdsafe.errors import ConfigError

SRC = Path(crowdsafe.__file__).parent

# The stages of the pipeline and what they may never import.  A stage imports the core
# (types, errors, strict) and other stages; it never reaches up to what assembles or
# serves it, nor to the offline wing that measures it.
STAGES = (
    "alerts",
    "auth",
    "density",
    "detect",
    "feed",
    "forecast",
    "ingest",
    "livecache",
    "measure",
    "pipeline",
    "privacy",
    "store",
    "track",
    "types",
    "errors",
)
ABOVE_STAGES = (
    "api",
    "apiserver",
    "assembly",
    "cli",
    "config",
    "evaluation",
    "runtime",
    "site",
    "training",
)
# The API serves a Site; it never reaches into a runtime, a config or the assembly.
API_FORBIDDEN = ("apiserver", "assembly", "cli", "config", "evaluation", "runtime", "training")


def _imports(path: Path) -> set[str]:
    """Every crowdsafe module ``path`` imports, at any depth (lazy imports count)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "crowdsafe" or m.startswith("crowdsafe.")}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules(top: str) -> list[Path]:
    package = SRC / top
    return sorted(package.rglob("*.py")) if package.is_dir() else [SRC / f"{top}.py"]


@pytest.mark.parametrize("stage", STAGES)
def test_stages_never_import_what_is_above_them(stage: str) -> None:
    bad = {
        f"{path.relative_to(SRC)} -> {m}"
        for path in _modules(stage)
        for m in _imports(path)
        if _top(m) in ABOVE_STAGES
    }
    assert sorted(bad) == []


def test_the_api_depends_on_the_site_only() -> None:
    bad = {
        f"{path.relative_to(SRC)} -> {m}"
        for path in _modules("api")
        for m in _imports(path)
        if _top(m) in API_FORBIDDEN
    }
    assert sorted(bad) == []


def test_no_module_is_longer_than_one_sitting() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}


def test_eval_lines_and_the_runtime_build_the_line_stage_with_one_builder(
    config_text: str, tmp_path: Path
) -> None:
    """The runtime's line stage and the evaluation's come from build_line_stage: with
    non-default tracking settings they count the same crossings from the same boxes."""
    from crowdsafe.assembly import build_line_stage, counting_lines, stages
    from crowdsafe.detect.base import FakeDetector
    from crowdsafe.evaluation import lines as eval_lines
    from crowdsafe.runtime import Runtime
    from crowdsafe.types import Detections

    assert eval_lines.build_line_stage is build_line_stage is stages.build_line_stage
    text = config_text.replace(
        "    zones:\n",
        "    tracking: {high_score: 0.6, max_lost_s: 0.5, min_hits: 2}\n"
        "    lines:\n"
        "      - id: gate\n"
        "        points: [[100, 300], [700, 300]]\n"
        "    zones:\n",
    )
    config = parse_config(text, base_dir=tmp_path)
    runtime = Runtime(config, detector=FakeDetector())
    try:
        deployed = runtime.cameras["cam1"].pipeline.lines
    finally:
        runtime.close()
    camera = config.cameras[0]
    rebuilt = build_line_stage(counting_lines(camera), camera.tracking, 60.0)
    assert deployed is not None
    for stage in (deployed, rebuilt):
        t = stage.tracker
        assert (t.high_score, t.max_lost_s, t.min_hits) == (0.6, 0.5, 2)
        assert stage.counter.max_gap_s == 0.5

    def walker(i: int) -> Detections:  # walks down across the line, 6 px a frame
        y = 250.0 + 6 * i
        xyxy = np.array([[390, y - 80, 410, y]], np.float32)
        return Detections(xyxy=xyxy, score=np.array([0.9], np.float32))

    crossed = []
    for stage in (deployed, rebuilt):
        stage.tracker.reset()
        stage.counter.reset()
        n = 0
        for i in range(20):
            tracked = stage.tracker.update(walker(i), i * 0.1)
            n += len(stage.counter.update(tracked, i * 0.1, "cam1"))
        crossed.append(n)
    assert crossed == [1, 1]


def test_a_detector_kind_declares_whether_it_tiles(config_text: str, tmp_path: Path) -> None:
    from crowdsafe.assembly import DETECTOR_KINDS

    assert DETECTOR_KINDS["nanodet"].tile is not None
    text = config_text.replace("    density:\n", "    detector: {tile_px: 256}\n    density:\n", 1)
    config = parse_config(text, base_dir=tmp_path)
    from crowdsafe.assembly import assemble
    from crowdsafe.detect.tiled import TiledDetector

    built = assemble(config)
    try:
        used = built.cameras["cam1"].pipeline.detector
        assert isinstance(used.inner, TiledDetector)  # type: ignore[attr-defined]
        assert used.inner.tile_px == 256  # type: ignore[attr-defined]
    finally:
        built.store.close()


def test_models_are_read_by_role_and_the_roles_are_counting_or_anonymising(
    config_text: str, tmp_path: Path
) -> None:
    from crowdsafe.assembly import model_path

    assert set(MODEL_ROLES) == {"person_detector", "density_counter", "face_blur"}
    config = parse_config(config_text, base_dir=tmp_path)
    assert all(model_path(config, role) is None for role in MODEL_ROLES)  # shipped models
    with pytest.raises(ConfigError, match="unknown model role 'not_a_role'"):
        model_path(config, "not_a_role")  # type: ignore[arg-type]


def test_the_clis_default_detector_is_the_configs(config_text: str) -> None:
    """--help prints the default kind without importing the config; keep them equal."""
    from crowdsafe.assembly import DETECTOR_KINDS
    from crowdsafe.cli._common import DEFAULT_DETECTOR
    from crowdsafe.config import DETECTOR_SECTIONS

    assert parse_config(config_text).cameras[0].detector.kind == DEFAULT_DETECTOR
    assert set(DETECTOR_KINDS) == set(DETECTOR_SECTIONS)  # every section kind can be built
