"""Where each camera of a fleet runs and how it is, as the API server reads it.

The controller writes ``camera_placements`` and the workers ``camera_status`` (Alembic
revision 0003, the fleet's core).  The API server reads both through
``crowdsafe.cluster.registry.FleetRegistry`` when this crowdsafe has it, else through
:class:`TableRegistry`, a read-only reader of the same tables, which also answers
nothing (rather than failing) while the tables do not exist yet.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg_pool import ConnectionPool

from crowdsafe.errors import StoreError

__all__ = ["CameraStatusView", "PlacementView", "Registry", "TableRegistry", "open_registry"]

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


@dataclass(frozen=True)
class _Placement:
    camera_id: str
    node_id: str
    worker: str
    assigned_at: float
    moves: int


@dataclass(frozen=True)
class _Status:
    camera_id: str
    node_id: str
    state: str
    analysed_fps: float
    last_frame_at: float | None
    updated_at: float


class TableRegistry:
    """Reads ``camera_placements`` and ``camera_status`` with a pool of its own (at most
    two connections); StoreError when the server cannot be reached."""

    def __init__(self, dsn: str, connect_timeout_s: float = 5.0) -> None:
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=2,
            kwargs={"application_name": "crowdsafe-registry"},
            timeout=connect_timeout_s,
            check=ConnectionPool.check_connection,
            name="crowdsafe-registry",
            open=True,
        )

    def _rows(self, query: str) -> list[tuple[Any, ...]]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(query).fetchall()
        except psycopg.errors.UndefinedTable:
            return []  # the fleet's tables are made by its first controller
        except psycopg.Error as exc:
            raise StoreError(f"cannot read the fleet's registry: {exc}") from exc

    def placements(self) -> dict[str, _Placement]:
        rows = self._rows(
            "SELECT camera_id, node_id, worker, assigned_at, moves FROM camera_placements"
        )
        return {str(r[0]): _Placement(*r) for r in rows}

    def statuses(self) -> dict[str, _Status]:
        rows = self._rows(
            "SELECT camera_id, node_id, state, analysed_fps, last_frame_at, updated_at "
            "FROM camera_status"
        )
        return {str(r[0]): _Status(*r) for r in rows}

    def close(self) -> None:
        self._pool.close()


def open_registry(dsn: str) -> Registry:
    """The fleet core's registry when installed, else :class:`TableRegistry`."""
    try:  # by name: the fleet's core may not be merged into this crowdsafe yet
        module = importlib.import_module("crowdsafe.cluster.registry")
    except ImportError:
        return TableRegistry(dsn)
    registry: Registry = module.FleetRegistry(dsn)
    return registry
