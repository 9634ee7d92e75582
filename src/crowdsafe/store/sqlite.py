"""SQLite store (the default): one row per zone per time bucket, nothing else.

Why WAL: the pipeline writes while the API reads; in write-ahead-log mode readers do
not block the writer nor see half-written transactions.  Why one connection behind a
lock: the pipeline writes a handful of rows per second, far below what serialising
costs, and a single connection keeps shutdown simple.

Privacy rule: the schema holds aggregates (counts, densities, flows, levels of service)
and alerts about zones and lines.  There is no column for pixels, boxes, track ids or
anything about a person, and ``tests/test_store.py`` and ``tests/test_store_contract.py``
fail if one is added.  The rows are the dataclasses' fields (``store/codec.py``), shared
with the PostgreSQL backend.

Schema changes are numbered migrations applied in a transaction each (``_MIGRATIONS``),
so a database written by an older crowdsafe is upgraded in place, losing nothing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crowdsafe.errors import StoreError
from crowdsafe.store.codec import ALERTS, LINES, STORED_TYPES, ZONES, check_limit, state_values
from crowdsafe.types import Alert, AlertState, LineSample, ZoneSample

__all__ = ["SCHEMA_VERSION", "STORED_TYPES", "SQLiteStore"]

SCHEMA_VERSION = 4

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS zone_samples (
    camera_id      TEXT    NOT NULL,
    zone_id        TEXT    NOT NULL,
    t              REAL    NOT NULL,  -- bucket start, Unix seconds
    count          REAL    NOT NULL,  -- mean persons detected over the bucket's frames
    count_max      INTEGER NOT NULL,  -- peak persons detected in one frame of the bucket
    area_m2        REAL    NOT NULL,
    density_per_m2 REAL    NOT NULL,  -- estimated true density
    los            TEXT    NOT NULL CHECK (los IN ('A','B','C','D','E','F')),
    frames         INTEGER NOT NULL,
    PRIMARY KEY (zone_id, t)
) WITHOUT ROWID;
"""

# Each step takes the database from version i to i + 1 inside one transaction, so an
# interrupted upgrade leaves the old version intact, never a half-migrated file.
_MIGRATIONS: dict[int, str] = {
    1: """
ALTER TABLE zone_samples ADD COLUMN density_low_per_m2 REAL NOT NULL DEFAULT 0;
ALTER TABLE zone_samples ADD COLUMN density_high_per_m2 REAL NOT NULL DEFAULT 0;
CREATE TABLE line_samples (
    camera_id      TEXT    NOT NULL,
    line_id        TEXT    NOT NULL,
    t              REAL    NOT NULL,  -- bucket start, Unix seconds
    bucket_s       REAL    NOT NULL,
    count_in       INTEGER NOT NULL,
    count_out      INTEGER NOT NULL,
    width_m        REAL    NOT NULL,
    flow_per_m_min REAL    NOT NULL,
    los            TEXT    NOT NULL CHECK (los IN ('A','B','C','D','E','F')),
    PRIMARY KEY (line_id, t)
) WITHOUT ROWID;
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    rule            TEXT NOT NULL,
    subject_kind    TEXT NOT NULL CHECK (subject_kind IN ('zone','line')),
    subject_id      TEXT NOT NULL,
    camera_id       TEXT NOT NULL,
    level           TEXT NOT NULL CHECK (level IN ('advisory','warning','critical')),
    state           TEXT NOT NULL CHECK (state IN ('open','acknowledged','resolved')),
    message         TEXT NOT NULL,
    value           REAL NOT NULL,
    threshold       REAL NOT NULL,
    opened_at       REAL NOT NULL,
    updated_at      REAL NOT NULL,
    acknowledged_at REAL,
    resolved_at     REAL
);
CREATE INDEX alerts_by_state ON alerts (state, updated_at);
""",
    2: """
ALTER TABLE zone_samples ADD COLUMN method TEXT NOT NULL DEFAULT 'detection'
    CHECK (method IN ('detection','density'));
""",
    # Samples stored before frames could be held were all analysed afresh: 0 is true.
    3: """
ALTER TABLE zone_samples ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));
""",
}


