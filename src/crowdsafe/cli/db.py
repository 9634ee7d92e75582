"""``crowdsafe db``: a store's database by hand: ``upgrade``, ``copy`` and ``stats``.

A database is given as ``--db sqlite:FILE`` or ``--db postgresql://HOST/DBNAME``, or
by a config's ``storage:`` section (``--config FILE``); what is named of a server is
its ``host:port/dbname``, never a password (``store/database.py``).  ``upgrade`` runs
the migrations that opening a store runs anyway, on purpose, and says from which
revision to which; ``copy`` moves a site's history from its SQLite file into another
store (``store/transfer.py``: refuses a target that already holds rows of the copied
range unless ``--replace``; safe to rerun); ``stats`` counts rows, spans, sizes,
partitions and the rollup watermarks.  Each ends with one JSON line; a database that
cannot be reached, a schema newer than this crowdsafe, or a source that is not a
crowdsafe store is an error naming the database (exit status 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from crowdsafe.cli._common import Subcommands, add_json
from crowdsafe.errors import UsageError

if TYPE_CHECKING:
    from crowdsafe.store.database import PostgresDatabase, SqliteDatabase, StoreStats
    from crowdsafe.store.transfer import CopyProgress

__all__ = ["register"]

_PROGRESS_EVERY_S = 3.0


def register(commands: Subcommands) -> None:
    db = commands.add_parser("db", help="a store's database: migrate, copy, count")
    modes = db.add_subparsers(dest="what", required=True, metavar="WHAT")

    upgrade = modes.add_parser("upgrade", help="bring a store's schema to this crowdsafe's")
    _add_database(upgrade)
    upgrade.set_defaults(handler=_upgrade)

    copy = modes.add_parser(
        "copy", help="move a site's history from its SQLite file into another store"
    )
    copy.add_argument("--from", dest="source", required=True, metavar="sqlite:FILE")
    copy.add_argument("--to", dest="target", required=True, metavar="postgresql://HOST/DBNAME")
    copy.add_argument("--batch", type=int, default=10_000, help="rows per write (default 10000)")
    copy.add_argument(
        "--replace",
        action="store_true",
        help="overwrite rows the target already holds in the copied range (resume or redo "
        "a copy); without it such a target is refused",
    )
    copy.set_defaults(handler=_copy)

    stats = modes.add_parser("stats", help="rows, time span, size, partitions, watermarks")
    _add_database(stats)
    add_json(stats)
    stats.set_defaults(handler=_stats)


def _add_database(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--config", help="the config whose storage: section names it")
    which.add_argument("--db", metavar="sqlite:FILE|postgresql://...", help="the database")


def _database(args: argparse.Namespace) -> SqliteDatabase | PostgresDatabase:
    """The database of ``--db``, or of the ``storage:`` section of ``--config``."""
    from crowdsafe.store.database import PostgresDatabase, SqliteDatabase, parse

    if args.db:
        return parse(args.db)
    from crowdsafe.config import PostgresStorageConfig, load_config

    config = load_config(args.config)
    section = config.storage
    if isinstance(section, PostgresStorageConfig):
        return PostgresDatabase(
            section.dsn, pool_max=section.pool_max, connect_timeout_s=section.connect_timeout_s
        )
    return SqliteDatabase(config.resolve(section.path))


def _upgrade(args: argparse.Namespace) -> int:
    database = _database(args)
    store = database.open()
    store.close()
    done = getattr(store, "upgrade", None)
    before, after = (done.before, done.after) if done is not None else (None, "unknown")
    said = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    print(f"database {database.where}: schema {said} revision {after}")
    print(
        json.dumps(
            {
                "database": database.where,
                "backend": database.backend,
                "before": before,
                "after": after,
                "changed": before != after,
            }
        )
    )
    return 0


def _copy(args: argparse.Namespace) -> int:
    from crowdsafe.store.database import SqliteDatabase, parse
    from crowdsafe.store.transfer import copy_history

    source = parse(args.source)
    if not isinstance(source, SqliteDatabase):
        raise UsageError(f"--from must be a SQLite store (sqlite:FILE), not {source.where}")
    target = parse(args.target)
    if isinstance(target, SqliteDatabase) and target.path.resolve() == source.path.resolve():
        raise UsageError("--from and --to name the same file")
    last = [0.0]

    def progress(p: CopyProgress) -> None:
        now = time.monotonic()
        if p.done < p.total and now - last[0] < _PROGRESS_EVERY_S:
            return
        last[0] = now
        share = 100.0 * p.done / p.total if p.total else 100.0
        print(f"db copy: {p.table} {p.done}/{p.total} ({share:.0f} %)", file=sys.stderr)

    report = copy_history(source, target, batch=args.batch, replace=args.replace, progress=progress)
    for t in report.tables:
        print(f"{t.table}: {t.source_rows} copied, {t.target_rows} in {target.where}")
    if report.rollups_not_copied:
        print(
            f"note: {report.rollups_not_copied} 1-min rollups of the source, of minutes whose "
            "samples it had already purged, are not copied",
            file=sys.stderr,
        )
    print(json.dumps({"source": source.where, "target": target.where, **report.to_dict()}))
    return 0


def _stats(args: argparse.Namespace) -> int:
    database = _database(args)
    store = database.open()
    try:
        stats = database.stats(store)
    finally:
        store.close()
    if not args.json:
        _print_stats(stats)
    print(json.dumps(stats.to_dict()))
    return 0


def _print_stats(stats: StoreStats) -> None:
    from crowdsafe.store.database import iso

    print(f"database {stats.database} ({stats.backend}), schema revision {stats.revision}")
    print(f"size on disk: {stats.size_bytes / 1e6:.1f} MB")
    print(
        f"rolled up: minutes until {iso(stats.minute_until)}, hours until {iso(stats.hour_until)}"
    )
    print(f"{'table':<16} {'rows':>12}  {'first (UTC)':<25} {'last (UTC)':<25} partitions")
    for t in stats.tables:
        parts = "" if t.partitions is None else str(t.partitions)
        if t.partitions:
            parts += f" ({t.partitions_from} .. {t.partitions_until})"
        print(
            f"{t.table:<16} {t.rows:>12}  {iso(t.first_t) or '-':<25} "
            f"{iso(t.last_t) or '-':<25} {parts}"
        )
