"""The ``server:`` section: where the HTTP API and dashboard listen.

The default is loopback only: a site opens crowdsafe to its network on purpose.
"""

from __future__ import annotations

from pydantic import Field

from crowdsafe.strict import StrictModel

__all__ = ["ServerConfig"]


class ServerConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port of the HTTP server.")
