"""A zone's time to clear through its declared exits (measure/zones.py, config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crowdsafe.assembly.layout import build_zones
from crowdsafe.config.load import parse_config
from crowdsafe.errors import ConfigError
from crowdsafe.measure.zones import BucketAggregator, Zone

CONFIG = """\
site: Test
cameras:
  - id: cam
    source: {{url: sample:vtest}}
    analysis_fps: 5
    calibration:
      image_points:    [[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]]
      ground_points_m: [[-7.02, 19.19], [7.28, 19.19], [4.69, 8.94], [-4.53, 8.94], [0.00, 14.06]]
    lines:
      - {{id: gate-a, points: [[100, 500], [300, 500]], width_m: 2.5}}
      - {{id: gate-b, points: [[400, 500], [600, 500]], width_m: 1.5}}
    zones:
      - id: hall
        polygon: [[0, 200], [768, 200], [768, 576], [0, 576]]
        exits: {exits}
storage: {{path: {db}}}
"""


def hall(area_m2: float = 400.0, **fields: Any) -> Zone:
    """A square zone "hall" of ``area_m2`` on the ground, with any other fields given."""
    return Zone(
        id="hall",
        camera_id="cam",
        name="Hall",
        polygon_px=np.array([[0, 0], [10, 0], [10, 10], [0, 10]], dtype=np.float64),
        area_m2=area_m2,
        space_bounds_m2=(5.6, 3.7, 2.2, 1.4, 0.75),
        **fields,
    )


def _config(tmp_path: Path, exits: str, extra: str = "") -> str:
    return CONFIG.format(exits=exits, db=tmp_path / "c.db") + extra


def test_the_zones_exits_widths_give_its_capacity(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path, "[gate-a, gate-b]"))
    (hall,) = build_zones(config.cameras[0], config.thresholds)
    assert hall.exit_capacity_per_min == pytest.approx((2.5 + 1.5) * 82.0)
    slower = parse_config(
        _config(tmp_path, "[gate-a]", "thresholds: {exit_capacity_per_m_min: 66}\n")
    )
    (stairs,) = build_zones(slower.cameras[0], slower.thresholds)
    assert stairs.exit_capacity_per_min == pytest.approx(2.5 * 66.0)


def test_an_exit_that_is_not_a_line_of_the_camera_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exit 'gate-c' is not a counting line") as err:
        parse_config(_config(tmp_path, "[gate-a, gate-c]"))
    assert "gate-a, gate-b" in str(err.value)


def test_a_bucket_says_how_long_its_people_take_to_leave() -> None:
    zone = hall(exit_capacity_per_min=4.0 * 82.0)
    agg = BucketAggregator("cam", [zone])
    agg.add(10.2, {"hall": 1200})
    agg.add(10.6, {"hall": 1000})
    (sample,) = agg.flush()
    # 1,100 people on 400 m² (2.75 persons/m²) through 4 m of exits at 82 /m/min
    assert sample.density_per_m2 == pytest.approx(2.75)
    assert sample.time_to_clear_min == pytest.approx(1100 / (4 * 82))
    without = BucketAggregator("cam", [hall()])
    without.add(10.2, {"hall": 10})
    assert without.flush()[0].time_to_clear_min is None


def test_the_nowcast_says_when_its_forecast_crowd_would_clear() -> None:
    from crowdsafe.forecast.nowcast import nowcast
    from crowdsafe.forecast.results import ZoneNowcast
    from crowdsafe.forecast.service import _clear_min_per_count

    zone = hall(precision=0.9, recall=0.8, exit_capacity_per_min=2.0 * 82.0)
    t = np.arange(0.0, 600.0, 1.0)
    result = nowcast(t, 100.0 + t * 0.5, (300.0,), window_s=600.0)
    assert result is not None
    per_count = _clear_min_per_count(zone)
    assert per_count == pytest.approx(0.9 / 0.8 / 164.0)
    out = ZoneNowcast(
        "hall", result.t0, result.level, 0.5, True, result.samples, 600.0, result.points,
        zone.area_m2, "1s", clear_min_per_count=per_count,
    ).to_dict()  # fmt: skip
    (point,) = out["points"]  # type: ignore[misc]
    assert point["time_to_clear_min"] == pytest.approx(point["count"] * per_count, abs=0.01)
    assert point["time_to_clear_high_95_min"] >= point["time_to_clear_min"]
    assert _clear_min_per_count(hall()) == 0.0
