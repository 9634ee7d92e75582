"""Clean stops and what a crash may lose (issue 13, item 8), on a real ``crowdsafe run``.

Each test starts the real command on the bundled sample video, paced as a live camera,
and reads what it stored straight from its SQLite file (not through the API, which
needs a login).  Conditions are polled with generous deadlines; nothing asserts how
long anything took, so a loaded machine makes these tests slower, not flaky.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from crowdsafe.measure.lines import CHECKPOINT_S

from .conftest import CONFIG_TEMPLATE
from .test_api import free_port

LINE = (
    "    lines:\n"
    "      - id: crossing\n"
    "        points: [[250, 180], [250, 315]]\n"  # the demo's line across the path
)


def _config(tmp_path: Path, video: Path, bucket_s: float, line_bucket_s: float) -> Path:
    text = (
        CONFIG_TEMPLATE.format(video=video, db=tmp_path / "run.db")
        .replace("      realtime: false\n", "      realtime: true\n      loop: true\n")
        .replace("    calibration:\n", "    analysis_fps: 4\n    calibration:\n")
        .replace("storage:\n", LINE + "storage:\n")
    )
    text += f"  bucket_s: {bucket_s}\n  line_bucket_s: {line_bucket_s}\n"
    path = tmp_path / "crowdsafe.yaml"
    path.write_text(text)
    return path


@contextlib.contextmanager
def running(
    tmp_path: Path, config: Path, *command: str
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """``crowdsafe run CONFIG`` (or ``command``) serving on a free port, with its own
    TMPDIR; yields the process and that folder once /healthz answers.  Kills it if the
    test leaves it running."""
    port = free_port()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    args = list(command) if command else ["run", str(config)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "crowdsafe.cli", *args, "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp)},
    )
    try:
        poll(lambda: _answers(proc, port), "the server to answer /healthz")
        yield proc, tmp
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def _answers(proc: subprocess.Popen[str], port: int) -> bool:
    assert proc.poll() is None, proc.communicate()[0]
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def poll(condition: Callable[[], bool], what: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what} after {timeout_s} s"
        time.sleep(0.3)


def rows(db: Path, sql: str) -> list[tuple[float, ...]]:
    """Rows of ``sql``, on a connection closed at once: a connection left open would be
    SQLite's last one when crowdsafe closes, and keep its write-ahead log alive."""
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def stop(proc: subprocess.Popen[str], sig: int) -> str:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=90)
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stores_the_open_buckets_removes_temp_files_and_exits_0(
    tmp_path: Path, sample_video: Path, sig: int
) -> None:
    # Hour-long buckets: none closes by itself during the test, so whatever is stored for
    # the current hour after the stop was an open bucket that the stop flushed.
    config = _config(tmp_path, sample_video, bucket_s=3600, line_bucket_s=3600)
    db = tmp_path / "run.db"
    with running(tmp_path, config) as (proc, tmp):
        poll(
            lambda: bool(rows(db, "SELECT 1 FROM line_samples")),
            "the first checkpoint of the open line bucket",
        )
        (provisional,) = rows(db, "SELECT t, bucket_s FROM line_samples")
        assert provisional[1] < 3600  # a checkpoint covers the part of the hour seen so far
        assert Path(f"{db}-wal").exists()  # the temporary file a clean stop must remove
        sent_at = time.time()
        out = stop(proc, sig)
    assert proc.returncode == 0, out
    assert "crowdsafe: stopped" in out
    assert "Traceback" not in out, out
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    # ONNX Runtime keeps one file of its own in TMPDIR (.ses) for later runs; nothing of
    # crowdsafe's may be left.
    assert [p.name for p in tmp.iterdir() if p.name != ".ses"] == []

    hour = math.floor(sent_at / 3600) * 3600
    just_after_the_hour = sent_at - hour < 10  # the open buckets may be the last hour's
    zones = rows(db, "SELECT zone_id, t, frames FROM zone_samples ORDER BY zone_id")
    assert [z[0] for z in zones if z[1] == hour or just_after_the_hour] == ["left", "right"]
    assert all(z[2] > 0 for z in zones)  # each open bucket, stored with its frames
    (line,) = rows(db, "SELECT t, bucket_s FROM line_samples WHERE t = (SELECT MAX(t) FROM "
                   "line_samples)")  # fmt: skip
    assert line[1] == 3600  # the closing sample replaced the provisional checkpoint
    assert line[0] == provisional[0] or just_after_the_hour


