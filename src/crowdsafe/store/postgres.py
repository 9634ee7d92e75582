"""PostgreSQL store: the same rows as SQLite, for a control room with several servers.

Why PostgreSQL beside SQLite: a city writes tens of thousands of zone samples a second
from many analysis nodes, and keeps years of history; SQLite is one file with one
writer.  Everything here keeps the :class:`~crowdsafe.store.base.Store` promises that
``tests/test_store_contract.py`` checks on both backends (replace on conflict, half-open
time windows, newest ``limit`` oldest first, all-or-none batches).

Why COPY into a staging table: a batch of samples is streamed with ``COPY`` (one round
trip however many rows) into a per-session temporary table, then moved with one
``INSERT .. SELECT DISTINCT ON .. ON CONFLICT DO UPDATE``.  ``DISTINCT ON`` keeps the
last sample of a key within the batch (an upsert may not touch a row twice in one
statement), so a batch behaves exactly like SQLite's ``INSERT OR REPLACE`` row by row.
Why a pool: the pipeline's writer and the API's readers run on different threads; each
call borrows a connection for one transaction, and a connection that broke while idle
(the server restarted) is checked and replaced before it is lent.

Types: ``t`` and every measure are ``double precision`` (PostgreSQL's ``real`` is 4
bytes and would not round-trip a Unix time), ``held`` a ``boolean``.

Time partitioning (a later step, not done here): every table that grows with time has
``t`` in its primary key, ``(zone_id, t)`` and ``(line_id, t)``, which is what
PostgreSQL requires of a unique key on a table ``PARTITION BY RANGE (t)``, and upserts
with ``ON CONFLICT`` work on partitioned tables.  Adding it is a schema version that
creates ``zone_samples`` anew as ``PARTITION BY RANGE (t)``, attaches the old table as
one partition (with a ``CHECK`` on its ``t`` range so the attach needs no scan), and
creates daily partitions ``FOR VALUES FROM (day) TO (day + 86400)`` ahead of time;
:meth:`PostgresStore.purge` then drops the partitions wholly before its horizon instead
of deleting their rows.  No query here names a partition or relies on a heap order.

Schema versions are numbered in ``meta`` as in SQLite (a separate count: this schema
starts at the SQLite schema's version 4); the first server to start creates it under
an advisory lock, so of several servers starting at once only one creates it.

Privacy rule: the schema holds aggregates and alerts about zones and lines only, the
same columns as SQLite's; the contract tests fail if a column could describe a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from crowdsafe.errors import StoreError
from crowdsafe.store.codec import Codec, check_limit, state_values
from crowdsafe.types import Alert, AlertState, LineSample, ZoneSample

__all__ = ["SCHEMA_VERSION", "PostgresStore", "describe_dsn"]

SCHEMA_VERSION = 1

# Any constant: the key of the advisory lock held while the schema is created.
_SCHEMA_LOCK = 0x63726F7764  # "crowd"

_SCHEMA = """
CREATE TABLE zone_samples (
    camera_id           text             NOT NULL,
    zone_id             text             NOT NULL,
    t                   double precision NOT NULL,  -- bucket start, Unix seconds
    count               double precision NOT NULL,  -- mean persons detected per frame
    count_max           integer          NOT NULL,  -- peak persons in one frame
    area_m2             double precision NOT NULL,
    density_per_m2      double precision NOT NULL,
    los                 text             NOT NULL CHECK (los IN ('A','B','C','D','E','F')),
    frames              integer          NOT NULL,
    density_low_per_m2  double precision NOT NULL DEFAULT 0,
    density_high_per_m2 double precision NOT NULL DEFAULT 0,
    method              text             NOT NULL DEFAULT 'detection'
                                         CHECK (method IN ('detection','density')),
    held                boolean          NOT NULL DEFAULT false,
    PRIMARY KEY (zone_id, t)
);
CREATE TABLE line_samples (
    camera_id      text             NOT NULL,
    line_id        text             NOT NULL,
    t              double precision NOT NULL,  -- bucket start, Unix seconds
    bucket_s       double precision NOT NULL,
    count_in       integer          NOT NULL,
    count_out      integer          NOT NULL,
    width_m        double precision NOT NULL,
    flow_per_m_min double precision NOT NULL,
    los            text             NOT NULL CHECK (los IN ('A','B','C','D','E','F')),
    PRIMARY KEY (line_id, t)
);
CREATE TABLE alerts (
    id              text PRIMARY KEY,
    rule            text NOT NULL,
    subject_kind    text NOT NULL CHECK (subject_kind IN ('zone','line')),
    subject_id      text NOT NULL,
    camera_id       text NOT NULL,
    level           text NOT NULL CHECK (level IN ('advisory','warning','critical')),
    state           text NOT NULL CHECK (state IN ('open','acknowledged','resolved')),
    message         text NOT NULL,
    value           double precision NOT NULL,
    threshold       double precision NOT NULL,
    opened_at       double precision NOT NULL,
    updated_at      double precision NOT NULL,
    acknowledged_at double precision,
    resolved_at     double precision
);
CREATE INDEX alerts_by_state ON alerts (state, updated_at);
"""

_ZONES = Codec(ZoneSample, native_bool=True)
_LINES = Codec(LineSample, native_bool=True)
_ALERTS = Codec(Alert, native_bool=True)


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of a libpq connection string or URI, never its password:
    what messages and the start-up line may show.  StoreError if it does not parse."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        raise StoreError(f"storage.dsn is not a PostgreSQL connection string: {exc}") from exc
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    return f"postgresql://{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


_PG_TYPES = {str: "text", int: "int4", float: "float8", bool: "bool"}


def _upsert(table: str, codec: Codec[Any], key: tuple[str, ...]) -> sql.Composed:
    """Moves a staged batch (one row per key, see :func:`_last_per_key`) into ``table``."""
    cols = sql.SQL(", ").join(map(sql.Identifier, codec.names))
    keys = sql.SQL(", ").join(map(sql.Identifier, key))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in codec.names
    )
    return sql.SQL(
        "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} "
        "ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    ).format(
        table=sql.Identifier(table),
        stage=sql.Identifier(f"stage_{table}"),
        cols=cols,
        keys=keys,
        updates=updates,
    )


def _last_per_key(
    rows: list[tuple[Any, ...]], codec: Codec[Any], key: tuple[str, ...]
) -> Iterable[tuple[Any, ...]]:
    """The last row of each key: an upsert may not touch a row twice in one statement,
    and SQLite's ``INSERT OR REPLACE`` row by row keeps the last.  A dict built in C
    costs far less than sorting the staged rows on the server (``DISTINCT ON``)."""
    get_key = itemgetter(*(codec.names.index(k) for k in key))
    return dict(zip(map(get_key, rows), rows, strict=True)).values()


class PostgresStore:
    """Zone samples, line samples and alerts in a PostgreSQL database.

    ``dsn`` is a libpq connection string or URI (the password better in ``PGPASSWORD``
    or ``~/.pgpass`` than in it); ``pool_max`` connections at most are opened;
    ``connect_timeout_s`` bounds the first connection and each wait for a free one.
    Raises StoreError, naming the server (never the password), when the database cannot
    be reached or its schema is newer than this crowdsafe reads."""

    def __init__(self, dsn: str, *, pool_max: int = 4, connect_timeout_s: float = 10.0) -> None:
        self.where = describe_dsn(dsn)
        kwargs: dict[str, Any] = {
            "connect_timeout": max(1, round(connect_timeout_s)),
            "application_name": "crowdsafe",
        }
        try:  # one plain connection first: its error says why (refused, no such database)
            with psycopg.connect(dsn, **kwargs) as conn:
                self._migrate(conn)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open PostgreSQL database {self.where}: {exc}") from exc
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_max,
            kwargs=kwargs,
            timeout=connect_timeout_s,
            check=ConnectionPool.check_connection,
            name="crowdsafe-store",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except psycopg.Error as exc:
            self._pool.close()
            raise StoreError(f"cannot open PostgreSQL database {self.where}: {exc}") from exc

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)"
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute(_SCHEMA)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s)",
                    (str(SCHEMA_VERSION),),
                )
                return
            version = int(row[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.where} has schema version {version}, newer than this "
                f"crowdsafe reads ({SCHEMA_VERSION}); upgrade crowdsafe"
            )

    def _stage_and_move(
        self,
        table: str,
        codec: Codec[Any],
        key: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        *,
        direct_first: bool = False,
    ) -> None:
        """One transaction: the last row of each key in ``rows`` stored, replacing any
        stored row of that key, all or none.

        Why binary COPY: numbers travel as their 8 bytes, neither printed here nor parsed
        by the server, which at tens of thousands of rows a second is most of the cost.
        Why ``direct_first``: where a key is nearly always new (a zone's 1-s bucket is
        written once), COPY straight into the table, in a savepoint, costs a third less
        than staging and upserting; a key already stored makes that COPY fail on the
        primary key, and the savepoint is rolled back and the batch staged and upserted
        instead, so the result is the same either way."""
        if not rows:
            return
        unique = list(_last_per_key(rows, codec, key))
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                if direct_first:
                    try:
                        with conn.transaction():  # a savepoint
                            self._copy(cur, table, codec, unique)
                        return
                    except psycopg.errors.UniqueViolation:
                        pass  # some key is stored: replace it below
                stage = f"stage_{table}"
                cur.execute(
                    sql.SQL(
                        "CREATE TEMP TABLE IF NOT EXISTS {stage} "
                        "(LIKE {table}) ON COMMIT DELETE ROWS"
                    ).format(stage=sql.Identifier(stage), table=sql.Identifier(table))
                )
                self._copy(cur, stage, codec, unique)
                cur.execute(_upsert(table, codec, key))
        except psycopg.Error as exc:
            raise StoreError(f"cannot write to PostgreSQL database {self.where}: {exc}") from exc

    @staticmethod
    def _copy(
        cur: psycopg.Cursor[Any], table: str, codec: Codec[Any], rows: list[tuple[Any, ...]]
    ) -> None:
        """Binary COPY of ``rows`` (columns as ``codec`` has them) into ``table``."""
        query = sql.SQL("COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)").format(
            table=sql.Identifier(table), cols=sql.SQL(", ").join(map(sql.Identifier, codec.names))
        )
        with cur.copy(query) as copy:
            copy.set_types([_PG_TYPES[k] for k in codec.kinds])
            for row in rows:
                copy.write_row(row)

    def _read(self, query: str | sql.Composed, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            with self._pool.connection() as conn:
                return conn.execute(query, params).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"cannot read PostgreSQL database {self.where}: {exc}") from exc

    def write_samples(self, samples: Sequence[ZoneSample]) -> None:
        rows = [_ZONES.row(s) for s in samples]
        self._stage_and_move("zone_samples", _ZONES, ("zone_id", "t"), rows, direct_first=True)

    def write_line_samples(self, samples: Sequence[LineSample]) -> None:
        rows = [_LINES.row(s) for s in samples]
        self._stage_and_move("line_samples", _LINES, ("line_id", "t"), rows)

    def _range(
        self,
        table: str,
        codec: Codec[Any],
        key: str,
        value: str,
        since: float | None,
        until: float | None,
        limit: int,
    ) -> list[tuple[Any, ...]]:
        """The newest ``limit`` rows of one zone or line with ``since <= t < until``,
        oldest first (the primary key's index serves both the range and the order)."""
        check_limit(limit)
        query = sql.SQL(
            "SELECT {cols} FROM {table} WHERE {key} = %s AND t >= %s AND t < %s "
            "ORDER BY t DESC LIMIT %s"
        ).format(
            cols=sql.SQL(", ").join(map(sql.Identifier, codec.names)),
            table=sql.Identifier(table),
            key=sql.Identifier(key),
        )
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        return list(reversed(self._read(query, (value, lo, hi, limit))))

    def series(
        self,
        zone_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[ZoneSample]:
        rows = self._range("zone_samples", _ZONES, "zone_id", zone_id, since, until, limit)
        return [_ZONES.read(r) for r in rows]

    def line_series(
        self,
        line_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[LineSample]:
        rows = self._range("line_samples", _LINES, "line_id", line_id, since, until, limit)
        return [_LINES.read(r) for r in rows]

    def latest(self, zone_id: str) -> ZoneSample | None:
        found = self.series(zone_id, limit=1)
        return found[0] if found else None

    def zone_ids(self) -> list[str]:
        """Every zone with stored samples."""
        return sorted(
            str(r[0]) for r in self._read("SELECT DISTINCT zone_id FROM zone_samples", ())
        )

    def hourly_counts(
        self, zone_id: str, since: float | None = None, until: float | None = None
    ) -> list[tuple[float, float]]:
        """(UTC hour start, mean count) per hour, oldest first, aggregated in the database."""
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        rows = self._read(
            "SELECT floor(t / 3600) * 3600 AS h, avg(count) FROM zone_samples "
            "WHERE zone_id = %s AND t >= %s AND t < %s GROUP BY h ORDER BY h",
            (zone_id, lo, hi),
        )
        return [(float(h), float(c)) for h, c in rows]

    def purge(self, before: float) -> int:
        """Delete zone and line samples with ``t < before`` in one transaction; how many
        rows went.  Alerts are kept."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                gone = conn.execute("DELETE FROM zone_samples WHERE t < %s", (before,)).rowcount
                gone += conn.execute("DELETE FROM line_samples WHERE t < %s", (before,)).rowcount
        except psycopg.Error as exc:
            raise StoreError(f"cannot purge PostgreSQL database {self.where}: {exc}") from exc
        return gone

    def save_alert(self, alert: Alert) -> None:
        """Insert or update an alert (by id)."""
        cols = sql.SQL(", ").join(map(sql.Identifier, _ALERTS.names))
        query = sql.SQL(
            "INSERT INTO alerts ({cols}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}"
        ).format(
            cols=cols,
            marks=sql.SQL(", ").join(sql.Placeholder() * len(_ALERTS.names)),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in _ALERTS.names
            ),
        )
        try:
            with self._pool.connection() as conn:
                conn.execute(query, _ALERTS.row(alert))
        except psycopg.Error as exc:
            raise StoreError(f"cannot write to PostgreSQL database {self.where}: {exc}") from exc

    def alerts(
        self,
        states: Sequence[AlertState] | None = None,
        since: float | None = None,
        limit: int = 1000,
    ) -> list[Alert]:
        """Alerts newest first; ``states`` filters, ``since`` keeps those updated since."""
        check_limit(limit)
        wanted = state_values(states)
        query = sql.SQL(
            "SELECT {cols} FROM alerts WHERE state = ANY(%s) AND updated_at >= %s "
            "ORDER BY updated_at DESC LIMIT %s"
        ).format(cols=sql.SQL(", ").join(map(sql.Identifier, _ALERTS.names)))
        rows = self._read(query, (wanted, float("-inf") if since is None else since, limit))
        return [_ALERTS.read(r) for r in rows]

    def get_alert(self, alert_id: str) -> Alert | None:
        query = sql.SQL("SELECT {cols} FROM alerts WHERE id = %s").format(
            cols=sql.SQL(", ").join(map(sql.Identifier, _ALERTS.names))
        )
        rows = self._read(query, (alert_id,))
        return _ALERTS.read(rows[0]) if rows else None

    def columns(self) -> dict[str, list[str]]:
        """Every table of the store's schema and its columns: used by the privacy tests."""
        rows = self._read(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
            (),
        )
        out: dict[str, list[str]] = {}
        for table, column in rows:
            out.setdefault(str(table), []).append(str(column))
        return out

    def close(self) -> None:
        self._pool.close()
