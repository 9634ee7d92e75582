"""The listening socket and the stop signals of ``crowdsafe demo`` and ``crowdsafe run``.

Two rules, and why:

* **Bind first, then announce.**  The socket is bound here, before the runtime loads its
  models and before the dashboard's address is printed; uvicorn is handed the bound
  socket.  Left to uvicorn, the bind happened after the address was printed, so a port
  in use printed the URL of *another* program, then a traceback-like ``[Errno 98]``.
  Here a port in use, a host that is no address of this machine, or a port outside
  1..65535 is one line, raised as :class:`~crowdsafe.errors.UsageError` (exit status 2),
  before any camera is opened.
* **A stop signal is a request, not a crash.**  SIGTERM (systemd, container runtimes)
  and SIGINT (Ctrl-C) both ask the server to stop; the caller then closes the runtime
  (open buckets flushed, alert queues drained for a bounded time, store closed) and
  exits 0.  uvicorn's own handling re-raised the signal after its shutdown, which for
  SIGTERM killed the process (status 143) before anything was flushed; so its signal
  capture is turned off (:class:`Server`) and :class:`StopSignals` holds the handlers for
  the whole of serving *and* closing.  A second signal while stopping cuts the wait for
  open requests (uvicorn's ``force_exit``); closing itself is bounded and goes on.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING

from crowdsafe.errors import UsageError

if TYPE_CHECKING:
    import uvicorn

__all__ = ["StopSignals", "listen", "server_class", "url_host"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def listen(host: str, port: int) -> list[socket.socket]:
    """Listening TCP sockets for ``host:port``, one per address the host resolves to
    (``localhost`` may be both 127.0.0.1 and ::1).

    Raises UsageError, one line naming the address and the fix, when the port is out of
    range, the host does not resolve or is no address of this machine, the port is in
    use, or binding it is not permitted."""
    where = f"{url_host(host)}:{port}"
    if not 1 <= port <= 65535:
        raise UsageError(f"cannot listen on {where}: a TCP port is 1 to 65535")
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise UsageError(
            f"cannot listen on {where}: host '{host}' does not resolve ({exc.strerror})"
        ) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            # As asyncio's create_server does: a restart can bind while old connections
            # of the previous process linger in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise UsageError(f"cannot listen on {where}: {_why(exc, host, port)}") from None
    return sockets


def _why(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use by another program; stop it or choose another --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"'{host}' is not an address of this machine; use one of its own (--host)"
    if exc.errno == errno.EACCES:
        return f"not permitted to bind port {port} (ports below 1024 need privileges)"
    return exc.strerror or str(exc)


def url_host(host: str) -> str:
    """``host`` as written in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def server_class() -> type[uvicorn.Server]:
    """uvicorn's Server without its own signal capture (module docstring)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # StopSignals holds the handlers, and does not re-raise the signal

    return Server


class StopSignals:
    """SIGINT and SIGTERM as stop requests, while the ``with`` block runs.

    ``stop_requested`` is set on the first signal; each signal is also passed to the
    handler given by :meth:`forward_to` (the server's ``handle_exit``) once there is
    one, and a signal that came before is forwarded at once.  The previous handlers
    come back on exit.  Outside the main thread (where signals cannot be handled) it
    installs nothing."""

    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        self.received: list[int] = []
        self._forward: Callable[[int, FrameType | None], None] | None = None
        self._previous: dict[int, object] = {}

    def forward_to(self, handler: Callable[[int, FrameType | None], None]) -> None:
        self._forward = handler
        for sig in self.received:
            handler(sig, None)

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        self.received.append(sig)
        self.stop_requested.set()
        if self._forward is not None:
            self._forward(sig, frame)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]  # what signal() gave
        self._previous = {}
