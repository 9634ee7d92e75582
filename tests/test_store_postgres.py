"""The PostgreSQL backend's own promises, on a real server: the config section picks it,
errors name the server and never the password, the schema is made once however many
servers start together, and a restart of the server is survived without reopening.
(What every backend promises is in ``tests/test_store_contract.py``.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from crowdsafe.assembly import build_store
from crowdsafe.assembly.factories import store_location
from crowdsafe.config import PostgresStorageConfig, parse_config
from crowdsafe.errors import ConfigError, StoreError
from tests.servers.postgres import PostgresCluster, free_port
from tests.test_store_contract import fresh_database, sample

psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (the dev extra has it)")

from crowdsafe.store.migrations import POSTGRESQL_HEAD  # noqa: E402
from crowdsafe.store.postgres import PostgresStore, describe_dsn  # noqa: E402


def test_the_storage_section_picks_postgresql_and_hides_the_password(
    config_text: str, tmp_path: Path, pg_cluster: PostgresCluster
) -> None:
    dsn = fresh_database(pg_cluster).replace("postgres@", "postgres:s3cret@")
    block = f"storage:\n  backend: postgresql\n  dsn: '{dsn}'\n  pool_max: 2\n"
    text = config_text.split("storage:")[0] + block
    config = parse_config(text, base_dir=tmp_path)
    assert isinstance(config.storage, PostgresStorageConfig)
    assert (config.storage.pool_max, config.storage.connect_timeout_s) == (2, 10.0)
    assert config.auth_store_path() == tmp_path / "auth.db"  # no SQLite file to sit beside
    where = store_location(config)
    assert where == f"postgresql://127.0.0.1:{pg_cluster.port}/{dsn.rsplit('/', 1)[1]}"
    store = build_store(config)  # trust auth ignores the password
    try:
        assert isinstance(store, PostgresStore)
        store.write_samples([sample("a", 1.0)])
        assert store.series("a") == [sample("a", 1.0)]
    finally:
        store.close()
    with pytest.raises(ConfigError, match=r"storage\.dsn: required key is missing"):
        parse_config(config_text.split("storage:")[0] + "storage:\n  backend: postgresql\n")
    with pytest.raises(ConfigError, match=r"storage\.pool_max: Input should be less than"):
        parse_config(text.replace("pool_max: 2", "pool_max: 1000"))


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:pw@db.example:6543/city", "postgresql://db.example:6543/city"),
        ("host=10.0.0.5 dbname=city user=u password=pw", "postgresql://10.0.0.5:5432/city"),
        ("postgresql:///city", "postgresql://localhost:5432/city"),
    ],
)
def test_describe_dsn_names_the_server_never_the_password(dsn: str, expected: str) -> None:
    assert describe_dsn(dsn) == expected
    with pytest.raises(StoreError, match="not a PostgreSQL connection string"):
        describe_dsn("host=db port")


def test_an_unreachable_server_is_a_clear_error() -> None:
    closed = free_port()  # nothing listens there
    dsn = f"postgresql://u:hunter2@127.0.0.1:{closed}/no_such_db"
    with pytest.raises(StoreError, match="cannot open PostgreSQL database") as caught:
        PostgresStore(dsn, connect_timeout_s=2.0)
    assert f"127.0.0.1:{closed}/no_such_db" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_newer_schema_is_refused(pg_cluster: PostgresCluster) -> None:
    dsn = fresh_database(pg_cluster)
    PostgresStore(dsn).close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(
        StoreError,
        match=f"revision 9999, which this crowdsafe does not know \\(it reads up to "
        f"{POSTGRESQL_HEAD}\\)",
    ):
        PostgresStore(dsn)


def test_servers_starting_together_make_the_schema_once(pg_cluster: PostgresCluster) -> None:
    dsn = fresh_database(pg_cluster)
    opened: list[PostgresStore] = []
    failed: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(PostgresStore(dsn, pool_max=1))
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert failed == [] and len(opened) == 4
        opened[0].write_samples([sample("a", 1.0)])
        assert opened[3].series("a") == [sample("a", 1.0)]
    finally:
        for s in opened:
            s.close()


def test_a_restarted_server_is_reconnected_without_reopening(pg_cluster: PostgresCluster) -> None:
    store = PostgresStore(fresh_database(pg_cluster), pool_max=2, connect_timeout_s=3.0)
    try:
        store.write_samples([sample("a", 1.0)])
        pg_cluster.stop()
        try:
            with pytest.raises(StoreError, match=r"cannot (write to|read) PostgreSQL"):
                store.write_samples([sample("a", 2.0)])
        finally:
            pg_cluster.start()
        # The pool replaces its broken connections: the same store writes again.  Its
        # reconnection backs off while the server is down, so on a loaded machine the
        # first attempts after the restart may still time out: retry for a while (the
        # write queue in front of a running site retries the same way).
        deadline = time.monotonic() + 60.0
        while True:
            try:
                store.write_samples([sample("a", 3.0)])
                break
            except StoreError:
                assert time.monotonic() < deadline, "the store never reconnected"
                time.sleep(0.5)
        assert [s.t for s in store.series("a")] == [1.0, 3.0]
    finally:
        store.close()
