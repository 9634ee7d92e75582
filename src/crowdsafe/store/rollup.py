"""1-minute and 1-hour rollups of the zone samples, the same on every backend.

Why rollups: a 24-h chart at 1 s is 86,400 rows per zone, and a city keeps years; the
rollup tables (``zone_rollups_1m``, ``zone_rollups_1h``, rows of
:class:`~crowdsafe.types.ZoneRollup`) hold one row per zone per minute or hour with the
mean, the maximum and the number of samples, and are kept long after the 1-s rows
have gone (each has its own retention, ``storage.retention``).

How they stay right:

* **A cache of the raw rows, never a second truth.**  A minute's row is computed from
  the zone samples of that minute (``INSERT .. SELECT .. GROUP BY .. ON CONFLICT DO
  UPDATE``), an hour's from its minutes, weighted by their sample counts, so the
  hour's mean is the mean of its raw samples.  ``los_max`` is the highest level among
  the samples: a zone's levels grow with its density, so it is the level of
  ``density_max_per_m2``.
* **A watermark per resolution** (``rollup_state``): every minute before
  ``minute_until`` and every hour before ``hour_until`` has been rolled up.  A read
  takes the rolled rows below the watermark and aggregates the raw rows above it on the
  fly (the current minute, the minutes not yet refreshed), so a read is always as
  fresh as the raw rows, with or without a maintenance loop running.
* **Late samples.**  A write whose oldest sample is below the minute watermark (a
  backlog written after a database outage, a copied history) lowers ``dirty_since`` in
  the same transaction, and the next refresh recomputes from there.  Each refresh also
  recomputes ``LOOKBACK_S`` before the old watermark: a sample that committed while a
  refresh ran, just above its old watermark, is caught by the next one.
* Rows are only ever upserted, never deleted by a refresh: a minute whose raw rows have
  been purged keeps its rolled row.

Both backends run the SQL made here; they differ in the placeholder, the floor of a
division and how a boolean is summed (:class:`Dialect`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Any, Protocol

from crowdsafe.store.codec import ROLLUPS
from crowdsafe.types import ZoneRollup

__all__ = [
    "GRACE_S",
    "LOOKBACK_S",
    "RESOLUTIONS",
    "Dialect",
    "RollupMarks",
    "combine",
    "floor_to",
    "marks",
    "read",
    "refresh",
    "resolution_name",
    "rollup_table",
]

RESOLUTIONS = (60, 3600)
"""The rollup periods, seconds: a minute and an hour."""

GRACE_S = 30.0
"""How long after a minute ends it is rolled up: the samples of its last seconds are
still on their way through the write queue."""

LOOKBACK_S = 180.0
"""How far before the old watermark each refresh recomputes (see the module docstring);
at least one refresh interval plus the grace."""


def rollup_table(resolution_s: int) -> str:
    """The table of one rollup period (ValueError for any other period)."""
    if resolution_s == 60:
        return "zone_rollups_1m"
    if resolution_s == 3600:
        return "zone_rollups_1h"
    raise ValueError(f"rollups are kept per 60 or 3600 s, not per {resolution_s} s")


def resolution_name(resolution_s: float) -> str:
    """``1m``, ``1h``, or the raw bucket as ``1s`` / ``0.5s``: what the API says it read."""
    if resolution_s == 60:
        return "1m"
    if resolution_s == 3600:
        return "1h"
    return f"{resolution_s:g}s"


def floor_to(t: float, period: float) -> float:
    return float(math.floor(t / period) * period)


@dataclass(frozen=True)
class RollupMarks:
    """What a refresh left: every minute before ``minute_until`` and every hour before
    ``hour_until`` is rolled up (None: nothing yet), and how many rows it wrote."""

    minute_until: float | None
    hour_until: float | None
    minutes_written: int = 0
    hours_written: int = 0


@dataclass(frozen=True)
class Dialect:
    """How one backend spells what the rollup SQL needs."""

    mark: str
    """A query parameter: ``?`` or ``%s``."""
    floor: str
    """``{x}`` floored to an integer, as SQL."""
    held_int: str
    """The ``held`` column as 0 or 1."""
    lock: str = ""
    """What locks the state row for the refresh's transaction (`` FOR UPDATE``)."""

    def bucket(self, column: str, period: int) -> str:
        return f"({self.floor.format(x=f'{column} / {period}')}) * {period}.0"

    def _upsert(self, table: str) -> str:
        updates = ", ".join(f"{n} = excluded.{n}" for n in ROLLUPS.names if n not in _KEY)
        return (
            f"INSERT INTO {table} ({ROLLUPS.columns}) {{select}} "
            f"ON CONFLICT (zone_id, t) DO UPDATE SET {updates}"
        )

    def minutes_from_raw(self, *, one_zone: bool = False) -> str:
        """SELECT of ZoneRollup rows, one per zone and minute, from the raw samples with
        ``lo <= t < hi`` (parameters: lo, hi, and the zone when ``one_zone``)."""
        m = self.mark
        zone = f" AND zone_id = {m}" if one_zone else ""
        b = self.bucket("t", 60)
        return (
            f"SELECT max(camera_id), zone_id, {b} AS bt, CAST(60 AS double precision), "
            f"count(*), sum(frames), "
            f"avg(count), max(count_max), max(area_m2), avg(density_per_m2), "
            f"max(density_per_m2), max(los), sum({self.held_int}) "
            f"FROM zone_samples WHERE t >= {m} AND t < {m}{zone} GROUP BY zone_id, bt"
        )

    def hours_from_minutes(self) -> str:
        """SELECT of hour rows from the minute rows with ``lo <= t < hi``, weighted by
        their sample counts (parameters: lo, hi)."""
        m = self.mark
        b = self.bucket("t", 3600)
        return (
            f"SELECT max(camera_id), zone_id, {b} AS bt, CAST(3600 AS double precision), "
            f"sum(samples), sum(frames), "
            f"sum(count_mean * samples) / sum(samples), max(count_max), max(area_m2), "
            f"sum(density_mean_per_m2 * samples) / sum(samples), max(density_max_per_m2), "
            f"max(los_max), sum(held) "
            f"FROM zone_rollups_1m WHERE t >= {m} AND t < {m} GROUP BY zone_id, bt"
        )

    def refresh_minutes(self) -> str:
        return self._upsert("zone_rollups_1m").format(select=self.minutes_from_raw())

    def refresh_hours(self) -> str:
        return self._upsert("zone_rollups_1h").format(select=self.hours_from_minutes())

    def rolled(self, table: str) -> str:
        """The newest rows of one zone in a rollup table with ``lo <= t < hi``
        (parameters: zone, lo, hi, limit)."""
        m = self.mark
        return (
            f"SELECT {ROLLUPS.columns} FROM {table} WHERE zone_id = {m} AND t >= {m} "
            f"AND t < {m} ORDER BY t DESC LIMIT {m}"
        )

    def mark_late(self) -> str:
        """Lowers ``dirty_since`` to a batch's oldest ``t`` when that is below the minute
        watermark (parameters: t, t, t)."""
        m = self.mark
        return (
            "UPDATE rollup_state SET dirty_since = CASE WHEN dirty_since IS NOT NULL "
            f"AND dirty_since < {m} THEN dirty_since ELSE {m} END "
            f"WHERE id = 1 AND {m} < minute_until"
        )


