"""The API of a fleet: stateless API servers over one PostgreSQL store (issue 16).

Real parts only: the throw-away PostgreSQL server (``tests/servers/postgres.py``), real
uvicorn servers on 127.0.0.1, a separate PostgresStore writing as a worker node would,
and LISTEN/NOTIFY between them.  Waits are bounded by deadlines, never asserted times.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from crowdsafe.apiserver.site import FleetSite, FleetSiteOptions
from crowdsafe.cli import main
from crowdsafe.config import parse_config
from crowdsafe.ingest.health import StreamState
from crowdsafe.store.notify import (
    ALERT_STATE,
    PAYLOAD_MAX,
    SAMPLES,
    Listener,
    notify,
    read_samples,
    samples_payloads,
)
from crowdsafe.store.postgres import PostgresStore
from crowdsafe.types import (
    Alert,
    AlertEvent,
    AlertEventKind,
    AlertLevel,
    AlertRule,
    AlertState,
    LevelOfService,
    SubjectKind,
    ZoneSample,
)
from tests.authn import Served
from tests.fleet import SCHEMA_SQL, fleet_config_text
from tests.servers.postgres import PostgresCluster, find_bindir
from tests.test_api import free_port, serving
from tests.test_store_contract import fresh_database

psycopg = pytest.importorskip("psycopg")


def sample(zone: str, t: float, count: float, los: LevelOfService = LevelOfService.A) -> ZoneSample:
    return ZoneSample(
        camera_id=zone.split("-")[0],
        zone_id=zone,
        t=t,
        count=count,
        count_max=int(count) + 1,
        area_m2=50.0,
        density_per_m2=count / 50.0,
        los=los,
        frames=10,
    )


@pytest.fixture
def dsn(pg_cluster: PostgresCluster) -> str:
    dsn = fresh_database(pg_cluster)
    PostgresStore(dsn).close()  # the store's own schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL)
    return dsn


def register(dsn: str, rows: dict[str, tuple[str, int, str]], now: float) -> None:
    """Cameras placed on nodes (camera -> node, moves, state), as controller and workers
    would write them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for cid, (node, moves, state) in rows.items():
            conn.execute(
                "INSERT INTO camera_placements VALUES (%s, %s, %s, %s, %s)",
                (cid, node, f"worker-{node}", now, moves),
            )
            conn.execute(
                "INSERT INTO camera_status VALUES (%s, %s, %s, 5.0, %s, %s)",
                (cid, node, state, now, now),
            )


@pytest.fixture
def fleet(dsn: str) -> Iterator[tuple[Served, Served, FleetSite, FleetSite]]:
    """Two API servers (A and B) over one database: 4 cameras on 2 sites, 3 zones each."""
    now = time.time()
    register(
        dsn,
        {
            "cam0": ("node-a", 0, "live"),
            "cam1": ("node-b", 2, "live"),
            "cam2": ("node-a", 1, "live"),
            "cam3": ("node-b", 0, "failed"),
        },
        now,
    )
    # Written before the servers start: what each loads once when it connects.
    writer = PostgresStore(dsn)
    writer.write_samples(
        [sample("cam0-z0", now - 1, 4.0), sample("cam0-z1", now - 1, 6.0, LevelOfService.C)]
    )
    writer.write_samples([sample("cam1-z0", now - 1, 10.0, LevelOfService.B)])
    writer.write_samples([sample("cam3-z0", now - 1, 99.0)])  # a failed camera: not counted
    writer.close()
    config = parse_config(fleet_config_text(dsn, cameras=4, sites=2))
    options = FleetSiteOptions(health_ttl_s=0.0)
    with ExitStack() as stack:
        sites = [FleetSite(config, options=options).start() for _ in range(2)]
        for site in sites:
            stack.callback(site.close)
        a, b = (stack.enter_context(serving(site)) for site in sites)
        for site in sites:
            assert site.listener.connected.wait(10), "the API server never listened"
        yield a, b, sites[0], sites[1]


def sse_lines(response: httpx.Response) -> Iterator[str]:
    yield from response.iter_lines()


