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

Time partitions (``store/partitions.py``): the sample and rollup tables are
``PARTITION BY RANGE (t)``, each partition a fixed span (a day of samples); the
partitions are made ahead by :meth:`PostgresStore.prepare`, and by a write that needs
one (made in its own short transaction under an advisory lock, so that several
servers never both make the same one), and retention drops whole partitions before its
horizon instead of deleting their rows.  The primary keys ``(zone_id, t)`` and
``(line_id, t)`` serve the series reads (one zone, a time range, newest first) in each
partition, and PostgreSQL skips the partitions outside a read's time range.

Rollups: ``store/rollup.py`` (the same SQL as SQLite's).  Schema: Alembic revisions
(``store/migrations/postgresql``), applied under an advisory lock when a store opens.

Live feed across nodes (``store/notify.py``, ADR 0006): with ``notify=True`` (a fleet's
workers) each batch of zone samples is also sent on the ``crowdsafe_samples`` channel by
the transaction that writes it, so a notification arrives only once its rows are
visible; the default sends nothing and costs nothing.

Privacy rule: the schema holds aggregates and alerts about zones and lines only, the
same columns as SQLite's; the contract tests fail if a column could describe a person.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from crowdsafe.errors import StoreError
from crowdsafe.store import notify as pg_notify
from crowdsafe.store import partitions, rollup
from crowdsafe.store.codec import Codec, alert_upsert, check_limit, state_values
from crowdsafe.store.migrations import upgrade_postgres
from crowdsafe.types import Alert, AlertState, LineSample, ZoneRollup, ZoneSample

__all__ = ["PostgresStore", "describe_dsn"]

_DIALECT = rollup.Dialect(mark="%s", floor="floor({x})", held_int="held::int", lock=" FOR UPDATE")

# The key of the advisory lock held while partitions are made (any constant).
_PARTITION_LOCK = 0x7061727473  # "parts"

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


@functools.lru_cache(maxsize=32)
def _copy_statement(table: str, names: tuple[str, ...]) -> bytes:
    """The COPY statement of ``table``'s ``names``, composed once: composing it for each
    of a city's 20 writes a second per worker was a twentieth of the worker's CPU."""
    query = sql.SQL("COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)").format(
        table=sql.Identifier(table), cols=sql.SQL(", ").join(map(sql.Identifier, names))
    )
    return query.as_string().encode()


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
    ``notify``: send each batch of zone samples on ``crowdsafe_samples`` as it commits
    (the module docstring).  Raises StoreError, naming the server (never the password),
    when the database cannot be reached or its schema is newer than this crowdsafe reads."""

    def __init__(
        self,
        dsn: str,
        *,
        pool_max: int = 4,
        connect_timeout_s: float = 10.0,
        notify: bool = False,
    ) -> None:
        self.where = describe_dsn(dsn)
        self.notify = notify
        kwargs: dict[str, Any] = {
            "connect_timeout": max(1, round(connect_timeout_s)),
            "application_name": "crowdsafe",
        }
        # One plain connection first: its error says why (refused, no such database).
        self.upgrade = upgrade_postgres(dsn, kwargs, self.where)
        """What opening did to the schema (:class:`~crowdsafe.store.migrations.Upgrade`)."""
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
            self._parts = self._load_partitions()
        except psycopg.Error as exc:
            self._pool.close()
            raise StoreError(f"cannot open PostgreSQL database {self.where}: {exc}") from exc

    def _load_partitions(self) -> dict[str, set[int]]:
        """The starts of the partitions of every partitioned table, from their names."""
        found: dict[str, set[int]] = {table: set() for table in partitions.WIDTH_S}
        rows = self._read(
            "SELECT parent.relname, child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = inhparent "
            "JOIN pg_class child ON child.oid = inhrelid "
            "WHERE parent.relname = ANY(%s) AND pg_table_is_visible(parent.oid)",
            (list(partitions.WIDTH_S),),
        )
        for parent, child in rows:
            found[parent].add(partitions.start_of(str(parent), str(child)))
        return found

    def _ensure(self, table: str, starts: Iterable[int]) -> None:
        """Make the partitions of ``table`` that start at ``starts`` unless they exist,
        in their own transaction (see the module docstring)."""
        missing = sorted(set(starts) - self._parts[table])
        if not missing:
            return
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
                for start in missing:
                    conn.execute(partitions.create_sql(table, start))
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot make partitions of {table} in PostgreSQL database {self.where}: {exc}"
            ) from exc
        self._parts[table].update(missing)

    def _ensure_for(self, table: str, times: Iterable[float]) -> None:
        """The partitions that rows at ``times`` need; StoreError for a time that is not
        a finite number (no partition could hold it)."""
        width = partitions.WIDTH_S[table]
        try:
            starts = {math.floor(t / width) * width for t in times}
        except (OverflowError, ValueError) as exc:
            raise StoreError(f"a {table} row has a time that is not a finite number") from exc
        self._ensure(table, starts)

    def _ensure_rollup(self, table: str, lo: float, hi: float) -> None:
        """The partitions a refresh writing ``table`` in ``[lo, hi)`` needs: one for each
        partition of its source that holds data there (not every week since 1970)."""
        source = "zone_samples" if table == "zone_rollups_1m" else "zone_rollups_1m"
        width = partitions.WIDTH_S[source]
        self._ensure(
            table,
            {
                partitions.partition_start(table, start)
                for start in self._parts[source]
                if start + width > lo and start < hi
            },
        )

    def prepare(self, now: float) -> None:
        """Make the partitions that the next two days' writes need (and the current
        ones): a write then never waits on making one."""
        for table, width in partitions.WIDTH_S.items():
            self._ensure(table, partitions.starts_between(table, now, now + max(2 * 86_400, width)))

    def _stage_and_move(
        self,
        table: str,
        codec: Codec[Any],
        key: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        *,
        direct_first: bool = False,
        late: tuple[str, tuple[Any, ...]] | None = None,
        channel: str | None = None,
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
        self._ensure_for(table, {r[codec.names.index("t")] for r in unique})
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                if late is not None:  # first: a refresh holding the row waits on nothing
                    cur.execute(*late)
                if channel is not None:  # delivered on commit only, so order is free
                    # Why %b, the array sent binary: its text form escapes every '"' of
                    # the JSON, a regex call per quote, which was half of a notifying write
                    cur.execute(
                        "SELECT pg_notify(%s, p) FROM unnest(%b::text[]) AS p",
                        (channel, list(pg_notify.sample_payloads(unique))),
                    )
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
        with cur.copy(_copy_statement(table, tuple(codec.names))) as copy:
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
        oldest = min((s.t for s in samples), default=0.0)
        self._stage_and_move(
            "zone_samples",
            _ZONES,
            ("zone_id", "t"),
            rows,
            direct_first=True,
            late=(_DIALECT.mark_late(), (oldest, oldest, oldest)),
            channel=pg_notify.SAMPLES if self.notify else None,
        )

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
        """(UTC hour start, mean count) of each hour starting in ``[since, until)``, from
        the 1-h rollups."""
        return [(r.t, r.count_mean) for r in self.rollups(zone_id, 3600, since, until, 10**9)]

    def rollups(
        self,
        zone_id: str,
        resolution_s: int,
        since: float | None = None,
        until: float | None = None,
        limit: int = 10_000,
    ) -> list[ZoneRollup]:
        check_limit(limit)
        rollup.rollup_table(resolution_s)
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                return rollup.read(cur, _DIALECT, zone_id, resolution_s, since, until, limit)
        except psycopg.Error as exc:
            raise StoreError(f"cannot read PostgreSQL database {self.where}: {exc}") from exc

    def refresh_rollups(self, now: float) -> rollup.RollupMarks:
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                return rollup.refresh(cur, _DIALECT, now, self._ensure_rollup)
        except psycopg.Error as exc:
            raise StoreError(f"cannot roll up PostgreSQL database {self.where}: {exc}") from exc

    def rollup_marks(self) -> rollup.RollupMarks:
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                return rollup.marks(cur)
        except psycopg.Error as exc:
            raise StoreError(f"cannot read PostgreSQL database {self.where}: {exc}") from exc

    def _drop_before(self, conn: psycopg.Connection[Any], table: str, before: float) -> int:
        """Rows of ``table`` with ``t < before`` gone: whole partitions dropped (their
        rows counted first), the rest deleted."""
        width = partitions.WIDTH_S[table]
        whole = sorted(s for s in self._parts[table] if s + width <= before)
        gone = 0
        for start in whole:
            name = sql.Identifier(partitions.partition_name(table, start))
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(name)).fetchone()
            gone += int(row[0]) if row else 0
            conn.execute(sql.SQL("DROP TABLE {}").format(name))
        query = sql.SQL("DELETE FROM {} WHERE t < %s").format(sql.Identifier(table))
        gone += conn.execute(query, (before,)).rowcount
        return gone

    def _purge(self, tables: Sequence[str], before: float) -> int:
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
                gone = sum(self._drop_before(conn, table, before) for table in tables)
        except psycopg.Error as exc:
            raise StoreError(f"cannot purge PostgreSQL database {self.where}: {exc}") from exc
        finally:
            self._parts = self._load_partitions()
        return gone

    def purge(self, before: float) -> int:
        """Delete zone and line samples with ``t < before`` in one transaction, dropping
        the partitions wholly before it; how many rows went.  Alerts are kept."""
        return self._purge(("zone_samples", "line_samples"), before)

    def purge_rollups(self, resolution_s: int, before: float) -> int:
        return self._purge((rollup.rollup_table(resolution_s),), before)

    def save_alert(self, alert: Alert) -> None:
        """Insert or update an alert (by id), its state never moving backwards
        (:func:`~crowdsafe.store.codec.alert_upsert`)."""
        query = alert_upsert(", ".join(["%s"] * len(_ALERTS.names)))
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
