"""The ``server:`` section: where the HTTP API and dashboard listen, and by which names.

The default is loopback only: a site opens crowdsafe to its network on purpose.

``allowed_hosts`` defeats DNS rebinding (a foreign page re-pointing its own name at
this server): the server answers only requests whose ``Host`` is a loopback name, the
address it is bound to, the machine's own name when bound to every interface, or one
listed here.  A site reached as ``https://crowd.example.org`` lists that name (behind a
reverse proxy too: the proxy passes the browser's ``Host`` on).
"""

from __future__ import annotations

import ipaddress
import re
import socket

from pydantic import Field, field_validator

from crowdsafe.strict import StrictModel

__all__ = ["ServerConfig"]

# A DNS name, optionally "*." for every name under it.
_NAME = re.compile(
    r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
)
_EVERY_INTERFACE = ("0.0.0.0", "::", "")


def _valid_host(value: str) -> str:
    name = value.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if len(name) > 253 or not _NAME.fullmatch(name):
        raise ValueError(
            f"'{value}' is not a host name, an IP address or '*.domain' (no scheme, port "
            "or path: 'crowd.example.org', '192.0.2.10', '*.example.org')"
        )
    return name


class ServerConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the HTTP server.")
    allowed_hosts: tuple[str, ...] = Field(
        (),
        max_length=64,
        description=(
            "Names (or '*.domain') browsers reach the server by, besides the loopback "
            "names, the bound address and, bound to every interface, the machine's name; "
            "a request with any other Host header is refused (400)."
        ),
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_valid_host(v) for v in value)

    def host_names(self, bound: str | None = None) -> list[str]:
        """The names the server answers to besides the loopback names, when bound to
        ``bound`` (default :attr:`host`): the configured ones, and the bound address or,
        bound to every interface, this machine's host name and fully qualified name."""
        bound = self.host if bound is None else bound
        names = list(self.allowed_hosts)
        if bound.strip("[]") in _EVERY_INTERFACE:
            names += [socket.gethostname(), socket.getfqdn()]
        else:
            names.append(bound)
        return list(dict.fromkeys(n.lower() for n in names if n))
