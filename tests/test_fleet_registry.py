"""The fleet's registry (placements and camera health) on the real PostgreSQL server:
a worker's thousands of rows go in one statement each way, and read back as written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crowdsafe.cluster.registry import CameraStatus, FleetRegistry, Placement
from tests.servers.postgres import PostgresCluster
from tests.test_store_contract import fresh_database


@pytest.fixture
def registry(pg_cluster: PostgresCluster) -> Iterator[FleetRegistry]:
    reg = FleetRegistry(fresh_database(pg_cluster))
    yield reg
    reg.close()


def status(i: int, *, node: str = "n1", at: float = 100.0, fps: float = 1.0) -> CameraStatus:
    # every third camera has had no frame yet (a NULL in its column)
    return CameraStatus(f"cam{i}", node, "live", fps, None if i % 3 == 0 else at - 0.5, at)


def test_statuses_are_upserted_as_written(registry: FleetRegistry) -> None:
    registry.write_statuses([status(i) for i in range(2000)])
    registry.write_statuses([status(i, node="n2", at=105.0, fps=0.5) for i in range(0, 2000, 2)])
    stored = registry.statuses()
    assert len(stored) == 2000
    assert stored["cam0"] == status(0, node="n2", at=105.0, fps=0.5)
    assert stored["cam1"] == status(1)
    assert stored["cam4"].last_frame_at == 104.5
    assert stored["cam3"].last_frame_at is None


def test_statuses_with_no_frame_at_all_and_none_at_all(registry: FleetRegistry) -> None:
    registry.write_statuses([])  # nothing to write is not an error
    registry.write_statuses([status(0), status(3)])  # a column of NULLs only
    assert {c: s.last_frame_at for c, s in registry.statuses().items()} == {
        "cam0": None,
        "cam3": None,
    }


def test_placements_hold_exactly_what_was_set(registry: FleetRegistry) -> None:
    first = {f"cam{i}": Placement(f"cam{i}", "n1", "w1", 10.0) for i in range(3000)}
    registry.set_placements(first)
    moved = {c: Placement(c, "n2", "w2", 20.0, moves=1) for c in list(first)[:1000]}
    registry.set_placements(moved)  # the other 2,000 are no longer placed
    assert registry.placements() == moved
    registry.set_placements({})
    assert registry.placements() == {}