def wait_subscribed(lines: Iterator[str]) -> None:
    """Past the stream's first line: the server's feed has subscribed this client."""
    for line in lines:
        if line.startswith("retry:"):
            return
    raise AssertionError("the stream ended before it began")


def next_sample(lines: Iterator[str], zone_id: str, t: float) -> dict[str, Any]:
    event = ""
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "sample":
            data: dict[str, Any] = json.loads(line.removeprefix("data: "))
            if data["zone_id"] == zone_id and data["t"] == t:
                return data
    raise AssertionError(f"no sample of {zone_id} at {t} on the stream")


def next_alert_event(lines: Iterator[str]) -> dict[str, Any]:
    """The body of the next ``alert`` event on the stream."""
    event = ""
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif event == "alert" and line.startswith("data: "):
            body: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return body
    raise AssertionError("no alert event on the stream")


def open_alert(alert_id: str, camera: str, level: AlertLevel, value: float) -> Alert:
    """An open density alert of the camera's first zone, opened now."""
    now = time.time()
    return Alert(
        id=alert_id,
        rule=AlertRule.DENSITY,
        subject_kind=SubjectKind.ZONE,
        subject_id=f"{camera}-z0",
        camera_id=camera,
        level=level,
        state=AlertState.OPEN,
        message=f"density {level.value}",
        value=value,
        threshold=value - 0.5,
        opened_at=now,
        updated_at=now,
    )


def test_a_sample_written_on_another_node_reaches_the_live_feed_of_every_api_server(
    fleet: tuple[Served, Served, FleetSite, FleetSite], dsn: str
) -> None:
    a, b, _, _ = fleet
    worker = PostgresStore(dsn, notify=True)  # a worker node's store
    try:
        with (
            a.stream("GET", "/api/live", timeout=15) as ra,
            b.stream("GET", "/api/live", timeout=15) as rb,
        ):
            la, lb = sse_lines(ra), sse_lines(rb)
            wait_subscribed(la)
            wait_subscribed(lb)
            t = float(int(time.time()))
            worker.write_samples([sample("cam2-z1", t, 7.0, LevelOfService.D)])
            for lines in (la, lb):
                got = next_sample(lines, "cam2-z1", t)
                assert got["count"] == 7.0 and got["los"] == "D"
    finally:
        worker.close()
    # ... and it is now each server's latest of that zone, in the site's totals.
    for base in (a, b):
        detail = base.get("/api/sites/site0").json()
        zone = next(z for z in detail["zones"] if z["id"] == "cam2-z1")
        assert zone["latest"]["count"] == 7.0 and zone["status"] == "ok"


def test_site_list_pages_and_totals_match_what_was_written(
    fleet: tuple[Served, Served, FleetSite, FleetSite],
) -> None:
    a, b, _, _ = fleet
    first = a.get("/api/sites", params={"page_size": 1}).json()
    second = b.get("/api/sites", params={"page_size": 1, "page": 2}).json()
    assert (first["total"], second["total"]) == (2, 2)
    assert [s["id"] for s in first["items"] + second["items"]] == ["site0", "site1"]
    site0, site1 = first["items"][0], second["items"][0]
    # site0: cam0 and cam2, both live; cam0's two zones have fresh samples
    assert site0 == {
        "id": "site0",
        "name": "Site 0",
        "cameras": 2,
        "cameras_ok": 2,
        "zones": 6,
        "zones_with_data": 2,
        "persons_now": 10.0,
        "density_max_per_m2": 6.0 / 50.0,
        "los_worst": "C",
        "alerts_open": 0,
    }
    # site1: cam1 live, cam3 failed (its 99 people are not "now": no data, never zero)
    assert (site1["cameras"], site1["cameras_ok"], site1["zones_with_data"]) == (2, 1, 1)
    assert site1["persons_now"] == 10.0 and site1["los_worst"] == "B"
    assert a.get("/api/sites", params={"page": 3}).json()["items"] == []
    assert a.get("/api/sites/nope").status_code == 404


