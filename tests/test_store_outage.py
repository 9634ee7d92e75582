"""PostgreSQL stopped for 30 s under a real ``crowdsafe run`` (issue 15, item 3's
acceptance): the analysis does not stall, no sample within the backlog bound is lost,
health shows the outage, and the writes catch up when the server is back.

The test starts its own throw-away server (stopping the session's ``pg_cluster`` would
disturb the other tests that share it), runs the real command on the bundled sample
video paced as a live camera, stops the server for :data:`OUTAGE_S` and starts it again.

How a stall would show.  A live source hands the analysis only its newest frame
(``FrameSlot``); an analysis thread that waited on the database would miss the frames
that arrived meanwhile, so the 1-s buckets of the outage would hold fewer analysed
frames (``frames``), or be missing.  The frame rate is therefore read from what the
server itself stored, per bucket of stream time, not from the test's own clock; the
5 % bound is the issue's.  Nothing asserts how long anything took: a loaded machine
makes the test slower, not flaky (waits are polled with generous deadlines).

Run it alone, with its figures (one JSON line) shown::

    PYTHONPATH=$PWD/src python -m pytest tests/test_store_outage.py -q -s -m outage
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from crowdsafe.api.app import create_app
from crowdsafe.errors import StoreError
from crowdsafe.site import FakeSite
from crowdsafe.store.queued import QueuedStore
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import Alert, AlertState, ZoneSample

from .authn import bearer
from .conftest import CONFIG_TEMPLATE
from .servers.postgres import PostgresCluster, free_port, throwaway_cluster
from .test_store_contract import sample

BEFORE_S = 15.0  # analysed before the outage
OUTAGE_S = 30.0  # the outage
AFTER_S = 8.0  # analysed after the backlog has drained
ANALYSIS_FPS = 4  # well within one core, so the rate is the camera's, not the CPU's
BACKLOG_MAX = 100_000  # far above the outage's samples: none may be dropped
FPS_TOLERANCE = 0.05  # the bound
WAIT_S = 180.0  # generous: only a broken store or run takes this long


class UnreadableStore(SQLiteStore):
    """A real SQLite store that fails, once ``down`` is set, as a stopped PostgreSQL
    server does: its writes and its alert reads (which it counts) raise."""

    down = False
    alert_reads = 0

    def alerts(
        self,
        states: Sequence[AlertState] | None = None,
        since: float | None = None,
        limit: int = 1000,
    ) -> list[Alert]:
        self.alert_reads += 1
        if self.down:
            raise StoreError("cannot read the database (test): server stopped")
        return super().alerts(states, since, limit)

    def write_samples(self, samples: Sequence[ZoneSample]) -> None:
        if self.down:
            raise StoreError("cannot write to the database (test): server stopped")
        super().write_samples(samples)


def test_metrics_answer_while_the_store_cannot_be_read(tmp_path: Path) -> None:
    # Found by the outage test below: /metrics read the active alerts from the store and
    # answered 500 for the whole outage, hiding the very gauges that show it.
    inner = UnreadableStore(tmp_path / "s.db")
    queue = QueuedStore(inner, backlog_max=100, retry_initial_s=0.05)
    app = create_app(FakeSite(store=queue))
    inner.down = True  # after the start: the server stops while the site runs
    try:
        with TestClient(app, base_url="http://localhost", headers=bearer(app)) as client:
            first = client.get("/metrics")  # the queue has not noticed yet: a failed read
            reads = inner.alert_reads
            queue.write_samples([sample("a", 1.0)])
            deadline = time.monotonic() + WAIT_S
            while queue.health().connected:
                assert time.monotonic() < deadline, "the queue never saw the store down"
                time.sleep(0.05)
            second = client.get("/metrics")  # it has: the store is not asked
    finally:
        inner.down = False  # back, so that close writes what waits at once
        queue.close()
    for r in (first, second):
        assert r.status_code == 200, r.text
        assert "crowdsafe_alerts_active" not in r.text  # unknown, so absent: never a false 0
    assert "crowdsafe_store_connected 1.0" in first.text
    assert "crowdsafe_store_connected 0.0" in second.text
    assert "crowdsafe_store_backlog 1.0" in second.text
    assert reads >= 1 and inner.alert_reads == reads


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server for this test alone: it is stopped and started."""
    yield from throwaway_cluster()


