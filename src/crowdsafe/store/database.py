"""A store's database as ``crowdsafe db`` sees it: opened, counted and described.

A :class:`Database` is where a store keeps its rows (a SQLite file or a PostgreSQL
server's database), given as ``sqlite:FILE`` or ``postgresql://...`` (:func:`parse`)
or by a config's ``storage:`` section (``crowdsafe.cli.db``).  ``open()`` opens the
store, which runs the migrations; ``count`` and ``stats`` read with a connection of
their own, so that the backends carry no code for the command line.

Why a SQLite file is checked before it is opened: opening a store makes its tables in
whatever file it is given, and ``crowdsafe db`` must never turn a mistyped path (or
another program's database) into a crowdsafe store.  A file with neither crowdsafe's
tables nor its version is refused, and a missing file is not made.

Where a server is named (messages, the JSON), it is :func:`describe_dsn`'s
``host:port/dbname``, never the password of the DSN.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from crowdsafe.errors import StoreError

if TYPE_CHECKING:
    from crowdsafe.store.base import Store

__all__ = [
    "TABLES",
    "Database",
    "PostgresDatabase",
    "SqliteDatabase",
    "StoreStats",
    "TableStats",
    "iso",
    "parse",
]

TABLES: dict[str, tuple[str, str]] = {
    "zone_samples": ("t", "zone_id"),
    "line_samples": ("t", "line_id"),
    "alerts": ("opened_at", "id"),
    "zone_rollups_1m": ("t", "zone_id"),
    "zone_rollups_1h": ("t", "zone_id"),
}
"""Each table ``crowdsafe db`` counts: (its time column, its subject column)."""

_SQLITE_MAGIC = b"SQLite format 3\x00"


def iso(t: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC (None stays None)."""
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


@dataclass(frozen=True)
class TableStats:
    """One table: its rows, the first and last time in it (Unix seconds), its size on
    disk where the backend tells it (bytes), and its time partitions (PostgreSQL)."""

    table: str
    rows: int
    first_t: float | None
    last_t: float | None
    size_bytes: int | None = None
    partitions: int | None = None
    partitions_from: str | None = None
    partitions_until: str | None = None


@dataclass(frozen=True)
class StoreStats:
    """What ``crowdsafe db stats`` shows of one database."""

    backend: str
    database: str
    revision: str
    size_bytes: int
    minute_until: float | None
    hour_until: float | None
    tables: list[TableStats] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["minute_until_iso"] = iso(self.minute_until)
        out["hour_until_iso"] = iso(self.hour_until)
        for table in out["tables"]:
            table["first_iso"] = iso(table["first_t"])
            table["last_iso"] = iso(table["last_t"])
        return out


class Database(Protocol):
    """Where one store keeps its rows."""

    backend: str
    where: str
    """The database as messages may name it (never a password)."""

    def open(self) -> Store:
        """The store, its schema migrated (``store.upgrade`` says from what)."""
        ...

    def count(self, table: str, lo: float, hi: float, subjects: Sequence[str]) -> int:
        """Rows of ``table`` (one of :data:`TABLES`) about ``subjects`` with
        ``lo <= time <= hi``."""
        ...

    def stats(self, store: Store) -> StoreStats:
        """Rows, spans, sizes and partitions of every table of the opened ``store``."""
        ...


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class SqliteDatabase:
    """A crowdsafe SQLite file (see the module docstring for what is refused)."""

    backend = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)

    def check(self) -> None:
        """FileNotFoundError for a missing file; StoreError for one that is not a
        crowdsafe store."""
        if not self.path.is_file():
            raise FileNotFoundError(f"no SQLite store at {self.path}")
        with self.path.open("rb") as f:
            if f.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
                raise StoreError(f"{self.path} is not a SQLite database")
        try:
            with contextlib.closing(self._connect()) as conn:
                tables = {
                    r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read SQLite database {self.path}: {exc}") from exc
        if "zone_samples" not in tables or not tables & {"alembic_version", "meta"}:
            raise StoreError(
                f"{self.path} is a SQLite database but not a crowdsafe store (no zone_samples "
                "table and schema version): refusing to touch it"
            )

    def _connect(self) -> sqlite3.Connection:
        """A read-only connection: counting never writes the file."""
        return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)

    def open(self) -> Store:
        from crowdsafe.store.sqlite import SQLiteStore

        self.check()
        return SQLiteStore(self.path)

    def rows(self, table: str, columns: str, order: str) -> Iterator[list[tuple[Any, ...]]]:
        """Every row of ``table`` in ``order``, a batch at a time (read-only)."""
        with contextlib.closing(self._connect()) as conn:
            cur = conn.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")
            while batch := cur.fetchmany(10_000):
                yield batch

    def span(self, table: str) -> tuple[int, float | None, float | None, list[str]]:
        """(rows, first time, last time, subjects) of one table."""
        t, subject = TABLES[table]
        with contextlib.closing(self._connect()) as conn:
            rows, lo, hi = conn.execute(
                f"SELECT count(*), min({t}), max({t}) FROM {table}"
            ).fetchone()
            subjects = [str(r[0]) for r in conn.execute(f"SELECT DISTINCT {subject} FROM {table}")]
        return int(rows), lo, hi, sorted(subjects)

    def count(self, table: str, lo: float, hi: float, subjects: Sequence[str]) -> int:
        t, subject = TABLES[table]
        total = 0
        with contextlib.closing(self._connect()) as conn:
            for part in _chunks(list(subjects)):
                marks = ",".join("?" * len(part))
                row = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE {subject} IN ({marks}) "
                    f"AND {t} >= ? AND {t} <= ?",
                    (*part, lo, hi),
                ).fetchone()
                total += int(row[0])
        return total

    def stats(self, store: Store) -> StoreStats:
        from crowdsafe.store.migrations import sqlite_revision

        tables = []
        with contextlib.closing(self._connect()) as conn:
            revision = sqlite_revision(conn) or "none"
            for table, (t, _) in TABLES.items():
                rows, lo, hi = conn.execute(
                    f"SELECT count(*), min({t}), max({t}) FROM {table}"
                ).fetchone()
                tables.append(TableStats(table, int(rows), lo, hi))
        size = sum(
            p.stat().st_size
            for p in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm"))
            if p.is_file()
        )
        marks = store.rollup_marks()
        return StoreStats(
            self.backend, self.where, revision, size, marks.minute_until, marks.hour_until, tables
        )


