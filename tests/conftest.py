"""Shared fixtures: real data paths, a small valid config, a fake detector."""

from __future__ import annotations

from pathlib import Path

import pytest

# A real throw-away PostgreSQL server (the `pg_cluster` fixture) for the store tests.
pytest_plugins = ["tests.servers.postgres"]

SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
MOT15 = SHARED_EVAL / "mot15"

# A camera model with known geometry, used to make calibration points exactly.
CONFIG_TEMPLATE = """\
site: Test site
cameras:
  - id: cam1
    name: Test camera
    source:
      url: {video}
      realtime: false
    density:
      method: detection  # the tests script detections; the density model would disagree
    calibration:
      image_points:    [[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]]
      ground_points_m: [[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], [0.00, 14.06]]
    zones:
      - id: left
        name: Left half
        polygon: [[0, 200], [384, 200], [384, 576], [0, 576]]
      - id: right
        polygon: [[384, 200], [768, 200], [768, 576], [384, 576]]
storage:
  path: {db}
"""


def requires_mot15() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not (MOT15 / "TUD-Stadtmitte" / "gt" / "gt.txt").is_file(),
        reason=f"MOT15 evaluation data not found at {MOT15} (CI has ../shared)",
    )


@pytest.fixture
def sample_video() -> Path:
    from crowdsafe.ingest.video import sample_video_path

    path = sample_video_path()
    assert path.is_file(), f"bundled sample video missing: {path}"
    return path


@pytest.fixture
def config_text(tmp_path: Path, sample_video: Path) -> str:
    return CONFIG_TEMPLATE.format(video=sample_video, db=tmp_path / "test.db")


@pytest.fixture
def config_file(tmp_path: Path, config_text: str) -> Path:
    path = tmp_path / "crowdsafe.yaml"
    path.write_text(config_text)
    return path
