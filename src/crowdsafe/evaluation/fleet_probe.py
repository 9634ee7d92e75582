"""SIMULATION ONLY: what ``crowdsafe fleet simulate`` measures from outside the fleet.

* :class:`ApiProbe` asks the API server, as a dashboard would, over HTTP with a viewer
  token: every ``delay_poll_s`` the last few seconds of a handful of probe zones
  (``GET /api/zones/{id}/series?since=now-10``), and takes, for each bucket seen there
  for the first time, *end-to-end delay* = (when its response came) - (the bucket's end,
  ``t + bucket_s``): the sample made, closed, queued, written to PostgreSQL, committed
  and read back through the API.  Polling adds up to ``delay_poll_s`` (half on
  average) to each figure, so they are upper bounds.  Every ``latency_every_s`` it
  times ``GET /api/sites`` and a zone's last 10 minutes
  (``GET /api/zones/{id}/series?since=now-600``), zones taken in turn.
* :func:`bookkeeping` reads the stored rows afterwards: samples per bucket, buckets
  missing between each zone's first and last stored bucket (split into the failover
  gap of the removed node's cameras and the rest, which is *lost*), and the buckets
  written twice, which the trigger of :func:`install_rewrite_counter` records (a bucket
  is one row by its key, so a second write replaces the first and would not be seen
  otherwise: two writers for one bucket is what a failover must never cause).
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["ApiProbe", "Bookkeeping", "bookkeeping", "install_rewrite_counter", "percentile"]

REWRITE_SQL = """
CREATE TABLE IF NOT EXISTS sim_rewrites (
    zone_id text NOT NULL, t double precision NOT NULL, writer text NOT NULL,
    at double precision NOT NULL);
CREATE OR REPLACE FUNCTION sim_count_rewrite() RETURNS trigger AS $$
BEGIN
    INSERT INTO sim_rewrites VALUES (NEW.zone_id, NEW.t,
        current_setting('application_name'), extract(epoch from clock_timestamp()));
    RETURN NEW;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS sim_rewrites ON zone_samples;
CREATE TRIGGER sim_rewrites AFTER UPDATE ON zone_samples
    FOR EACH ROW EXECUTE FUNCTION sim_count_rewrite();
