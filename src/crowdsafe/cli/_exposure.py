"""What ``run`` and ``demo`` expose, and to whom: the authenticator, TLS, the login link.

The rule this module carries: crowdsafe never serves an open API by accident.

* ``crowdsafe run`` on anything but loopback, with no user, no active token and no
  trusted single-sign-on proxy in the auth store, is refused (exit 2) with the command
  that sets one up: anyone who can reach the port could otherwise watch the cameras and
  acknowledge a crush warning.  ``--insecure-no-auth`` serves without any login, for a
  closed lab network only, and says so loudly on every start.
* ``crowdsafe demo`` makes an admin user ``demo`` and prints a one-time login link with
  the URL (as a notebook server does), so even the quick start on loopback needs it.
* TLS is the config's certificate and key (``auth.tls``), or a reverse proxy in front
  (docs/deployment.md); uvicorn's own proxy-header handling is off, because the
  authenticator alone decides which proxies to believe (``auth.trusted_proxies``).
"""

from __future__ import annotations

import getpass
import ipaddress
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crowdsafe.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from crowdsafe.auth import Authenticator, AuthStore
    from crowdsafe.config import CrowdsafeConfig

__all__ = [
    "DEMO_USER",
    "Exposure",
    "cli_actor",
    "config_auth_store",
    "expose",
    "expose_demo",
    "open_auth_store",
]

log = logging.getLogger("crowdsafe.exposure")

DEMO_USER = "demo"


@dataclass
class Exposure:
    """How one server is exposed: its authenticator, uvicorn's TLS options, and what
    to print beside its URL."""

    auth: Authenticator
    uvicorn_options: dict[str, Any] = field(default_factory=dict)
    scheme: str = "http"
    login_query: str = ""  # appended to the printed URL: the demo's one-time link
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.auth.store.close()


def cli_actor() -> str:
    """Who a CLI change is audited as: ``cli:<the operating-system user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def open_auth_store(config: CrowdsafeConfig) -> AuthStore:
    from crowdsafe.auth import AuthStore

    return AuthStore(config.auth_store_path())


@contextmanager
def config_auth_store(config_path: str) -> Iterator[AuthStore]:
    """The auth store of the config file at ``config_path``, closed after use (the
    ``users`` and ``tokens`` commands)."""
    from crowdsafe.config import load_config

    store = open_auth_store(load_config(config_path))
    try:
        yield store
    finally:
        store.close()


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; anything else reaches a network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _tls(config: CrowdsafeConfig) -> dict[str, Any]:
    if config.auth.tls is None:
        return {}
    files = {}
    for key in ("certfile", "keyfile"):
        path = config.resolve(getattr(config.auth.tls, key))
        if not path.is_file():
            raise ConfigError(f"auth.tls.{key}: no such file {path}")
        files[f"ssl_{key}"] = str(path)
    return files


def _base(config: CrowdsafeConfig, open_access: bool) -> Exposure:
    from crowdsafe.auth import Authenticator

    tls = _tls(config)
    store = open_auth_store(config)
    auth = Authenticator(store, config.auth.policy(), open_access=open_access)
    return Exposure(auth, {**tls, "proxy_headers": False}, "https" if tls else "http")


def expose(config: CrowdsafeConfig, host: str, insecure_no_auth: bool = False) -> Exposure:
    """The exposure of ``crowdsafe run``; UsageError when it would serve an open API."""
    if insecure_no_auth:
        exposure = _base(config, open_access=True)
        warning = (
            f"WARNING: --insecure-no-auth: serving on {host} WITHOUT ANY LOGIN; anyone who "
            "reaches the port can watch the cameras and acknowledge alerts (closed lab "
            "networks only)"
        )
        log.warning(warning)
        print(f"crowdsafe: {warning}", file=sys.stderr, flush=True)
        exposure.notes.append(warning)
        return exposure
    exposure = _base(config, open_access=False)
    policy = exposure.auth.policy
    proxy = policy.proxy_user_header is not None and bool(policy.trusted_proxies)
    if exposure.auth.store.has_credentials() or proxy:
        return exposure
    hint = (
        f"crowdsafe users add CONFIG NAME --role admin (users are kept in "
        f"{config.auth_store_path()}), or an API token: crowdsafe tokens add CONFIG LABEL "
        "--role viewer"
    )
    if not is_loopback(host):
        exposure.close()
        raise UsageError(
            f"refusing to serve on {host} without authentication: nobody is set up to log "
            f"in. Create a user first: {hint}; or trust a single-sign-on proxy "
            "(auth.trusted_proxies, auth.proxy_user_header). For a closed lab network "
            "only: --insecure-no-auth"
        )
    exposure.notes.append(f"no user can log in yet; create one with {hint}")
    return exposure


def expose_demo(config: CrowdsafeConfig) -> Exposure:
    """The exposure of ``crowdsafe demo``: an admin ``demo`` and a one-time login link."""
    import secrets

    from crowdsafe.auth import Role

    exposure = _base(config, open_access=False)
    store = exposure.auth.store
    if store.role_of(DEMO_USER) is None:
        # A password nobody knows: the demo user logs in only through the link.
        store.add_user(DEMO_USER, Role.ADMIN, secrets.token_urlsafe(24), actor="crowdsafe demo")
    link = store.create_login_link(
        DEMO_USER, exposure.auth.policy.login_link_ttl_s, actor="crowdsafe demo"
    )
    exposure.login_query = f"?token={link}"
    exposure.notes.append("the link above logs in once, as admin 'demo'; keep it to yourself")
    return exposure
