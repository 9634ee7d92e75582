"""The Store contract: one suite, run against every backend.

Each test takes ``store`` (or ``opener``), parametrized over SQLite (a file in the test's
folder) and PostgreSQL (a fresh database on a real throw-away server, see
``tests/servers/postgres.py``; those cases skip, saying why, where the server binaries
are missing).  What one backend does, the other must do the same.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from crowdsafe.errors import StoreError
from crowdsafe.store.codec import STORED_TYPES
from crowdsafe.types import (
    Alert,
    AlertLevel,
    AlertRule,
    AlertState,
    CountMethod,
    LevelOfService,
    LineSample,
    ZoneSample,
)
from tests.servers.postgres import PostgresCluster

BACKENDS = ["sqlite", "postgresql"]

Opener = Callable[[], Any]


def fresh_database(cluster: PostgresCluster) -> str:
    """A new empty database on the test server; its DSN."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return cluster.dsn(name)


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a store on one database of the backend: every call the same database."""
    opened: list[Any] = []
    if request.param == "sqlite":
        from crowdsafe.store.sqlite import SQLiteStore

        path = tmp_path / "contract.db"

        def open_store() -> Any:
            opened.append(SQLiteStore(path))
            return opened[-1]
    else:
        from crowdsafe.store.postgres import PostgresStore

        dsn = fresh_database(request.getfixturevalue("pg_cluster"))

        def open_store() -> Any:
            opened.append(PostgresStore(dsn, pool_max=4, connect_timeout_s=5.0))
            return opened[-1]

    yield open_store
    for s in opened:
        s.close()


@pytest.fixture
def store(opener: Opener) -> Any:
    return opener()


def sample(zone: str, t: float, count: float = 2.0, area: float = 10.0) -> ZoneSample:
    return ZoneSample(
        camera_id="cam1",
        zone_id=zone,
        t=t,
        count=count,
        count_max=int(count) + 1,
        area_m2=area,
        density_per_m2=count / area,
        los=LevelOfService.A,
        frames=10,
    )


def flow(line: str, t: float, count_in: int = 3) -> LineSample:
    return LineSample(
        "cam1", line, t, 60.0, count_in, 1, 2.0, (count_in + 1) / 2.0, LevelOfService.B
    )


def alert(alert_id: str, updated_at: float, state: AlertState = AlertState.OPEN) -> Alert:
    return Alert(
        alert_id,
        AlertRule.DENSITY,
        "zone",
        "a",
        "cam1",
        AlertLevel.WARNING,
        state,
        f"density high ({alert_id})",
        2.1,
        2.0,
        updated_at - 10.0,
        updated_at,
    )


def test_series_reads_a_half_open_time_range_in_order(store: Any) -> None:
    store.write_samples([sample("a", t) for t in (103.0, 100.0, 101.0, 102.0)])
    store.write_samples([sample("b", 101.0, count=9)])
    got = store.series("a", since=101.0, until=103.0)
    assert [s.t for s in got] == [101.0, 102.0]
    assert all(s.zone_id == "a" for s in got)
    assert [s.t for s in store.series("a")] == [100.0, 101.0, 102.0, 103.0]
    assert [s.t for s in store.series("a", since=102.5)] == [103.0]
    assert [s.t for s in store.series("a", until=100.5)] == [100.0]
    assert store.series("a", since=103.0, until=103.0) == []
    assert store.series("nope") == []


def test_limit_keeps_the_newest_returned_oldest_first(store: Any) -> None:
    store.write_samples([sample("a", float(t)) for t in range(10)])
    assert [s.t for s in store.series("a", limit=3)] == [7.0, 8.0, 9.0]
    assert [s.t for s in store.series("a", until=5.0, limit=2)] == [3.0, 4.0]
    assert store.latest("a") == sample("a", 9.0)
    assert store.latest("b") is None
    with pytest.raises(ValueError, match="limit must be >= 1"):
        store.series("a", limit=0)


def test_every_field_round_trips_exactly(store: Any) -> None:
    s = replace(
        sample("a", 1700000000.123456, count=3.25, area=12.5),
        density_low_per_m2=0.125,
        density_high_per_m2=0.375,
        method=CountMethod.DENSITY,
        held=True,
    )
    plain = sample("a", 1700000001.5)
    store.write_samples([s, plain])
    back = store.series("a")
    assert back == [s, plain]
    assert back[0].method is CountMethod.DENSITY and back[0].held is True
    assert type(back[0].count_max) is int and type(back[1].held) is bool


def test_same_zone_and_bucket_replaces_across_and_within_batches(store: Any) -> None:
    store.write_samples([sample("a", 5.0, count=1), sample("a", 6.0, count=1)])
    store.write_samples([sample("a", 5.0, count=4)])
    assert [(s.t, s.count) for s in store.series("a")] == [(5.0, 4.0), (6.0, 1.0)]
    # A provisional sample and its replacement in one batch: the later one wins.
    store.write_samples([sample("a", 7.0, count=2), sample("a", 7.0, count=8)])
    assert store.latest("a") == sample("a", 7.0, count=8)


def test_a_batch_of_new_and_stored_keys_inserts_and_replaces(store: Any) -> None:
    # PostgreSQL first tries the batch as new rows, then replaces: both must end equal.
    store.write_samples([sample("a", 1.0, count=1), sample("b", 1.0, count=1)])
    store.write_samples([sample("a", 2.0, count=3), sample("b", 1.0, count=5), sample("a", 1.0)])
    assert [(s.t, s.count) for s in store.series("a")] == [(1.0, 2.0), (2.0, 3.0)]
    assert store.series("b") == [sample("b", 1.0, count=5)]
    store.write_samples([sample("b", 2.0, count=6)])  # and new keys alone still go in
    assert [s.count for s in store.series("b")] == [5.0, 6.0]


class _Bogus(Enum):
    Z = "Z"  # a level of service no database CHECK accepts


def test_a_failed_batch_writes_nothing(store: Any) -> None:
    store.write_samples([sample("a", 1.0)])
    bad = sample("a", 2.0)
    object.__setattr__(bad, "los", _Bogus.Z)
    with pytest.raises(StoreError, match="cannot write"):
        store.write_samples([sample("a", 3.0), replace(sample("a", 1.0), count=7.0), bad])
    assert store.series("a") == [sample("a", 1.0)]  # the batch rolled back whole
    store.write_samples([sample("a", 3.0)])  # and the store still writes
    assert [s.t for s in store.series("a")] == [1.0, 3.0]


def test_empty_writes_are_no_ops(store: Any) -> None:
    store.write_samples([])
    store.write_line_samples([])
    assert store.series("a") == [] and store.line_series("gate") == []


def test_line_samples_replace_and_read_by_window(store: Any) -> None:
    store.write_line_samples([flow("gate", t) for t in (0.0, 60.0, 120.0)] + [flow("side", 60.0)])
    store.write_line_samples([flow("gate", 60.0, count_in=9)])  # the bucket's closing sample
    got = store.line_series("gate", since=60.0, until=180.0)
    assert got == [flow("gate", 60.0, count_in=9), flow("gate", 120.0)]
    assert store.line_series("gate", limit=1) == [flow("gate", 120.0)]
    assert [s.line_id for s in store.line_series("side")] == ["side"]
    assert store.line_series("none") == []
    with pytest.raises(ValueError, match="limit must be >= 1"):
        store.line_series("gate", limit=0)


def test_alerts_upsert_by_id_and_filter_newest_first(store: Any) -> None:
    store.save_alert(alert("x", 100.0))
    store.save_alert(alert("y", 200.0))
    store.save_alert(alert("z", 300.0, AlertState.RESOLVED))
    acked = replace(alert("x", 400.0, AlertState.ACKNOWLEDGED), acknowledged_at=400.0)
    store.save_alert(acked)  # the same id: updated, not added
    assert [a.id for a in store.alerts()] == ["x", "z", "y"]
    assert store.get_alert("x") == acked
    assert store.get_alert("missing") is None
    open_or_acked = [AlertState.OPEN, AlertState.ACKNOWLEDGED]
    assert [a.id for a in store.alerts(states=open_or_acked)] == ["x", "y"]
    assert [a.id for a in store.alerts(since=250.0)] == ["x", "z"]
    assert [a.id for a in store.alerts(limit=1)] == ["x"]
    resolved = store.alerts(states=[AlertState.RESOLVED])
    assert resolved == [alert("z", 300.0, AlertState.RESOLVED)]
    assert resolved[0].resolved_at is None and resolved[0].rule is AlertRule.DENSITY
    with pytest.raises(ValueError, match="limit must be >= 1"):
        store.alerts(limit=0)


def test_an_alert_state_never_moves_backwards(store: Any) -> None:
    # The owning worker saves its alert on every sample; an operator acknowledges it
    # through another server a moment before the worker hears of it.
    store.save_alert(alert("x", 100.0))
    acked = replace(alert("x", 110.0, AlertState.ACKNOWLEDGED), acknowledged_at=110.0)
    store.save_alert(acked)
    store.save_alert(replace(alert("x", 120.0), value=2.3))  # the worker, not told yet
    got = store.get_alert("x")
    assert (got.state, got.acknowledged_at, got.value, got.updated_at) == (
        AlertState.ACKNOWLEDGED,
        110.0,
        2.3,
        120.0,
    )
    # An escalation must be seen again: open at the higher level.
    store.save_alert(replace(alert("x", 130.0), level=AlertLevel.CRITICAL, value=3.0))
    got = store.get_alert("x")
    assert (got.state, got.level) == (AlertState.OPEN, AlertLevel.CRITICAL)
    # Resolved is final: a late save of the same id changes nothing.
    done = replace(got, state=AlertState.RESOLVED, resolved_at=140.0, updated_at=140.0)
    store.save_alert(done)
    store.save_alert(replace(got, updated_at=150.0, value=9.9))
    assert store.get_alert("x") == done


def test_hourly_counts_are_means_per_utc_hour(store: Any) -> None:
    h = 1_700_002_800.0  # an hour boundary (a multiple of 3600)
    store.write_samples(
        [
            sample("a", h + 10, count=1),
            sample("a", h + 3599, count=3),
            sample("a", h + 3600, count=5),
            sample("a", h + 7300, count=8),
            sample("b", h + 10, count=100),
        ]
    )
    assert store.hourly_counts("a") == [(h, 2.0), (h + 3600, 5.0), (h + 7200, 8.0)]
    assert store.hourly_counts("a", since=h + 3600, until=h + 7200) == [(h + 3600, 5.0)]
    assert store.hourly_counts("none") == []


def test_zone_ids_lists_every_zone_with_samples(store: Any) -> None:
    assert store.zone_ids() == []
    store.write_samples([sample("b", 1.0), sample("a", 1.0), sample("a", 2.0)])
    assert store.zone_ids() == ["a", "b"]


def test_purge_deletes_samples_before_the_horizon_and_keeps_alerts(store: Any) -> None:
    store.write_samples([sample("a", float(t)) for t in range(10)])
    store.write_line_samples([flow("gate", 0.0), flow("gate", 60.0)])
    store.save_alert(alert("x", 1.0))
    assert store.purge(5.0) == 5 + 1
    assert [s.t for s in store.series("a")] == [5.0, 6.0, 7.0, 8.0, 9.0]
    assert [s.t for s in store.line_series("gate")] == [60.0]
    assert store.get_alert("x") == alert("x", 1.0)
    assert store.purge(5.0) == 0


def test_data_survives_reopening(opener: Opener) -> None:
    first = opener()
    first.write_samples([sample("a", 1.0)])
    first.save_alert(alert("x", 1.0))
    first.close()
    again = opener()  # and opening an existing schema neither fails nor empties it
    assert again.series("a") == [sample("a", 1.0)]
    assert again.get_alert("x") == alert("x", 1.0)


def test_writers_on_several_threads_all_land(store: Any) -> None:
    def write(zone: str) -> None:
        for t in range(20):
            store.write_samples([sample(zone, float(t))])

    threads = [threading.Thread(target=write, args=(z,)) for z in "abcd"]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert {z: len(store.series(z)) for z in "abcd"} == dict.fromkeys("abcd", 20)


# Anything that could describe a person rather than the crowd.
PER_PERSON = re.compile(
    r"track|box|bbox|xyxy|x1|y1|x2|y2|pixel|image|frame_data|face|embedding|person_id|attribute",
    re.IGNORECASE,
)


def test_schema_holds_aggregates_only_one_column_per_field(store: Any) -> None:
    columns = store.columns()
    # PostgreSQL also holds a fleet's registry: where each camera runs and its health.
    fleet = {"camera_placements", "camera_status"} & set(columns)
    assert fleet == set() or type(store).__name__ == "PostgresStore"
    assert set(columns) - fleet == {"meta", "alembic_version", "rollup_state", *STORED_TYPES}
    flat = [c for cols in columns.values() for c in cols]
    assert not [c for c in flat if PER_PERSON.search(c)], flat
    for table, cls in STORED_TYPES.items():
        assert columns[table] == [f.name for f in fields(cls)], table
