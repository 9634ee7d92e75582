"""The write queue in front of the store (``store/queued.py``): writes never block the
analysis, nothing is lost within the bound, the oldest goes beyond it, and health and
``/metrics`` show an outage.

The unit tests run the queue over :class:`GatedStore`, a real SQLite store behind a
gate (slow: writes wait) and a switch (down: writes fail); the last test stops and
starts a real PostgreSQL server (``tests/servers/postgres.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from crowdsafe.api.app import create_app
from crowdsafe.api.metrics import render_metrics
from crowdsafe.config import load_config
from crowdsafe.config.storage import SqliteStorageConfig
from crowdsafe.detect.base import FakeDetector
from crowdsafe.errors import StoreError
from crowdsafe.ingest.health import StreamState
from crowdsafe.runtime import Runtime
from crowdsafe.site import FakeSite
from crowdsafe.store.queued import QueuedStore, store_health
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import AlertState, LevelOfService, LineSample, ZoneSample
from tests.authn import bearer
from tests.servers.postgres import PostgresCluster
from tests.test_store_contract import alert, fresh_database, sample

WAIT_S = 60.0  # generous: only a broken queue takes this long


class GatedStore(SQLiteStore):
    """A real SQLite store whose writes wait while ``gate`` is shut and fail while
    ``down`` is set; it records every write call, in order."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()
        self.down = threading.Event()
        self.calls: list[str] = []
        self.closed = False

    def _pass(self, what: str) -> None:
        self.gate.wait()
        if self.down.is_set():
            raise StoreError(f"store down (test), writing {what}")
        self.calls.append(what)

    def write_samples(self, samples: Sequence[ZoneSample]) -> None:
        self._pass("zone")
        super().write_samples(samples)

    def write_line_samples(self, samples: Sequence[LineSample]) -> None:
        self._pass("line")
        super().write_line_samples(samples)

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.fixture
def inner(tmp_path: Path) -> GatedStore:
    return GatedStore(tmp_path / "gated.db")


@pytest.fixture
def make_queue(inner: GatedStore) -> Iterator[Callable[..., QueuedStore]]:
    made: list[QueuedStore] = []

    def make(backlog_max: int = 10_000, **kw: float) -> QueuedStore:
        kw.setdefault("retry_initial_s", 0.01)
        kw.setdefault("retry_max_s", 0.05)
        made.append(QueuedStore(inner, backlog_max=backlog_max, **kw))  # type: ignore[arg-type]
        return made[-1]

    yield make
    inner.gate.set()
    inner.down.clear()
    for q in made:
        q.close()


