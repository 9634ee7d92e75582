"""How the authenticator behaves: lifetimes, rate limits, which proxies are trusted.

A plain value built from the config's ``auth:`` section (``config/auth.py``), so that
this package, like every stage, never imports the config.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from crowdsafe.auth.roles import Role

__all__ = ["AuthPolicy"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AuthPolicy:
    session_ttl_s: float = 12 * 3600.0
    login_link_ttl_s: float = 24 * 3600.0
    login_failures_per_user: int = 5
    login_attempts_per_address: int = 20
    login_window_s: float = 300.0
    audit_retention_days: float = 365.0
    metrics_open: bool = False
    # A reverse proxy's authenticated-user header, honoured only from these networks;
    # the same proxies' X-Forwarded-For and X-Forwarded-Proto are believed too.
    trusted_proxies: tuple[Network, ...] = field(default_factory=tuple)
    proxy_user_header: str | None = None
    proxy_default_role: Role | None = None

    def trusts(self, peer: str | None) -> bool:
        """True when ``peer`` (an IP address) is one of the trusted proxies."""
        if peer is None or not self.trusted_proxies:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in net for net in self.trusted_proxies)