def test_camera_health_shows_the_node_and_moves_and_cameras_page_by_site(
    fleet: tuple[Served, Served, FleetSite, FleetSite], dsn: str
) -> None:
    a, b, _, _ = fleet
    health = b.get("/api/cameras/cam1/health").json()
    assert (health["node_id"], health["moves"], health["state"]) == ("node-b", 2, "live")
    assert b.get("/api/cameras/cam3/health").json()["state"] == "failed"
    r = a.get("/api/cameras", params={"site": "site1", "page_size": 1, "page": 2})
    assert r.headers["x-total-count"] == "2"
    assert [(c["id"], c["site"], c["health"]["node_id"]) for c in r.json()] == [
        ("cam3", "site1", "node-b")
    ]
    assert len(a.get("/api/cameras").json()) == 4  # un-paged clients get every camera
    # A camera moved by the controller shows its new node at once (health_ttl_s 0).
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE camera_placements SET node_id = 'node-c', moves = moves + 1 "
            "WHERE camera_id = 'cam1'"
        )
    assert a.get("/api/cameras/cam1/health").json()["node_id"] == "node-c"
    assert a.get("/api/cameras/cam1/health").json()["moves"] == 3
    # Pixels stay on the workers: a clear 409, never an empty image.
    r = a.get("/api/cameras/cam0/live.jpg")
    assert r.status_code == 409 and "images stay there" in r.json()["detail"]


def test_a_camera_whose_worker_went_silent_is_not_shown_live(dsn: str) -> None:
    register(dsn, {"cam0": ("node-a", 0, "live")}, time.time() - 60)
    config = parse_config(fleet_config_text(dsn, cameras=1, sites=1))
    site = FleetSite(config, options=FleetSiteOptions(status_stale_s=15.0, listen=False))
    try:
        (info,) = site.camera_infos()
        assert info.health.state is StreamState.STALLED
        assert "no status from its worker on node-a" in (info.health.last_error or "")
    finally:
        site.close()


def test_an_ack_through_one_server_is_seen_through_the_other_and_told_to_the_fleet(
    fleet: tuple[Served, Served, FleetSite, FleetSite], dsn: str
) -> None:
    a, b, _, _ = fleet
    alert = open_alert("a-1", "cam1", AlertLevel.WARNING, 2.5)
    store = PostgresStore(dsn)
    store.save_alert(alert)
    store.close()
    assert b.get("/api/sites/site1").json()["site"]["alerts_open"] == 1
    heard: queue.Queue[tuple[str, str]] = queue.Queue()
    owner = Listener(dsn, [ALERT_STATE], lambda ch, p: heard.put((ch, p))).start()
    try:
        assert owner.connected.wait(10)
        with b.stream("GET", "/api/live", timeout=15) as rb:
            lines = sse_lines(rb)
            wait_subscribed(lines)
            r = a.post("/api/alerts/a-1/acknowledge")
            assert r.status_code == 200 and r.json()["state"] == "acknowledged"
            assert heard.get(timeout=10) == (ALERT_STATE, "a-1")  # the owning worker's side
            body = next_alert_event(lines)  # server B's dashboards hear of it too
            assert body["event"] == "acknowledged" and body["alert"]["id"] == "a-1"
    finally:
        owner.close()
    listed = b.get("/api/alerts", params={"state": "acknowledged"}).json()
    assert [x["id"] for x in listed] == ["a-1"]
    assert b.post("/api/alerts/a-1/resolve").json()["state"] == "resolved"
    assert a.get("/api/alerts", params={"state": "active"}).json() == []


def test_the_listener_reconnects_after_the_server_restarts() -> None:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found")
    cluster = PostgresCluster(bindir)  # its own server: stopping it disturbs no one
    heard: queue.Queue[str] = queue.Queue()
    connects: list[float] = []
    listener = Listener(
        cluster.dsn(),
        [SAMPLES],
        lambda _ch, payload: heard.put(payload),
        on_connect=lambda: connects.append(time.time()),
        retry_s=0.2,
        retry_max_s=1.0,
    ).start()
    try:
        assert listener.connected.wait(10)
        cluster.stop()
        deadline = time.monotonic() + 20
        while listener.connected.is_set():
            assert time.monotonic() < deadline, "the listener never saw the server go"
            time.sleep(0.05)
        cluster.start()
        assert listener.connected.wait(20), "the listener never came back"
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            notify(conn, SAMPLES, "after the restart")
        assert heard.get(timeout=10) == "after the restart"
        assert listener.connections == 2 and len(connects) == 2  # reloads on reconnect
    finally:
        listener.close()
        cluster.close()


