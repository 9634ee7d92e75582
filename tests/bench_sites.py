"""Latency of the sites API at a city's size, on a throw-away PostgreSQL server.

    PYTHONPATH=$PWD/src python -m tests.bench_sites --cameras 8000 --sites 80 --requests 200

An API server (:class:`~crowdsafe.apiserver.site.FleetSite` under a real uvicorn) over a
database holding every camera's placement and status and one fresh sample per zone
(3 per camera); optionally a worker writing ``--feed-per-s`` samples a second with
NOTIFY meanwhile.  Prints one JSON line: how long the start-up load of every zone's
latest sample took, and p50/p95 of each route, ms.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.synchronize
import statistics
import time

import httpx
import psycopg

from crowdsafe.apiserver.latest import load_latest
from crowdsafe.apiserver.site import FleetSite, FleetSiteOptions
from crowdsafe.config import parse_config
from crowdsafe.store.postgres import PostgresStore
from crowdsafe.types import LevelOfService, ZoneSample
from tests.fleet import SCHEMA_SQL, fleet_config_text
from tests.servers.postgres import PostgresCluster, find_bindir
from tests.test_api import serving


def _sample(zone: str, t: float) -> ZoneSample:
    return ZoneSample(zone.split("-")[0], zone, t, 3.0, 4, 50.0, 0.06, LevelOfService.A, 10)


def _pct(values: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(values, n=20)
    return {"p50_ms": round(statistics.median(values), 1), "p95_ms": round(qs[18], 1)}


def _feed(dsn: str, zones: list[str], per_s: int, stop: multiprocessing.synchronize.Event) -> None:
    """A worker node's writes (another process): ``per_s`` samples a second, with NOTIFY."""
    store = PostgresStore(dsn, notify=True)
    k = 0
    while not stop.wait(max(0.0, 1.0 - time.time() % 1.0)):
        t = float(int(time.time()))
        store.write_samples([_sample(zones[(k + n) % len(zones)], t) for n in range(per_s)])
        k += per_s
    store.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cameras", type=int, default=8000)
    p.add_argument("--sites", type=int, default=80)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--feed-per-s", type=int, default=0)
    args = p.parse_args()
    bindir = find_bindir()
    assert bindir is not None, "PostgreSQL binaries not found"
    cluster = PostgresCluster(bindir)
    try:
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            admin.execute('CREATE DATABASE "bench"')
        dsn = cluster.dsn("bench")
        store = PostgresStore(dsn, notify=True)
        now = time.time()
        zones = [f"cam{i}-z{j}" for i in range(args.cameras) for j in range(3)]
        store.write_samples([_sample(z, float(int(now)) - 1) for z in zones])
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA_SQL)
            with conn.cursor().copy("COPY camera_placements FROM STDIN") as copy:
                for i in range(args.cameras):
                    copy.write_row((f"cam{i}", f"node-{i % 4}", f"w{i % 4}", now, 0))
            with conn.cursor().copy("COPY camera_status FROM STDIN") as copy:
                for i in range(args.cameras):
                    copy.write_row((f"cam{i}", f"node-{i % 4}", "live", 5.0, now, now))
        t0 = time.perf_counter()
        config = parse_config(fleet_config_text(dsn, args.cameras, args.sites))
        config_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = load_latest(dsn, zones, now - 600)
        load_s = time.perf_counter() - t0
        site = FleetSite(config, options=FleetSiteOptions(status_stale_s=86_400)).start()
        stop = multiprocessing.get_context("spawn").Event()
        writer = multiprocessing.get_context("spawn").Process(
            target=_feed, args=(dsn, zones, args.feed_per_s, stop), daemon=True
        )
        try:
            assert site.listener.connected.wait(60)
            with serving(site) as base, httpx.Client(base_url=base, headers=base.headers) as http:
                if args.feed_per_s:
                    writer.start()
                    time.sleep(3)  # the feed flowing before anything is measured
                routes = {
                    "site_list": "/api/sites?page_size=100",
                    "site": "/api/sites/site0?page_size=100",
                    "cameras_site": "/api/cameras?site=site0",
                    "zone_10min": f"/api/zones/cam0-z0/series?since={now - 600}&resolution=raw",
                }
                out: dict[str, object] = {
                    "cameras": args.cameras,
                    "zones": len(zones),
                    "sites": args.sites,
                    "feed_per_s": args.feed_per_s,
                    "config_parse_s": round(config_s, 2),
                    "latest_load_s": round(load_s, 3),
                    "latest_loaded": len(loaded),
                }
                with_data = http.get("/api/sites?page_size=1000").json()["items"]
                out["zones_with_data"] = sum(s["zones_with_data"] for s in with_data)
                for name, path in routes.items():
                    times = []
                    for _ in range(args.requests):
                        t0 = time.perf_counter()
                        r = http.get(path, timeout=30)
                        times.append((time.perf_counter() - t0) * 1000)
                        assert r.status_code == 200, r.text[:200]
                    out[name] = _pct(times)
                out["feed_received"] = len(site.feed.latest())
        finally:
            stop.set()
            if writer.is_alive():
                writer.join(10)
            site.close()
            store.close()
        print(json.dumps(out))
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
