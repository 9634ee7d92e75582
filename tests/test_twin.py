"""The digital twin (SIMULATION ONLY): JuPedSim crowds watched through the deployed
buckets, alerts and time to clear (evaluation/twin.py).  The full scenarios are the
acceptance runs of ``crowdsafe eval twin`` (README, "Measured"); these are shorter."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("jupedsim", reason="the twin extra: pip install 'crowdsafe[twin]'")
pytest.importorskip("pedpy", reason="the twin extra: pip install 'crowdsafe[twin]'")

from crowdsafe.cli import main
from crowdsafe.evaluation.twin import run_twin
from crowdsafe.evaluation.twin_sim import Scenario, simulate

SHORT_BUILD_UP = Scenario(
    "short build-up", arrivals_per_s=3.0, stop_s=300.0, seconds=900.0, description="test"
)


def test_the_simulated_crowd_walks_to_the_exit_at_walking_speeds() -> None:
    frames = list(simulate(Scenario("few", 0.5, stop_s=40.0, seconds=60.0), seed=3))
    assert frames[-1].t == pytest.approx(60.0, abs=0.3)
    moving = np.concatenate([f.velocities for f in frames[10:]])
    speeds = np.hypot(moving[:, 0], moving[:, 1])
    assert 0.9 < float(np.median(speeds)) < 1.8  # free walkers, 1.34 m/s desired
    assert float(np.median(moving[:, 0])) > 0.5  # towards the exits, at x = 30


def test_a_crowd_building_up_at_a_bottleneck_is_warned_of_and_its_clearing_timed() -> None:
    report = run_twin(SHORT_BUILD_UP, seed=1).to_dict()
    assert report["peak_true_density_per_m2"] > 3.0
    assert report["predictive_opened_at_s"] is not None
    assert report["highest_level"] in ("warning", "critical")
    clearing = report["time_to_clear"]
    assert isinstance(clearing, dict) and clearing["simulated_min"]
    assert abs(clearing["error_pct"]) <= 20.0


def test_eval_twin_steady_raises_nothing_above_advisory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "twin", "--scenario", "steady", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["scenario"] == "steady" and out["simulated_s"] >= 1799
    assert out["highest_level"] in (None, "advisory")
    assert out["true_density_5_at_s"] is None
    assert out["nowcast_error"]["5_min"]["forecasts"] >= 10


def test_eval_twin_refuses_a_bad_recall(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "twin", "--scenario", "steady", "--recall", "0"]) == 2
    assert "--recall must be in (0, 1]" in capsys.readouterr().err
