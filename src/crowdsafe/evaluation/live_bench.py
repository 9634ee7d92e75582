"""``crowdsafe bench live``: can a crowd of live-view clients slow the analysis?

One run, on the demo's config served in this process by a real uvicorn server on
127.0.0.1, in four phases:

1. warm-up: the cameras start and one client fetches a live image every 0.5 s, as one
   open dashboard would; nothing is measured (the face model's first runs allocate
   its memory, about 120 MB, once: "before" is the memory of a site in use);
2. unloaded: the analysed frames/s with no client at all;
3. loaded: ``clients`` clients poll ``/api/cameras/{id}/live.jpg`` back to back for
   ``duration_s``; a 429 is honoured as its ``Retry-After`` asks (unless
   ``backoff=False``: clients that ignore it, as a hostile one would);
4. after: the analysed rate and memory once the clients have gone.

The clients run in a child process, as real viewers run on other machines, so that
their own Python does not take the server's GIL; they still share this machine's
cores, which makes the test harder, not easier.  The ratio compares phases of one run
seconds apart, so a neighbour's load on a shared machine mostly cancels; each phase's
rate is its analysed frames over its wall time, and the median of its 1-s rates is
given beside it.  Memory is this process's resident set (``/proc/self/statm``), sampled
every 0.5 s.  Progress goes to ``log`` (stderr in the CLI); the figures are returned.
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import numpy.typing as npt

from crowdsafe.evaluation.live_clients import ClientCrowd, request_headers
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.types import Detections

if TYPE_CHECKING:
    from crowdsafe.config import CrowdsafeConfig
    from crowdsafe.runtime import Runtime

__all__ = ["run_live_bench"]

_SAMPLE_S = 0.5


def _rss_mb() -> float | None:
    """This process's resident memory in MiB; None where /proc is not there."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class _CountingAnonymiser(Anonymiser):
    """The site's anonymiser, counting its calls: how many live images were made."""

    def __init__(self, inner: Anonymiser) -> None:
        super().__init__(
            inner.faces,
            head_fraction=inner.head_fraction,
            block_px=inner.block_px,
            face_margin=inner.face_margin,
        )
        self._lock = threading.Lock()
        self.calls = 0

    def anonymise(self, image: npt.NDArray[np.uint8], people: Detections) -> npt.NDArray[np.uint8]:
        with self._lock:
            self.calls += 1
        return super().anonymise(image, people)


