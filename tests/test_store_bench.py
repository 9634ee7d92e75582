"""``crowdsafe bench store``: briefly, against SQLite and a real PostgreSQL server.

The figures themselves are not asserted against thresholds (the machine is shared);
what must hold is the JSON's shape and its bookkeeping: every sample written is in
the table, the queries return the window's rows, and the rows are gone afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.servers.postgres import PostgresCluster
from tests.test_store_contract import fresh_database

ZONES = 50


def bench_store(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crowdsafe.cli", "bench", "store", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_result(r: subprocess.CompletedProcess[str], backend: str) -> dict[str, Any]:
    assert r.returncode == 0, r.stderr
    assert "bench store: write:" in r.stderr  # progress on stderr, the JSON alone on stdout
    result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    assert result["zones_per_batch"] == ZONES
    assert result["samples_written"] > 0
    assert result["samples_written"] % ZONES == 0  # whole batches
    # Filled to --rows (if the timed writes fell short): each sample is one new row.
    assert result["rows_stored"] == max(700 * ZONES, result["samples_written"])
    assert result["samples_per_s"] >= result["wall_samples_per_s"] > 0
    assert result["table_bytes"] > 0
    assert result["bytes_per_row"] == pytest.approx(
        result["table_bytes"] / result["rows_stored"], abs=0.05
    )
    assert result["queries"] == 20
    assert result["query_window_s"] == 600.0
    assert 0 < result["rows_per_query"] <= 600
    assert 0 < result["series_p50_ms"] <= result["series_p95_ms"]
    # Too few rows for a day each: one zone holds the fill, read a day at a time at 1 min.
    assert result["day_zones"] == 1 and result["rollup_refresh_s"] >= 0
    span_min = result["day_span_s"] / 60.0
    assert 0 < result["minutes_per_day_query"] <= min(1440, span_min + 1)
    assert 0 < result["day_series_p50_ms"] <= result["day_series_p95_ms"]
    assert result["kept"] is False
    return result


def test_bench_store_on_sqlite(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "bench.db"
    r = bench_store(
        "--backend", "sqlite", "--path", str(path), "--seconds", "0.5",
        "--rows", str(700 * ZONES), "--zones", str(ZONES), "--queries", "20",
    )  # fmt: skip
    result = check_result(r, "sqlite")
    assert result["database"] == str(path)
    with sqlite3.connect(path) as conn:  # the benchmark's rows are removed afterwards
        assert conn.execute("SELECT count(*) FROM zone_samples").fetchone() == (0,)


def test_bench_store_on_postgresql(pg_cluster: PostgresCluster) -> None:
    import psycopg

    dsn = fresh_database(pg_cluster)
    r = bench_store(
        "--backend", "postgresql", "--dsn", dsn, "--seconds", "0.5",
        "--rows", str(700 * ZONES), "--zones", str(ZONES), "--queries", "20",
    )  # fmt: skip
    result = check_result(r, "postgresql")
    assert result["database"].startswith("postgresql://127.0.0.1:")
    with psycopg.connect(dsn) as conn:  # rows, rollups and their partitions gone
        assert conn.execute("SELECT count(*) FROM zone_samples").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM zone_rollups_1m").fetchone() == (0,)
        left = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'zone_samples'::regclass"
        ).fetchone()
        assert left == (0,)


def test_bench_store_refuses_a_database_with_samples(pg_cluster: PostgresCluster) -> None:
    from crowdsafe.store.postgres import PostgresStore
    from tests.test_store_contract import sample

    dsn = fresh_database(pg_cluster)
    store = PostgresStore(dsn)
    try:
        store.write_samples([sample("site-zone", 100.0)])
    finally:
        store.close()
    r = bench_store("--backend", "postgresql", "--dsn", dsn, "--seconds", "0.2")
    assert r.returncode != 0
    assert "needs an empty database" in r.stderr


def test_bench_store_on_postgresql_needs_a_dsn() -> None:
    r = bench_store("--backend", "postgresql", "--seconds", "0.2")
    assert r.returncode != 0
    assert "needs --dsn DSN" in r.stderr
