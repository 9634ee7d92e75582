"""``crowdsafe fleet simulate`` kept CI-sized: 30 scripted cameras on a real two-node Ray
cluster (127.0.0.1), the real PostgreSQL, the real ``crowdsafe serve``; the non-head node
is removed 10 s in.  Asserts the run's bookkeeping, not its speed (the machine is shared):
every sample stored once, nothing missing beyond the reported failover gap, every camera
of the removed node reassigned and storing again within 30 s, the figures there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crowdsafe.assembly.layout import build_zones
from crowdsafe.cluster.synthetic import ScriptedCrowd, ScriptedCrowdDetector, crowd_level
from crowdsafe.config import parse_config
from crowdsafe.evaluation.fleet_config import simulation_config_text
from crowdsafe.measure.zones import ZoneCounter
from crowdsafe.types import Frame

from .servers.postgres import PostgresCluster
from .test_store_contract import fresh_database

CAMERAS, NODES, SECONDS, REMOVE_AT = 30, 2, 25, 10


@pytest.mark.parametrize(
    ("u", "low", "high"),
    [(0.0, 0.04, 0.06), (0.2, 0.3, 0.8), (0.5, 1.0, 1.0), (0.72, 0.3, 0.9), (0.9, 0.04, 0.06)],
)
def test_crowd_builds_up_holds_and_leaves(u: float, low: float, high: float) -> None:
    assert low <= crowd_level(u) <= high


def test_scripted_people_are_counted_in_their_zones() -> None:
    config = parse_config(simulation_config_text("postgresql://x@127.0.0.1:1/x", 3))
    crowd = ScriptedCrowd(seed=7)
    detector = ScriptedCrowdDetector(config, crowd)
    cam = config.cameras[1]
    zones = build_zones(cam, config.thresholds)
    frame = Frame(cam.id, 1_700_000_123.5, np.zeros((576, 768, 3), np.uint8))
    counted = ZoneCounter(zones).count(detector.detect(frame))
    expected = crowd.counts(cam.id, len(zones), frame.t)
    assert [counted[z.id] for z in zones] == expected
    assert sum(expected) > 0
    # the same script in every process: a second detector says the same
    assert ScriptedCrowdDetector(config, crowd).detect(frame).xyxy.tolist() == (
        detector.detect(frame).xyxy.tolist()
    )


def test_simulate_removes_a_node_and_accounts_for_every_sample(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    pytest.importorskip("ray")
    dsn = fresh_database(pg_cluster)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "crowdsafe.cli", "fleet", "simulate",
         "--cameras", str(CAMERAS), "--nodes", str(NODES), "--seconds", str(SECONDS),
         "--remove-node-at", str(REMOVE_AT), "--dsn", dsn, "--json"],
        capture_output=True, text=True, timeout=400, env=env, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result))
    zones = CAMERAS * 3
    assert result["zones"] == zones
    assert result["zones_stored"] == zones
    assert result["lost_samples"] == 0
    assert result["duplicated_samples"] == 0 and result["duplicate_writes"] == 0
    failover = result["failover"]
    moved = failover["cameras_on_removed_node"]
    assert 0 < moved < CAMERAS
    assert failover["cameras_reassigned"] == moved
    assert failover["all_storing_again_s"] is not None
    assert failover["all_storing_again_s"] <= 30
    # the gap is the removed node's cameras' only: at most their zones for the failover
    assert failover["gap_samples"] <= moved * 3 * (failover["all_storing_again_s"] + 4)
    assert result["samples_per_s_stored"] > 0
    assert result["samples_stored"] > 0
    for key in ("p50", "p95"):
        assert result["delay_s"][key] > 0
    assert result["delay_s"]["n"] > 0
    assert result["api_ms"]["sites_p95"] > 0 and result["api_ms"]["zone_last_10min_p95"] > 0
    assert result["api_ms"]["errors"] == 0
    assert result["workers"] and all(w["peak_rss_mib"] > 0 for w in result["workers"])


def test_simulate_refuses_a_database_with_samples(pg_cluster: PostgresCluster) -> None:
    from crowdsafe.errors import UsageError
    from crowdsafe.evaluation.fleet_sim import simulate
    from crowdsafe.store.postgres import PostgresStore
    from crowdsafe.types import LevelOfService, ZoneSample

    dsn = fresh_database(pg_cluster)
    store = PostgresStore(dsn)
    store.write_samples([ZoneSample("c", "z", 1.0, 1.0, 1, 10.0, 0.1, LevelOfService.A, frames=1)])
    store.close()
    with pytest.raises(UsageError, match="empty database"):
        simulate(cameras=1, nodes=1, seconds=1, dsn=dsn)
