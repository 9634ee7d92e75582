"""The HTTP API and the live feed, against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI

from crowdsafe.api.app import create_app
from crowdsafe.api.schemas import AlertPublic, LineSamplePublic, ZoneSamplePublic
from crowdsafe.config import YoloxNanoConfig, load_config
from crowdsafe.detect.base import FakeDetector
from crowdsafe.ingest.video import sample_video_path
from crowdsafe.runtime import Runtime
from crowdsafe.site import Site
from crowdsafe.types import (
    Alert,
    AlertLevel,
    AlertRule,
    AlertState,
    CountMethod,
    Detections,
    Frame,
    LevelOfService,
    LineSample,
    ZoneSample,
)

from .authn import Served, bearer

# The default detector's measured figures, which the zone intervals use.
DETECTOR = YoloxNanoConfig()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def walkers(frame: Frame) -> Detections:
    """Scripted people: one more person in the left half every 2 s of video, up to 4."""
    n = 1 + (frame.index // 20) % 4
    feet = [(50.0 + 60 * i, 400.0) for i in range(n)] + [(600.0, 450.0)]
    xyxy = np.array([[x - 10, y - 80, x + 10, y] for x, y in feet], dtype=np.float32)
    return Detections(xyxy=xyxy, score=np.full(len(feet), 0.9, dtype=np.float32))


DENSITY = CountMethod.DENSITY
STORED_EXAMPLES = [
    ZoneSample("cam1", "a", 10.0, 2.5, 3, 4.0, 0.7, LevelOfService.B, 5, 0.5, 0.9),
    ZoneSample(
        "cam1", "a", 11.0, 40.0, 40, 4.0, 10.0, LevelOfService.F, 5, method=CountMethod.DENSITY
    ),
    LineSample("cam1", "gate", 60.0, 60.0, 3, 1, 2.0, 2.0, LevelOfService.A),
    Alert(
        "x",
        AlertRule.FLOW,
        "line",
        "gate",
        "cam1",
        AlertLevel.WARNING,
        AlertState.OPEN,
        "Line gate: 70 persons/m/min",
        70.0,
        66.0,
        1.0,
        2.0,
        acknowledged_at=1.5,
    ),
]
PUBLIC = {ZoneSample: ZoneSamplePublic, LineSample: LineSamplePublic, Alert: AlertPublic}


@pytest.mark.parametrize("stored", STORED_EXAMPLES, ids=lambda s: type(s).__name__)
def test_public_schemas_have_exactly_the_stored_fields_and_json(
    stored: ZoneSample | LineSample | Alert,
) -> None:
    model = PUBLIC[type(stored)]
    assert set(model.model_fields) == {f.name for f in fields(stored)}
    public = model.model_validate(stored.to_dict())
    # the API's JSON of a stored object is its to_dict, key order included
    assert list(public.model_dump(mode="json").items()) == list(stored.to_dict().items())


@contextmanager
def serving(
    runtime: Site, app: FastAPI | None = None, hosts: Sequence[str] = ()
) -> Iterator[Served]:
    """Run ``app`` (default: the app for ``runtime``, any Site, answering ``hosts``
    besides the loopback names) on a free port of 127.0.0.1; yields its base URL, which
    also sends requests with an admin token (``tests/authn.py``)."""
    port = free_port()
    app = app or create_app(runtime, hosts=hosts)
    headers = bearer(app)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", headers)
    finally:
        srv.should_exit = True
        thread.join(5)


@pytest.fixture
def server(tmp_path: Path, config_text: str) -> Iterator[tuple[Served, Runtime]]:
    path = tmp_path / "c.yaml"
    path.write_text(config_text.replace("realtime: false", "realtime: true"))
    runtime = Runtime(load_config(path), detector=FakeDetector(walkers))
    with serving(runtime) as base:
        runtime.start()
        try:
            yield base, runtime
        finally:
            runtime.close()


def read_events(base: Served, n: int, timeout_s: float = 15.0) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    with base.stream("GET", "/api/live", timeout=timeout_s) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "sample":
                events.append(json.loads(line[6:]))
                if len(events) >= n:
                    break
    return events


def test_live_feed_streams_changing_zone_samples(server: tuple[Served, Runtime]) -> None:
    base, _ = server
    events = read_events(base, 12)
    left = [e for e in events if e["zone_id"] == "left"]
    right = [e for e in events if e["zone_id"] == "right"]
    assert left
    assert right
    assert {e["count"] for e in right} == {1.0}  # one person stands on the right throughout
    assert all(1.0 <= float(e["count"]) <= 4.0 for e in left)  # type: ignore[arg-type]
    # per-person fields never appear on the wire
    assert set(events[0]) == {
        "camera_id",
        "zone_id",
        "t",
        "count",
        "count_max",
        "area_m2",
        "density_per_m2",
        "density_low_per_m2",
        "density_high_per_m2",
        "los",
        "frames",
        "method",
        "held",
        "speed_m_s",
        "speed_sd_m_s",
        "time_to_clear_min",
        "pressure_per_s2",
        "fd_speed_ratio",
    }


def test_zones_cameras_and_series(server: tuple[Served, Runtime]) -> None:
    base, runtime = server
    deadline = time.monotonic() + 15
    while len(runtime.store.series("left")) < 3:
        assert time.monotonic() < deadline, "no samples stored"
        time.sleep(0.2)
    zones = base.get("/api/zones").json()
    assert [z["id"] for z in zones] == ["left", "right"]
    left = zones[0]
    assert left["name"] == "Left half"
    assert zones[1]["name"] == "right"
    assert left["area_m2"] > 10
    latest = left["latest"]
    # the density is the detector-corrected estimate: count x precision / recall / area
    assert latest["density_per_m2"] == pytest.approx(
        latest["count"] * DETECTOR.precision / DETECTOR.recall / left["area_m2"], rel=1e-3
    )
    assert latest["density_low_per_m2"] < latest["density_per_m2"] < latest["density_high_per_m2"]
    cams = base.get("/api/cameras").json()
    assert cams[0]["id"] == "cam1"
    assert cams[0]["health"]["state"] == "live"
    assert cams[0]["zones"] == ["left", "right"]
    assert cams[0]["health"]["frames_analysed"] > 0
    assert zones[0]["status"] == "ok"

    series = base.get("/api/zones/left/series").json()["samples"]
    assert len(series) >= 3
    ts = [s["t"] for s in series]
    assert ts == sorted(ts)
    assert all(b - a == pytest.approx(1.0) for a, b in itertools.pairwise(ts))
    since, until = ts[1], ts[2]
    window = base.get("/api/zones/left/series", params={"since": since, "until": until})
    assert [s["t"] for s in window.json()["samples"]] == [since]

    health = base.get("/healthz").json()
    assert health == {
        "status": "ok",
        "site": "Test site",
        "cameras": {"cam1": "live"},
        "sinks": {},
        "store": "ok",
    }


@pytest.mark.parametrize(
    ("url", "status", "fragment"),
    [
        ("/api/zones/nope/series", 404, "unknown zone 'nope'; known zones: left, right"),
        ("/api/zones/left/series?since=abc", 422, "since"),
        ("/api/zones/left/series?since=10&until=5", 200, '"samples":[]'),  # an empty window
        ("/api/zones/left/series?since=nan", 422, "query.since: Input should be a finite"),
        ("/api/zones/left/series?until=-inf", 422, "query.until: Input should be a finite"),
        ("/api/alerts?since=inf", 422, "query.since: Input should be a finite number"),
        ("/api/alerts?since=-1", 422, "query.since: Input should be greater than or equal"),
        ("/api/zones/left/series?limit=0", 422, "limit"),
        ("/api/nothing", 404, "Not Found"),
    ],
)
def test_malformed_requests_get_clear_errors(
    server: tuple[Served, Runtime], url: str, status: int, fragment: str
) -> None:
    base, _ = server
    r = base.get(url)
    assert r.status_code == status
    assert fragment in r.text


def test_dashboard_page_and_assets(server: tuple[Served, Runtime]) -> None:
    base, _ = server
    page = base.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert '<script src="/dashboard.js">' in page.text
    js = base.get("/dashboard.js")
    assert js.status_code == 200
    assert "EventSource" in js.text
    assert "/api/live" in js.text
    assert base.get("/dashboard.css").status_code == 200
    # no video element: the only pictures are the server-anonymised live.jpg stills
    assert "<video" not in page.text
    assert "/live.jpg" in js.text


def test_a_failed_camera_shows_in_health(tmp_path: Path, config_text: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(config_text.replace(str(sample_video_path()), str(tmp_path / "vanished.mp4")))
    runtime = Runtime(load_config(path), detector=FakeDetector())
    runtime.start()
    try:
        with serving(runtime) as base:
            deadline = time.monotonic() + 10
            while base.get("/healthz").json()["cameras"]["cam1"] != "failed":
                assert time.monotonic() < deadline, "camera never reported failed"
                time.sleep(0.1)
            health = base.get("/healthz").json()
            cam = base.get("/api/cameras/cam1/health").json()
            zones = base.get("/api/zones").json()
            missing = base.get("/api/cameras/nope/health")
    finally:
        runtime.close()
    assert health["status"] == "degraded"
    assert cam["state"] == "failed"
    assert "vanished.mp4" in cam["last_error"]
    assert all(z["status"] == "no_data" and z["latest"] is None for z in zones)
    assert missing.status_code == 404
    assert "known cameras: cam1" in missing.text
