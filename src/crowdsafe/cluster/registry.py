"""Where each camera of a fleet runs, and how it is: two small PostgreSQL tables.

``camera_placements`` is written by the controller whenever the assignment changes (one
row per camera: its node, its worker, when it was placed, how often it moved);
``camera_status`` is upserted by each worker every few seconds with the health of the
cameras it runs.  API servers read both through :class:`FleetRegistry`, so camera
health shows where a camera runs and how often it moved, whichever server is asked.

The tables are made by the store's revision 0003 (``store/migrations``); opening a
registry brings the database to the head revision like opening the store does.
Nothing in them is about the people seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crowdsafe.errors import StoreError

__all__ = ["CameraStatus", "FleetRegistry", "Placement"]


@dataclass(frozen=True)
class Placement:
    """Where one camera runs: ``node_id`` (Ray's node id), ``worker`` (the worker
    actor's name), since ``assigned_at`` (Unix seconds), after ``moves`` moves."""

    camera_id: str
    node_id: str
    worker: str
    assigned_at: float
    moves: int = 0


@dataclass(frozen=True)
class CameraStatus:
    """One camera's health as its worker last saw it (times in Unix seconds)."""

    camera_id: str
    node_id: str
    state: str
    analysed_fps: float
    last_frame_at: float | None
    updated_at: float


_PLACEMENT_COLS = "camera_id, node_id, worker, assigned_at, moves"
_STATUS_COLS = "camera_id, node_id, state, analysed_fps, last_frame_at, updated_at"


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as ``width`` column lists: one ``unnest`` statement writes a worker's
    thousands of rows, where one statement per row cost the worker and the server
    a statement each."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


class FleetRegistry:
    """Reads and writes ``camera_placements`` and ``camera_status`` on ``dsn``, through
    a pool of at most ``pool_max`` connections.  Every method raises StoreError (naming
    the server, never a password) when the database cannot be reached."""

    def __init__(self, dsn: str, *, pool_max: int = 2, connect_timeout_s: float = 10.0) -> None:
        from psycopg_pool import ConnectionPool

        from crowdsafe.store.migrations import upgrade_postgres
        from crowdsafe.store.postgres import describe_dsn

        self.where = describe_dsn(dsn)
        kwargs: dict[str, Any] = {
            "connect_timeout": max(1, round(connect_timeout_s)),
            "application_name": "crowdsafe-fleet",
        }
        upgrade_postgres(dsn, kwargs, self.where)
        self._pool = ConnectionPool(
            dsn,
            min_size=0,
            max_size=pool_max,
            kwargs=kwargs,
            timeout=connect_timeout_s,
            check=ConnectionPool.check_connection,
            name="crowdsafe-fleet",
            open=True,
        )

    def _run(self, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            with self._pool.connection() as conn:
                if params is not None:
                    conn.execute(query, params)
                    return []
                return list(conn.execute(query).fetchall())
        except psycopg.Error as exc:
            raise StoreError(f"fleet registry on {self.where}: {exc}") from exc

    def placements(self) -> dict[str, Placement]:
        """Camera id -> where it runs now."""
        rows = self._run(f"SELECT {_PLACEMENT_COLS} FROM camera_placements")
        return {r[0]: Placement(*r) for r in rows}

    def set_placements(self, placements: Mapping[str, Placement]) -> None:
        """Make the table hold exactly ``placements`` (cameras not in it are removed),
        in one transaction, so a reader never sees half an assignment."""
        import psycopg

        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "DELETE FROM camera_placements WHERE NOT camera_id = ANY(%s)",
                    (list(placements),),
                )
                cur.execute(
                    f"INSERT INTO camera_placements ({_PLACEMENT_COLS}) "
                    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], "
                    "%s::float8[], %s::int4[]) ON CONFLICT (camera_id) DO UPDATE SET "
                    "node_id = EXCLUDED.node_id, worker = EXCLUDED.worker, "
                    "assigned_at = EXCLUDED.assigned_at, moves = EXCLUDED.moves",
                    _columns([(p.camera_id, p.node_id, p.worker, p.assigned_at, p.moves)
                              for p in placements.values()], 5),
                )  # fmt: skip
        except psycopg.Error as exc:
            raise StoreError(f"fleet registry on {self.where}: {exc}") from exc

    def statuses(self) -> dict[str, CameraStatus]:
        """Camera id -> its last written health."""
        rows = self._run(f"SELECT {_STATUS_COLS} FROM camera_status")
        return {r[0]: CameraStatus(*r) for r in rows}

    def write_statuses(self, statuses: Sequence[CameraStatus]) -> None:
        """Upsert each camera's health row."""
        if not statuses:
            return
        rows = [
            (s.camera_id, s.node_id, s.state, s.analysed_fps, s.last_frame_at, s.updated_at)
            for s in statuses
        ]
        self._run(
            f"INSERT INTO camera_status ({_STATUS_COLS}) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::float8[], "
            "%s::float8[], %s::float8[]) "
            "ON CONFLICT (camera_id) DO UPDATE SET node_id = EXCLUDED.node_id, "
            "state = EXCLUDED.state, analysed_fps = EXCLUDED.analysed_fps, "
            "last_frame_at = EXCLUDED.last_frame_at, updated_at = EXCLUDED.updated_at",
            params=_columns(rows, 6),
        )

    def close(self) -> None:
        self._pool.close()
