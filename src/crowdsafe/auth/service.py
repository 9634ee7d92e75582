"""The :class:`Authenticator`: who a request is, whether it may log in, its CSRF token.

Three ways to prove who one is, tried in this order:

1. ``Authorization: Bearer cst_...``: a machine client's API token (no CSRF token
   needed: a browser never attaches one by itself, so a forged page cannot either);
2. the ``crowdsafe_session`` cookie: a server-side session whose random id is signed
   with itsdangerous and expires (``policy.session_ttl_s``); signing lets a forged or
   stale cookie be refused before the store is asked, the server-side row lets a logout,
   a password change or a removed user end the session at once;
3. a reverse proxy's user header, believed only from ``policy.trusted_proxies``.

A browser's ways (2 and 3) need a CSRF token on state-changing requests: an HMAC of the
session id under the signing key (for a proxy user, of their name), which a page of
another site can neither read nor compute.  ``open_access`` (``--insecure-no-auth``)
makes every request an admin named ``anonymous``: for a closed lab network only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable

from itsdangerous import BadSignature, TimestampSigner

from crowdsafe.auth.policy import AuthPolicy
from crowdsafe.auth.ratelimit import SlidingWindow
from crowdsafe.auth.roles import AuthVia, Principal, Role
from crowdsafe.auth.store import AuditAction, AuthStore
from crowdsafe.errors import AuthError, LoginThrottled

__all__ = ["ANONYMOUS", "SESSION_COOKIE", "Authenticator"]

log = logging.getLogger(__name__)

SESSION_COOKIE = "crowdsafe_session"
ANONYMOUS = Principal("anonymous", Role.ADMIN, AuthVia.OPEN)
_PURGE_EVERY_S = 3600.0


class Authenticator:
    """Authenticates requests against an :class:`AuthStore` under an :class:`AuthPolicy`."""

    def __init__(
        self,
        store: AuthStore,
        policy: AuthPolicy | None = None,
        *,
        open_access: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.policy = policy or AuthPolicy()
        self.open_access = open_access
        self._clock = clock
        key = store.secret_key()
        self._signer = TimestampSigner(key, salt="crowdsafe-session")
        self._csrf_key = hashlib.sha256(b"csrf:" + key.encode()).digest()
        p = self.policy
        self._per_user = SlidingWindow(p.login_failures_per_user, p.login_window_s)
        self._per_address = SlidingWindow(p.login_attempts_per_address, p.login_window_s)
        self._purge_lock = threading.Lock()
        self._purged_at = -_PURGE_EVERY_S
        self._purge()

    @classmethod
    def in_memory(cls, policy: AuthPolicy | None = None) -> Authenticator:
        """An authenticator with no users or tokens: every request is refused until a
        test (or caller) adds some to ``.store``."""
        return cls(AuthStore(":memory:"), policy)

    # -- who is asking ----------------------------------------------------------------

    def from_bearer(self, token: str) -> Principal | None:
        found = self.store.token_principal(token)
        if found is None:
            return None
        label, role = found
        return Principal(f"token:{label}", role, AuthVia.TOKEN)

    def from_cookie(self, cookie: str) -> Principal | None:
        try:
            session_id = self._signer.unsign(cookie, max_age=int(self.policy.session_ttl_s))
        except BadSignature:  # forged, altered or expired (SignatureExpired is one)
            return None
        sid = session_id.decode()
        found = self.store.session_user(sid)
        if found is None:
            return None
        return Principal(found[0], found[1], AuthVia.SESSION, session_id=sid)

    def from_proxy(self, peer: str | None, user: str) -> Principal | None:
        """The proxy's user, if ``peer`` is a trusted proxy: their stored role, else the
        policy's default role for single-sign-on users (None: unknown users refused)."""
        if not self.policy.trusts(peer):
            return None
        role = self.store.role_of(user) or self.policy.proxy_default_role
        return None if role is None else Principal(user, role, AuthVia.PROXY)

    # -- logging in and out -----------------------------------------------------------

    def login(self, name: str, password: str, client: str) -> tuple[Principal, str]:
        """(principal, signed cookie value) for a right password; AuthError else.

        Raises LoginThrottled (with the seconds to wait) after too many failures for the
        name or too many attempts from ``client``; a refused attempt is not tried at all,
        so the limit also caps how much hashing a client can make the server do."""
        for window, key, what in (
            (self._per_address, client, "from this address"),
            (self._per_user, name, f"for user '{name}'"),
        ):
            wait = window.retry_after_s(key)
            if wait is not None:
                raise LoginThrottled(f"too many login attempts {what}; retry in {wait} s", wait)
        self._per_address.hit(client)
        role = self.store.verify_password(name, password)
        if role is None:
            self._per_user.hit(name)
            # A wrong name is recorded as such, not as typed: a password typed into
            # the user field must not end up in the audit trail.
            known = self.store.role_of(name) is not None
            self.store.record(name if known else "(unknown user)", AuditAction.LOGIN_FAILED)
            raise AuthError("wrong user name or password")
        self._per_user.clear(name)
        self.store.record(name, AuditAction.LOGIN)
        return self.start_session(name, role)

    def start_session(self, name: str, role: Role) -> tuple[Principal, str]:
        sid = self.store.create_session(name, self.policy.session_ttl_s)
        cookie = self._signer.sign(sid).decode()
        return Principal(name, role, AuthVia.SESSION, session_id=sid), cookie

    def use_login_link(self, secret: str) -> tuple[Principal, str] | None:
        """Spend a one-time login link (``crowdsafe demo``'s ``/?token=``)."""
        user = self.store.use_login_link(secret)
        role = None if user is None else self.store.role_of(user)
        if user is None or role is None:
            return None
        self.store.record(user, AuditAction.LOGIN, "login link")
        return self.start_session(user, role)

    def logout(self, who: Principal) -> None:
        if who.session_id is not None:
            self.store.end_session(who.session_id)
        self.store.record(who.name, AuditAction.LOGOUT)

    # -- CSRF -------------------------------------------------------------------------

    def csrf_token(self, who: Principal) -> str | None:
        """The token a browser's state-changing requests must carry; None where none is
        needed (a bearer token, open access)."""
        if not who.via.needs_csrf:
            return None
        bound = who.session_id if who.session_id is not None else f"proxy:{who.name}"
        return hmac.new(self._csrf_key, bound.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, who: Principal, sent: str | None) -> bool:
        expected = self.csrf_token(who)
        return expected is None or (sent is not None and hmac.compare_digest(expected, sent))

    # -- the audit trail --------------------------------------------------------------

    def record(self, who: Principal, action: AuditAction, target: str | None = None) -> None:
        """Audit ``who`` doing ``action`` (to an alert, user or token ``target``)."""
        self.store.record(who.name, action, target)
        self._purge()

    def _purge(self) -> None:
        """Drop audit entries past their retention, at most once an hour."""
        now = time.monotonic()
        with self._purge_lock:
            if now - self._purged_at < _PURGE_EVERY_S:
                return
            self._purged_at = now
        gone = self.store.purge_audit(self.policy.audit_retention_days)
        if gone:
            log.info(
                "audit trail: %d entries older than %g days deleted",
                gone,
                self.policy.audit_retention_days,
            )
