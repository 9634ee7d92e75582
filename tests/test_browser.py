"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): log in
through the login page, acknowledge an alert with the page's button, find it audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from crowdsafe.api.app import create_app
from crowdsafe.auth import AuditAction, Authenticator, AuthStore, Role
from crowdsafe.site import FakeSite
from crowdsafe.store.sqlite import SQLiteStore
from crowdsafe.types import AlertState

from .test_api import serving
from .test_auth import PASSWORD, open_alert

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (Debian package 'chromium')"
)


def test_an_operator_logs_in_and_acknowledges_an_alert_in_the_dashboard(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    store = SQLiteStore(tmp_path / "site.db")
    store.save_alert(open_alert("crush-1"))
    site = FakeSite(store=store, site_name="Browser site")
    auth = Authenticator(AuthStore(tmp_path / "auth.db"))
    auth.store.add_user("olive", Role.OPERATOR, PASSWORD)
    app = create_app(site, auth)
    with serving(site, app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page()
            page.goto(base + "/")
            expect(page).to_have_url(base + "/login")  # no session: the login page
            page.fill("#user", "olive")
            page.fill("#password", "not the password")
            page.click("#submit")
            expect(page.locator("#error")).to_contain_text("wrong user name or password")
            page.fill("#password", PASSWORD)
            page.click("#submit")
            expect(page).to_have_url(base + "/")
            expect(page.locator("#whoami")).to_contain_text("olive (operator)")
            item = page.locator('li[data-alert="crush-1"]')
            item.get_by_role("button", name="Acknowledge").click()
            acknowledged = page.locator('li[data-alert="crush-1"][data-state="acknowledged"]')
            expect(acknowledged).to_contain_text("by olive", timeout=15_000)
            cookie = next(c for c in page.context.cookies() if c["name"] == "crowdsafe_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        finally:
            browser.close()
    assert store.get_alert("crush-1").state is AlertState.ACKNOWLEDGED  # type: ignore[union-attr]
    entries = auth.store.audit(target="crush-1")
    assert [(e.actor, e.action) for e in entries] == [("olive", AuditAction.ALERT_ACKNOWLEDGE)]
    logins = auth.store.audit(actions=[AuditAction.LOGIN, AuditAction.LOGIN_FAILED])
    assert [(e.actor, e.action) for e in reversed(logins)] == [
        ("olive", AuditAction.LOGIN_FAILED),
        ("olive", AuditAction.LOGIN),
    ]
    auth.store.close()
    store.close()
