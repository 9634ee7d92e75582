"""Logins, roles, CSRF, tokens and the audit trail, against a real uvicorn server on
127.0.0.1 (the login limit and the store's own rules also directly)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from crowdsafe.api.app import create_app
from crowdsafe.api.auth import ROUTE_ROLES, needed_role
from crowdsafe.auth import PUBLIC, AuditAction, Authenticator, AuthPolicy, AuthStore, Role
from crowdsafe.errors import AuthError, NotFound
from crowdsafe.site import FakeSite
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import Alert, AlertLevel, AlertState

from .authn import token
from .test_api import serving

PASSWORD = "correct horse battery"
# The only routes anyone may reach without logging in.
EXPECTED_PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/login"),
    ("GET", "/login.js"),
    ("GET", "/dashboard.css"),
    ("POST", "/api/session"),
}


def open_alert(alert_id: str) -> Alert:
    now = time.time()
    return Alert(
        alert_id, "density", "zone", "left", "cam1", AlertLevel.WARNING, AlertState.OPEN,
        "left: 4.1 persons/m²", 4.1, 4.0, now - 60, now - 60,
    )  # fmt: skip


@pytest.fixture
def site(tmp_path: Path) -> Iterator[FakeSite]:
    store = SQLiteStore(tmp_path / "site.db")
    store.save_alert(open_alert("a1"))
    store.save_alert(open_alert("a2"))
    yield FakeSite(store=store, site_name="Auth site")
    store.close()


def app_for(site: FakeSite, policy: AuthPolicy | None = None, **kw: bool) -> FastAPI:
    auth = Authenticator(AuthStore(":memory:"), policy, **kw)
    auth.store.add_user("olive", Role.OPERATOR, PASSWORD)
    auth.store.add_user("vera", Role.VIEWER, PASSWORD)
    return create_app(site, auth)


def every_route(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every registered route, the API docs included."""
    out = []
    for route in app.routes:
        assert not isinstance(route, Mount), f"a mount is not walked here: {route.path}"
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                out.append((method, getattr(route, "path_format", route.path)))  # type: ignore[attr-defined]
    return out


def url(path: str) -> str:
    return re.sub(r"\{\w+\}", "a1", path)