def _config(tmp_path: Path, video: Path, dsn: str) -> Path:
    storage = (
        "storage:\n"
        "  backend: postgresql\n"
        f"  dsn: {dsn}\n"
        "  connect_timeout_s: 2\n"
        f"  backlog_max: {BACKLOG_MAX}\n"
    )
    text = (
        CONFIG_TEMPLATE.format(video=video, db="unused.db")
        .replace("      realtime: false\n", "      realtime: true\n      loop: true\n")
        .replace("    calibration:\n", f"    analysis_fps: {ANALYSIS_FPS}\n    calibration:\n")
        .replace("storage:\n  path: unused.db\n", storage)
    )
    assert "backend: postgresql" in text
    path = tmp_path / "crowdsafe.yaml"
    path.write_text(text)
    return path


def _token(config: Path) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "crowdsafe.cli", "tokens", "add", str(config), "outage-test",
         "--role", "viewer"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@dataclass
class Probe:
    """One look at the running server: ``/healthz`` and ``/metrics``."""

    at: float
    status: str
    store: str
    backlog: float | None = None
    dropped: float | None = None
    written: float | None = None
    analysed_fps: float | None = None
    metrics_error: str | None = None


@dataclass
class Watch:
    base: str
    token: str
    probes: list[Probe] = field(default_factory=list)

    def probe(self) -> Probe:
        health = httpx.get(self.base + "/healthz", timeout=30).json()
        p = Probe(at=time.time(), status=health["status"], store=health["store"])
        try:
            r = httpx.get(
                self.base + "/metrics",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=30,
            )
            r.raise_for_status()
        except httpx.HTTPError as exc:
            p.metrics_error = f"{type(exc).__name__}: {exc}"
        else:
            values = {
                s.name: s.value
                for family in text_string_to_metric_families(r.text)
                for s in family.samples
            }
            p.backlog = values.get("crowdsafe_store_backlog")
            p.dropped = values.get("crowdsafe_store_dropped_total")
            p.written = values.get("crowdsafe_store_written_total")
            p.analysed_fps = values.get("crowdsafe_camera_analysed_fps")
        self.probes.append(p)
        return p

    def until(self, condition: Callable[[Probe], bool], what: str) -> Probe:
        deadline = time.monotonic() + WAIT_S
        while True:
            p = self.probe()
            if condition(p):
                return p
            assert time.monotonic() < deadline, f"gave up waiting for {what}: {p}"
            time.sleep(0.5)

    def over(self, seconds: float) -> None:
        """Keep probing for ``seconds`` of wall time (the windows' ends, not a measure)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.probe()
            time.sleep(0.5)


@contextlib.contextmanager
def running(config: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``crowdsafe run`` on a free port, its output in ``log`` (a pipe could fill up
    with the outage's log lines and block it); killed if the test leaves it running."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "crowdsafe.cli", "run", str(config), "--port", str(port),
             "--quiet"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            yield proc, f"http://127.0.0.1:{port}"
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def _answers(proc: subprocess.Popen[bytes], base: str, log: Path) -> bool:
    assert proc.poll() is None, log.read_text()
    try:
        return httpx.get(base + "/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def _stored(dsn: str) -> dict[str, list[tuple[float, int]]]:
    """Every zone's stored buckets, (start, frames analysed), in time order."""
    import psycopg

    by_zone: dict[str, list[tuple[float, int]]] = {}
    with psycopg.connect(dsn) as conn:
        for zone_id, t, frames in conn.execute(
            "SELECT zone_id, t, frames FROM zone_samples ORDER BY zone_id, t"
        ):
            by_zone.setdefault(str(zone_id), []).append((float(t), int(frames)))
    return by_zone


def _fps(buckets: list[tuple[float, int]], since: float, until: float) -> float:
    """Frames analysed per second of stream over the whole buckets inside the window;
    NaN when fewer than five are there (a stalled analysis stores none)."""
    inside = [frames for t, frames in buckets if since <= t and t + 1.0 <= until]
    return sum(inside) / len(inside) if len(inside) >= 5 else math.nan


