"""PostgreSQL's time partitions and schema upgrades, on a real server: a write makes
the partitions it needs, ``prepare`` makes them ahead, purge drops them whole and
counts their rows, and a database of the hand-written schema (version 1, before
partitions and Alembic) upgrades in place keeping its rows."""

from __future__ import annotations

from typing import Any

import pytest

from crowdsafe.errors import StoreError
from crowdsafe.store import partitions
from tests.servers.postgres import PostgresCluster
from tests.test_store_contract import fresh_database, sample

psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (the dev extra has it)")

from crowdsafe.store.migrations import POSTGRESQL_HEAD  # noqa: E402
from crowdsafe.store.postgres import PostgresStore  # noqa: E402

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def partition_names(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid "
            "WHERE inhparent = %s::regclass ORDER BY 1",
            (table,),
        ).fetchall()
    return [str(r[0]) for r in rows]


@pytest.fixture
def dsn(pg_cluster: PostgresCluster) -> str:
    return fresh_database(pg_cluster)


def test_writes_make_the_daily_partitions_they_need(dsn: str) -> None:
    store = PostgresStore(dsn)
    try:
        store.write_samples([sample("a", T0 + 10.0), sample("a", T0 + 2 * DAY + 5.0)])
        assert partition_names(dsn, "zone_samples") == [
            "zone_samples_p20260101",
            "zone_samples_p20260103",
        ]
        # A second store (another server) sees them and writes into them.
        other = PostgresStore(dsn)
        other.write_samples([sample("a", T0 + 20.0)])
        other.close()
        assert [s.t for s in store.series("a")] == [T0 + 10.0, T0 + 20.0, T0 + 2 * DAY + 5.0]
        with psycopg.connect(dsn) as conn:  # each row is in its day's partition
            first = conn.execute("SELECT count(*) FROM zone_samples_p20260101").fetchone()
        assert first == (2,)
        with pytest.raises(StoreError, match="not a finite number"):
            store.write_samples([sample("a", float("nan"))])
    finally:
        store.close()


def test_prepare_makes_the_next_days_partitions_ahead(dsn: str) -> None:
    store = PostgresStore(dsn)
    try:
        store.prepare(T0 + 3600.0)
        names = partition_names(dsn, "zone_samples")
        assert names == [
            "zone_samples_p20260101",
            "zone_samples_p20260102",
            "zone_samples_p20260103",
        ]
        assert partition_names(dsn, "line_samples")[0] == "line_samples_p20260101"
        weeks = partition_names(dsn, "zone_rollups_1m")
        assert weeks and partitions.partition_start("zone_rollups_1m", T0) == partitions.start_of(
            "zone_rollups_1m", weeks[0]
        )
        store.prepare(T0 + 3600.0)  # again: nothing new, no error
        assert partition_names(dsn, "zone_samples") == names
    finally:
        store.close()


def test_purge_drops_whole_partitions_and_deletes_the_rest(dsn: str) -> None:
    store = PostgresStore(dsn)
    try:
        days = [T0 + d * DAY + s for d in range(4) for s in (0.0, 40_000.0, 80_000.0)]
        store.write_samples([sample("a", t) for t in days])
        gone = store.purge(T0 + 2 * DAY + 50_000.0)  # two whole days and two samples
        assert gone == 3 + 3 + 2
        assert partition_names(dsn, "zone_samples") == [
            "zone_samples_p20260103",
            "zone_samples_p20260104",
        ]
        assert [s.t for s in store.series("a")] == days[8:]
        store.write_samples([sample("a", T0 + 5.0)])  # a dropped day is made again
        assert store.series("a", until=T0 + DAY)[0].t == T0 + 5.0
    finally:
        store.close()


_V1 = [
    "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
    "INSERT INTO meta VALUES ('schema_version', '1')",
]


def test_a_version_1_database_is_partitioned_in_place_keeping_its_rows(dsn: str) -> None:
    from crowdsafe.store.migrations.postgresql.versions import v0001_baseline

    with psycopg.connect(dsn, autocommit=True) as conn:  # as the last release made it
        conn.execute(_V1[0])
        for statement in filter(str.strip, v0001_baseline._SCHEMA.split(";")):
            conn.execute(statement)
        conn.execute(_V1[1])
        conn.execute(
            "INSERT INTO zone_samples (camera_id, zone_id, t, count, count_max, area_m2, "
            "density_per_m2, los, frames, held) VALUES "
            "('cam1', 'a', %s, 2, 3, 10, 0.2, 'A', 10, true), "
            "('cam1', 'a', %s, 4, 5, 10, 0.4, 'B', 10, false)",
            (T0 + 1.0, T0 + 3 * DAY),
        )
        conn.execute(
            "INSERT INTO line_samples VALUES ('cam1', 'exit', %s, 60, 3, 1, 2.5, 1.6, 'A')",
            (T0,),
        )
    store: Any = PostgresStore(dsn)
    try:
        assert (store.upgrade.before, store.upgrade.after) == ("0001", POSTGRESQL_HEAD)
        got = store.series("a")
        assert [(s.t, s.count, s.held) for s in got] == [
            (T0 + 1.0, 2.0, True),
            (T0 + 3 * DAY, 4.0, False),
        ]
        assert [ls.count_in for ls in store.line_series("exit")] == [3]
        # a partition for every day from the first row to the last
        assert partition_names(dsn, "zone_samples") == [
            f"zone_samples_p2026010{d}" for d in range(1, 5)
        ]
        assert store.rollups("a", 3600)[0].count_mean == 2.0
    finally:
        store.close()
    reopened = PostgresStore(dsn)  # at the head: nothing to do
    assert not reopened.upgrade.changed
    reopened.close()
