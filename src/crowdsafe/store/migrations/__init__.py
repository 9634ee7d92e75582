"""Versioned schema migrations of both store backends, with Alembic.

Each backend has its own line of revisions (``sqlite/versions``,
``postgresql/versions``): their types and their partitioning differ, so one script
for both would be an ``if`` per statement.  A store brings its database to the head
revision when it opens it (``crowdsafe db upgrade`` does it on purpose, and says what
it did); each revision runs in its own transaction, so an interrupted upgrade leaves
the last complete revision, never a half-migrated database.

Databases from before Alembic carry their hand-written version in
``meta.schema_version`` (SQLite 1-4, PostgreSQL 1); they are stamped with the revision
of that version and upgraded from there, losing nothing.  A database at a revision
this crowdsafe does not know was written by a newer one and is refused.

Why the fast path: a store is opened by every command and many tests; when the
database is already at the head revision (the common case), one query answers and
neither Alembic nor SQLAlchemy is imported.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crowdsafe.errors import StoreError

if TYPE_CHECKING:
    import psycopg
    from alembic.config import Config
    from sqlalchemy.engine import Connection

__all__ = [
    "POSTGRESQL_HEAD",
    "SQLITE_HEAD",
    "Upgrade",
    "head_revision",
    "known_revisions",
    "postgres_revision",
    "run_migrations",
    "sqlite_revision",
    "upgrade_postgres",
    "upgrade_sqlite",
]

log = logging.getLogger(__name__)

SQLITE_HEAD = "0008"
"""The newest SQLite revision (``tests/test_migrations.py`` checks it is the scripts')."""
POSTGRESQL_HEAD = "0006"
"""The newest PostgreSQL revision."""

# Any constant: the key of the advisory lock held while a PostgreSQL schema is
# upgraded, so that of several servers starting at once only one migrates.
_SCHEMA_LOCK = 0x63726F7764  # "crowd"

_HERE = Path(__file__).parent


class Upgrade:
    """What an upgrade did: the revision before (None: an empty database) and after."""

    def __init__(self, before: str | None, after: str) -> None:
        self.before = before
        self.after = after

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def __repr__(self) -> str:
        return f"Upgrade({self.before!r} -> {self.after!r})"


def run_migrations(context: Any) -> None:
    """The body of each backend's ``env.py``: migrate on the connection handed over in
    ``config.attributes``, one transaction per revision."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def _config(backend: str, connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE / backend))
    config.attributes["connection"] = connection
    return config


def known_revisions(backend: str) -> set[str]:
    """Every revision of one backend's scripts."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_HERE / backend))
    return {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}


def head_revision(backend: str) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(_HERE / backend))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _sqlite_tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def sqlite_revision(conn: sqlite3.Connection) -> str | None:
    """The Alembic revision of a SQLite database, None when it has none."""
    if "alembic_version" not in _sqlite_tables(conn):
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _legacy_sqlite(conn: sqlite3.Connection) -> str | None:
    """The revision of a database from before Alembic (its ``meta.schema_version``)."""
    if "meta" not in _sqlite_tables(conn):
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else f"{int(row[0]):04d}"


def _migrate(
    backend: str,
    connect: Callable[[], Connection],
    before: str | None,
    legacy: str | None,
    where: str,
    target: str = "head",
) -> Upgrade:
    """Stamp a database from before Alembic, then upgrade it to the head."""
    from alembic import command

    known = known_revisions(backend)
    for rev in (before, legacy):
        if rev is not None and rev not in known:
            raise StoreError(
                f"database {where} has schema revision {rev}, which this crowdsafe does "
                f"not know (it reads up to {head_revision(backend)}): it was written by "
                "a newer crowdsafe; upgrade crowdsafe"
            )
    with connect() as connection:
        config = _config(backend, connection)
        if before is None and legacy is not None:
            log.info("database %s: schema version %s from before Alembic", where, legacy)
            command.stamp(config, legacy)
            connection.commit()
        command.upgrade(config, target)
        connection.commit()
    after = head_revision(backend) if target == "head" else target
    log.info("database %s: schema upgraded from %s to %s", where, before or legacy, after)
    return Upgrade(before or legacy, after)


def upgrade_sqlite(conn: sqlite3.Connection, where: str, target: str = "head") -> Upgrade:
    """Bring a SQLite database (open in autocommit mode, ``isolation_level=None``) to
    the head revision (or ``target``, for tests of old schemas); StoreError if it is
    newer than this crowdsafe."""
    before = sqlite_revision(conn)
    if before == SQLITE_HEAD and target == "head":
        return Upgrade(before, before)
    legacy = _legacy_sqlite(conn) if before is None else None

    def connect() -> Connection:
        import sqlalchemy as sa
        from sqlalchemy.pool import StaticPool

        engine = sa.create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool)

        # pysqlite would leave DDL outside any transaction: BEGIN by hand, so that each
        # revision is all or nothing (SQLite's DDL is transactional).
        @sa.event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN")

        return engine.connect()

    from sqlalchemy.exc import DBAPIError

    try:
        return _migrate("sqlite", connect, before, legacy, where, target)
    except (sqlite3.DatabaseError, DBAPIError) as exc:
        raise StoreError(f"cannot upgrade database {where}: {exc}") from exc


def postgres_revision(conn: psycopg.Connection[Any]) -> str | None:
    """The Alembic revision of a PostgreSQL database, None when it has none."""
    found = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
    if not (found and found[0]):
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _legacy_postgres(conn: psycopg.Connection[Any]) -> str | None:
    found = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
    if not (found and found[0]):
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else f"{int(row[0]):04d}"


def upgrade_postgres(dsn: str, connect_kwargs: dict[str, Any], where: str) -> Upgrade:
    """Bring a PostgreSQL database to the head revision under an advisory lock (several
    servers may start at once); StoreError if it is newer than this crowdsafe."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    try:
        conn = psycopg.connect(dsn, autocommit=True, **connect_kwargs)
    except psycopg.Error as exc:
        raise StoreError(f"cannot open PostgreSQL database {where}: {exc}") from exc
    try:
        with conn:
            before = postgres_revision(conn)
            if before == POSTGRESQL_HEAD:
                return Upgrade(before, before)
            conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
            try:  # another server may have migrated while this one waited
                before = postgres_revision(conn)
                if before == POSTGRESQL_HEAD:
                    return Upgrade(before, before)
                legacy = _legacy_postgres(conn) if before is None else None
                return _migrate(
                    "postgresql", lambda: _sqlalchemy(dsn, connect_kwargs), before, legacy, where
                )
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))
    except (psycopg.Error, DBAPIError) as exc:
        raise StoreError(f"cannot upgrade PostgreSQL database {where}: {exc}") from exc


def _sqlalchemy(dsn: str, connect_kwargs: dict[str, Any]) -> Connection:
    import psycopg
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    engine = sa.create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(dsn, **connect_kwargs),
        poolclass=NullPool,
    )
    return engine.connect()
