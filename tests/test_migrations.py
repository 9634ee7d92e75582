"""Schema migrations (Alembic, ``store/migrations``): the head revisions are the
scripts', a SQLite file made by the release before Alembic (``tests/data``, written by
``tools/make_store_fixture.py``) upgrades in place losing nothing, and a revision that
fails leaves the database at the last complete one."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from crowdsafe.errors import StoreError
from crowdsafe.store import SQLiteStore
from crowdsafe.store.codec import ALERTS, LINES, ZONES
from crowdsafe.store.migrations import (
    POSTGRESQL_HEAD,
    SQLITE_HEAD,
    head_revision,
    known_revisions,
    sqlite_revision,
)

RELEASE_FILE = Path(__file__).parent / "data" / "store-schema4.db"


@pytest.fixture
def release_db(tmp_path: Path) -> Path:
    """A copy of the file the release wrote (the original stays as it was)."""
    path = tmp_path / "crowdsafe.db"
    shutil.copyfile(RELEASE_FILE, path)
    return path


def test_the_head_constants_are_the_scripts_heads() -> None:
    assert head_revision("sqlite") == SQLITE_HEAD
    assert head_revision("postgresql") == POSTGRESQL_HEAD
    assert {"0001", "0002", "0003", "0004"} <= known_revisions("sqlite")


# What a zone sample gained after the release: its rows read back with these unset.
_NEWER = ("speed_m_s", "speed_sd_m_s", "time_to_clear_min", "pressure_per_s2", "fd_speed_ratio")
_NEWER_LINES = ("flux_in", "flux_out")


def test_a_file_made_by_the_release_upgrades_in_place_losing_nothing(release_db: Path) -> None:
    old = sqlite3.connect(release_db)
    then = ", ".join(n for n in ZONES.names if n not in _NEWER)
    zones = [
        (*r, *(None for _ in _NEWER))
        for r in old.execute(f"SELECT {then} FROM zone_samples ORDER BY zone_id, t").fetchall()
    ]
    assert ZONES.names[-len(_NEWER) :] == _NEWER  # the newer fields come last
    lines_then = ", ".join(n for n in LINES.names if n not in _NEWER_LINES)
    lines = [
        (*r, *(None for _ in _NEWER_LINES))
        for r in old.execute(f"SELECT {lines_then} FROM line_samples ORDER BY t").fetchall()
    ]
    alerts = old.execute(f"SELECT {ALERTS.columns} FROM alerts").fetchall()
    assert old.execute("SELECT value FROM meta").fetchall() == [("4",)]
    old.close()
    assert len(zones) == 300 and len(lines) == 3 and len(alerts) == 1

    store = SQLiteStore(release_db)
    try:
        assert (store.upgrade.before, store.upgrade.after) == ("0004", SQLITE_HEAD)
        got = [s for zone in ("gate", "hall") for s in store.series(zone)]
        assert got == [ZONES.read(r) for r in zones]
        assert store.line_series("exit") == [LINES.read(r) for r in lines]
        assert store.alerts() == [ALERTS.read(r) for r in alerts]
        minute = store.rollups("gate", 60)[0]  # the old rows are rolled up like new ones
        assert minute.samples == 60
        assert minute.count_mean == pytest.approx(sum(r[3] for r in zones[:60]) / 60)
    finally:
        store.close()
    conn = sqlite3.connect(release_db)
    # A crowdsafe from before Alembic reads meta and refuses a version above its 4.
    assert conn.execute("SELECT value FROM meta").fetchall() == [("8",)]
    assert sqlite_revision(conn) == SQLITE_HEAD
    conn.close()
    assert not SQLiteStore(release_db).upgrade.changed  # at the head: nothing to do


def test_a_revision_that_fails_leaves_the_last_complete_one(release_db: Path) -> None:
    conn = sqlite3.connect(release_db)
    conn.execute("CREATE TABLE zone_rollups_1m (x)")  # in the way of revision 0005
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"cannot upgrade database .*zone_rollups_1m"):
        SQLiteStore(release_db)
    conn = sqlite3.connect(release_db)
    assert sqlite_revision(conn) == "0004"  # stamped, not half-way into 0005
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "rollup_state" not in tables and "zone_rollups_1h" not in tables
    assert conn.execute("SELECT count(*) FROM zone_samples").fetchone() == (300,)
    conn.execute("DROP TABLE zone_rollups_1m")
    conn.commit()
    conn.close()
    store = SQLiteStore(release_db)  # the cause removed, the upgrade completes
    assert store.upgrade.after == SQLITE_HEAD and len(store.series("gate")) == 150
    store.close()


def test_an_empty_file_gets_the_whole_schema(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "new.db")
    assert (store.upgrade.before, store.upgrade.after) == (None, SQLITE_HEAD)
    assert set(store.columns()) >= {"zone_samples", "zone_rollups_1m", "rollup_state"}
    store.close()
