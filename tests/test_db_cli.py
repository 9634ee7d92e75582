"""``crowdsafe db``: the real command line against SQLite files and a real PostgreSQL.

The SQLite source is ``tests/data/store-schema4.db``, a file made by the previous
release (schema 4, before Alembic and the rollups), copied to the test's folder first:
it is upgraded in place when opened.  PostgreSQL is a fresh database on the throw-away
server of ``tests/servers/postgres.py``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from crowdsafe.cli import main
from crowdsafe.store.sqlite import SQLiteStore
from tests.servers.postgres import PostgresCluster, free_port
from tests.test_store_contract import fresh_database

OLD_FILE = Path(__file__).parent / "data" / "store-schema4.db"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any] | None, str]:
    """(exit status, the JSON last line of stdout or None, stderr) of one command line."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    last = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return code, last, err


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.db"
    shutil.copyfile(OLD_FILE, path)
    return path


def _line_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT DISTINCT line_id FROM line_samples"))


def test_upgrade_brings_an_old_file_to_the_head_and_says_so(
    capsys: pytest.CaptureFixture[str], old_file: Path
) -> None:
    from crowdsafe.store.migrations import SQLITE_HEAD

    code, done, _ = run(capsys, "db", "upgrade", "--db", f"sqlite:{old_file}")
    assert code == 0
    assert done == {
        "database": str(old_file),
        "backend": "sqlite",
        "before": "0004",
        "after": SQLITE_HEAD,
        "changed": True,
    }
    code, again, _ = run(capsys, "db", "upgrade", "--db", f"sqlite:{old_file}")
    assert code == 0 and again is not None
    assert (again["before"], again["changed"]) == (SQLITE_HEAD, False)
    store = SQLiteStore(old_file)
    try:  # nothing lost on the way
        assert len(store.series(store.zone_ids()[0], limit=10**6)) > 0
    finally:
        store.close()


def test_upgrade_by_config_opens_the_configured_file(
    capsys: pytest.CaptureFixture[str], old_file: Path, config_text: str
) -> None:
    config = old_file.parent / "site.yaml"
    config.write_text(config_text.replace(str(old_file.parent / "test.db"), "site.db"))
    code, done, err = run(capsys, "db", "upgrade", "--config", str(config))
    assert code == 0, err
    assert done is not None and done["database"] == str(old_file) and done["changed"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no SQLite store at"),
        (b"not a database at all", "is not a SQLite database"),
        ("other", "not a crowdsafe store"),
    ],
)
def test_a_file_that_is_not_a_store_is_refused_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "x.db"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "other":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER)")
    before = path.read_bytes() if path.exists() else None
    for command in (["upgrade"], ["stats"]):
        code, _, err = run(capsys, "db", *command, "--db", f"sqlite:{path}")
        assert code == 2 and message in err
    code, _, err = run(capsys, "db", "copy", "--from", f"sqlite:{path}", "--to", "sqlite:y.db")
    assert code == 2 and message in err
    assert (path.read_bytes() if path.exists() else None) == before


def test_stats_of_a_sqlite_file_count_its_rows(
    capsys: pytest.CaptureFixture[str], old_file: Path
) -> None:
    with sqlite3.connect(old_file) as conn:
        zones, lo, hi = conn.execute("SELECT count(*), min(t), max(t) FROM zone_samples").fetchone()
        (lines,) = conn.execute("SELECT count(*) FROM line_samples").fetchone()
        (alerts,) = conn.execute("SELECT count(*) FROM alerts").fetchone()
    code, stats, _ = run(capsys, "db", "stats", "--db", f"sqlite:{old_file}", "--json")
    assert code == 0 and stats is not None
    tables = {t["table"]: t for t in stats["tables"]}
    assert (tables["zone_samples"]["rows"], tables["line_samples"]["rows"]) == (zones, lines)
    assert tables["alerts"]["rows"] == alerts
    assert (tables["zone_samples"]["first_t"], tables["zone_samples"]["last_t"]) == (lo, hi)
    from crowdsafe.store.migrations import SQLITE_HEAD

    assert stats["revision"] == SQLITE_HEAD and stats["size_bytes"] >= old_file.stat().st_size