@contextmanager
def login(base: str, user: str = "olive") -> Iterator[httpx.Client]:
    """A client logged in as ``user`` through POST /api/session (a cookie jar)."""
    with httpx.Client(base_url=base) as client:
        r = client.post("/api/session", json={"user": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield client


def test_every_route_but_healthz_and_the_login_needs_a_login(site: FakeSite) -> None:
    app = app_for(site)
    routes = every_route(app)
    assert {r for r in routes if needed_role(*r) is PUBLIC} == EXPECTED_PUBLIC
    assert {k for k, v in ROUTE_ROLES.items() if v is PUBLIC} == EXPECTED_PUBLIC
    assert ("GET", "/api/docs") in routes and ("GET", "/openapi.json") in routes
    with serving(site, app) as base:
        for method, path in routes:
            if (method, path) in EXPECTED_PUBLIC:
                continue
            r = httpx.request(method, base + url(path), timeout=30)
            assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
            assert set(r.json()) == {"detail"}
            assert r.headers["www-authenticate"].startswith("Bearer")
        # a path that matches no route asks for a login before it says 404
        assert httpx.get(base + "/api/nothing").status_code == 401
        assert httpx.get(base + "/healthz").status_code == 200
        # a browser opening the dashboard is sent to the login page
        page = httpx.get(base + "/", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert 'id="login"' in httpx.get(base + "/login").text


def test_a_viewer_is_refused_what_needs_an_operator_or_admin(site: FakeSite) -> None:
    app = app_for(site)
    viewer = {"Authorization": f"Bearer {token(app, Role.VIEWER)}"}
    above = [r for r in every_route(app) if needed_role(*r) in (Role.OPERATOR, Role.ADMIN)]
    assert ("POST", "/api/alerts/{alert_id}/acknowledge") in above
    assert ("GET", "/api/cameras/{camera_id}/live.jpg") in above
    assert ("GET", "/api/audit") in above
    with serving(site, app) as base:
        for method, path in above:
            r = httpx.request(method, base + url(path), headers=viewer)
            assert r.status_code == 403, (method, path, r.status_code)
            assert "is viewer; this needs" in r.json()["detail"]
        assert httpx.get(base + "/api/alerts", headers=viewer).status_code == 200
    assert site.store.get_alert("a1").state is AlertState.OPEN  # type: ignore[union-attr]


def test_an_operators_session_acts_only_with_its_csrf_token_and_is_audited(
    site: FakeSite,
) -> None:
    app = app_for(site)
    with serving(site, app) as base, login(base) as olive:
        cookie = next(h for h in olive.cookies.jar)
        assert cookie.name == "crowdsafe_session" and not cookie.secure  # plain http
        me = olive.get("/api/session").json()
        assert me["user"] == "olive" and me["role"] == "operator" and me["via"] == "session"
        # the session cookie alone (what a forged cross-site form would carry) is refused,
        # whatever the body's type
        for kind in ("text/plain", "application/x-www-form-urlencoded"):
            r = olive.post("/api/alerts/a1/acknowledge", content="", headers={"Content-Type": kind})
            assert r.status_code == 403 and "X-CSRF-Token" in r.text
        wrong = olive.post("/api/alerts/a1/acknowledge", headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403
        assert site.store.get_alert("a1").state is AlertState.OPEN  # type: ignore[union-attr]
        ok = olive.post("/api/alerts/a1/acknowledge", headers={"X-CSRF-Token": me["csrf_token"]})
        assert ok.status_code == 200 and ok.json()["state"] == "acknowledged"
        trail = olive.get("/api/alerts/a1/audit").json()
        assert [(e["actor"], e["action"]) for e in trail] == [("olive", "alert_acknowledge")]
        assert abs(trail[0]["t"] - time.time()) < 600
        assert olive.get("/api/alerts/nope/audit").status_code == 404
        # the admin's trail has the login too; an operator may not read it
        assert olive.get("/api/audit").status_code == 403
        admin = {"Authorization": f"Bearer {token(app, Role.ADMIN)}"}
        actions = [(e["actor"], e["action"]) for e in base.get("/api/audit").json()]
        assert ("olive", "login") in actions and ("olive", "alert_acknowledge") in actions
        only = httpx.get(base + "/api/audit?action=login", headers=admin).json()
        assert {e["action"] for e in only} == {"login"}
        # logging out ends the session on the server: the old cookie is worthless
        stolen = dict(olive.cookies)
        assert (
            olive.delete("/api/session", headers={"X-CSRF-Token": me["csrf_token"]}).status_code
            == 204
        )
        assert httpx.get(base + "/api/alerts", cookies=stolen).status_code == 401


def test_a_forged_or_altered_session_cookie_is_refused(site: FakeSite) -> None:
    with serving(site, app_for(site)) as base, login(base) as olive:
        value = olive.cookies["crowdsafe_session"]
        sid = value.partition(".")[0]  # the bare session id, unsigned
        for forged in (value[:-2] + ("AA" if not value.endswith("AA") else "BB"), "x" + value, sid):
            r = httpx.get(base + "/api/alerts", cookies={"crowdsafe_session": forged})
            assert r.status_code == 401, forged
        assert olive.get("/api/alerts").status_code == 200


def test_the_session_cookie_is_httponly_strict_and_expiring(site: FakeSite) -> None:
    with serving(site, app_for(site)) as base:
        r = httpx.post(base + "/api/session", json={"user": "vera", "password": PASSWORD})
    flags = r.headers["set-cookie"].lower()
    assert "httponly" in flags and "samesite=strict" in flags and "max-age=43200" in flags
    assert "secure" not in flags  # plain http here; over TLS the cookie is Secure


def test_a_bearer_token_works_until_revoked(site: FakeSite) -> None:
    app = app_for(site)
    store: AuthStore = app.state.auth.store
    value = store.add_token("vms-bridge", Role.OPERATOR)
    header = {"Authorization": f"Bearer {value}"}
    with serving(site, app) as base:
        # a bearer token needs no CSRF token: a browser never sends one by itself
        r = httpx.post(base + "/api/alerts/a2/resolve", headers=header)
        assert r.status_code == 200 and r.json()["state"] == "resolved"
        store.revoke_token("vms-bridge")
        assert httpx.get(base + "/api/alerts", headers=header).status_code == 401
    audit = store.audit(target="a2")
    assert [(e.actor, e.action) for e in audit] == [("token:vms-bridge", AuditAction.ALERT_RESOLVE)]
    assert [e.action for e in store.audit(target="vms-bridge")] == [
        AuditAction.TOKEN_REVOKE,
        AuditAction.TOKEN_ADD,
    ]
    assert value not in repr(store.tokens())  # only a digest is kept


def test_logins_are_limited_per_user_and_per_address(site: FakeSite) -> None:
    policy = AuthPolicy(login_failures_per_user=3, login_attempts_per_address=6)
    app = app_for(site, policy)
    with serving(site, app) as base:
        for _ in range(3):
            r = httpx.post(base + "/api/session", json={"user": "olive", "password": "wrong-x"})
            assert r.status_code == 401
        r = httpx.post(base + "/api/session", json={"user": "olive", "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "for user 'olive'" in r.json()["detail"]
        # another user from the same address may still log in, until the address's limit
        for _ in range(3):  # 3 + 3 = the address's 6 attempts
            r = httpx.post(base + "/api/session", json={"user": "vera", "password": PASSWORD})
            assert r.status_code == 200
        r = httpx.post(base + "/api/session", json={"user": "vera", "password": PASSWORD})
        assert r.status_code == 429 and "from this address" in r.json()["detail"]
    store: AuthStore = app.state.auth.store
    failed = store.audit(actions=[AuditAction.LOGIN_FAILED])
    assert len(failed) == 3 and {e.actor for e in failed} == {"olive"}


def test_a_wrong_user_name_is_audited_without_what_was_typed(site: FakeSite) -> None:
    app = app_for(site)
    with serving(site, app) as base:
        r = httpx.post(base + "/api/session", json={"user": "hunter2-typed-here", "password": "x"})
    assert r.status_code == 401
    entries = app.state.auth.store.audit(actions=[AuditAction.LOGIN_FAILED])
    assert [e.actor for e in entries] == ["(unknown user)"]


@pytest.mark.parametrize(
    ("trusted", "status"),
    [(("127.0.0.1/32",), 200), (("10.0.0.0/8",), 401)],
    ids=["trusted", "not"],
)
def test_a_proxys_user_header_is_believed_only_from_a_listed_proxy(
    site: FakeSite, trusted: tuple[str, ...], status: int
) -> None:
    import ipaddress

    policy = AuthPolicy(
        trusted_proxies=tuple(ipaddress.ip_network(t) for t in trusted),
        proxy_user_header="X-Remote-User",
    )
    with serving(site, app_for(site, policy)) as base:
        r = httpx.get(base + "/api/session", headers={"X-Remote-User": "olive"})
        assert r.status_code == status
        if status == 200:
            me = r.json()
            assert me["user"] == "olive" and me["via"] == "proxy" and me["csrf_token"]
            # an unknown single-sign-on user is refused without a default role
            assert (
                httpx.get(base + "/api/alerts", headers={"X-Remote-User": "zed"}).status_code == 401
            )
            # a proxy user is a browser: a state change needs the CSRF token
            ack = "/api/alerts/a1/acknowledge"
            h = {"X-Remote-User": "olive"}
            assert httpx.post(base + ack, headers=h).status_code == 403
            h["X-CSRF-Token"] = me["csrf_token"]
            assert httpx.post(base + ack, headers=h).status_code == 200


def test_metrics_need_a_login_unless_the_config_opens_them(site: FakeSite) -> None:
    with serving(site, app_for(site)) as base:
        assert httpx.get(base + "/metrics").status_code == 401
        assert base.get("/metrics").status_code == 200
    with serving(site, app_for(site, AuthPolicy(metrics_open=True))) as base:
        assert httpx.get(base + "/metrics").status_code == 200
        assert httpx.get(base + "/api/zones").status_code == 401


def test_a_login_link_logs_in_once_and_redirects_to_the_clean_url(site: FakeSite) -> None:
    app = app_for(site)
    link = app.state.auth.store.create_login_link("olive", 3600)
    with serving(site, app) as base, httpx.Client(base_url=base) as client:
        r = client.get(f"/?token={link}")
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert client.get("/").status_code == 200  # the cookie it set
        assert client.get("/api/session").json()["user"] == "olive"
        again = httpx.get(base + f"/?token={link}", headers={"Accept": "text/html"})
        assert again.status_code == 303 and again.headers["location"] == "/login"


def test_without_authentication_everyone_is_an_audited_anonymous_admin(site: FakeSite) -> None:
    app = app_for(site, open_access=True)
    with serving(site, app) as base:
        r = httpx.post(base + "/api/alerts/a1/acknowledge")
        assert r.status_code == 200
        assert httpx.get(base + "/api/audit").status_code == 200
    assert [e.actor for e in app.state.auth.store.audit(target="a1")] == ["anonymous"]


def test_the_openapi_document_declares_the_security_schemes(site: FakeSite) -> None:
    schema = app_for(site).openapi()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "session", "csrf"}
    ack = schema["paths"]["/api/alerts/{alert_id}/acknowledge"]["post"]
    assert ack["security"] == [{"bearer": []}, {"session": [], "csrf": []}]
    assert ack["x-role"] == "operator" and {"401", "403"} <= set(ack["responses"])
    assert "security" not in schema["paths"]["/api/session"]["post"]
    assert "security" not in schema["paths"]["/healthz"]["get"]
    zones = schema["paths"]["/api/zones"]["get"]
    assert (
        zones["security"] == [{"bearer": []}, {"session": []}] and "403" not in zones["responses"]
    )


def test_the_store_refuses_bad_changes_and_ends_sessions_on_a_password_change(
    tmp_path: Path,
) -> None:
    path = tmp_path / "auth.db"
    store = AuthStore(path)
    assert path.stat().st_mode & 0o077 == 0  # the owner's alone
    store.add_user("olive", Role.OPERATOR, PASSWORD)
    with pytest.raises(AuthError, match="exists already"):
        store.add_user("olive", Role.ADMIN, PASSWORD)
    with pytest.raises(AuthError, match="10 to 1024 characters"):
        store.add_user("short", Role.VIEWER, "abc")
    with pytest.raises(NotFound, match="unknown user 'nobody'; the users are: olive"):
        store.remove_user("nobody")
    sid = store.create_session("olive", 3600)
    assert store.session_user(sid) == ("olive", Role.OPERATOR)
    store.set_password("olive", "another long password")
    assert store.session_user(sid) is None
    assert store.verify_password("olive", PASSWORD) is None
    assert store.verify_password("olive", "another long password") is Role.OPERATOR
    assert PASSWORD not in path.read_bytes().decode("latin-1")
    key = store.secret_key()
    store.close()
    assert AuthStore(path).secret_key() == key  # made once, kept


def test_the_audit_trail_is_kept_for_its_retention_only(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = AuthStore(tmp_path / "auth.db", clock=lambda: now[0])
    store.record("olive", AuditAction.ALERT_ACKNOWLEDGE, "a1")
    now[0] += 29 * 86_400
    store.record("olive", AuditAction.ALERT_RESOLVE, "a1")
    now[0] += 2 * 86_400
    assert store.purge_audit(30) == 1
    assert [e.action for e in store.audit()] == [AuditAction.ALERT_RESOLVE]
