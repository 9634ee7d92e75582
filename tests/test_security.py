"""The browser-facing defences, against a real uvicorn server on 127.0.0.1.

A foreign ``Host`` (DNS rebinding) and a cross-origin state change (a forged form POST)
are refused with the one error body; every answer, errors included, carries the
security headers; the dashboard and the API docs work in headless Chromium under the
Content-Security-Policy, fetch nothing from outside, and the dashboard's own
Acknowledge button still gets through the origin check.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from crowdsafe.api.app import create_app
from crowdsafe.api.security import host_allowed, host_name
from crowdsafe.config.server import ServerConfig
from crowdsafe.site import FakeSite
from crowdsafe.types import AlertState
from tests.authn import Served
from tests.test_api import serving
from tests.test_routes import _alert, filled_site

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def site(tmp_path: Path, config_text: str) -> Iterator[FakeSite]:
    fake = filled_site(tmp_path, config_text)
    yield fake
    fake.store.close()


@pytest.fixture
def base(site: FakeSite) -> Iterator[Served]:
    # Served: the URL, and an admin token in .headers (every route but /healthz needs a
    # role; the checks here come before the login check, and the answers must pass both).
    with serving(site, hosts=["crowd.example.org", "*.example.net"]) as url:
        yield url


def assert_security_headers(r: httpx.Response) -> None:
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        ("127.0.0.1:{port}", True),
        ("localhost:{port}", True),
        ("LOCALHOST.", True),
        ("[::1]:{port}", True),
        ("crowd.example.org", True),  # configured
        ("cams.example.net:443", True),  # configured as *.example.net
        ("example.net", False),  # the wildcard is for names under it only
        ("evil.example", False),  # DNS rebinding: a foreign name pointed at loopback
        ("evil.example:{port}", False),
        ("127.0.0.1.evil.example", False),
        ("localhost.evil.example", False),
        ("crowd.example.org.evil.example", False),
    ],
)
def test_only_the_configured_host_names_are_answered(base: str, host: str, answered: bool) -> None:
    port = base.rsplit(":", 1)[1]
    r = httpx.get(f"{base}/healthz", headers={"Host": host.format(port=port)})
    assert_security_headers(r)
    if answered:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 400
    assert r.json() == {
        "detail": f"Host '{host_name(host.format(port=port))}' is not a name this server "
        "answers to; add it to server.allowed_hosts in the config if it is this server's"
    }


def test_the_issues_forged_acknowledge_is_refused_and_changes_nothing(
    base: str, site: FakeSite
) -> None:
    r = httpx.post(
        f"{base}/api/alerts/open-1/acknowledge",
        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
        content="x",
    )
    assert r.status_code == 403
    assert r.json() == {
        "detail": "cross-origin request refused: Origin 'http://evil.example' is not this site"
    }
    assert_security_headers(r)
    alert = site.store.get_alert("open-1")
    assert alert is not None and alert.state is AlertState.OPEN


# What a browser says about where an unsafe request comes from; "{here}" is the server.
ORIGIN_CASES: list[tuple[dict[str, str], int]] = [
    ({"Origin": "{here}"}, 200),
    ({"Origin": "http://evil.example"}, 403),
    ({"Origin": "null"}, 403),  # a sandboxed frame, a data: page, a cross-site redirect
    ({"Origin": "http://127.0.0.1:1"}, 403),  # another port is another origin
    ({"Sec-Fetch-Site": "same-origin"}, 200),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Sec-Fetch-Site": "same-site"}, 403),
    ({"Referer": "{here}/"}, 200),
    ({"Referer": "http://evil.example/page"}, 403),
    ({}, 200),  # no browser sent this (curl, a script): logins decide, not the origin
]


@pytest.mark.parametrize(("headers", "status"), ORIGIN_CASES)
@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_unsafe_requests_from_another_origin_are_refused(
    base: Served, site: FakeSite, headers: dict[str, str], status: int, action: str
) -> None:
    alert_id = f"fresh-{time.monotonic_ns()}"
    site.store.save_alert(_alert(alert_id, AlertState.OPEN))
    sent = base.headers | {k: v.format(here=base) for k, v in headers.items()}
    r = httpx.post(f"{base}/api/alerts/{alert_id}/{action}", headers=sent)
    assert r.status_code == status, r.text
    assert_security_headers(r)
    alert = site.store.get_alert(alert_id)
    assert alert is not None
    assert (alert.state is AlertState.OPEN) == (status == 403)


def test_reading_with_a_foreign_origin_is_answered_but_not_shared(base: Served) -> None:
    r = httpx.get(f"{base}/api/alerts", headers=base.headers | {"Origin": "http://evil.example"})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers  # the browser hides the body


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/", 200),
        ("GET", "/dashboard.js", 200),
        ("GET", "/api/docs", 200),
        ("GET", "/api/docs/swagger-ui-bundle.js", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/metrics", 200),
        ("GET", "/api/cameras/cam1/live.jpg", 200),
        ("GET", "/api/alerts/open-1/snapshot.jpg", 200),
        ("GET", "/api/cameras/cam2/live.jpg", 503),
        ("GET", "/api/zones/nope/series", 404),
        ("GET", "/no/such/path", 404),
        ("GET", "/api/alerts/open-1/acknowledge", 405),
        ("GET", "/api/alerts?since=nan", 422),
    ],
)
def test_every_answer_carries_the_security_headers(
    base: Served, method: str, path: str, status: int
) -> None:
    r = httpx.request(method, base + path, headers=base.headers)
    assert r.status_code == status
    assert_security_headers(r)
    if status >= 400:
        assert set(r.json()) == {"detail"}
    if status == 503:
        assert r.headers["retry-after"] == "1"


def test_every_registered_route_checks_the_host_and_carries_the_headers(
    base: str, site: FakeSite
) -> None:
    """Walks the app's routes, so a route added later cannot slip past the middleware."""
    walked = 0
    for route in create_app(site).routes:
        assert isinstance(route, Route), route  # a mount would need its own look
        path = re.sub(r"\{\w+\}", "x", route.path)
        for method in sorted(route.methods or ()):
            for host, refused in (("evil.example", True), ("localhost", False)):
                with httpx.stream(method, base + path, headers={"Host": host}) as r:
                    assert (r.status_code == 400) is refused, (method, path, host)
                    assert_security_headers(r)
            walked += 1
    assert walked >= 24  # every API operation, /metrics, the dashboard's and docs' files


