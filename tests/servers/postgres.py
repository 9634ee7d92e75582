"""A real, throw-away PostgreSQL server for the store tests: Debian's ``postgresql``.

:class:`PostgresCluster` runs ``initdb`` in a fresh temporary folder and ``pg_ctl`` on a
free port, listening on 127.0.0.1 only with trust authentication (nothing else on the
machine can reach it, and it holds test rows only).  PostgreSQL refuses to run as root,
so when the tests run as root (CI does) the server runs as the ``postgres`` user, in a
folder it owns.  ``stop()`` and ``start()`` really stop and restart the server, for
tests of what the store does while it is down.  The session fixture ``pg_cluster``
(a pytest plugin, see ``tests/conftest.py``) skips with the reason when the binaries or
psycopg are missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PostgresCluster", "find_bindir", "free_port", "pg_cluster", "throwaway_cluster"]


def find_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: Debian keeps them out of PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """One PostgreSQL server in a temporary folder, stopped and removed by ``close()``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="crowdsafe-pg-"))
        self.data = self.root / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse root
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
            "--auth-host=trust", "--auth-local=trust", "--no-sync",
        )  # fmt: skip
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self._as, str(self.bindir / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr}{done.stdout}\n{tail}")

    def start(self) -> None:
        """Start the server (on the same port) and wait until it accepts connections."""
        # fsync off: a test server's rows need not survive a power cut, and it saves
        # the shared machine's disk; listen on loopback only, its socket in our folder.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop the server now (``-m fast``: open connections are closed)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # a test may have left it stopped
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def throwaway_cluster() -> Iterator[PostgresCluster]:
    """A started server, closed when the generator ends; skips (saying why) without the
    binaries, psycopg, or a `postgres` user to run as when the tests run as root."""
    pytest.importorskip("psycopg", reason="psycopg not installed (the dev extra has it)")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian package `postgresql`)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and no `postgres` user to run the server as")
    cluster = PostgresCluster(bindir)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A real PostgreSQL server for the whole test session (skips when there is none)."""
    yield from throwaway_cluster()
