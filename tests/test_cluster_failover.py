"""A fleet on a real two-node Ray cluster (127.0.0.1), the real PostgreSQL and real RTSP
cameras: the non-head node is removed and its cameras are analysed on the head within
30 s; an operator's acknowledgement stored and notified reaches the owning worker.

Kept small for CI: 1 CPU per node, no dashboard, 100 MB object stores, 3 cameras on one
RTSP server, detections scripted (one person a frame), one module, one test."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from crowdsafe.config import parse_config
from crowdsafe.detect.base import FakeDetector
from crowdsafe.types import Detections, Frame

from .servers import RtspServer, gst_rtsp_available
from .servers.postgres import PostgresCluster
from .test_store_contract import fresh_database

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.skipif(gst_rtsp_available() is not None, reason=str(gst_rtsp_available()))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

NAMESPACE = "crowdsafe-test"
OBJECT_STORE = 100 * 1024 * 1024
CAMERAS = ["gate", "hall", "stairs"]


def one_person(frame: Frame) -> Detections:
    return Detections(
        xyxy=np.array([[100, 300, 140, 400]], dtype=np.float32), score=np.ones(1, np.float32)
    )


def scripted_detector() -> FakeDetector:
    """Built in each worker: this module travels by value, tests/ is not on their path."""
    return FakeDetector(one_person)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.25)
    return time.monotonic() - start


def fleet_config(dsn: str, url: str, tmp_path: Path) -> Any:
    cameras = [
        {
            "id": cam,
            "source": {"url": url, "stall_s": 5.0, "open_timeout_s": 3.0},
            "analysis_fps": 2,
            "calibration": {
                "image_points": [[60, 190], [720, 190], [740, 560], [40, 560], [384, 330]],
                "ground_points_m": [
                    [-7.02, 19.19],
                    [7.28, 19.19],
                    [4.69, 8.94],
                    [-4.53, 8.94],
                    [0.0, 14.06],
                ],
            },
            "density": {"method": "detection"},
            "zones": [
                {
                    "id": f"{cam}-all",
                    "polygon": [[0, 200], [768, 200], [768, 576], [0, 576]],
                    # one person in the zone opens an advisory after 1 s
                    "alert_density_per_m2": {"advisory": 0.001, "hold_s": 1.0},
                }
            ],
        }
        for cam in CAMERAS
    ]
    text = yaml.safe_dump(
        {
            "site": "Fleet test",
            "cameras": cameras,
            "storage": {"backend": "postgresql", "dsn": dsn, "bucket_s": 1.0},
            "cluster": {
                "namespace": NAMESPACE,
                "rebalance_interval_s": 0.5,
                "worker_timeout_s": 3.0,
                "status_interval_s": 1.0,
                "alert_poll_s": 1.0,
            },
        }
    )
    return parse_config(text, base_dir=tmp_path)


@pytest.fixture
def two_nodes() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "object_store_memory": OBJECT_STORE,
            # a node that stops answering is declared dead in about 3 s, not 30 s
            # and arguments over 1 kB go to the object store, as a city's config does
            "_system_config": {
                "health_check_period_ms": 1000,
                "health_check_failure_threshold": 3,
                "max_direct_call_object_size": 1024,
            },
        },
    )
    cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _answers(actor: Any) -> str | None:
    """What ``actor.config_json`` says, or None while it does not answer (restarting)."""
    try:
        return str(ray.get(actor.config_json.remote(), timeout=5))
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        return None


def rows(dsn: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return list(conn.execute(query, params).fetchall())


def test_node_removed_its_cameras_run_on_the_other_within_30_s(
    tmp_path: Path, pg_cluster: PostgresCluster, two_nodes: Any, sample_video: Path
) -> None:
    from crowdsafe.cluster.fleet import connect, start_fleet, stop_fleet
    from crowdsafe.cluster.registry import FleetRegistry

    dsn = fresh_database(pg_cluster)
    rtsp = RtspServer(sample_video, shared=False)
    rtsp.start()
    config = fleet_config(dsn, rtsp.url, tmp_path)
    connect(two_nodes.address, NAMESPACE)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    head_id = ray.get_runtime_context().get_node_id()
    registry = FleetRegistry(dsn)
    try:
        controller = start_fleet(config, scripted_detector)

        def stored_zones(after: float = 0.0) -> set[str]:
            found = rows(dsn, "SELECT DISTINCT zone_id FROM zone_samples WHERE t > %s", after)
            return {r[0] for r in found}

        wait_for(lambda: stored_zones() >= {f"{c}-all" for c in CAMERAS}, 90, "every camera")
        placed = registry.placements()
        assert set(placed) == set(CAMERAS)
        assert {p.node_id for p in placed.values()} == {n["NodeID"] for n in ray.nodes()}
        moved = sorted(c for c, p in placed.items() if p.node_id != head_id)
        assert moved, placed
        assert all(p.moves == 0 for p in placed.values())
        wait_for(lambda: set(registry.statuses()) == set(CAMERAS), 10, "camera status rows")
        assert {s.node_id for s in registry.statuses().values()} == {
            p.node_id for p in placed.values()
        }

        # an operator acknowledges an alert of a camera on the head, through the store
        owner_cam = next(c for c, p in placed.items() if p.node_id == head_id)
        wait_for(
            lambda: bool(rows(dsn, "SELECT id FROM alerts WHERE camera_id = %s", owner_cam)),
            30,
            "an alert to open",
        )
        (alert_id,) = rows(dsn, "SELECT id FROM alerts WHERE camera_id = %s", owner_cam)[0]
        worker = ray.get(controller.worker.remote(head_id))
        assert ray.get(worker.alert_view.remote(alert_id)) == "open"
        rows_ack = (
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = %s, updated_at = %s "
            "WHERE id = %s RETURNING id"
        )
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(rows_ack, (time.time(), time.time(), alert_id))
            conn.execute("SELECT pg_notify('crowdsafe_alert_state', %s)", (alert_id,))
        ack_s = wait_for(
            lambda: ray.get(worker.alert_view.remote(alert_id)) == "acknowledged",
            10,
            "the acknowledgement to reach the owning worker",
        )

        # the controller maintains the shared store (its first round runs at start)
        kept = ray.get(controller.maintenance_status.remote())
        assert kept.last_run_at is not None and kept.last_error is None, kept

        # the controller's process dies; Ray restarts it from its namespace's spec alone
        # (cluster/spec.py: large constructor arguments would be gone by now), and the
        # restarted controller is the one that moves the cameras below
        ray.kill(controller, no_restart=False)
        wait_for(
            lambda: _answers(controller) == config.model_dump_json(),
            60,
            "the controller restarted by Ray to answer",
        )

        # the non-head node goes, as a machine that dies would
        removed_at = time.time()
        two_nodes.remove_node(two_nodes.list_all_nodes()[1], allow_graceful=False)
        failover_s = wait_for(
            lambda: stored_zones(removed_at) >= {f"{c}-all" for c in moved},
            30,
            "the removed node's cameras to store samples from the head",
        )
        after = registry.placements()
        for cam in moved:
            assert after[cam].node_id == head_id
            assert after[cam].moves == 1
        # each bucket once (the key), and no gap longer than the failover itself
        for cam in moved:
            ts = [
                r[0]
                for r in rows(
                    dsn, "SELECT t FROM zone_samples WHERE zone_id = %s ORDER BY t", f"{cam}-all"
                )
            ]
            assert len(ts) == len(set(ts))
            gaps = np.diff(ts)
            assert gaps.max() <= failover_s + 3.0, (cam, gaps.max(), failover_s)
        print(
            json.dumps(
                {
                    "failover_s": round(failover_s, 2),
                    "cameras_moved": len(moved),
                    "ack_reached_worker_s": round(ack_s, 2),
                }
            )
        )
        assert stop_fleet(NAMESPACE)
    finally:
        registry.close()
        rtsp.stop()
