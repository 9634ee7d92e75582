"""The crowd of live-view clients of ``crowdsafe bench live``, in a child process.

Real viewers run on other machines: here they run in a child process (started with
``spawn``, never a fork of a process that holds ONNX Runtime's threads), so that their
own Python never takes the server's GIL.  They still share the machine's cores.  Each
client polls one URL back to back on one asyncio event loop; with ``backoff`` a 429 or
503 is honoured as its ``Retry-After`` asks, as a well-behaved client does, and without
it the client asks again at once, as a hostile one would.  This module imports nothing
heavy, so the child starts fast.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from multiprocessing.connection import Connection

import httpx

__all__ = ["ClientCrowd", "request_headers"]


def request_headers(token: str | None) -> dict[str, str]:
    """The headers of every benchmark request: the one place a credential is added."""
    return {} if token is None else {"Authorization": f"Bearer {token}"}


async def _client(
    http: httpx.AsyncClient, url: str, end: float, backoff: bool, out: dict[str, list[float]]
) -> None:
    while time.monotonic() < end:
        t0 = time.perf_counter()
        try:
            r = await http.get(url)
        except httpx.HTTPError:
            out.setdefault("error", []).append(1000.0 * (time.perf_counter() - t0))
            await asyncio.sleep(0.1)  # a refused connection is not retried in a tight loop
            continue
        out.setdefault(str(r.status_code), []).append(1000.0 * (time.perf_counter() - t0))
        if backoff and r.status_code in (429, 503):
            retry_s = float(r.headers.get("retry-after", "1"))
            await asyncio.sleep(min(retry_s, max(end - time.monotonic(), 0.0)))


async def _poll(
    url: str, clients: int, duration_s: float, token: str | None, backoff: bool, conn: Connection
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        headers=request_headers(token), limits=limits, timeout=60.0
    ) as http:
        conn.send("ready")
        end = time.monotonic() + duration_s
        await asyncio.gather(*(_client(http, url, end, backoff, out) for _ in range(clients)))
    return out


def _main(
    url: str, clients: int, duration_s: float, token: str | None, backoff: bool, conn: Connection
) -> None:
    conn.send(asyncio.run(_poll(url, clients, duration_s, token, backoff, conn)))
    conn.close()


class ClientCrowd:
    """``clients`` clients polling ``url`` for ``duration_s`` seconds in a child process.

    :meth:`start` returns once they are about to send their first requests;
    :meth:`results` waits for the end and gives ``{status or "error": latencies in
    ms}``."""

    def __init__(
        self, url: str, clients: int, duration_s: float, *, token: str | None, backoff: bool
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, theirs = ctx.Pipe()
        self._process = ctx.Process(
            target=_main,
            args=(url, clients, duration_s, token, backoff, theirs),
            name="bench-live-clients",
            daemon=True,
        )
        self.duration_s = duration_s

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the child; RuntimeError if its clients are not ready in ``timeout_s``."""
        self._process.start()
        if not self._conn.poll(timeout_s) or self._conn.recv() != "ready":
            self._process.kill()
            raise RuntimeError("the benchmark's clients did not start")

    def results(self) -> dict[str, list[float]]:
        """Latencies by status once the clients are done; RuntimeError if they never end."""
        if not self._conn.poll(self.duration_s + 120.0):
            self._process.kill()
            raise RuntimeError("the benchmark's clients did not report")
        out: dict[str, list[float]] = self._conn.recv()
        self._process.join(30.0)
        return out
