"""A throw-away PostgreSQL server with default durability (fsync, synchronous commit and
full-page writes on), for figures: ``python tools/durable_pg.py -- COMMAND ...`` runs
COMMAND with ``$DSN`` set to a fresh database on it, then removes the server.

The test fixture's server (tests/servers/postgres.py) turns durability off to spare the
shared disk; benchmarks must not, or their write rates would be ones no site gets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.postgres import PostgresCluster, find_bindir


class Durable(PostgresCluster):
    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    bindir = find_bindir()
    if bindir is None or not args:
        print("usage: tools/durable_pg.py -- COMMAND ... (needs PostgreSQL's binaries)")
        return 2
    server = Durable(bindir)
    # a timeout's SIGTERM still stops and removes the server (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        import psycopg

        with psycopg.connect(server.dsn("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE sim")
        env = {**os.environ, "DSN": server.dsn("sim")}
        return subprocess.run(args, env=env, check=False).returncode
    finally:
        server.close()


if __name__ == "__main__":
    raise SystemExit(main())
