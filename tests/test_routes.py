"""Every API route against a FakeSite, through TestClient: success and each documented error.

The table below is the contract: for every route in the OpenAPI document, the statuses
exercised here are exactly the ones the document lists, so the document cannot claim an
error a route never answers, nor hide one it does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from crowdsafe.alerts.base import SinkHealth
from crowdsafe.api.app import create_app
from crowdsafe.api.auth import needed_role
from crowdsafe.assembly import build_zones, counting_lines
from crowdsafe.auth import Role
from crowdsafe.config import parse_config
from crowdsafe.errors import StoreError
from crowdsafe.ingest.health import StreamState
from crowdsafe.site import FakeSite
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import (
    Alert,
    AlertLevel,
    AlertState,
    Detections,
    LevelOfService,
    LineSample,
    LiveView,
    ZoneSample,
)
from tests.authn import bearer
from tests.test_api import serving
from tests.test_forecast import fill_history

LINES = """\
    lines:
      - id: gate
        points: [[100, 400], [600, 400]]
        width_m: 3.0
"""


def _alert(alert_id: str, state: AlertState) -> Alert:
    now = time.time()
    return Alert(
        id=alert_id,
        rule="density",
        subject_kind="zone",
        subject_id="left",
        camera_id="cam1",
        level=AlertLevel.WARNING,
        state=state,
        message="left: 4.1 persons/m²",
        value=4.1,
        threshold=4.0,
        opened_at=now - 60,
        updated_at=now - 60,
        resolved_at=now - 30 if state is AlertState.RESOLVED else None,
    )


def filled_site(tmp_path: Path, config_text: str) -> FakeSite:
    """A FakeSite with a line, forecastable history, a recent nowcast window, an open and
    a resolved alert, a live camera with a frame and a failed one, a snapshot, a sink."""
    config = parse_config(config_text.replace("    zones:\n", LINES + "    zones:\n", 1))
    camera = config.cameras[0]
    store = SQLiteStore(tmp_path / "site.db")
    now = time.time()
    fill_history(store, "left", 3 * 168, now - 3600)  # hourly history: forecasts work
    store.write_samples(  # the last ten minutes: the nowcast works
        [
            ZoneSample("cam1", "left", now - 600 + 10 * i, 3.0, 3, 50.0, 0.06, LevelOfService.A, 5)
            for i in range(60)
        ]
    )
    store.write_line_samples(
        [LineSample("cam1", "gate", now - 60, 60.0, 4, 2, 3.0, 2.0, LevelOfService.A)]
    )
    store.save_alert(_alert("open-1", AlertState.OPEN))
    store.save_alert(_alert("done-1", AlertState.RESOLVED))
    image = np.full((576, 768, 3), 128, np.uint8)
    people = Detections(
        xyxy=np.array([[100, 200, 160, 400]], np.float32), score=np.array([0.9], np.float32)
    )
    return FakeSite(
        store=store,
        zone_list=build_zones(camera, config.thresholds),
        line_list=counting_lines(camera),
        site_name="Test site",
        camera_names={"cam1": "Test camera", "cam2": "Second camera"},
        states={"cam2": StreamState.FAILED},
        views={"cam1": LiveView(1, image, people)},
        snapshots={"open-1": b"\xff\xd8 anonymised \xff\xd9"},
        sinks=[SinkHealth("webhook", "webhook", None, 3, 0, 0, 0, 0, None, now)],
    )


@pytest.fixture
def site(tmp_path: Path, config_text: str) -> Iterator[FakeSite]:
    fake = filled_site(tmp_path, config_text)
    yield fake
    fake.store.close()


@pytest.fixture
def client(site: FakeSite) -> Iterator[TestClient]:
    app = create_app(site)
    # localhost: the app answers only the Host names it is given (and loopback names).
    with TestClient(app, base_url="http://localhost", headers=bearer(app)) as c:
        yield c


# (method, path, status, a fragment of the body); {x} marks a path parameter.
CASES: list[tuple[str, str, int, str]] = [
    ("GET", "/healthz", 200, '"degraded"'),
    ("GET", "/api/sinks", 200, '"webhook"'),
    ("GET", "/api/cameras", 200, '"Second camera"'),
    ("GET", "/api/cameras", 422, "query.page_size"),
    ("GET", "/api/sites", 200, '"persons_now"'),
    ("GET", "/api/sites", 422, "query.page_size"),
    ("GET", "/api/sites/{site_id}", 200, '"cameras_total":2'),
    ("GET", "/api/sites/{site_id}", 404, "unknown site 'nope'; known sites: fake"),
    ("GET", "/api/sites/{site_id}", 422, "query.page"),
    ("GET", "/api/cameras/{camera_id}/health", 200, '"live"'),
    ("GET", "/api/cameras/{camera_id}/health", 404, "known cameras: cam1, cam2"),
    ("GET", "/api/cameras/{camera_id}/live.jpg", 200, ""),
    ("GET", "/api/cameras/{camera_id}/live.jpg", 403, "privacy.live_view: false"),
    ("GET", "/api/cameras/{camera_id}/live.jpg", 404, "unknown camera 'nope'"),
    ("GET", "/api/cameras/{camera_id}/live.jpg", 409, "its images stay there"),
    ("GET", "/api/cameras/{camera_id}/live.jpg", 429, "live_view_limits.max_requests: 0"),
    ("GET", "/api/cameras/{camera_id}/live.jpg", 503, "no analysed frame yet"),
    ("GET", "/api/zones", 200, '"left"'),
    ("GET", "/api/zones/{zone_id}/series", 200, '"samples"'),
    ("GET", "/api/zones/{zone_id}/series", 404, "known zones: left, right"),
    ("GET", "/api/zones/{zone_id}/series", 422, "query.since: Input should be a finite number"),
    ("GET", "/api/zones/{zone_id}/forecast", 200, '"high_95"'),
    ("GET", "/api/zones/{zone_id}/forecast", 404, "unknown zone 'nope'"),
    ("GET", "/api/zones/{zone_id}/forecast", 409, "no stored samples"),
    ("GET", "/api/zones/{zone_id}/forecast", 422, "query.hours"),
    ("GET", "/api/zones/{zone_id}/nowcast", 200, '"trend_per_min"'),
    ("GET", "/api/zones/{zone_id}/nowcast", 404, "unknown zone 'nope'"),
    ("GET", "/api/zones/{zone_id}/nowcast", 409, "too few recent samples"),
    ("GET", "/api/lines", 200, '"gate"'),
    ("GET", "/api/lines/{line_id}/series", 200, '"count_in":4'),
    ("GET", "/api/lines/{line_id}/series", 404, "known lines: gate"),
    ("GET", "/api/lines/{line_id}/series", 422, "query.limit"),
    ("GET", "/api/alerts", 200, '"open-1"'),
    ("GET", "/api/alerts", 422, "query.state"),
    ("POST", "/api/alerts/{alert_id}/acknowledge", 200, '"acknowledged"'),
    ("POST", "/api/alerts/{alert_id}/acknowledge", 403, "Origin 'http://evil.example'"),
    ("POST", "/api/alerts/{alert_id}/acknowledge", 404, "no alert with id 'nope'"),
    ("POST", "/api/alerts/{alert_id}/acknowledge", 409, "resolved"),
    ("POST", "/api/alerts/{alert_id}/resolve", 200, '"resolved"'),
    ("POST", "/api/alerts/{alert_id}/resolve", 403, "cross-origin request refused"),
    ("POST", "/api/alerts/{alert_id}/resolve", 404, "no alert with id 'nope'"),
    ("POST", "/api/alerts/{alert_id}/resolve", 409, "resolved"),
    ("GET", "/api/alerts/{alert_id}/snapshot.jpg", 200, ""),
    ("GET", "/api/alerts/{alert_id}/snapshot.jpg", 404, "no snapshot for alert 'nope'"),
    ("GET", "/api/staffing", 200, '"stewards"'),
    ("GET", "/api/staffing", 422, "query.hours"),
    ("GET", "/api/staffing.csv", 200, "zone_id"),
    ("GET", "/api/staffing.csv", 422, "query.hours"),
]

# How each case reaches its status: the path parameters and query, and any change of the
# site that the status needs.
_GOOD = {
    "camera_id": "cam1",
    "zone_id": "left",
    "line_id": "gate",
    "alert_id": "open-1",
    "site_id": "fake",
}
_UNKNOWN = dict.fromkeys(_GOOD, "nope")
_SETUP: dict[tuple[str, int], tuple[dict[str, str], str]] = {
    ("/api/cameras", 422): (_GOOD, "?page_size=0"),
    ("/api/sites", 422): (_GOOD, "?page_size=100000"),
    ("/api/sites/{site_id}", 422): (_GOOD, "?page=0"),
    ("/api/cameras/{camera_id}/live.jpg", 403): (_GOOD, ""),
    ("/api/cameras/{camera_id}/live.jpg", 409): (_GOOD, ""),
    ("/api/cameras/{camera_id}/live.jpg", 429): (_GOOD, ""),
    ("/api/cameras/{camera_id}/live.jpg", 503): ({"camera_id": "cam2"}, ""),
    ("/api/zones/{zone_id}/series", 422): (_GOOD, "?since=nan"),
    ("/api/zones/{zone_id}/forecast", 409): ({"zone_id": "right"}, ""),
    ("/api/zones/{zone_id}/forecast", 422): (_GOOD, "?hours=0"),
    ("/api/zones/{zone_id}/nowcast", 409): ({"zone_id": "right"}, ""),
    ("/api/lines/{line_id}/series", 422): (_GOOD, "?limit=0"),
    ("/api/alerts", 422): (_GOOD, "?state=lost"),
    ("/api/alerts/{alert_id}/acknowledge", 409): ({"alert_id": "done-1"}, ""),
    ("/api/alerts/{alert_id}/resolve", 409): ({"alert_id": "done-1"}, ""),
    ("/api/staffing", 422): (_GOOD, "?hours=500"),
    ("/api/staffing.csv", 422): (_GOOD, "?hours=500"),
}


def _url(path: str, status: int) -> str:
    ids, query = _SETUP.get((path, status), (_UNKNOWN if status == 404 else _GOOD, ""))
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path) + query


@pytest.mark.parametrize(("method", "path", "status", "fragment"), CASES)
def test_every_route_answers_its_documented_statuses(
    client: TestClient, site: FakeSite, method: str, path: str, status: int, fragment: str
) -> None:
    headers = {}
    if status == 403 and method == "GET":
        site.live_view_enabled = False
    elif status == 403:  # a state change sent by a browser from another site
        headers["Origin"] = "http://evil.example"
    if status == 429:  # every slot taken (tests/test_live_view.py takes them for real)
        site.live_view_requests_max = 0
    if status == 409 and path.endswith("live.jpg"):  # an API server of a fleet
        site.pixels_elsewhere = True
    r = client.request(method, _url(path, status), headers=headers)
    assert r.status_code == status, r.text[:300]
    assert fragment in r.text
    if status >= 400:
        body = r.json()
        assert set(body) == {"detail"} and isinstance(body["detail"], str)  # one shape
    if status in (429, 503):
        assert r.headers["retry-after"] == "1"
    if r.headers["content-type"].startswith("image/"):
        assert r.headers["cache-control"] == "no-store"


def test_the_openapi_document_lists_exactly_the_statuses_routes_answer(
    client: TestClient,
) -> None:
    documented: dict[tuple[str, str], set[int]] = {}
    for path, ops in client.get("/openapi.json").json()["paths"].items():
        for method, op in ops.items():
            documented[method.upper(), path] = {int(s) for s in op["responses"]}
            for status, response in op["responses"].items():
                if int(status) >= 400:  # every error names the one body shape
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (path, status)
    exercised: dict[tuple[str, str], set[int]] = {}
    for method, path, status, _ in CASES:
        exercised.setdefault((method, path), set()).add(status)
    exercised[("GET", "/api/live")] = {200}  # streamed: see the test below
    # Logging in and the audit trail: tests/test_auth.py exercises each of these.
    exercised[("POST", "/api/session")] = {200, 401, 422, 429}
    exercised[("GET", "/api/session")] = {200}
    exercised[("DELETE", "/api/session")] = {204}
    exercised[("GET", "/api/audit")] = {200, 422}
    exercised[("GET", "/api/alerts/{alert_id}/audit")] = {200, 404}
    # Every route but the login answers 401 without one, and 403 where it needs more
    # than a viewer or is a browser's state-changing request (tests/test_auth.py walks
    # every route for both).
    for (method, path), statuses in exercised.items():
        needed = needed_role(method, path)
        if needed is not None:
            statuses.add(401)
            if needed is not Role.VIEWER or method not in ("GET", "HEAD"):
                statuses.add(403)
    assert documented == exercised


def test_the_live_view_is_anonymised_and_numbers_carry_no_person_data(
    client: TestClient, site: FakeSite
) -> None:
    jpeg = client.get("/api/cameras/cam1/live.jpg").content
    assert jpeg[:2] == b"\xff\xd8"
    served = site.anonymised_jpeg("cam1")
    assert served is not None and served[:2] == b"\xff\xd8"
    health = client.get("/healthz").json()
    assert health == {
        "status": "degraded",
        "site": "Test site",
        "cameras": {"cam1": "live", "cam2": "failed"},
        "sinks": {"webhook": "ok"},
        "store": "ok",
    }
    zones = {z["id"]: z for z in client.get("/api/zones").json()}
    assert zones["left"]["status"] == "ok" and zones["right"]["status"] == "no_data"


def test_an_unexpected_failure_answers_500_without_its_message(
    tmp_path: Path, site: FakeSite
) -> None:
    class Broken(FakeSite):
        def camera_infos(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("secret=hunter2 in /etc/crowdsafe")

    broken = Broken(store=site.store, zone_list=site.zone_list)
    app = create_app(broken)
    with TestClient(
        app, base_url="http://localhost", raise_server_exceptions=False, headers=bearer(app)
    ) as c:
        r = c.get("/api/cameras")
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error; see the server log"}
    assert "hunter2" not in r.text


def test_the_live_feed_streams_a_fake_sites_samples(site: FakeSite) -> None:
    sample = ZoneSample("cam1", "left", time.time(), 2.0, 2, 50.0, 0.04, LevelOfService.A, 5)
    site.feed.publish([sample])
    with (
        serving(site) as base,
        base.stream("GET", "/api/live", timeout=10) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        data = next(line for line in r.iter_lines() if line.startswith("data: "))
    assert json.loads(data[6:])["count"] == 2.0


def test_a_405_names_every_method_of_the_path(client: TestClient) -> None:
    # Starlette's own Allow names only the first route of a path; /api/session has three.
    r = client.request("OPTIONS", "/api/session")
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET, POST"
    assert r.json() == {"detail": "Method Not Allowed"}


def test_a_body_that_is_not_json_is_a_422_naming_the_body(client: TestClient) -> None:
    r = client.post(
        "/api/session", content=b"\x1e\xff", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json() == {"detail": "body: not valid JSON"}


def test_camera_health_documents_and_answers_the_decode_mode(client: TestClient) -> None:
    """The decode mode and the measured keyframe interval are part of the health
    contract (ingest/decode.py); a scripted camera has none, so they are null."""
    schema = client.get("/openapi.json").json()["components"]["schemas"]["CameraHealthPublic"]
    fields = {"decode_mode", "keyframe_interval_frames", "keyframe_interval_s", "decode_note"}
    assert fields <= set(schema["properties"])
    modes = schema["properties"]["decode_mode"]["anyOf"][0]["enum"]
    assert modes == ["all", "nonref", "keyframes"]
    health = client.get("/api/cameras/cam1/health").json()
    assert {k: health[k] for k in fields} == dict.fromkeys(fields)


def test_a_database_that_cannot_be_read_is_a_503_with_retry_after(
    client: TestClient, site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        raise StoreError("cannot read PostgreSQL database postgresql://db:5432/city: refused")

    monkeypatch.setattr(site.store, "series", down)
    monkeypatch.setattr(site.store, "rollups", down)
    r = client.get("/api/zones/left/series")
    assert r.status_code == 503
    assert r.headers["Retry-After"].isdigit()
    assert r.json() == {"detail": "the database cannot be reached now; retry shortly"}
    assert client.get("/api/alerts").status_code == 200  # other reads still answer