def test_demo_removes_its_temporary_folder_on_sigterm(tmp_path: Path) -> None:
    with running(tmp_path, tmp_path, "demo") as (proc, tmp):
        (folder,) = [p for p in tmp.iterdir() if p.name.startswith("crowdsafe-demo-")]
        poll(lambda: (folder / "demo.db").exists(), "the demo's database")
        out = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, out
    assert not folder.exists(), out


def test_a_kill_loses_at_most_one_zone_bucket_and_10_s_of_flow(
    tmp_path: Path, sample_video: Path
) -> None:
    bucket_s = 5.0
    config = _config(tmp_path, sample_video, bucket_s=bucket_s, line_bucket_s=60)
    db = tmp_path / "run.db"
    with running(tmp_path, config) as (proc, _):
        poll(
            lambda: len(rows(db, "SELECT 1 FROM zone_samples WHERE zone_id = 'left'")) >= 2,
            "two zone buckets",
        )
        # Killed well inside a flow minute (frame times are wall-clock times, and flow
        # buckets start on the minute), where the open bucket holds 15 s or more, at a
        # moment unrelated to when a zone bucket closes or a checkpoint is written.
        poll(lambda: 15 <= time.time() % 60 <= 50, "a moment well inside a flow minute", 70)
        time.sleep(random.uniform(0.0, CHECKPOINT_S))
        killed_at = time.time()
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    ((first, zone_end),) = rows(db, f"SELECT MIN(t), MAX(t) + {bucket_s} FROM zone_samples")
    ((flow_end,),) = rows(db, "SELECT MAX(t + bucket_s) FROM line_samples")
    # The open zone bucket is lost (at most bucket_s), plus the frame being analysed:
    # less than two buckets in all.
    assert killed_at - zone_end < 2 * bucket_s, (killed_at, zone_end)
    # The open line bucket was checkpointed every CHECKPOINT_S s of frame time: what is
    # missing since the stored flow ends (or since analysis began) is 10 s at most.
    assert killed_at - max(flow_end or first, first) <= 10.0, (killed_at, first, flow_end)


@contextlib.contextmanager
def taken_port() -> Iterator[int]:
    """A port another program listens on."""
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--port", "{taken}"), "127.0.0.1:{taken}: the port is in use by another program"),
        (("--port", "70000"), "127.0.0.1:70000: a TCP port is 1 to 65535"),
        (("--port", "0"), "127.0.0.1:0: a TCP port is 1 to 65535"),
        (("--host", "no-such-host.invalid"), "host 'no-such-host.invalid' does not resolve"),
        # TEST-NET-1 (RFC 5737): never an address of this machine
        (("--host", "192.0.2.1"), "'192.0.2.1' is not an address of this machine"),
    ],
)
def test_a_start_that_cannot_listen_is_one_line_and_exit_2_before_any_url(
    tmp_path: Path, sample_video: Path, options: tuple[str, ...], message: str
) -> None:
    config = _config(tmp_path, sample_video, bucket_s=1, line_bucket_s=60)
    with taken_port() as taken:
        args = [o.format(taken=taken) for o in options]
        if "--port" not in args:
            args += ["--port", str(free_port())]
        r = subprocess.run(
            [sys.executable, "-m", "crowdsafe.cli", "run", str(config), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""  # no dashboard address: the port was never ours
    assert r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("crowdsafe: error: cannot listen on ")
    assert message.format(taken=taken) in r.stderr
