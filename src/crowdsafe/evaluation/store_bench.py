"""``crowdsafe bench store``: how fast a store backend takes zone samples and answers.

Three phases on one store, in this process:

1. write: for ``seconds``, batches of one bucket of every one of ``zones`` zones (what
   many cameras' pipelines hand the store together) go through ``write_samples``, the
   store's own write path; the rate is samples over the time spent inside that call,
   so making the samples (the pipeline's work, not the store's) is not counted, and
   the wall rate is given beside it;
2. fill: if fewer than ``rows`` rows were written, more are, not timed (a query over a
   big table is what it is measuring), for as few zones as make a 24-h history each
   (``rows / 86,400``, at least one): the 24-h query needs a day of data per zone;
3. rollup: the store's rollups are refreshed over everything (timed: the one-off cost
   of a first refresh, ``crowdsafe db copy`` pays it too);
4. query: ``queries`` series reads of a 10-min window at 1 s (the dashboard's chart)
   and of a 24-h window at 1 min (the day's chart, from the 1-min rollups) for a
   random zone and a random end within its data, p50/p95 in milliseconds; then the
   samples table's size on disk (``pg_total_relation_size`` of its partitions, or the
   SQLite file and its WAL).

Why an empty database is required: the benchmark writes made-up rows, and must never
mix them into a site's history; it refuses a database that holds zone samples, and
removes its rows afterwards unless ``keep``.
Progress goes to ``log`` (stderr in the CLI); the figures are returned.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from crowdsafe.errors import UsageError
from crowdsafe.store.base import Store
from crowdsafe.types import CountMethod, LevelOfService, ZoneSample

__all__ = ["DAY_S", "WINDOW_S", "run_store_bench"]

WINDOW_S = 600.0
"""The series query's window: the dashboard's last 10 minutes, at 1 s."""
DAY_S = 86_400.0
"""The rollup query's window: the last 24 hours, at 1 min."""
_FILL_ROWS = 5000  # samples per write while filling

# A fixed past start: the rows are plainly not a site's (2001-01-01 UTC).
_T0 = 978_307_200.0
_LOS = list(LevelOfService)


def _batch(zones: int, t: float, rng: random.Random) -> list[ZoneSample]:
    """One 1-s bucket of every zone, with plausible varying values."""
    out = []
    for z in range(zones):  # zone z is bench-zone{z}: the fill's zones are the first
        count = rng.random() * 40.0
        density = count / 120.0
        out.append(
            ZoneSample(
                camera_id=f"bench-cam{z // 3}",
                zone_id=f"bench-zone{z}",
                t=t,
                count=count,
                count_max=int(count) + 2,
                area_m2=120.0,
                density_per_m2=density,
                los=_LOS[min(int(density * 6), 5)],
                frames=5,
                density_low_per_m2=density * 0.8,
                density_high_per_m2=density * 1.2,
                method=CountMethod.DETECTION,
                held=z % 7 == 0,
            )
        )
    return out


class _Table:
    """Row count, size on disk and clean-up of the benchmark's table, per backend."""

    def __init__(self, backend: str, target: str) -> None:
        self.backend = backend
        self.target = target

    def _pg(self, query: str) -> Any:
        import psycopg

        with psycopg.connect(self.target, autocommit=True) as conn:
            cur = conn.execute(query)
            row = cur.fetchone() if cur.description else None
        return None if row is None else row[0]

    def _sqlite(self, query: str) -> Any:
        import sqlite3

        conn = sqlite3.connect(self.target)
        try:
            with conn:  # commits
                row = conn.execute(query).fetchone()
        finally:
            conn.close()
        return None if row is None else row[0]

    def rows(self) -> int:
        query = "SELECT count(*) FROM zone_samples"
        return int(self._pg(query) if self.backend == "postgresql" else self._sqlite(query))

    def size_bytes(self) -> int:
        if self.backend == "postgresql":
            # A partitioned table has no storage of its own: sum its partitions.
            query = (
                "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) "
                "FROM pg_partition_tree('zone_samples')"
            )
            return int(self._pg(query))
        wal = self.target + "-wal"
        return os.path.getsize(self.target) + (os.path.getsize(wal) if os.path.exists(wal) else 0)

    def clear(self, store: Store, until: float) -> None:
        """Remove the benchmark's rows (all before ``until``), rollups and watermarks."""
        store.purge(until)
        for resolution in (60, 3600):
            store.purge_rollups(resolution, until)
        reset = "UPDATE rollup_state SET minute_until = NULL, hour_until = NULL, dirty_since = NULL"
        if self.backend == "postgresql":
            self._pg(reset)
        else:
            self._sqlite(reset)