def test_the_live_feed_streams_through_the_middleware(site: FakeSite, base: Served) -> None:
    with httpx.stream("GET", f"{base}/api/live", headers=base.headers, timeout=10) as r:
        assert r.status_code == 200
        assert_security_headers(r)
        first = next(r.iter_lines())
    assert first == "retry: 2000"


def test_a_500_carries_the_security_headers(site: FakeSite) -> None:
    class Broken(FakeSite):
        def camera_infos(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("broken on purpose")

    with serving(Broken(store=site.store, zone_list=site.zone_list)) as url:
        r = httpx.get(f"{url}/api/cameras", headers=url.headers)
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error; see the server log"}
    assert_security_headers(r)


@pytest.mark.parametrize(
    ("name", "patterns", "allowed"),
    [
        ("a.example.org", ("*.example.org",), True),
        ("a.b.example.org", ("*.example.org",), True),
        ("example.org", ("*.example.org",), False),
        ("badexample.org", ("*.example.org",), False),
        ("example.org", ("example.org",), True),
    ],
)
def test_host_patterns(name: str, patterns: tuple[str, ...], allowed: bool) -> None:
    assert host_allowed(name, patterns) is allowed


def test_the_server_section_names_its_hosts() -> None:
    server = ServerConfig(allowed_hosts=("Crowd.Example.org.", "[2001:DB8::1]", "*.example.net"))
    assert server.allowed_hosts == ("crowd.example.org", "2001:db8::1", "*.example.net")
    assert server.host_names() == [*server.allowed_hosts, "127.0.0.1"]
    assert server.host_names("192.0.2.7")[-1] == "192.0.2.7"
    everywhere = ServerConfig(host="0.0.0.0").host_names()  # the machine's own names
    assert everywhere and "0.0.0.0" not in everywhere
    for bad in ("http://crowd.example.org", "crowd.example.org:8080", "a/b", "*", "-a.org"):
        with pytest.raises(ValueError, match="is not a host name"):
            ServerConfig(allowed_hosts=(bad,))


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Debian chromium not installed")
def test_the_dashboard_and_the_api_docs_work_under_the_policy(base: Served, site: FakeSite) -> None:
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM))
        try:
            # An admin token on every request (tests/test_browser.py logs in by the page).
            page = browser.new_context(extra_http_headers=base.headers).new_page()
            page.on("console", lambda m: console.append(m.text))
            page.on("request", lambda req: requested.append(req.url))

            page.goto(f"{base}/")
            page.wait_for_selector("#zone-left")
            page.click("li[data-alert='open-1'] >> text=Acknowledge")  # passes the check
            page.wait_for_selector("li[data-alert='open-1'][data-state='acknowledged']")

            page.goto(f"{base}/api/docs")
            page.wait_for_selector(".opblock-summary-path")
            operations = page.locator(".opblock").count()
        finally:
            browser.close()
    alert = site.store.get_alert("open-1")
    assert alert is not None and alert.state is AlertState.ACKNOWLEDGED
    assert operations >= 18
    violations = [m for m in console if "Content Security Policy" in m]
    assert violations == []
    assert requested and all(u.startswith(base + "/") for u in requested), requested