@pytest.mark.outage
def test_a_30_s_database_outage_stalls_no_analysis_and_loses_no_sample(
    own_cluster: PostgresCluster, tmp_path: Path, sample_video: Path
) -> None:
    dsn = own_cluster.dsn()
    config = _config(tmp_path, sample_video, dsn)
    token = _token(config)
    log = tmp_path / "run.log"
    with running(config, log) as (proc, base):
        deadline = time.monotonic() + WAIT_S
        while not _answers(proc, base, log):
            assert time.monotonic() < deadline, "run did not start serving"
            time.sleep(0.3)
        watch = Watch(base, token)
        watch.until(lambda p: p.status == "ok" and bool(_stored(dsn)), "the first stored bucket")
        watch.over(BEFORE_S)

        own_cluster.stop()
        down_at = time.time()
        watch.over(OUTAGE_S)
        up_at = time.time()
        own_cluster.start()

        drained = watch.until(
            lambda p: p.store == "ok" and p.status == "ok" and p.backlog == 0,
            "the backlog to drain after the restart",
        )
        watch.over(AFTER_S)
        final = watch.probe()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=120)

    # The figures first, so that a failing run shows them too.
    outage = [p for p in watch.probes if down_at + 5.0 <= p.at <= up_at]
    before_probes = [p for p in watch.probes if p.at < down_at]
    backlogs = [p.backlog for p in outage if p.backlog is not None]
    peak = max(p.backlog or 0.0 for p in watch.probes)
    stored = _stored(dsn)
    left = stored.get("left", [])
    # frames analysed per second of stream, during the outage (its first and last
    # seconds left out: the stop and the start fall inside them) against before it
    before = _fps(left, left[1][0] if left else 0.0, down_at - 1.0)
    during = _fps(left, down_at + 1.0, up_at - 1.0)
    after = _fps(left, drained.at, left[-2][0] if left else 0.0)
    figures = {
        "outage_s": round(up_at - down_at, 1),
        "fps_before": round(before, 3),
        "fps_during": round(during, 3),
        "fps_after": round(after, 3),
        "gauge_fps_before_min": min(
            (p.analysed_fps or 0.0 for p in before_probes[-10:]), default=None
        ),
        "gauge_fps_during_min": min((p.analysed_fps or 0.0 for p in outage), default=None),
        "backlog_peak": peak,
        "dropped": final.dropped,
        "written": final.written,
        "buckets_per_zone": len(left),
        "probes_during_outage": len(outage),
        "metrics_errors_during_outage": sum(p.metrics_error is not None for p in outage),
    }
    print(json.dumps(figures))
    assert rc == 0, log.read_text()[-4000:]  # a clean stop

    # (c) health showed it: the store disconnected, the site degraded, the backlog growing
    assert outage, "no probe during the outage"
    assert all(p.store == "disconnected" and p.status == "degraded" for p in outage), outage
    assert len(backlogs) >= 2, [p.metrics_error for p in outage]
    assert backlogs[-1] > backlogs[0] > 0
    assert drained.backlog == 0 and final.store == "ok" and final.status == "ok"

    # (b) no sample lost: nothing dropped, and every 1-s bucket of each zone is stored,
    # from the first to the last, across the outage
    assert final.dropped == 0 and peak < BACKLOG_MAX
    assert set(stored) == {"left", "right"}
    for zone_id, buckets in stored.items():
        starts = [t for t, _ in buckets]
        steps = {round(b - a, 6) for a, b in itertools.pairwise(starts)}
        assert steps == {1.0}, f"zone {zone_id}: gaps in the stored buckets: {steps}"
        assert starts[0] < down_at - BEFORE_S / 2 and starts[-1] > up_at + AFTER_S / 2

    # (a) no stall (a NaN, too few buckets in a window, fails these too)
    assert abs(during - before) <= FPS_TOLERANCE * before, figures
    # After it the analysis goes on; only loosely bounded: the 79.5-s sample starts
    # again about then, and its reopening costs a bucket a frame or two (3-6 % of the
    # few buckets of this window), which says nothing about the store.
    assert after >= 0.8 * before, figures
