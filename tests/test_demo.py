"""`crowdsafe demo` end to end: the real command, the real model, the bundled video."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from .test_api import free_port


def wait_serving(proc: subprocess.Popen[str], base: str, timeout_s: float = 60) -> None:
    """Wait until the demo in ``proc`` answers /healthz at ``base``."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"demo did not start serving within {timeout_s} s"
        time.sleep(0.3)


def test_demo_serves_a_live_dashboard_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "demo.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "crowdsafe.cli", "demo", "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_serving(proc, base)

        assert httpx.get(base + "/healthz").json()["site"] == "Demo campus"
        assert '<canvas id="chart"' in httpx.get(base + "/").text
        zones = {z["id"]: z for z in httpx.get(base + "/api/zones").json()}
        assert set(zones) == {"west-path", "east-plaza", "lawn"}

        # the live feed: samples for every zone, and the numbers change as the video plays
        samples: list[dict[str, float | str]] = []
        with httpx.stream("GET", base + "/api/live", timeout=30) as r:
            kind = None
            t_end = time.monotonic() + 12
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "sample":
                    samples.append(json.loads(line[6:]))
                if time.monotonic() > t_end and len(samples) >= 15:
                    break
        assert {s["zone_id"] for s in samples} == set(zones)
        assert len({(s["zone_id"], s["count"]) for s in samples}) > 3, samples
        assert sum(float(s["count"]) for s in samples) > 0  # people were found

        # the same numbers were stored, one per zone per second
        series = httpx.get(base + "/api/zones/west-path/series").json()["samples"]
        assert len(series) >= 5
        assert all(s["frames"] >= 5 for s in series[1:-1])  # analysed at ~10 fps
        assert all(s["los"] in "ABCDEF" for s in series)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, out
    assert f"dashboard at http://127.0.0.1:{port}/" in out
    assert "crowdsafe: stopped" in out
    assert db.is_file()
    assert db.stat().st_size > 0


def test_demo_stops_on_ctrl_c_while_a_dashboard_watches_the_live_feed(tmp_path: Path) -> None:
    """An open live-feed stream (every open dashboard reads one) must not hold a stop."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crowdsafe.cli", "demo", "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    reading = threading.Event()

    def watch() -> None:  # a dashboard: reads the stream for as long as it lasts
        try:
            with httpx.stream("GET", base + "/api/live", timeout=60) as r:
                for _ in r.iter_lines():
                    reading.set()
        except httpx.HTTPError:
            pass

    try:
        wait_serving(proc, base)
        threading.Thread(target=watch, daemon=True).start()
        assert reading.wait(15), "the live feed sent nothing"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "crowdsafe: stopped" in out
    assert "Traceback" not in out, out