class SQLiteStore:
    """Zone samples in a SQLite file (``":memory:"`` for a throwaway store)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not parent.is_dir():
                raise StoreError(
                    f"cannot open database {self.path}: folder {parent} does not exist"
                )
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        self._conn.executescript(_SCHEMA_V1)
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
            version = 1
        else:
            version = int(row[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {version}, newer than this "
                f"crowdsafe reads ({SCHEMA_VERSION}); upgrade crowdsafe"
            )
        while version < SCHEMA_VERSION:
            statements = [x.strip() for x in _MIGRATIONS[version].split(";") if x.strip()]
            with self._conn:
                self._conn.execute("BEGIN")
                for statement in statements:
                    self._conn.execute(statement)
                self._conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version + 1),)
                )
            version += 1

    def write_samples(self, samples: Sequence[ZoneSample]) -> None:
        self._write(
            f"INSERT OR REPLACE INTO zone_samples ({ZONES.columns}) VALUES ({ZONES.marks})",
            [ZONES.row(s) for s in samples],
        )

    def series(
        self,
        zone_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[ZoneSample]:
        rows = self._range("zone_samples", ZONES.columns, "zone_id", zone_id, since, until, limit)
        return [ZONES.read(r) for r in rows]

    def _range(
        self,
        table: str,
        columns: str,
        key: str,
        value: str,
        since: float | None,
        until: float | None,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        """Rows of one zone or line with ``since <= t < until``: the newest ``limit``,
        returned oldest first."""
        check_limit(limit)
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {columns} FROM {table} WHERE {key} = ? AND t >= ? AND t < ? "
                "ORDER BY t DESC LIMIT ?",
                (value, lo, hi, limit),
            ).fetchall()
        return list(reversed(rows))

    def zone_ids(self) -> list[str]:
        """Every zone with stored samples."""
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT zone_id FROM zone_samples").fetchall()
        return sorted(str(r[0]) for r in rows)

    def hourly_counts(
        self, zone_id: str, since: float | None = None, until: float | None = None
    ) -> list[tuple[float, float]]:
        """(hour start, mean count) of a zone's samples per UTC hour, oldest first: the
        history a planning forecast needs, aggregated in the database."""
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        with self._lock:
            rows = self._conn.execute(
                "SELECT CAST(t / 3600 AS INTEGER) * 3600.0 AS h, AVG(count) FROM zone_samples "
                "WHERE zone_id = ? AND t >= ? AND t < ? GROUP BY h ORDER BY h",
                (zone_id, lo, hi),
            ).fetchall()
        return [(float(h), float(c)) for h, c in rows]

    def latest(self, zone_id: str) -> ZoneSample | None:
        found = self.series(zone_id, limit=1)
        return found[0] if found else None

    def _write(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """One transaction: all rows or none."""
        if not rows:
            return
        with self._lock:
            try:
                with self._conn:
                    self._conn.execute("BEGIN")
                    self._conn.executemany(sql, rows)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot write to database {self.path}: {exc}") from exc

    def write_line_samples(self, samples: Sequence[LineSample]) -> None:
        self._write(
            f"INSERT OR REPLACE INTO line_samples ({LINES.columns}) VALUES ({LINES.marks})",
            [LINES.row(s) for s in samples],
        )

    def line_series(
        self,
        line_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[LineSample]:
        rows = self._range("line_samples", LINES.columns, "line_id", line_id, since, until, limit)
        return [LINES.read(r) for r in rows]

    def purge(self, before: float) -> int:
        """Delete the zone and line samples of buckets starting before ``before`` (Unix
        seconds), in one transaction; how many rows went.  Alerts are kept."""
        with self._lock:
            try:
                with self._conn:
                    self._conn.execute("BEGIN")
                    gone = self._conn.execute(
                        "DELETE FROM zone_samples WHERE t < ?", (before,)
                    ).rowcount
                    gone += self._conn.execute(
                        "DELETE FROM line_samples WHERE t < ?", (before,)
                    ).rowcount
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot purge database {self.path}: {exc}") from exc
        return gone

    def save_alert(self, alert: Alert) -> None:
        """Insert or update an alert (by id)."""
        self._write(
            f"INSERT OR REPLACE INTO alerts ({ALERTS.columns}) VALUES ({ALERTS.marks})",
            [ALERTS.row(alert)],
        )

    def alerts(
        self,
        states: Sequence[AlertState] | None = None,
        since: float | None = None,
        limit: int = 1000,
    ) -> list[Alert]:
        """Alerts newest first; ``states`` filters, ``since`` keeps those updated since."""
        check_limit(limit)
        wanted = state_values(states)
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {ALERTS.columns} FROM alerts WHERE state IN ({marks}) "
                "AND updated_at >= ? ORDER BY updated_at DESC LIMIT ?",
                (*wanted, float("-inf") if since is None else since, limit),
            ).fetchall()
        return [ALERTS.read(r) for r in rows]

    def get_alert(self, alert_id: str) -> Alert | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {ALERTS.columns} FROM alerts WHERE id = ?", (alert_id,)
            ).fetchone()
        return None if row is None else ALERTS.read(row)

    def columns(self) -> dict[str, list[str]]:
        """Every table and its columns: used by the privacy tests."""
        with self._lock:
            tables = [
                r[0]
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            return {
                t: [c[1] for c in self._conn.execute(f"PRAGMA table_info({t})")] for t in tables
            }

    def close(self) -> None:
        with self._lock:
            self._conn.close()