_KEY = ("zone_id", "t")


def refresh_windows(
    now: float, minute_until: float | None, dirty_since: float | None, oldest: float | None
) -> tuple[float, float, float, float] | None:
    """(minutes from, minutes to, hours from, hours to) that a refresh at ``now``
    recomputes, or None when nothing is due.  ``oldest`` is the oldest raw sample's
    ``t`` (where a first refresh starts)."""
    to_m = floor_to(now - GRACE_S, 60)
    if minute_until is None:
        if oldest is None:
            return None
        start = oldest
    else:
        start = minute_until - LOOKBACK_S
    if dirty_since is not None:
        start = min(start, dirty_since)
    from_m = floor_to(start, 60)
    if to_m <= from_m:
        return None
    return from_m, to_m, floor_to(from_m, 3600), floor_to(to_m, 3600)


def combine(rows: Iterable[ZoneRollup], period: int) -> list[ZoneRollup]:
    """Rollups of ``period`` seconds from finer ones of one zone (sorted by ``t``), by the
    same rules as the SQL: means weighted by sample counts, maxima, sums."""
    out = []
    for t, group in groupby(rows, key=lambda r: floor_to(r.t, period)):
        parts = list(group)
        n = sum(r.samples for r in parts)
        out.append(
            replace(
                parts[-1],
                t=t,
                bucket_s=float(period),
                samples=n,
                frames=sum(r.frames for r in parts),
                count_mean=sum(r.count_mean * r.samples for r in parts) / n,
                count_max=max(r.count_max for r in parts),
                area_m2=max(r.area_m2 for r in parts),
                density_mean_per_m2=sum(r.density_mean_per_m2 * r.samples for r in parts) / n,
                density_max_per_m2=max(r.density_max_per_m2 for r in parts),
                los_max=max(parts, key=lambda r: r.los_max).los_max,
                held=sum(r.held for r in parts),
            )
        )
    return out