def test_copy_moves_every_row_to_postgresql_rolled_up_and_rerun_replaces(
    capsys: pytest.CaptureFixture[str], old_file: Path, pg_cluster: PostgresCluster
) -> None:
    from crowdsafe.store.postgres import PostgresStore

    dsn = fresh_database(pg_cluster)
    code, summary, err = run(
        capsys, "db", "copy", "--from", f"sqlite:{old_file}", "--to", dsn, "--batch", "70"
    )
    assert code == 0, err
    assert "db copy: zone_samples 300/300" in err  # the last progress line of a table
    source, target = SQLiteStore(old_file), PostgresStore(dsn)
    try:
        zone_ids = source.zone_ids()
        assert target.zone_ids() == zone_ids
        for z in zone_ids:
            assert target.series(z, limit=10**6) == source.series(z, limit=10**6)
            # the copy was rolled up, and agrees with the source's rollups of the same rows
            assert target.rollups(z, 60) == source.rollups(z, 60) != []
        for line in _line_ids(old_file):
            assert target.line_series(line, limit=10**6) == source.line_series(line, limit=10**6)
        assert target.alerts(limit=10**6) == source.alerts(limit=10**6) != []
        assert target.rollup_marks().minute_until is not None
        rows = {"zone_samples": 300, "line_samples": 3, "alerts": 1}
        assert summary is not None
        assert summary["tables"] == {k: {"source": n, "target": n} for k, n in rows.items()}
        assert summary["rows"] == 304 and summary["rows_per_s"] > 0
        assert summary["target"] == target.where

        # a second copy: refused without --replace, naming what is there ...
        code, _, err = run(capsys, "db", "copy", "--from", f"sqlite:{old_file}", "--to", dsn)
        assert code == 2 and "300 zone samples" in err and "--replace" in err
        # ... and with it, the same rows again: no duplicates, nothing else changed
        code, again, err = run(
            capsys, "db", "copy", "--from", f"sqlite:{old_file}", "--to", dsn, "--replace"
        )
        assert code == 0, err
        assert again is not None and again["tables"] == summary["tables"]
        for z in zone_ids:
            assert target.series(z, limit=10**6) == source.series(z, limit=10**6)

        # stats of the target: its numbers are the copied ones, with partitions
        code, stats, _ = run(capsys, "db", "stats", "--db", dsn, "--json")
        assert code == 0 and stats is not None
        tables = {t["table"]: t for t in stats["tables"]}
        assert {k: tables[k]["rows"] for k in rows} == rows
        first = source.series(zone_ids[0], limit=1)
        assert tables["zone_samples"]["last_t"] >= first[0].t
        assert tables["zone_samples"]["partitions"] >= 1
        assert tables["zone_samples"]["partitions_from"] <= tables["zone_samples"]["first_iso"]
        assert tables["zone_rollups_1m"]["rows"] > 0
        assert stats["minute_until"] == target.rollup_marks().minute_until
        assert stats["backend"] == "postgresql" and stats["size_bytes"] > 0
    finally:
        source.close()
        target.close()
    code, _, _ = run(capsys, "db", "stats", "--db", dsn)  # the human table
    assert code == 0


def test_an_unreachable_server_is_named_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("psycopg")
    port = free_port()
    dsn = f"postgresql://crowdsafe:s3cret@127.0.0.1:{port}/city?connect_timeout=2"
    for command in (["upgrade"], ["stats"]):
        code, _, err = run(capsys, "db", *command, "--db", dsn)
        assert code == 2
        assert f"127.0.0.1:{port}/city" in err and "s3cret" not in err


def test_copy_refuses_only_rows_of_the_copied_subjects_and_replace_keeps_the_rest(
    capsys: pytest.CaptureFixture[str], old_file: Path, tmp_path: Path
) -> None:
    from dataclasses import replace

    source = SQLiteStore(old_file)
    first = source.series(source.zone_ids()[0], limit=10**6)[0]  # the oldest
    source.close()
    target_path = tmp_path / "target.db"
    target = SQLiteStore(target_path)
    # another site's zone in the same hours: not a reason to refuse
    target.write_samples([replace(first, zone_id="elsewhere")])
    target.close()
    args = ("db", "copy", "--from", f"sqlite:{old_file}", "--to", f"sqlite:{target_path}")
    code, summary, err = run(capsys, *args)
    assert code == 0, err
    assert summary is not None and summary["tables"]["zone_samples"]["target"] == 300

    target = SQLiteStore(target_path)
    stale = replace(first, count=first.count + 5)
    extra = replace(first, t=first.t + 0.5)  # a key the source does not have
    target.write_samples([stale, extra])
    target.close()
    code, _, err = run(capsys, *args)
    assert code == 2 and "already holds 301 zone samples" in err
    code, summary, err = run(capsys, *args, "--replace")
    assert code == 0, err
    assert summary is not None and summary["tables"]["zone_samples"] == {
        "source": 300,
        "target": 301,
    }
    target = SQLiteStore(target_path)
    try:
        got = {s.t: s for s in target.series(first.zone_id, limit=10**6)}
        assert got[first.t] == first and got[extra.t] == extra
        assert [s.zone_id for s in target.series("elsewhere")] == ["elsewhere"]
    finally:
        target.close()