class PostgresDatabase:
    """A PostgreSQL database given by a libpq DSN."""

    backend = "postgresql"

    def __init__(self, dsn: str, *, pool_max: int = 4, connect_timeout_s: float = 10.0) -> None:
        from crowdsafe.store.postgres import describe_dsn

        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self.pool_max = pool_max
        self.connect_timeout_s = connect_timeout_s

    def open(self) -> Store:
        from crowdsafe.store.postgres import PostgresStore

        return PostgresStore(
            self.dsn, pool_max=self.pool_max, connect_timeout_s=self.connect_timeout_s
        )

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        import psycopg

        try:
            with (
                psycopg.connect(
                    self.dsn, connect_timeout=max(1, round(self.connect_timeout_s))
                ) as conn,
                conn.cursor() as cur,
            ):
                yield cur
        except psycopg.Error as exc:
            raise StoreError(f"cannot read PostgreSQL database {self.where}: {exc}") from exc

    def count(self, table: str, lo: float, hi: float, subjects: Sequence[str]) -> int:
        t, subject = TABLES[table]
        with self._cursor() as cur:
            row = cur.execute(
                f"SELECT count(*) FROM {table} WHERE {subject} = ANY(%s) "
                f"AND {t} >= %s AND {t} <= %s",
                (list(subjects), lo, hi),
            ).fetchone()
        return int(row[0])

    def stats(self, store: Store) -> StoreStats:
        from crowdsafe.store import partitions
        from crowdsafe.store.migrations import postgres_revision

        tables = []
        with self._cursor() as cur:
            revision = postgres_revision(cur.connection) or "none"
            (size,) = cur.execute("SELECT pg_database_size(current_database())").fetchone()
            for table, (t, _) in TABLES.items():
                rows, lo, hi = cur.execute(
                    f"SELECT count(*), min({t}), max({t}) FROM {table}"
                ).fetchone()
                (bytes_,) = cur.execute(
                    "SELECT coalesce(sum(pg_total_relation_size(relid)), 0) "
                    "FROM pg_partition_tree(%s::regclass)",
                    (table,),
                ).fetchone()
                found = None
                first = last = None
                if table in partitions.WIDTH_S:
                    names = cur.execute(
                        "SELECT child.relname FROM pg_inherits "
                        "JOIN pg_class parent ON parent.oid = inhparent "
                        "JOIN pg_class child ON child.oid = inhrelid "
                        "WHERE parent.relname = %s AND pg_table_is_visible(parent.oid)",
                        (table,),
                    ).fetchall()
                    starts = sorted(partitions.start_of(table, str(n[0])) for n in names)
                    found = len(starts)
                    if starts:
                        first = iso(starts[0])
                        last = iso(starts[-1] + partitions.WIDTH_S[table])
                tables.append(TableStats(table, int(rows), lo, hi, int(bytes_), found, first, last))
        marks = store.rollup_marks()
        return StoreStats(
            self.backend,
            self.where,
            revision,
            int(size),
            marks.minute_until,
            marks.hour_until,
            tables,
        )


def parse(spec: str) -> SqliteDatabase | PostgresDatabase:
    """``sqlite:FILE`` or a ``postgresql://`` (``postgres://``) URI; StoreError else."""
    if spec.startswith("sqlite:"):
        path = spec.removeprefix("sqlite:").removeprefix("//")
        if not path:
            raise StoreError("sqlite: needs a file, e.g. sqlite:crowdsafe.db")
        return SqliteDatabase(path)
    if spec.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(spec)
    raise StoreError(
        f"'{spec[:40]}' names no database: give sqlite:FILE or postgresql://HOST/DBNAME"
    )