class _Meter:
    """Analysed frames, CPU time and memory of the runtime, sampled while a phase runs."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def frames(self) -> int:
        return sum(c.health.snapshot().frames_analysed for c in self.runtime.cameras.values())

    def phase(
        self, seconds: float, log: Callable[[str], None] | None, label: str
    ) -> dict[str, float]:
        """Sample for ``seconds``: fps over the phase, median 1-s fps, CPU cores, peak RSS."""
        f0, c0, w0 = self.frames(), time.process_time(), time.perf_counter()
        window: list[tuple[float, int]] = [(w0, f0)]
        per_s: list[float] = []
        peak = _rss_mb() or 0.0
        next_log = w0 + 10.0
        while (now := time.perf_counter()) < w0 + seconds:
            time.sleep(min(_SAMPLE_S, w0 + seconds - now))
            now, frames = time.perf_counter(), self.frames()
            peak = max(peak, _rss_mb() or 0.0)
            if now - window[0][0] >= 1.0:
                per_s.append((frames - window[0][1]) / (now - window[0][0]))
                window = [(now, frames)]
            if log is not None and now >= next_log:
                next_log += 10.0
                log(f"{label}: {now - w0:.0f} s, {(frames - f0) / (now - w0):.2f} fps")
        wall = time.perf_counter() - w0
        return {
            "fps": (self.frames() - f0) / wall,
            "fps_median_1s": statistics.median(per_s) if per_s else 0.0,
            "cpu_cores": (time.process_time() - c0) / wall,
            "rss_peak_mb": peak,
            "rss_end_mb": _rss_mb() or 0.0,
        }


def _serve(runtime: Runtime) -> tuple[str, str, Callable[[], None]]:
    """Serve ``runtime`` on a free port of 127.0.0.1, bound before anything asks;
    (base URL, an operator's bearer token for it, stop).  The app's auth store is its
    own, in memory: the token opens this benchmark's server and nothing else."""
    import uvicorn

    from crowdsafe.api.app import create_app
    from crowdsafe.auth import Role

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    app = create_app(runtime)
    token = app.state.auth.store.add_token("bench-live", Role.OPERATOR, actor="bench")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30.0
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the benchmark's server did not start")
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(10.0)
        sock.close()

    return f"http://127.0.0.1:{port}", token, stop


def _warm_up(url: str, headers: dict[str, str], seconds: float) -> None:
    """One client fetching the live view every 0.5 s for ``seconds`` (at least once)."""
    end = time.monotonic() + seconds
    with httpx.Client(headers=headers, timeout=60.0) as http:
        while True:
            r = http.get(url)
            if r.status_code != 200:
                raise RuntimeError(f"GET {url} answered {r.status_code}: {r.text[:200]}")
            if time.monotonic() >= end:
                return
            time.sleep(_SAMPLE_S)


def _latency(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    a = np.asarray(values)
    return {
        "p50": round(float(np.percentile(a, 50)), 1),
        "p95": round(float(np.percentile(a, 95)), 1),
        "max": round(float(a.max()), 1),
    }


def _mb(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run_live_bench(
    config: CrowdsafeConfig,
    *,
    clients: int = 40,
    duration_s: float = 60.0,
    unloaded_s: float = 20.0,
    after_s: float = 10.0,
    warmup_s: float = 10.0,
    backoff: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Analysed fps unloaded, under ``clients`` live-view pollers, and after; memory,
    requests served and refused, latency.  ``config``'s storage and snapshots are
    redirected to a temporary folder; its first camera is polled.  Raises ValueError
    for a count or duration that is not positive."""
    from crowdsafe.assembly import build_anonymiser
    from crowdsafe.config.storage import scratch_sqlite
    from crowdsafe.runtime import Runtime

    if clients < 1 or not min(duration_s, unloaded_s, after_s) > 0 or not warmup_s >= 0:
        raise ValueError(
            f"clients, duration, unloaded and after must be positive, got {clients}, "
            f"{duration_s}, {unloaded_s}, {after_s} (warm-up {warmup_s})"
        )
    say = log or (lambda _: None)
    camera = config.cameras[0].id
    with tempfile.TemporaryDirectory(prefix="crowdsafe-bench-live-") as tmp:
        config = config.model_copy(
            update={
                "storage": scratch_sqlite(config.storage, str(Path(tmp) / "b.db")),
                "privacy": config.privacy.model_copy(
                    update={"snapshot_dir": str(Path(tmp) / "snapshots")}
                ),
            }
        )
        anonymiser = _CountingAnonymiser(build_anonymiser(config))
        runtime = Runtime(config, anonymiser=anonymiser)
        meter = _Meter(runtime)
        base, token, stop = _serve(runtime)
        url = f"{base}/api/cameras/{camera}/live.jpg"
        headers = request_headers(token)
        try:
            runtime.start()
            deadline = time.monotonic() + 60.0
            while runtime.cameras[camera].last_view is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"camera '{camera}' analysed no frame within 60 s")
                time.sleep(0.1)
            say(f"serving {base}; warming up {warmup_s:g} s with one client")
            _warm_up(url, headers, warmup_s)
            rss_before = _rss_mb()
            say(f"unloaded: {unloaded_s:g} s")
            unloaded = meter.phase(unloaded_s, log, "unloaded")
            say(f"unloaded: {unloaded['fps']:.2f} fps; {clients} clients for {duration_s:g} s")

            crowd = ClientCrowd(url, clients, duration_s, token=token, backoff=backoff)
            crowd.start()
            made0 = anonymiser.calls
            loaded = meter.phase(duration_s, log, f"{clients} clients")
            made = anonymiser.calls - made0
            results = crowd.results()
            say(f"loaded: {loaded['fps']:.2f} fps; after: {after_s:g} s")
            after = meter.phase(after_s, log, "after")
            rss_after = _rss_mb()
        finally:
            stop()
            runtime.close()
    statuses = Counter({k: len(v) for k, v in results.items()})
    served = results.get("200", [])
    everything = [ms for v in results.values() for ms in v]
    limits = config.live_view_limits
    return {
        "clients": clients,
        "duration_s": duration_s,
        "camera": camera,
        "backoff": backoff,
        "unloaded_fps": round(unloaded["fps"], 2),
        "loaded_fps": round(loaded["fps"], 2),
        "after_fps": round(after["fps"], 2),
        "ratio": round(loaded["fps"] / unloaded["fps"], 3) if unloaded["fps"] else None,
        "unloaded_fps_median_1s": round(unloaded["fps_median_1s"], 2),
        "loaded_fps_median_1s": round(loaded["fps_median_1s"], 2),
        "rss_mb": {
            "before": _mb(rss_before),
            "unloaded_end": _mb(unloaded["rss_end_mb"]),
            "peak": _mb(max(loaded["rss_peak_mb"], after["rss_peak_mb"])),
            "after": _mb(rss_after),
        },
        "rss_growth_mb": _mb(max(loaded["rss_peak_mb"], after["rss_peak_mb"]) - (rss_before or 0)),
        "rss_kept_mb": _mb((rss_after or 0) - (rss_before or 0)),
        "requests": sum(statuses.values()),
        "served": statuses.get("200", 0),
        "too_many_requests": statuses.get("429", 0),
        "unavailable": statuses.get("503", 0),
        "transport_errors": statuses.get("error", 0),
        "other_statuses": {
            k: n for k, n in statuses.items() if k not in ("200", "429", "503", "error")
        },
        "served_per_s": round(len(served) / duration_s, 1),
        "latency_ms": _latency(served),
        "latency_all_ms": _latency(everything),
        "images_made": made,
        "images_made_per_s": round(made / duration_s, 2),
        "cpu_cores": {
            "unloaded": round(unloaded["cpu_cores"], 2),
            "loaded": round(loaded["cpu_cores"], 2),
            "after": round(after["cpu_cores"], 2),
        },
        "live_view_limits": limits.model_dump(),
        "cpu_count": os.cpu_count(),
    }
