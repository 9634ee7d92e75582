"""Where each camera of a fleet runs and how it is, as the API server reads it.

The controller writes ``camera_placements`` and the workers ``camera_status`` (Alembic
revision 0003).  The API server reads both through
``crowdsafe.cluster.registry.FleetRegistry``; the protocols here are what it needs of
them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

__all__ = ["CameraStatusView", "PlacementView", "Registry", "open_registry"]

log = logging.getLogger(__name__)


class PlacementView(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def moves(self) -> int: ...


class CameraStatusView(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def analysed_fps(self) -> float: ...

    @property
    def last_frame_at(self) -> float | None: ...

    @property
    def updated_at(self) -> float: ...


class Registry(Protocol):
    """What the API server reads of the fleet's registry, by camera id."""

    def placements(self) -> Mapping[str, PlacementView]: ...

    def statuses(self) -> Mapping[str, CameraStatusView]: ...


def open_registry(dsn: str) -> Registry:
    """The fleet's registry (``crowdsafe.cluster.registry``), read-only here."""
    from crowdsafe.cluster.registry import FleetRegistry

    registry: Registry = FleetRegistry(dsn)
    return registry
