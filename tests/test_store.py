"""SQLite store: time-range reads, replacement, persistence and the aggregates-only rule."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import fields, replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from crowdsafe.errors import StoreError
from crowdsafe.store import SQLiteStore
from crowdsafe.store.migrations import SQLITE_HEAD, upgrade_sqlite
from crowdsafe.store.sqlite import STORED_TYPES
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
from tests.test_store_contract import sample


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = SQLiteStore(tmp_path / "crowdsafe.db")
    yield s
    s.close()


def test_series_reads_a_half_open_time_range_in_order(store: SQLiteStore) -> None:
    store.write_samples([sample("a", t) for t in (103.0, 100.0, 101.0, 102.0)])
    store.write_samples([sample("b", 101.0, count=9)])
    got = store.series("a", since=101.0, until=103.0)
    assert [s.t for s in got] == [101.0, 102.0]
    assert all(s.zone_id == "a" for s in got)
    assert [s.t for s in store.series("a")] == [100.0, 101.0, 102.0, 103.0]
    assert store.series("nope") == []


def test_limit_keeps_the_newest(store: SQLiteStore) -> None:
    store.write_samples([sample("a", float(t)) for t in range(10)])
    assert [s.t for s in store.series("a", limit=3)] == [7.0, 8.0, 9.0]
    assert store.latest("a") == sample("a", 9.0)
    assert store.latest("b") is None
    with pytest.raises(ValueError, match="limit must be >= 1"):
        store.series("a", limit=0)


def test_rows_round_trip_exactly(store: SQLiteStore) -> None:
    s = sample("a", 1700000000.0, count=3.25, area=12.5)
    store.write_samples([s])
    assert store.series("a") == [s]


def test_same_zone_and_bucket_replaces(store: SQLiteStore) -> None:
    store.write_samples([sample("a", 5.0, count=1)])
    store.write_samples([sample("a", 5.0, count=4)])
    assert [s.count for s in store.series("a")] == [4.0]


def test_data_survives_reopening_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    s = SQLiteStore(path)
    s.write_samples([sample("a", 1.0)])
    s.close()
    again = SQLiteStore(path)
    assert len(again.series("a")) == 1
    again.close()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_failed_write_loses_nothing(store: SQLiteStore) -> None:
    store.write_samples([sample("a", 1.0)])
    bad = sample("a", 2.0)
    object.__setattr__(bad, "los", SimpleNamespace(value="Z"))  # violates the CHECK constraint
    with pytest.raises(StoreError, match="cannot write"):
        store.write_samples([sample("a", 3.0), bad])
    assert [s.t for s in store.series("a")] == [1.0]  # the batch rolled back whole


def test_unopenable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"folder .* does not exist"):
        SQLiteStore(tmp_path / "missing" / "x.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        SQLiteStore(garbage)


# Anything that could describe a person rather than the crowd.
PER_PERSON = re.compile(
    r"track|box|bbox|xyxy|x1|y1|x2|y2|pixel|image|frame_data|face|embedding|person_id|attribute",
    re.IGNORECASE,
)


def test_schema_holds_aggregates_only(store: SQLiteStore) -> None:
    columns = store.columns()
    assert set(columns) == {"meta", "alembic_version", "rollup_state", *STORED_TYPES}
    flat = [c for cols in columns.values() for c in cols]
    assert not [c for c in flat if PER_PERSON.search(c)], flat


def test_a_version_1_database_is_upgraded_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE zone_samples (
            camera_id TEXT NOT NULL, zone_id TEXT NOT NULL, t REAL NOT NULL,
            count REAL NOT NULL, count_max INTEGER NOT NULL, area_m2 REAL NOT NULL,
            density_per_m2 REAL NOT NULL, los TEXT NOT NULL, frames INTEGER NOT NULL,
            PRIMARY KEY (zone_id, t)) WITHOUT ROWID;
        INSERT INTO zone_samples VALUES ('cam1', 'a', 100.0, 2.0, 3, 10.0, 0.2, 'A', 10);
        """
    )
    old.commit()
    old.close()
    store = SQLiteStore(path)
    rows = store.series("a")
    store.write_samples([sample("a", 101.0)])
    version = store._conn.execute("SELECT version_num FROM alembic_version").fetchone()
    store.close()
    assert [(s.t, s.count, s.density_per_m2) for s in rows] == [(100.0, 2.0, 0.2)]
    assert rows[0].density_low_per_m2 == 0.0
    assert rows[0].method == "detection"  # samples from before the density model
    assert rows[0].held is False  # and from before frames could be held
    assert version == (SQLITE_HEAD,)


