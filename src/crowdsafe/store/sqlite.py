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

Schema changes are Alembic revisions (``store/migrations/sqlite``), each applied in one
transaction when the store opens, so a database written by an older crowdsafe is
upgraded in place, losing nothing.  Rollups: ``store/rollup.py``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crowdsafe.errors import StoreError
from crowdsafe.store import rollup
from crowdsafe.store.codec import (
    ALERTS,
    LINES,
    STORED_TYPES,
    ZONES,
    alert_upsert,
    check_limit,
    state_values,
)
from crowdsafe.store.migrations import upgrade_sqlite
from crowdsafe.types import Alert, AlertState, LineSample, ZoneRollup, ZoneSample

__all__ = ["STORED_TYPES", "SQLiteStore"]

_DIALECT = rollup.Dialect(mark="?", floor="CAST({x} AS INTEGER)", held_int="held")


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
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        self.upgrade = upgrade_sqlite(self._conn, self.path)
        """What opening did to the schema (:class:`~crowdsafe.store.migrations.Upgrade`)."""

    def write_samples(self, samples: Sequence[ZoneSample]) -> None:
        oldest = min((s.t for s in samples), default=None)
        self._write(
            f"INSERT OR REPLACE INTO zone_samples ({ZONES.columns}) VALUES ({ZONES.marks})",
            [ZONES.row(s) for s in samples],
            late=None if oldest is None else (_DIALECT.mark_late(), (oldest, oldest, oldest)),
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
        """(UTC hour start, mean count) of each hour starting in ``[since, until)``, from
        the 1-h rollups: the history a planning forecast needs."""
        return [(r.t, r.count_mean) for r in self.rollups(zone_id, 3600, since, until, 10**9)]

    def latest(self, zone_id: str) -> ZoneSample | None:
        found = self.series(zone_id, limit=1)
        return found[0] if found else None

    def _write(
        self,
        sql: str,
        rows: Sequence[tuple[Any, ...]],
        late: tuple[str, tuple[Any, ...]] | None = None,
    ) -> None:
        """One transaction: all rows or none (and ``late``, the rollups' mark of a
        batch below their watermark, with them)."""
        if not rows:
            return
        with self._lock:
            try:
                with self._conn:
                    self._conn.execute("BEGIN")
                    self._conn.executemany(sql, rows)
                    if late is not None:
                        self._conn.execute(*late)
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

    def rollups(
        self,
        zone_id: str,
        resolution_s: int,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[ZoneRollup]:
        check_limit(limit)
        rollup.rollup_table(resolution_s)
        with self._lock:
            return rollup.read(
                self._conn.cursor(), _DIALECT, zone_id, resolution_s, since, until, limit
            )

    def refresh_rollups(self, now: float) -> rollup.RollupMarks:
        with self._lock:
            try:
                with self._conn:
                    self._conn.execute("BEGIN IMMEDIATE")
                    return rollup.refresh(self._conn.cursor(), _DIALECT, now)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot roll up database {self.path}: {exc}") from exc

    def rollup_marks(self) -> rollup.RollupMarks:
        with self._lock:
            return rollup.marks(self._conn.cursor())

    def purge_rollups(self, resolution_s: int, before: float) -> int:
        table = rollup.rollup_table(resolution_s)
        with self._lock:
            try:
                with self._conn:
                    self._conn.execute("BEGIN")
                    return self._conn.execute(
                        f"DELETE FROM {table} WHERE t < ?", (before,)
                    ).rowcount
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot purge database {self.path}: {exc}") from exc

    def prepare(self, now: float) -> None:
        """Nothing to make ahead in SQLite (PostgreSQL makes its partitions)."""

    def save_alert(self, alert: Alert) -> None:
        """Insert or update an alert (by id), its state never moving backwards
        (:func:`~crowdsafe.store.codec.alert_upsert`)."""
        self._write(alert_upsert(ALERTS.marks), [ALERTS.row(alert)])

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
