"""SIMULATION ONLY: ``crowdsafe fleet simulate``, a city's fleet on one machine.

What runs, all of it the real thing but the cameras (``cluster/synthetic.py``):

* ``nodes`` Ray nodes on this machine (``ray.cluster_utils.Cluster``: no dashboard,
  100 MB object stores, one logical CPU each, a node declared dead after about 3 s of
  silence);
* the fleet's controller and one :class:`~crowdsafe.cluster.synthetic.
  SyntheticFleetWorker` per node, whose ``cameras`` scripted cameras (``zones`` zones
  each, one frame and one sample per zone a second) go through zone counting, buckets,
  the alert engine, the write queue and the PostgreSQL store at ``dsn``, with the live
  feed notified;
* ``crowdsafe serve`` in a subprocess, the API of the fleet over the same store, asked
  over HTTP with a viewer token (``evaluation/fleet_probe.py`` says what is timed);
* once every zone stores (the warm-up: nodes, workers and cameras starting, timed
  apart), the run of ``seconds`` is measured; after ``remove_node_at_s`` of them (when
  given), the last non-head node is removed
  at once, as a machine that dies, and the time is taken until every camera it ran
  has stored a bucket that began after the removal from its new node.

The database must be empty (every stored sample is counted); a trigger counting
replaced rows is added to it.  The result is one JSON object (:func:`simulate`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crowdsafe.errors import UsageError
from crowdsafe.evaluation.fleet_config import simulation_config_text
from crowdsafe.evaluation.fleet_probe import (
    ApiProbe,
    bookkeeping,
    install_rewrite_counter,
    percentile,
)

__all__ = ["simulate"]

log = logging.getLogger(__name__)

NAMESPACE = "crowdsafe-sim"
_OBJECT_STORE = 100 * 1024 * 1024
_HEALTH = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_empty(dsn: str) -> None:
    import psycopg

    from crowdsafe.store.postgres import PostgresStore

    PostgresStore(dsn).close()  # migrated to the head revision
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM zone_samples)").fetchone()
    if row is not None and row[0]:
        raise UsageError(
            "fleet simulate counts every stored sample: give it an empty database (--dsn)"
        )


@contextlib.contextmanager
def _ray_cluster(nodes: int) -> Iterator[Any]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray runs workers at nice 15; here they share the cores with PostgreSQL and the API
    # server (a real node runs nothing else), and at nice 15 those starved them
    os.environ.setdefault("RAY_worker_niceness", "0")
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "object_store_memory": _OBJECT_STORE,
            "_system_config": _HEALTH,
        },
    )
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1, object_store_memory=_OBJECT_STORE)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _api_server(config_path: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``crowdsafe serve`` on 127.0.0.1:``port``, until /healthz answers (2 min at most)."""
    import httpx

    log = open(config_path.parent / "serve.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "crowdsafe.cli", "serve", str(config_path), "--host", "127.0.0.1",
         "--port", str(port), "--quiet"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code < 500:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (config_path.parent / "serve.log").read_text()[-2000:]
                raise RuntimeError(f"crowdsafe serve did not start:\n{tail}")
            time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class _Failover:
    """Removes a node at ``at_s`` and times its cameras' return (module docstring)."""

    def __init__(self, cluster: Any, dsn: str, at_s: float, started: float) -> None:
        self.cluster, self.dsn, self.at_s, self.started = cluster, dsn, at_s, started
        self.node_id: str | None = None
        self.removed_at: float | None = None
        self.moved: list[str] = []
        self.recovered_s: float | None = None
        self.reassigned = 0
        self.thread = threading.Thread(target=self._run, name="failover", daemon=True)

    def _run(self) -> None:
        import psycopg

        from crowdsafe.cluster.registry import FleetRegistry

        time.sleep(max(0.0, self.started + self.at_s - time.time()))
        node = self.cluster.list_all_nodes()[-1]
        self.node_id = node.node_id
        registry = FleetRegistry(self.dsn)
        try:
            self.moved = sorted(
                c for c, p in registry.placements().items() if p.node_id == self.node_id
            )
            self.removed_at = time.time()
            self.cluster.remove_node(node, allow_graceful=False)
            after = self.removed_at + 1.0  # the first bucket that began after the removal
            waiting = set(self.moved)
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while waiting and time.time() - self.removed_at < 120:
                    rows = conn.execute(
                        "SELECT DISTINCT camera_id FROM zone_samples "
                        "WHERE t >= %s AND camera_id = ANY(%s)",
                        (after, sorted(waiting)),
                    ).fetchall()
                    waiting -= {r[0] for r in rows}
                    if waiting:
                        time.sleep(0.5)
            if not waiting:
                self.recovered_s = time.time() - self.removed_at
            placed = registry.placements()
            self.reassigned = sum(
                1 for c in self.moved if c in placed and placed[c].node_id != self.node_id
            )
        finally:
            registry.close()


def simulate(
    *,
    cameras: int,
    nodes: int,
    seconds: float,
    dsn: str,
    zones: int = 3,
    remove_node_at_s: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the simulation (module docstring) and return its figures.  Raises UsageError
    for impossible arguments or a database that is not empty."""
    if cameras < 1 or nodes < 1 or seconds <= 0 or zones < 1:
        raise UsageError("--cameras, --nodes, --seconds and --zones-per-camera must be > 0")
    if remove_node_at_s is not None and (nodes < 2 or not 0 < remove_node_at_s < seconds):
        raise UsageError("--remove-node-at needs --nodes >= 2 and a time inside --seconds")
    import ray

    from crowdsafe.auth import AuthStore, Role
    from crowdsafe.cluster.fleet import connect, start_fleet, stop_fleet
    from crowdsafe.cluster.synthetic import (
        ScriptedCrowd,
        ScriptedCrowdDetector,
        SyntheticFleetWorker,
    )
    from crowdsafe.config import parse_config

    _check_empty(dsn)
    install_rewrite_counter(dsn)
    folder = Path(tempfile.mkdtemp(prefix="crowdsafe-sim-"))
    config_path = folder / "city.yaml"
    config_path.write_text(simulation_config_text(dsn, cameras, zones=zones, namespace=NAMESPACE))
    config = parse_config(config_path.read_text(), source=str(config_path), base_dir=folder)
    auth = AuthStore(config.auth_store_path())
    token = auth.add_token("fleet-simulate", Role.VIEWER)
    auth.close()
    zone_ids = [z.id for cam in config.cameras for z in cam.zones]
    port = _free_port()
    out: dict[str, Any] = {"cameras": cameras, "nodes": nodes, "zones": len(zone_ids)}
    with _ray_cluster(nodes) as cluster, _api_server(config_path, port) as api:
        connect(cluster.address, NAMESPACE)
        detector = functools.partial(ScriptedCrowdDetector, config, ScriptedCrowd(seed=seed))
        launched = time.time()
        start_fleet(config, detector, SyntheticFleetWorker)
        out["zones_storing_after_warm_up"] = _warm_up(dsn, len(zone_ids), launched)
        busy0, total0 = _cpu_busy()
        started = time.time()
        out["warm_up_s"] = round(started - launched, 1)
        step = max(1, len(zone_ids) // 8)
        probe = ApiProbe(
            f"http://127.0.0.1:{port}",
            token,
            zone_ids[::step][:8],
            zone_ids,
            config.storage.bucket_s,
        ).start()
        failover = None
        if remove_node_at_s is not None:
            failover = _Failover(cluster, dsn, remove_node_at_s, started)
            failover.thread.start()
        time.sleep(max(0.0, started + seconds - time.time()))
        workers = _usage(ray, config.cameras)
        probe.stop()
        if failover is not None:
            failover.thread.join(150)
        stop_fleet(NAMESPACE)
        ended = time.time()
        busy1, total1 = _cpu_busy()
        out["api_server_peak_rss_mib"] = _peak_rss_mib(api.pid)
    out.update(
        _figures(dsn, config.storage.bucket_s, len(zone_ids), started, ended, failover, probe)
    )
    out["workers"] = workers
    out["machine_cpu_busy"] = round((busy1 - busy0) / max(1.0, total1 - total0), 3)
    out["seconds"] = round(ended - started, 1)
    shutil.rmtree(folder, ignore_errors=True)  # kept after a failure: serve.log says why
    return out


def _warm_up(dsn: str, zones: int, since: float, timeout_s: float = 300.0) -> int:
    """Wait until every zone has stored a bucket since ``since`` (the workers have
    started and taken their cameras), ``timeout_s`` at most; the zones storing."""
    import psycopg

    deadline = time.monotonic() + timeout_s
    storing = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(DISTINCT zone_id) FROM zone_samples WHERE t >= %s", (since,)
            ).fetchone()
            storing = 0 if row is None else int(row[0])
            log.info("warm-up: %d of %d zones storing", storing, zones)
            if storing >= zones:
                break
            time.sleep(2.0)
    return storing


def _usage(ray: Any, cameras: Any) -> list[dict[str, float]]:
    """Each live worker's :meth:`~crowdsafe.cluster.synthetic.SyntheticFleetWorker.usage`."""
    from crowdsafe.cluster.controller import alive_nodes, worker_name

    out = []
    for node_id in alive_nodes():
        with contextlib.suppress(Exception):  # a worker on a dying node
            handle = ray.get_actor(worker_name(node_id), namespace=NAMESPACE)
            out.append(ray.get(handle.usage.remote(), timeout=10))
    return out


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _figures(
    dsn: str,
    bucket_s: float,
    zones: int,
    started: float,
    ended: float,
    failover: _Failover | None,
    probe: ApiProbe,
) -> dict[str, Any]:
    window = None
    moved: list[str] = []
    if failover is not None and failover.removed_at is not None:
        moved = failover.moved
        back = failover.removed_at + (failover.recovered_s or 120.0)
        window = (failover.removed_at - 2.0, back + 2.0)
    book = bookkeeping(dsn, zones, bucket_s, moved, window, started)
    # steady state: from the first bucket every zone stored to the last but one
    steady = {
        t: n
        for t, n in book.per_bucket.items()
        if book.first_all_t is not None and book.last_t is not None
        and started <= t < book.last_t - bucket_s
    }  # fmt: skip
    rate = sum(steady.values()) / (len(steady) * bucket_s) if steady else None
    # and outside the failover window, where the removed node's cameras are missing
    calm = {t: n for t, n in steady.items() if window is None or not window[0] <= t <= window[1]}
    calm_rate = sum(calm.values()) / (len(calm) * bucket_s) if calm else None
    out: dict[str, Any] = {
        "samples_stored": book.samples,
        "zones_stored": book.zones_stored,
        "samples_per_s_expected": zones / bucket_s,
        "samples_per_s_stored": _round(calm_rate, 1),
        "samples_per_s_stored_with_failover": _round(rate, 1),
        "steady_buckets": len(steady),
        "lost_samples": book.lost,
        "warm_up_gap_samples": book.warm_up_gap,
        "duplicated_samples": book.rewritten_buckets,
        "duplicate_writes": book.rewritten_rows,
        "delay_s": {
            "what": "bucket end -> stored -> seen in GET /api/zones/{id}/series (polled "
            f"every {probe.delay_poll_s} s, so up to that much high)",
            "p50": _round(percentile(probe.delays_s, 0.5)),
            "p95": _round(percentile(probe.delays_s, 0.95)),
            "max": _round(max(probe.delays_s, default=None)),
            "n": len(probe.delays_s),
        },
        "api_ms": {
            "sites_p95": _round(percentile(probe.sites_ms, 0.95), 1),
            "sites_n": len(probe.sites_ms),
            "zone_last_10min_p95": _round(percentile(probe.series_ms, 0.95), 1),
            "zone_last_10min_n": len(probe.series_ms),
            "errors": probe.errors,
        },
        "run_ended_s": round(ended - started, 1),
    }
    if failover is not None:
        out["failover"] = {
            "removed_node": failover.node_id,
            "removed_at_s": _round(
                None if failover.removed_at is None else failover.removed_at - started, 1
            ),
            "cameras_on_removed_node": len(failover.moved),
            "cameras_reassigned": failover.reassigned,
            "all_storing_again_s": _round(failover.recovered_s, 1),
            "gap_samples": book.failover_gap,
        }
    return out
