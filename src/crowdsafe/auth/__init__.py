"""Who may do what: users and roles, API tokens, sessions, CSRF tokens, the audit trail.

::

    auth/roles.py      Role (viewer < operator < admin), Principal, AuthVia
    auth/policy.py     AuthPolicy: lifetimes, login limits, trusted proxies
    auth/store.py      AuthStore: the SQLite file of users, tokens, sessions and audit
    auth/ratelimit.py  SlidingWindow: login attempts per user and per address
    auth/service.py    Authenticator: bearer, cookie or proxy -> Principal; CSRF; login

A stage like the others: it never imports the config (``config/auth.py`` builds its
:class:`AuthPolicy`) nor the API (``api/auth.py`` applies it to requests).  See
``docs/adr/0004-authentication.md``.
"""

from crowdsafe.auth.policy import AuthPolicy
from crowdsafe.auth.roles import PUBLIC, AuthVia, Principal, Role
from crowdsafe.auth.service import ANONYMOUS, SESSION_COOKIE, Authenticator
from crowdsafe.auth.store import AuditAction, AuditEntry, AuthStore, TokenInfo, UserInfo

__all__ = [
    "ANONYMOUS",
    "PUBLIC",
    "SESSION_COOKIE",
    "AuditAction",
    "AuditEntry",
    "AuthPolicy",
    "AuthStore",
    "AuthVia",
    "Authenticator",
    "Principal",
    "Role",
    "TokenInfo",
    "UserInfo",
]
