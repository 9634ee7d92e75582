"""SIMULATION ONLY: what one fleet worker of scripted cameras costs outside Ray.

``python tools/bench_fleet_worker.py --cameras 2000 --seconds 40 --dsn DSN`` runs one
:class:`~crowdsafe.cluster.synthetic.SyntheticFleetWorker` (the simulation's worker: zone
counting, buckets, alert rules, the write queue, NOTIFY) in this process on the
PostgreSQL at DSN, lets it settle for ``--warm-up`` seconds, then prints one JSON line:
the cores it used, its CPU per camera-tick, the ticks it skipped, and the share of its
CPU the garbage collector took (``--young-threshold`` sets the collector's youngest
threshold, to compare with the worker's own: ``crowdsafe/gcpolicy.py``).  Started several
times at once (``&`` in a shell) it shows what the workers cost when they share the
machine without Ray, the API server and the simulation's probes::

    python tools/durable_pg.py -- sh -c 'for i in 1 2 3 4; do
        python tools/bench_fleet_worker.py --cameras 2000 --seconds 40 --dsn "$DSN" &
    done; wait'

Each run writes its cameras' samples into the database: give every set of runs a fresh
one (``durable_pg.py`` does).  Cameras are ``sim0``... in every process, so parallel
runs write the same keys; the store replaces them, by its staged upsert, which costs more
than the COPY a fresh key takes: parallel runs' figures are upper bounds.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time

from crowdsafe.cluster.synthetic import SyntheticFleetWorker
from crowdsafe.config.load import parse_config
from crowdsafe.evaluation.fleet_config import simulation_config_text


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class _CollectionClock:
    """Seconds the garbage collector spent collecting, from its callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=2000, help="scripted cameras")
    parser.add_argument("--seconds", type=float, default=40.0, help="measured seconds")
    parser.add_argument("--warm-up", type=float, default=20.0, help="seconds before")
    parser.add_argument("--dsn", required=True, help="a PostgreSQL database")
    parser.add_argument(
        "--young-threshold",
        type=int,
        default=None,
        help="the garbage collector's youngest threshold (default: the worker's own)",
    )
    args = parser.parse_args()
    config = parse_config(simulation_config_text(args.dsn, args.cameras))
    worker = SyntheticFleetWorker(config, "bench-node", "bench-worker")
    if args.young_threshold is not None:
        gc.set_threshold(args.young_threshold, *gc.get_threshold()[1:])
    clock = _CollectionClock()
    try:
        worker.assign([c.id for c in config.cameras])
        time.sleep(args.warm_up)
        runtime = worker.synthetic()
        cpu0, t0, ticks0 = _cpu_s(), time.monotonic(), runtime.ticks
        skipped0 = runtime.ticks_skipped
        gc0, collections0 = clock.seconds, clock.collections
        time.sleep(args.seconds)
        cpu, elapsed = _cpu_s() - cpu0, time.monotonic() - t0
        ticks = runtime.ticks - ticks0
        report = {
            "cameras": args.cameras,
            "seconds": round(elapsed, 1),
            "cores": round(cpu / elapsed, 3),
            "ms_per_camera_tick": round(1000 * cpu / max(1, args.cameras * ticks), 4),
            "ticks": ticks,
            "ticks_skipped": runtime.ticks_skipped - skipped0,
            "young_threshold": gc.get_threshold()[0],
            "gc_collections": clock.collections - collections0,
            "gc_cpu_share": round((clock.seconds - gc0) / max(cpu, 1e-9), 4),
        }
    finally:
        worker.stop()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