def wait_for(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def line(t: float) -> LineSample:
    return LineSample("cam1", "gate", t, 60.0, 3, 1, 2.0, 2.0, LevelOfService.A)


def ts(samples: Sequence[ZoneSample]) -> list[float]:
    return [s.t for s in samples]


def test_a_write_returns_while_the_store_is_stuck_and_lands_when_it_moves(
    inner: GatedStore, make_queue: Callable[..., QueuedStore]
) -> None:
    inner.gate.clear()  # every write to the store now waits
    q = make_queue()
    for t in range(50):
        q.write_samples([sample("a", float(t))])  # would hang here if it wrote itself
    assert q.health().backlog == 50  # a batch at the gate stays queued until written
    assert inner.series("a") == []
    inner.gate.set()
    assert q.flush(WAIT_S)
    assert ts(q.series("a")) == [float(t) for t in range(50)]
    h = q.health()
    assert (h.backlog, h.dropped, h.written, h.connected) == (0, 0, 50, True)


def test_no_sample_is_lost_within_the_bound_and_the_outage_shows(
    inner: GatedStore, make_queue: Callable[..., QueuedStore]
) -> None:
    inner.down.set()
    q = make_queue(backlog_max=1000)
    for t in range(0, 1000, 10):
        q.write_samples([sample("a", float(t + i)) for i in range(10)])
    wait_for(lambda: not q.health().connected)
    h = q.health()
    assert h.state == "disconnected" and h.last_error is not None
    assert "store down (test)" in h.last_error and h.dropped == 0
    inner.down.clear()
    assert q.flush(WAIT_S)
    assert ts(inner.series("a")) == [float(t) for t in range(1000)]
    assert q.health().state == "ok" and q.health().dropped == 0


def test_beyond_the_bound_the_oldest_are_dropped_and_counted(
    inner: GatedStore, make_queue: Callable[..., QueuedStore]
) -> None:
    inner.down.set()
    q = make_queue(backlog_max=100)
    q.write_samples([sample("a", float(t)) for t in range(250)])
    h = q.health()
    assert (h.backlog, h.dropped) == (100, 150)
    inner.down.clear()
    assert q.flush(WAIT_S)
    assert ts(inner.series("a")) == [float(t) for t in range(150, 250)]
    assert q.health().written == 100 and q.health().dropped == 150


def test_zone_and_line_samples_keep_their_order(
    inner: GatedStore, make_queue: Callable[..., QueuedStore]
) -> None:
    inner.gate.clear()  # queue everything first, so that one batch holds both kinds
    q = make_queue()
    q.write_samples([sample("a", 0.0)])
    q.write_line_samples([line(0.0)])
    q.write_line_samples([line(60.0)])
    q.write_samples([sample("a", 1.0), sample("a", 2.0)])
    inner.gate.set()
    assert q.flush(WAIT_S)
    # the first sample may have been taken alone before the rest was queued
    assert [c for i, c in enumerate(inner.calls) if i == 0 or c != inner.calls[i - 1]] == [
        "zone",
        "line",
        "zone",
    ]
    assert [s.t for s in inner.line_series("gate")] == [0.0, 60.0]
    assert ts(inner.series("a")) == [0.0, 1.0, 2.0]


def test_close_writes_what_waits_then_closes_the_store(
    inner: GatedStore, make_queue: Callable[..., QueuedStore], tmp_path: Path
) -> None:
    inner.gate.clear()
    q = make_queue()
    q.write_samples([sample("a", float(t)) for t in range(20)])
    q.write_line_samples([line(0.0)])
    threading.Timer(0.2, inner.gate.set).start()  # the store gets moving while close waits
    q.close()
    assert inner.closed
    again = SQLiteStore(tmp_path / "gated.db")
    assert ts(again.series("a")) == [float(t) for t in range(20)]
    assert len(again.line_series("gate")) == 1
    again.close()


def test_close_gives_up_on_a_dead_store_and_counts_what_was_not_written(
    inner: GatedStore, make_queue: Callable[..., QueuedStore]
) -> None:
    inner.down.set()
    q = make_queue(close_timeout_s=0.2)
    q.write_samples([sample("a", float(t)) for t in range(30)])
    q.close()
    assert inner.closed and q.health().dropped == 30
    q.write_samples([sample("a", 99.0)])  # after close: counted, not raised into the caller
    assert q.health().dropped == 31 and q.health().backlog == 0


def test_alerts_waiting_to_be_written_are_read_back(
    inner: GatedStore, make_queue: Callable[..., QueuedStore]
) -> None:
    inner.save_alert(alert("old", 50.0))
    inner.save_alert(alert("x", 90.0))
    inner.gate.clear()  # holds sample writes, and the alerts written with them
    q = make_queue()
    q.write_samples([sample("a", 0.0)])
    q.save_alert(alert("x", 100.0, AlertState.ACKNOWLEDGED))  # newer than the stored one
    q.save_alert(alert("new", 110.0))
    got = q.get_alert("x")
    assert got is not None and got.state is AlertState.ACKNOWLEDGED
    assert [a.id for a in q.alerts()] == ["new", "x", "old"]
    assert [a.id for a in q.alerts([AlertState.OPEN])] == ["new", "old"]
    assert [a.id for a in q.alerts(since=95.0, limit=1)] == ["new"]
    inner.gate.set()
    assert q.flush(WAIT_S)
    stored = inner.get_alert("x")
    assert stored is not None and stored.state is AlertState.ACKNOWLEDGED
    assert inner.get_alert("new") is not None


def test_healthz_and_metrics_show_the_store_down_and_the_backlog(
    inner: GatedStore, make_queue: Callable[..., QueuedStore]
) -> None:
    inner.down.set()
    q = make_queue(backlog_max=100)
    q.write_samples([sample("a", float(t)) for t in range(130)])
    wait_for(lambda: not q.health().connected)
    site = FakeSite(store=q)
    app = create_app(site)
    with TestClient(app, base_url="http://localhost", headers=bearer(app)) as client:
        health = client.get("/healthz").json()
        assert (health["status"], health["store"]) == ("degraded", "disconnected")
        text = client.get("/metrics").text
    assert "crowdsafe_store_connected 0.0" in text
    assert "crowdsafe_store_backlog 100.0" in text
    assert "crowdsafe_store_dropped_total 30.0" in text
    inner.down.clear()
    assert q.flush(WAIT_S)
    text = render_metrics(site).decode()
    assert "crowdsafe_store_connected 1.0" in text and "crowdsafe_store_written_total 100.0" in text
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/healthz").json()["store"] == "ok"


def test_a_plain_store_has_no_queue_health(inner: GatedStore) -> None:
    assert store_health(inner) is None
    assert "crowdsafe_store_" not in render_metrics(FakeSite(store=inner)).decode()


@pytest.mark.parametrize(("value", "ok"), [(99, False), (100, True), (50_000_001, False)])
def test_backlog_max_is_bounded(value: int, ok: bool) -> None:
    if ok:
        assert SqliteStorageConfig(backlog_max=value).backlog_max == value
    else:
        with pytest.raises(ValidationError, match="backlog_max"):
            SqliteStorageConfig(backlog_max=value)


def test_postgresql_stopped_and_started_keeps_the_writes_of_the_outage(
    pg_cluster: PostgresCluster,
) -> None:
    from crowdsafe.store.postgres import PostgresStore

    dsn = fresh_database(pg_cluster)
    q = QueuedStore(
        PostgresStore(dsn, pool_max=2, connect_timeout_s=2.0),
        backlog_max=10_000,
        retry_initial_s=0.05,
        retry_max_s=0.5,
    )
    try:
        q.write_samples([sample("a", float(t)) for t in range(10)])
        assert q.flush(WAIT_S)
        pg_cluster.stop()
        try:
            for t in range(10, 100, 10):  # the analysis carries on: no write raises or waits
                q.write_samples([sample("a", float(t + i)) for i in range(10)])
            wait_for(lambda: not q.health().connected)
            h = q.health()
            assert h.backlog > 0 and h.dropped == 0 and h.last_error is not None
        finally:
            pg_cluster.start()
        assert q.flush(WAIT_S)
        assert q.health().connected
        assert ts(q.series("a")) == [float(t) for t in range(100)]
        assert q.health().dropped == 0
    finally:
        q.close()


def test_a_runtime_writes_through_the_queue_and_close_lands_everything(
    tmp_path: Path, config_text: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(config_text)
    rt = Runtime(load_config(path), detector=FakeDetector())
    assert isinstance(rt.store, QueuedStore)  # the assembly wraps the store it builds
    rt.start()
    try:
        wait_for(lambda: rt.cameras["cam1"].health.snapshot().state is StreamState.STOPPED)
    finally:
        rt.close()
    h = rt.store.health()
    assert h.written > 0 and (h.backlog, h.dropped, h.connected) == (0, 0, True)
    stored = SQLiteStore(tmp_path / "test.db")
    zone_rows = sum(len(stored.series(z.id)) for z in rt.zones())
    stored.close()
    assert zone_rows > 0 and zone_rows == h.written  # every sample the pipeline wrote
