"""SQLite store (the default): one row per zone per time bucket, nothing else.

Why WAL: the pipeline writes while the API reads; in write-ahead-log mode readers do
not block the writer nor see half-written transactions.  Why one connection behind a
lock: the pipeline writes a handful of rows per second, far below what serialising
costs, and a single connection keeps shutdown simple.

Privacy rule: the schema holds aggregates only (counts, densities, levels of service).
There is no column for pixels, boxes, track ids or anything about a person, and
``tests/test_store.py`` fails if one is added.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from crowdsafe.errors import StoreError
from crowdsafe.types import LevelOfService, ZoneSample

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS zone_samples (
    camera_id      TEXT    NOT NULL,
    zone_id        TEXT    NOT NULL,
    t              REAL    NOT NULL,  -- bucket start, Unix seconds
    count          REAL    NOT NULL,  -- mean persons over the bucket's frames
    count_max      INTEGER NOT NULL,  -- peak persons in one frame of the bucket
    area_m2        REAL    NOT NULL,
    density_per_m2 REAL    NOT NULL,
    los            TEXT    NOT NULL CHECK (los IN ('A','B','C','D','E','F')),
    frames         INTEGER NOT NULL,
    PRIMARY KEY (zone_id, t)
) WITHOUT ROWID;
"""

_COLUMNS = "camera_id, zone_id, t, count, count_max, area_m2, density_per_m2, los, frames"


def _row_to_sample(row: tuple[object, ...]) -> ZoneSample:
    cam, zone, t, count, cmax, area, dens, los, frames = row
    return ZoneSample(
        camera_id=str(cam),
        zone_id=str(zone),
        t=float(t),  # type: ignore[arg-type]
        count=float(count),  # type: ignore[arg-type]
        count_max=int(cmax),  # type: ignore[call-overload]
        area_m2=float(area),  # type: ignore[arg-type]
        density_per_m2=float(dens),  # type: ignore[arg-type]
        los=LevelOfService(str(los)),
        frames=int(frames),  # type: ignore[call-overload]
    )


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
            self._conn.executescript(_SCHEMA)
            version = self._conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
            if version is None:
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(version[0]) != SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.path} has schema version {version[0]}, this crowdsafe "
                    f"reads version {SCHEMA_VERSION}"
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc

    def write_samples(self, samples: Sequence[ZoneSample]) -> None:
        if not samples:
            return
        rows = [
            (
                s.camera_id,
                s.zone_id,
                s.t,
                s.count,
                s.count_max,
                s.area_m2,
                s.density_per_m2,
                s.los.value,
                s.frames,
            )
            for s in samples
        ]
        with self._lock:
            try:
                with self._conn:  # one transaction: all rows or none
                    self._conn.execute("BEGIN")
                    self._conn.executemany(
                        f"INSERT OR REPLACE INTO zone_samples ({_COLUMNS}) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        rows,
                    )
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot write to database {self.path}: {exc}") from exc

    def series(
        self,
        zone_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[ZoneSample]:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM zone_samples WHERE zone_id = ? AND t >= ? AND t < ? "
                "ORDER BY t DESC LIMIT ?",
                (zone_id, lo, hi, limit),
            ).fetchall()
        return [_row_to_sample(r) for r in reversed(rows)]

    def latest(self, zone_id: str) -> ZoneSample | None:
        found = self.series(zone_id, limit=1)
        return found[0] if found else None

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