@pytest.mark.parametrize(
    "zone",
    [
        "cam{i}-z{j}",  # the batch in one json.dumps, cut between rows
        "cam{i}-]z{j}",  # an id with a "]": row by row
    ],
)
def test_payloads_stay_under_postgresqls_limit_and_read_back(zone: str) -> None:
    samples = [sample(zone.format(i=i, j=i % 3), 1_700_000_000.0 + i, i / 7) for i in range(2000)]
    samples.insert(500, sample("cam9-" + "x" * 9000, 1.0, 1.0))  # too large: left out
    payloads = list(samples_payloads(samples))
    assert len(payloads) > 1
    assert all(len(p.encode()) <= PAYLOAD_MAX for p in payloads)
    assert [s for p in payloads for s in read_samples(p)] == samples[:500] + samples[501:]
    with pytest.raises(ValueError, match="not a crowdsafe_samples payload"):
        read_samples('{"x": 1}')


def test_serve_refuses_a_config_whose_store_is_not_shared(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    text = fleet_config_text("postgresql://unused/db", cameras=1, sites=1)
    path.write_text(text.split("storage:")[0] + f"storage:\n  path: {tmp_path / 'x.db'}\n")
    assert main(["serve", str(path)]) == 2
    assert "must be postgresql (got 'sqlite')" in capsys.readouterr().err


def test_crowdsafe_serve_answers_from_the_shared_store_and_stops_cleanly(
    dsn: str, tmp_path: Any
) -> None:
    """The real command in a subprocess: a token made with `crowdsafe tokens add`, the
    sites and a camera's placement through it, SIGINT a clean exit 0."""
    register(dsn, {"cam0": ("node-a", 4, "live")}, time.time() + 3600)  # fresh for the test
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet_config_text(dsn, cameras=2, sites=2))
    cli = [sys.executable, "-m", "crowdsafe.cli"]
    made = subprocess.run(
        [*cli, "tokens", "add", str(path), "dash", "--role", "viewer"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = next(w for w in made.stdout.split() if w.startswith("cst_"))
    port = free_port()
    proc = subprocess.Popen(
        [*cli, "serve", str(path), "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                r = httpx.get(base + "/api/sites", headers=headers, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not start serving"
                time.sleep(0.3)
        assert r.status_code == 200 and r.json()["total"] == 2
        health = httpx.get(base + "/api/cameras/cam0/health", headers=headers, timeout=5).json()
        assert (health["node_id"], health["moves"]) == ("node-a", 4)
        assert httpx.get(base + "/api/sites", timeout=5).status_code == 401  # logins as ever
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "read only: this server runs no camera" in out


def test_an_alert_a_worker_opens_reaches_every_api_servers_dashboards(
    fleet: tuple[Served, Served, FleetSite, FleetSite], dsn: str
) -> None:
    from crowdsafe.cluster.events import AlertEventSender

    a, b, _, _ = fleet
    opened = open_alert("w-1", "cam2", AlertLevel.CRITICAL, 4.5)
    sender = AlertEventSender(dsn)  # what a worker's engine calls; the row is not stored
    try:
        with (
            a.stream("GET", "/api/live", timeout=15) as ra,
            b.stream("GET", "/api/live", timeout=15) as rb,
        ):
            la, lb = sse_lines(ra), sse_lines(rb)
            wait_subscribed(la)
            wait_subscribed(lb)
            sender.send(AlertEvent(AlertEventKind.OPENED, opened))
            for lines in (la, lb):
                body = next_alert_event(lines)
                assert body["event"] == "opened"
                assert (body["alert"]["id"], body["alert"]["level"]) == ("w-1", "critical")
    finally:
        sender.close()
    assert sender.sent == 1 and sender.dropped == 0