"""


def install_rewrite_counter(dsn: str) -> None:
    """Count every replaced ``zone_samples`` row in ``sim_rewrites`` (a trigger on
    update: the store's upsert of a stored key is an update; a first write is not)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(REWRITE_SQL)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-quantile (0-1) of ``values``, None when there are none."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, round(q * 100) - 1)]


@dataclass
class ApiProbe:
    """Polls the API at ``base`` (module docstring) on its own thread until ``stop``."""

    base: str
    token: str
    probe_zones: list[str]
    all_zones: list[str]
    bucket_s: float = 1.0
    delay_poll_s: float = 0.5
    latency_every_s: float = 1.0
    delays_s: list[float] = field(default_factory=list)
    sites_ms: list[float] = field(default_factory=list)
    series_ms: list[float] = field(default_factory=list)
    errors: int = 0
    _seen: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ApiProbe:
        self._thread = threading.Thread(target=self._forever, name="api-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30.0)

    def _forever(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30.0) as client:
            next_latency = time.monotonic()
            turn = 0
            while not self._stop.is_set():
                started = time.monotonic()
                for zone_id in self.probe_zones:
                    self._delay(client, zone_id)
                if started >= next_latency:
                    self._latency(client, self.all_zones[turn % len(self.all_zones)])
                    turn += 1
                    next_latency = started + self.latency_every_s
                self._stop.wait(max(0.0, self.delay_poll_s - (time.monotonic() - started)))

    def _get(self, client: httpx.Client, path: str, **params: Any) -> tuple[float, Any]:
        """(milliseconds, JSON body); None as body on a failure (counted)."""
        started = time.perf_counter()
        try:
            response = client.get(path, params=params)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError):
            self.errors += 1
            return (time.perf_counter() - started) * 1000, None
        return (time.perf_counter() - started) * 1000, body

    def _delay(self, client: httpx.Client, zone_id: str) -> None:
        _, body = self._get(client, f"/api/zones/{zone_id}/series", since=time.time() - 10)
        seen_at = time.time()
        if body is None:
            return
        newest = self._seen.get(zone_id)
        for sample in body.get("samples", []):
            t = float(sample["t"])
            if newest is not None and t > newest:
                self.delays_s.append(seen_at - (t + self.bucket_s))
        ts = [float(s["t"]) for s in body.get("samples", [])]
        if ts:
            self._seen[zone_id] = max(ts + ([newest] if newest is not None else []))

    def _latency(self, client: httpx.Client, zone_id: str) -> None:
        ms, body = self._get(client, "/api/sites")
        if body is not None:
            self.sites_ms.append(ms)
        ms, body = self._get(client, f"/api/zones/{zone_id}/series", since=time.time() - 600)
        if body is not None:
            self.series_ms.append(ms)


@dataclass(frozen=True)
class Bookkeeping:
    """The stored rows' account (module docstring)."""

    samples: int
    zones_stored: int
    zones_expected: int
    first_all_t: float | None  # the first bucket at which every zone had stored one
    last_t: float | None
    missing: int  # buckets missing between a zone's first and last, in the measured run
    failover_gap: int  # of those, in the removed node's cameras around the removal
    lost: int  # missing - failover_gap
    warm_up_gap: int  # buckets missing in gaps that ended before the measured run
    rewritten_rows: int
    rewritten_buckets: int
    per_bucket: dict[float, int]


def bookkeeping(
    dsn: str,
    zones_expected: int,
    bucket_s: float,
    moved_cameras: list[str],
    window: tuple[float, float] | None,
    measured_from: float,
) -> Bookkeeping:
    """Count what is stored (module docstring).  A gap counts as failover when its zone's
    camera was on the removed node and the gap overlaps ``window`` (removal - 2 s to
    recovery + 2 s); a gap that ended before ``measured_from`` is the warm-up's."""
    import psycopg

    gaps_sql = """
        SELECT camera_id, prev_t, t, round((t - prev_t) / %(b)s)::int - 1 FROM (
            SELECT camera_id, t, lag(t) OVER (PARTITION BY zone_id ORDER BY t) AS prev_t
            FROM zone_samples) g
        WHERE t - prev_t > 1.5 * %(b)s"""
    with psycopg.connect(dsn) as conn:
        per_zone = conn.execute(
            "SELECT zone_id, min(t), max(t), count(*) FROM zone_samples GROUP BY zone_id"
        ).fetchall()
        per_bucket: dict[float, int] = dict(
            conn.execute("SELECT t, count(*) FROM zone_samples GROUP BY t ORDER BY t").fetchall()
        )
        gaps = conn.execute(gaps_sql, {"b": bucket_s}).fetchall()
        rewritten_rows, rewritten_buckets = conn.execute(
            "SELECT count(*), count(DISTINCT (zone_id, t)) FROM sim_rewrites"
        ).fetchone() or (0, 0)
    moved = set(moved_cameras)
    missing = failover = warm_up = 0
    for camera_id, prev_t, t, n in gaps:
        if t < measured_from:
            warm_up += n
            continue
        missing += n
        if window is not None and camera_id in moved and prev_t < window[1] and t > window[0]:
            failover += n
    samples = sum(r[3] for r in per_zone)
    return Bookkeeping(
        samples=samples,
        zones_stored=len(per_zone),
        zones_expected=zones_expected,
        first_all_t=max((r[1] for r in per_zone), default=None),
        last_t=max((r[2] for r in per_zone), default=None),
        missing=missing,
        failover_gap=failover,
        lost=missing - failover,
        warm_up_gap=warm_up,
        rewritten_rows=int(rewritten_rows),
        rewritten_buckets=int(rewritten_buckets),
        per_bucket={float(t): int(n) for t, n in per_bucket.items()},
    )