def run_store_bench(
    store: Store,
    *,
    backend: str,
    target: str,
    seconds: float,
    rows: int = 0,
    zones: int = 1000,
    queries: int = 200,
    keep: bool = False,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """The figures of one run against ``store``, a fresh store of ``backend`` opened on
    ``target`` (a DSN or a SQLite path).  UsageError if the database already holds
    zone samples; StoreError from the store as it raises them."""
    say = log or (lambda _line: None)
    table = _Table(backend, target)
    if table.rows():
        raise UsageError(
            f"bench store needs an empty database; {describe(backend, target)} already "
            "holds zone samples (give it a scratch database)"
        )
    rng = random.Random(seed)
    t = _T0
    written = 0
    in_store_s = 0.0
    say(f"write: {zones} zones a batch for {seconds:g} s")
    start = time.perf_counter()
    next_report = start + 10.0
    while (now := time.perf_counter()) - start < seconds:
        batch = _batch(zones, t, rng)
        began = time.perf_counter()
        store.write_samples(batch)
        in_store_s += time.perf_counter() - began
        written += len(batch)
        t += 1.0
        if now >= next_report:
            say(f"write: {written} samples, {written / in_store_s:,.0f}/s in the store")
            next_report += 10.0
    wall_s = time.perf_counter() - start
    say(f"write: {written} samples in {wall_s:.1f} s")
    write_end = t
    long_zones = max(1, min(zones, (rows - written) // int(DAY_S)))
    per_write = max(1, _FILL_ROWS // long_zones)
    filled = 0
    next_report = time.perf_counter() + 10.0
    while written + filled < rows:
        steps = min(per_write, -(-(rows - written - filled) // long_zones))
        batch = [x for k in range(steps) for x in _batch(long_zones, t + k, rng)]
        store.write_samples(batch)
        filled += len(batch)
        t += steps
        if time.perf_counter() >= next_report:
            say(f"fill: {written + filled} of {rows} rows")
            next_report += 10.0
    stored = table.rows()
    size = table.size_bytes()
    say(f"rollup: refreshing the 1-min and 1-h rollups of {stored} rows")
    began = time.perf_counter()
    store.refresh_rollups(t + 120.0)
    rollup_s = time.perf_counter() - began
    say(f"query: {queries} series of {WINDOW_S:g} s and of 24 h at 1 min over {stored} rows")

    def pick_zone() -> tuple[str, float]:
        """A random zone and the end of its data (the fill's zones go on longest)."""
        z = rng.randrange(zones)
        return f"bench-zone{z}", t if z < long_zones or not filled else write_end

    latencies_ms: list[float] = []
    returned = 0
    for _ in range(queries):
        zone, end_max = pick_zone()
        until = rng.uniform(min(_T0 + WINDOW_S, end_max), end_max)
        began = time.perf_counter()
        got = store.series(zone, since=until - WINDOW_S, until=until)
        latencies_ms.append((time.perf_counter() - began) * 1000.0)
        returned += len(got)
    day_ms: list[float] = []
    day_returned = 0
    for _ in range(queries):
        zone = f"bench-zone{rng.randrange(long_zones)}"
        until = rng.uniform(min(_T0 + DAY_S, t), t)
        began = time.perf_counter()
        minutes = store.rollups(zone, 60, since=until - DAY_S, until=until)
        day_ms.append((time.perf_counter() - began) * 1000.0)
        day_returned += len(minutes)
    day_cuts = statistics.quantiles(day_ms, n=100, method="inclusive")
    cuts = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    if not keep:
        # Up to the end of the widest partition that holds a benchmark row (28 days):
        # nothing but the benchmark's rows is in 2001, and its partitions go too.
        table.clear(store, t + 28 * DAY_S + 1.0)
    return {
        "backend": backend,
        "database": describe(backend, target),
        "zones_per_batch": zones,
        "write_seconds": round(wall_s, 2),
        "samples_written": written,
        "samples_per_s": round(written / in_store_s) if in_store_s else 0,
        "wall_samples_per_s": round(written / wall_s) if wall_s else 0,
        "rows_stored": stored,
        "table_bytes": size,
        "bytes_per_row": round(size / stored, 1) if stored else 0.0,
        "queries": queries,
        "query_window_s": WINDOW_S,
        "rows_per_query": round(returned / queries, 1),
        "series_p50_ms": round(cuts[49], 3),
        "series_p95_ms": round(cuts[94], 3),
        "rollup_refresh_s": round(rollup_s, 2),
        "day_zones": long_zones,
        "day_span_s": t - _T0,
        "minutes_per_day_query": round(day_returned / queries, 1),
        "day_series_p50_ms": round(day_cuts[49], 3),
        "day_series_p95_ms": round(day_cuts[94], 3),
        "kept": keep,
    }


def describe(backend: str, target: str) -> str:
    """The database named without a password: a DSN's host, port and name, or a path."""
    if backend == "postgresql":
        from crowdsafe.store.postgres import describe_dsn

        return describe_dsn(target)
    return target


def check_counts(seconds: float, rows: int, zones: int, queries: int) -> None:
    """UsageError naming the first option out of range."""
    if not 0 < seconds <= 86_400:
        raise UsageError(f"--seconds must be in (0, 86400], got {seconds}")
    if rows < 0:
        raise UsageError(f"--rows must be >= 0, got {rows}")
    if not 1 <= zones <= 1_000_000:
        raise UsageError(f"--zones must be in [1, 1000000], got {zones}")
    if not 2 <= queries <= 100_000:
        raise UsageError(f"--queries must be in [2, 100000], got {queries}")
