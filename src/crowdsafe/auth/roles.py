"""Roles, and who a request acts as: a :class:`Principal`.

Three roles, each allowing everything the one below it does:

* ``viewer``: the numbers (zones, lines, alerts, forecasts, camera health, the live feed);
* ``operator``: plus the anonymised live view, alert snapshots, acknowledge and resolve;
* ``admin``: plus the audit trail, users and configuration.

A principal is an operator's user name (or a token's label) and a role: never anything
about the people in front of the cameras.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["PUBLIC", "AuthVia", "Principal", "Role"]


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """True when this role may do what ``needed`` may."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}

# What a route needs when it needs no login at all (/healthz, the login page).
PUBLIC = None


class AuthVia(StrEnum):
    """How a request proved who it is; a browser's ways (session, proxy) need a CSRF
    token on state-changing requests, a bearer token does not (a browser never sends one
    by itself)."""

    SESSION = "session"
    TOKEN = "token"
    PROXY = "proxy"
    OPEN = "open"  # --insecure-no-auth: nobody proved anything

    @property
    def needs_csrf(self) -> bool:
        return self in (AuthVia.SESSION, AuthVia.PROXY)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a user name (or ``token:<label>``) and a role."""

    name: str
    role: Role
    via: AuthVia
    session_id: str | None = None  # the session's secret id, to bind its CSRF token