def newest(rows: Sequence[ZoneRollup], limit: int) -> list[ZoneRollup]:
    """The newest ``limit`` of rows sorted by ``t``, oldest first."""
    return list(rows[-limit:]) if limit < len(rows) else list(rows)


class Cursor(Protocol):
    """What the refresh and the reads need of a DB-API cursor (sqlite3's, psycopg's)."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...


def _ceil_to(t: float, period: float) -> float:
    return t if math.isinf(t) else float(math.ceil(t / period) * period)


def refresh(
    cur: Cursor,
    d: Dialect,
    now: float,
    ensure: Callable[[str, float, float], None] | None = None,
) -> RollupMarks:
    """Bring both rollups up to ``now`` (see the module docstring), in the caller's
    transaction; the new watermarks and how many rows were written.  ``ensure(table,
    lo, hi)`` is called before rows with ``lo <= t < hi`` go into ``table`` (where
    PostgreSQL makes the partitions they need)."""
    state = cur.execute(
        f"SELECT minute_until, hour_until, dirty_since FROM rollup_state WHERE id = 1{d.lock}"
    ).fetchone()
    minute_until, hour_until, dirty = state
    oldest = None
    if minute_until is None:
        oldest = cur.execute("SELECT min(t) FROM zone_samples").fetchone()[0]
    windows = refresh_windows(now, minute_until, dirty, oldest)
    if windows is None:
        return RollupMarks(minute_until, hour_until)
    from_m, to_m, from_h, to_h = windows
    if ensure is not None:
        ensure("zone_rollups_1m", from_m, to_m)
    minutes = cur.execute(d.refresh_minutes(), (from_m, to_m)).rowcount
    hours = 0
    if to_h > from_h:
        if ensure is not None:
            ensure("zone_rollups_1h", from_h, to_h)
        hours = cur.execute(d.refresh_hours(), (from_h, to_h)).rowcount
    m = d.mark
    new_hour = max(to_h, hour_until) if hour_until is not None else to_h
    new_minute = max(to_m, minute_until) if minute_until is not None else to_m
    cur.execute(
        f"UPDATE rollup_state SET minute_until = {m}, hour_until = {m}, dirty_since = NULL "
        "WHERE id = 1",
        (new_minute, new_hour),
    )
    return RollupMarks(new_minute, new_hour, max(minutes, 0), max(hours, 0))


def marks(cur: Cursor) -> RollupMarks:
    """The watermarks as they stand."""
    row = cur.execute("SELECT minute_until, hour_until FROM rollup_state WHERE id = 1").fetchone()
    return RollupMarks(row[0], row[1])


def read(
    cur: Cursor,
    d: Dialect,
    zone_id: str,
    resolution_s: int,
    since: float | None,
    until: float | None,
    limit: int,
) -> list[ZoneRollup]:
    """The newest ``limit`` rollups of one zone starting in ``[since, until)``, oldest
    first: rolled rows below the watermark, raw rows aggregated above it."""
    table = rollup_table(resolution_s)
    lo = -math.inf if since is None else since
    hi = math.inf if until is None else until
    got = marks(cur)
    mark = got.minute_until if resolution_s == 60 else got.hour_until
    wm = -math.inf if mark is None else mark
    rolled: list[ZoneRollup] = []
    if lo < min(hi, wm):
        rows = cur.execute(d.rolled(table), (zone_id, lo, min(hi, wm), limit)).fetchall()
        rolled = [ROLLUPS.read(r) for r in reversed(rows)]
    fresh: list[ZoneRollup] = []
    f_lo = max(lo, wm)
    if f_lo < hi:
        if resolution_s == 60:
            query = d.minutes_from_raw(one_zone=True) + " ORDER BY bt"
            rows = cur.execute(query, (_ceil_to(f_lo, 60), _ceil_to(hi, 60), zone_id)).fetchall()
            fresh = [ROLLUPS.read(r) for r in rows]
        else:
            fine = read(cur, d, zone_id, 60, _ceil_to(f_lo, 3600), _ceil_to(hi, 3600), 10**9)
            fresh = combine(fine, 3600)
    return newest(rolled + fresh, limit)
