"""Moving a site's history from its SQLite file into another store (``crowdsafe db copy``).

Every zone sample, line sample and alert of the source goes through the target's own
write methods (``write_samples``, ``write_line_samples``, ``save_alert``) in batches,
so the target checks, partitions and marks them exactly as live writes; then the
target's rollups are refreshed (the copied history rolled up), and the rows are counted
on both sides.

Why it is safe to rerun: every write replaces the row of the same key (a zone or line
and its bucket, an alert's id), so a copy interrupted half-way and run again ends with
the same rows, never duplicates.  Why a target that already holds rows of the copied
zones, lines or alerts in the copied time range is refused unless ``replace``: those
rows would be overwritten by the source's, and they may be another server's live data
(a shared city database) rather than a previous copy; the refusal names what is there
and that ``--replace`` is the way to resume or redo a copy.  With ``replace``, rows of
the target that the source does not have are kept.

Why the count check is ``target >= source``: the target may hold, with ``replace``,
rows of the same zones in the range that the source never had; fewer rows than the
source means rows went missing, and the copy fails.

Not copied: the source's rollups.  The target rolls up what it received; minutes whose
raw samples the source had already purged (its own retention) are reported as
``rollups_not_copied`` rather than silently lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from crowdsafe.errors import StoreError
from crowdsafe.store.base import Store
from crowdsafe.store.codec import ALERTS, LINES, ZONES
from crowdsafe.store.database import Database, SqliteDatabase
from crowdsafe.store.rollup import floor_to

__all__ = ["CopyProgress", "CopyReport", "TableCopy", "copy_history"]

_COPIED = ("zone_samples", "line_samples", "alerts")


@dataclass(frozen=True)
class CopyProgress:
    """Where a copy is: ``done`` of ``total`` rows of ``table``."""

    table: str
    done: int
    total: int


@dataclass(frozen=True)
class TableCopy:
    """One table copied: rows in the source, rows of those subjects in the copied range
    in the target afterwards, and that range (Unix seconds; None for an empty table)."""

    table: str
    source_rows: int
    target_rows: int
    first_t: float | None
    last_t: float | None


@dataclass(frozen=True)
class CopyReport:
    tables: list[TableCopy]
    seconds: float
    rollups_not_copied: int
    minute_until: float | None

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    def to_dict(self) -> dict[str, object]:
        return {
            "tables": {
                t.table: {"source": t.source_rows, "target": t.target_rows} for t in self.tables
            },
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows / self.seconds, 1) if self.seconds > 0 else None,
            "rollups_not_copied": self.rollups_not_copied,
            "minute_until": self.minute_until,
        }


@dataclass(frozen=True)
class _Span:
    rows: int
    lo: float | None
    hi: float | None
    subjects: list[str]


def _overlap(target: Database, spans: dict[str, _Span]) -> list[str]:
    """What the target already holds of the source's subjects in the source's range."""
    found = []
    for table, span in spans.items():
        if span.rows and span.lo is not None and span.hi is not None:
            n = target.count(table, span.lo, span.hi, span.subjects)
            if n:
                found.append(f"{n} {table.replace('_', ' ')}")
    return found


def copy_history(
    source: SqliteDatabase,
    target: Database,
    *,
    batch: int = 10_000,
    replace: bool = False,
    progress: Callable[[CopyProgress], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> CopyReport:
    """Copy ``source`` into ``target`` (module docstring); the counts per table.

    Raises FileNotFoundError for a missing source, StoreError for a source that is not
    a crowdsafe store, a target that already holds rows in the range (unless
    ``replace``), a database that fails, or a count that does not add up."""
    if not 1 <= batch <= 1_000_000:
        raise StoreError(f"--batch must be 1-1,000,000 rows, not {batch}")
    started = time.monotonic()
    source.open().close()  # checks it is a crowdsafe store, and migrates it in place
    spans = {table: _Span(*source.span(table)) for table in _COPIED}
    store = target.open()
    try:
        if not replace and (there := _overlap(target, spans)):
            raise StoreError(
                f"{target.where} already holds {', '.join(there)} of the copied zones, lines "
                "and alerts in the copied time range: rerun with --replace to overwrite them "
                "with the source's rows (safe to resume an interrupted copy; rows only in "
                "the target are kept)"
            )
        _copy_rows(source, store, spans, batch, progress)
        marks = store.refresh_rollups(clock())
    finally:
        store.close()
    tables = []
    for table, span in spans.items():
        got = 0
        if span.rows and span.lo is not None and span.hi is not None:
            got = target.count(table, span.lo, span.hi, span.subjects)
        tables.append(TableCopy(table, span.rows, got, span.lo, span.hi))
        if got < span.rows:
            raise StoreError(
                f"copy to {target.where} lost rows: {table} has {got} of the source's "
                f"{span.rows} in the copied range"
            )
    return CopyReport(
        tables, time.monotonic() - started, _rollups_without_samples(source), marks.minute_until
    )


def _copy_rows(
    source: SqliteDatabase,
    store: Store,
    spans: dict[str, _Span],
    batch: int,
    progress: Callable[[CopyProgress], None] | None,
) -> None:
    # in primary-key order: the source's index serves it, no sort of the whole table
    plan = [
        ("zone_samples", ZONES.columns, "zone_id, t"),
        ("line_samples", LINES.columns, "line_id, t"),
        ("alerts", ALERTS.columns, "id"),
    ]
    for table, columns, order in plan:
        done = 0
        pending: list[tuple[object, ...]] = []
        for rows in source.rows(table, columns, order):
            pending.extend(rows)
            while len(pending) >= batch:
                _write(store, table, pending[:batch])
                done += batch
                del pending[:batch]
                if progress is not None:
                    progress(CopyProgress(table, done, spans[table].rows))
        if pending:
            _write(store, table, pending)
            done += len(pending)
        if progress is not None and (pending or not done):  # else said with the last batch
            progress(CopyProgress(table, done, spans[table].rows))


def _write(store: Store, table: str, rows: list[tuple[object, ...]]) -> None:
    if table == "zone_samples":
        store.write_samples([ZONES.read(r) for r in rows])
    elif table == "line_samples":
        store.write_line_samples([LINES.read(r) for r in rows])
    else:
        for row in rows:
            store.save_alert(ALERTS.read(row))


def _rollups_without_samples(source: SqliteDatabase) -> int:
    """The source's 1-min rollups of minutes with no raw sample left in it."""
    rows, lo, _, _ = source.span("zone_samples")
    rolled, first, _, _ = source.span("zone_rollups_1m")
    if not rolled or first is None:
        return 0
    if not rows or lo is None:
        return rolled
    zones = source.span("zone_rollups_1m")[3]
    return source.count("zone_rollups_1m", first, floor_to(lo, 60.0) - 60.0, zones)
