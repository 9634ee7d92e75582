"""`crowdsafe demo` end to end: the real command, the real model, the bundled video."""

from __future__ import annotations

import json
import os
import re
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


def login_url(proc: subprocess.Popen[str], lines: list[str]) -> str:
    """The one-time login URL the demo prints with its address (read from its stdout)."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
        found = re.search(r"dashboard at (\S+)", line)
        if found:
            return found.group(1)


def logged_in(proc: subprocess.Popen[str], base: str, lines: list[str]) -> httpx.Client:
    """A client logged in through the demo's printed link, which works only once."""
    url = login_url(proc, lines)
    assert url.startswith(base + "/?token=")
    wait_serving(proc, base)
    assert httpx.get(base + "/api/zones").status_code == 401  # not an open API
    client = httpx.Client(base_url=base, timeout=30)
    r = client.get(url)
    assert r.status_code == 303 and r.headers["location"] == "/"
    me = client.get("/api/session").json()
    assert (me["user"], me["role"], me["via"]) == ("demo", "admin", "session")
    assert httpx.get(url).status_code == 401  # spent
    return client


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
    lines: list[str] = []
    try:
        api = logged_in(proc, base, lines)

        assert httpx.get(base + "/healthz").json()["site"] == "Demo campus"
        assert '<canvas id="chart"' in api.get("/").text
        zones = {z["id"]: z for z in api.get("/api/zones").json()}
        assert set(zones) == {"west-path", "east-plaza", "lawn"}

        # the live feed: samples for every zone, and the numbers change as the video plays
        samples: list[dict[str, float | str]] = []
        with api.stream("GET", "/api/live", timeout=30) as r:
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
        series = api.get("/api/zones/west-path/series").json()["samples"]
        assert len(series) >= 5
        assert all(s["frames"] >= 5 for s in series[1:-1])  # analysed at ~10 fps
        assert all(s["los"] in "ABCDEF" for s in series)
        api.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    out = "".join(lines) + out
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
    lines: list[str] = []

    def watch(api: httpx.Client) -> None:  # a dashboard: reads the stream while it lasts
        try:
            with api.stream("GET", "/api/live", timeout=60) as r:
                for _ in r.iter_lines():
                    reading.set()
        except httpx.HTTPError:
            pass

    try:
        api = logged_in(proc, base, lines)
        threading.Thread(target=watch, args=(api,), daemon=True).start()
        assert reading.wait(15), "the live feed sent nothing"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
        api.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "crowdsafe: stopped" in out
    assert "Traceback" not in out, out
