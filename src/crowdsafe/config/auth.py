"""The ``auth:`` section: where users, tokens and the audit trail are kept, how long a
login lasts, which reverse proxy is believed, and TLS.

No secret is ever written here: passwords, tokens and the cookie-signing key live in the
auth store (``auth.path``, a SQLite file made readable by its owner only), managed with
``crowdsafe users`` and ``crowdsafe tokens``.  See docs/adr/0004-authentication.md and
docs/deployment.md.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator, model_validator

from crowdsafe.auth import AuthPolicy, Role
from crowdsafe.strict import StrictModel

__all__ = ["AuthConfig", "TlsConfig"]


class TlsConfig(StrictModel):
    """Serve HTTPS directly (else put a TLS-terminating reverse proxy in front)."""

    certfile: str = Field(min_length=1, description="PEM certificate chain (relative to config).")
    keyfile: str = Field(min_length=1, description="PEM private key (relative to config).")


class AuthConfig(StrictModel):
    path: str | None = Field(
        None,
        min_length=1,
        description="The auth store, a SQLite file (relative to the config file); default: "
        "'auth.db' beside the storage database.",
    )
    session_hours: float = Field(
        12.0, gt=0.0, le=720.0, description="A dashboard login lasts this many hours."
    )
    login_failures_per_user: int = Field(
        5, ge=1, le=1000, description="Wrong passwords per user name within the window."
    )
    login_attempts_per_address: int = Field(
        20, ge=1, le=10_000, description="Login attempts per client address within the window."
    )
    login_window_s: float = Field(
        300.0, ge=1.0, le=86_400.0, description="The window of the login limits, seconds."
    )
    audit_retention_days: float = Field(
        365.0, gt=0.0, le=3650.0, description="Audit entries are deleted after this many days."
    )
    metrics_open: bool = Field(
        False, description="Serve /metrics without a token (a scraper on a closed network)."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For, "
        "X-Forwarded-Proto and user header are believed; nobody else's are.",
    )
    proxy_user_header: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header in which a trusted proxy names the user it authenticated "
        "(single sign-on), e.g. X-Remote-User.",
    )
    proxy_default_role: Role | None = Field(
        None,
        description="Role of a proxy-authenticated user who is not in the auth store; "
        "none: such users are refused.",
    )
    tls: TlsConfig | None = Field(None, description="Certificate and key to serve HTTPS.")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"'{item}' is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)"
                ) from None
        return value

    @model_validator(mode="after")
    def _header_needs_proxies(self) -> AuthConfig:
        if self.proxy_user_header and not self.trusted_proxies:
            raise ValueError(
                "proxy_user_header needs trusted_proxies: the header is believed only from "
                "the listed proxy addresses"
            )
        return self

    def policy(self) -> AuthPolicy:
        """The authenticator's behaviour from this section."""
        return AuthPolicy(
            session_ttl_s=self.session_hours * 3600.0,
            login_failures_per_user=self.login_failures_per_user,
            login_attempts_per_address=self.login_attempts_per_address,
            login_window_s=self.login_window_s,
            audit_retention_days=self.audit_retention_days,
            metrics_open=self.metrics_open,
            trusted_proxies=tuple(
                ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies
            ),
            proxy_user_header=self.proxy_user_header,
            proxy_default_role=self.proxy_default_role,
        )
