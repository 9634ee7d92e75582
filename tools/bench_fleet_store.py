"""CPU per 1,000 stored zone samples of a fleet's store path, outside the analysis.

``python tools/durable_pg.py -- python tools/bench_fleet_store.py [--cameras 8000]``

Writes ``cameras`` x 3 zone samples a second (the pipeline's per-camera batches of 3)
through ``--stores`` QueuedStores (one per worker) over PostgresStore with notify on, for
``--seconds`` seconds at that rate, while a second process LISTENs as an API server does
(FleetSite's own notification handler, into a LiveFeed).  Prints CPU seconds per 1,000
samples of: the writing process, the PostgreSQL server's processes, the listener; and
checks that the listener's feed ends with every zone's last sample.  A figure, not a
test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from crowdsafe.types import LevelOfService, ZoneSample

_TICK = os.sysconf("SC_CLK_TCK")


def _cameras(n: int) -> list[str]:
    return [f"cam-{i:05d}" for i in range(n)]


def _sample(camera_id: str, k: int, t: float, i: int) -> ZoneSample:
    count = float((i * 7 + k) % 40)
    return ZoneSample(
        camera_id=camera_id,
        zone_id=f"{camera_id}-z{k}",
        t=t,
        count=count,
        count_max=int(count) + 2,
        area_m2=120.0,
        density_per_m2=count / 120.0,
        los=LevelOfService.A,
        frames=10,
        density_low_per_m2=count / 150.0,
        density_high_per_m2=count / 100.0,
    )


def _proc_cpu_s(pid: int, children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # the exited children it waited for
    return ticks / _TICK


def _server_cpu_s(port: int) -> float:
    """The postmaster (with its exited children) and every live process under it."""
    procs: dict[int, int] = {}
    master = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        procs[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if cmd and cmd[0].endswith(b"postgres") and str(port).encode() in cmd:
            master = int(entry.name)
    if master is None:
        raise SystemExit(f"no postmaster on port {port}")
    total = _proc_cpu_s(master, children=True)
    for pid, ppid in procs.items():
        if ppid == master:
            with contextlib.suppress(OSError):  # it ended meanwhile
                total += _proc_cpu_s(pid)
    return total


def _t(sample: ZoneSample | None) -> float:
    return float("-inf") if sample is None else sample.t


def listen(dsn: str, cameras: int, last_t: float) -> None:
    """The API server's side: FleetSite's handler of every notification."""
    from crowdsafe.apiserver.site import FleetSite
    from crowdsafe.feed import LiveFeed
    from crowdsafe.store.notify import SAMPLES, Listener

    site = FleetSite.__new__(FleetSite)  # its handler alone, without the config's world
    site._known_zones = {f"{c}-z{k}" for c in _cameras(cameras) for k in range(3)}
    site.feed = LiveFeed()
    first: list[float] = []

    def handler(channel: str, payload: str) -> None:
        if not first:
            first.append(sum(os.times()[:2]))
        site._notified(channel, payload)

    listener = Listener(dsn, [SAMPLES], handler).start()
    listener.connected.wait(10)
    print("ready", flush=True)
    zones = sorted(site._known_zones)
    probe = zones[-12:]  # the last cameras written each second: cheap to poll
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        time.sleep(0.2)
        probed = all(_t(site.feed.latest_of(z)) >= last_t for z in probe)
        if probed and all(_t(site.feed.latest_of(z)) >= last_t for z in zones):
            break
    cpu = sum(os.times()[:2]) - (first[0] if first else 0.0)
    at_last = sum(_t(site.feed.latest_of(z)) == last_t for z in zones)
    print(json.dumps({"cpu_s": cpu, "zones": len(zones), "at_last_t": at_last}), flush=True)
    listener.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=8000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--stores", type=int, default=4)
    parser.add_argument("--listen-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--last-t", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    dsn = os.environ["DSN"]
    if args.listen_only:
        listen(dsn, args.cameras, args.last_t)
        return 0

    from crowdsafe.store.postgres import PostgresStore
    from crowdsafe.store.queued import QueuedStore

    port = int(dsn.rsplit(":", 1)[1].split("/")[0])
    cams = _cameras(args.cameras)
    t0 = float(int(time.time()))
    ticks = [
        [[_sample(c, k, t0 + sec, i + sec) for k in range(3)] for i, c in enumerate(cams)]
        for sec in range(args.seconds)
    ]
    total = args.cameras * 3 * args.seconds
    stores = [
        QueuedStore(PostgresStore(dsn, notify=True), backlog_max=10**7) for _ in range(args.stores)
    ]
    stores[0].prepare(t0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, __file__, "--listen-only", "--cameras", str(args.cameras),
         "--last-t", str(t0 + args.seconds - 1)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"

    slices = 10  # a camera's batch every 100 ms of the second, spread as cameras are
    cpu0, pg0, wall0 = sum(os.times()[:2]), _server_cpu_s(port), time.monotonic()
    for sec, batches in enumerate(ticks):
        for part in range(slices):
            due = wall0 + sec + part / slices
            time.sleep(max(0.0, due - time.monotonic()))
            for j in range(part, len(batches), slices):
                stores[j % len(stores)].write_samples(batches[j])
    for s in stores:
        s.flush(300)
    wall = time.monotonic() - wall0
    cpu, pg = sum(os.times()[:2]) - cpu0, _server_cpu_s(port) - pg0
    out, _ = child.communicate(timeout=300)
    heard = json.loads(out.strip().splitlines()[-1])
    lost = sum(s.health().dropped for s in stores)
    for s in stores:
        s.close()
    per_k = 1000.0 / total
    print(
        f"{total} samples in {wall:.1f} s ({total / wall:.0f}/s, {lost} dropped): "
        f"CPU s per 1,000 samples: writer {cpu * per_k:.4f}, postgres {pg * per_k:.4f}, "
        f"listener {heard['cpu_s'] * per_k:.4f}; the listener's feed: {heard['zones']} "
        f"zones, {heard['at_last_t']} at the last second"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