def test_a_version_3_database_gains_held_keeping_its_rows(tmp_path: Path) -> None:
    # A database as crowdsafe wrote it before samples said whether they were held.
    path = tmp_path / "v3.db"
    old = sqlite3.connect(path, isolation_level=None)
    upgrade_sqlite(old, str(path), target="0003")
    old.execute("DROP TABLE alembic_version")  # as it was: version 3 in meta only
    old.execute(
        "INSERT INTO zone_samples VALUES "
        "('cam1', 'a', 100.0, 2.0, 3, 10.0, 0.2, 'A', 10, 0.1, 0.3, 'density')"
    )
    old.commit()
    old.close()
    store = SQLiteStore(path)
    store.write_samples([replace(sample("a", 101.0), held=True)])
    rows = store.series("a")
    store.close()
    assert [(s.t, s.count, s.method, s.held) for s in rows] == [
        (100.0, 2.0, CountMethod.DENSITY, False),
        (101.0, 2.0, CountMethod.DETECTION, True),
    ]
    conn = sqlite3.connect(path)
    stored = conn.execute("SELECT held FROM zone_samples ORDER BY t").fetchall()
    with pytest.raises(sqlite3.IntegrityError):  # the column holds 0 or 1 only
        conn.execute("UPDATE zone_samples SET held = 2")
    conn.close()
    assert stored == [(0,), (1,)]


@pytest.mark.parametrize(
    "newer",
    [
        "UPDATE alembic_version SET version_num = '9999'",  # a later revision
        # a hand-written version from before Alembic that this crowdsafe never had
        "DROP TABLE alembic_version; UPDATE meta SET value = '99' WHERE key = 'schema_version'",
    ],
)
def test_a_newer_database_is_refused_untouched(tmp_path: Path, newer: str) -> None:
    path = tmp_path / "new.db"
    store = SQLiteStore(path)
    store.write_samples([sample("a", 100.0)])
    store.close()
    conn = sqlite3.connect(path)
    conn.executescript(newer)
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer crowdsafe; upgrade crowdsafe"):
        SQLiteStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM zone_samples").fetchone() == (1,)


def test_every_stored_field_has_a_column_and_every_column_a_field(store: SQLiteStore) -> None:
    # Adding a field to a stored type needs a migration adding its column, and a column
    # added by a migration needs a field: the types in crowdsafe/types.py are the schema.
    columns = store.columns()
    assert set(STORED_TYPES) == set(columns) - {"meta", "alembic_version", "rollup_state"}
    for table, cls in STORED_TYPES.items():
        names = {f.name for f in fields(cls)}
        assert set(columns[table]) == names, (
            f"{table}: columns without a field {sorted(set(columns[table]) - names)}, "
            f"fields without a column {sorted(names - set(columns[table]))}"
        )


@pytest.mark.parametrize("cls", [ZoneSample, LineSample, Alert])
def test_every_stored_field_is_in_the_json(cls: type) -> None:
    # to_dict keeps its own key order (the JSON's and the API's) but names every field
    example = {
        ZoneSample: sample("a", 1.0),
        LineSample: LineSample("cam1", "gate", 0.0, 60.0, 3, 1, 2.0, 2.0, LevelOfService.A),
        Alert: Alert(
            "x",
            AlertRule.FLOW,
            "line",
            "gate",
            "cam1",
            AlertLevel.WARNING,
            AlertState.OPEN,
            "m",
            1.0,
            1.0,
            0.0,
            0.0,
        ),
    }[cls]
    assert set(example.to_dict()) == {f.name for f in fields(cls)}


def test_enum_fields_are_stored_as_their_strings_and_read_back_as_enums(
    store: SQLiteStore,
) -> None:
    dense = replace(sample("a", 5.0), method=CountMethod.DENSITY)
    store.write_samples([dense])
    alert = Alert(
        "x",
        AlertRule.PREDICTIVE,
        "zone",
        "a",
        "cam1",
        AlertLevel.WARNING,
        AlertState.OPEN,
        "m",
        1.0,
        1.0,
        0.0,
        0.0,
    )
    store.save_alert(alert)
    raw = store._conn.execute("SELECT method, los FROM zone_samples").fetchone()
    assert raw == ("density", "A") and type(raw[0]) is str
    assert store._conn.execute("SELECT rule FROM alerts").fetchone() == ("predictive",)
    (back,) = store.series("a")
    assert back == dense and type(back.method) is CountMethod and back.method is CountMethod.DENSITY
    got = store.get_alert("x")
    assert got == alert and got is not None and got.rule is AlertRule.PREDICTIVE
