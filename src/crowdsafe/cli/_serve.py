"""Serving a config: the runtime, the dashboard and the live status line of ``demo`` and ``run``.

The port is bound before anything else, so a port in use or a bad host is a one-line
error with exit status 2 before a model is loaded, and the dashboard's address is
printed only once it is ours (``_listen.py``).  SIGINT (Ctrl-C) and SIGTERM (systemd,
containers) are how crowdsafe is stopped, so both are a clean exit with status 0 after
the runtime is closed: open zone and line buckets stored, alert queues drained for a
bounded time, the store closed.  The runtime is closed whatever ends the server.
Status 1 means the server never started for another reason (its start-up failed).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from crowdsafe.cli._exposure import Exposure
    from crowdsafe.config import CrowdsafeConfig
    from crowdsafe.site import Site

    class ServedSite(Site, Protocol):
        """What :func:`serve` runs: a runtime, or an API server's FleetSite."""

        store_path: str
        """Where its zone samples are, as the start-up line names it."""

        def start(self) -> object: ...

        def status_line(self) -> str: ...

        def close(self) -> None: ...


__all__ = ["SHUTDOWN_GRACE_S", "add_serve_options", "serve"]

# How long a stop waits for open requests.  The dashboard keeps a live-feed stream open
# for as long as it is shown: a stop ends those streams (LiveFeed.close), and this bound
# cuts whatever request is still open after it, so a Ctrl-C never waits for a browser.
SHUTDOWN_GRACE_S = 2


def add_serve_options(parser: argparse.ArgumentParser, default_port: int | None) -> None:
    """``--host``, ``--port`` and ``--quiet``; without ``default_port`` both come from
    the config unless given."""
    parser.add_argument(
        "--host",
        default=None if default_port is None else "127.0.0.1",
        help="address to listen on (default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=default_port,
        help=f"TCP port, 1-65535 (default {default_port or 'from the config'}); a port "
        "that cannot be listened on (in use, say) exits with status 2",
    )
    parser.add_argument("--quiet", action="store_true", help="no live status line")


def serve(
    config: CrowdsafeConfig,
    host: str,
    port: int,
    quiet: bool,
    exposed: Callable[[], Exposure] | None = None,
    make_site: Callable[[CrowdsafeConfig], ServedSite] | None = None,
) -> int:
    """Run the config's cameras with the dashboard on ``host:port`` until stopped, behind
    the logins of the exposure ``exposed()`` makes once the port is ours (default:
    ``crowdsafe run``'s, :mod:`crowdsafe.cli._exposure`).  ``make_site``: what serves
    the config (default its cameras' :class:`~crowdsafe.runtime.Runtime`).

    Raises UsageError (exit 2) when ``host:port`` cannot be listened on, or when the API
    would be open off loopback, before any camera is opened.  Returns 0 after a
    stop by SIGINT or SIGTERM (see ``_listen.py``)."""
    import uvicorn

    from crowdsafe.api.app import create_app
    from crowdsafe.cli._exposure import expose
    from crowdsafe.cli._listen import StopSignals, listen, server_class, url_host
    from crowdsafe.runtime import Runtime

    with StopSignals() as signals:
        sockets = listen(host, port)  # first: a port in use costs no model load
        try:
            # Then refuse an open API off loopback, before any camera or model is opened.
            exposure = exposed() if exposed else expose(config, host)
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        try:
            runtime = (make_site or Runtime)(config)
        except BaseException:
            for sock in sockets:
                sock.close()
            exposure.close()
            raise
        app = create_app(runtime, exposure.auth, config.server.host_names(host))
        server = server_class()(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
                **exposure.uvicorn_options,
            )
        )
        signals.forward_to(server.handle_exit)
        runtime.start()
        url = f"{exposure.scheme}://{url_host(host)}:{port}/{exposure.login_query}"
        print(f"crowdsafe: dashboard at {url}  (Ctrl-C to stop)", flush=True)
        for note in exposure.notes:
            print(f"crowdsafe: {note}", flush=True)
        print(f"crowdsafe: zone samples in {runtime.store_path}", flush=True)
        done = threading.Event()

        def status() -> None:
            tty = sys.stdout.isatty()
            last_print = 0.0
            while not done.wait(0.5):
                if server.should_exit:  # Ctrl-C or SIGTERM: end the dashboards' live streams
                    runtime.feed.close()
                if quiet:
                    continue
                line = runtime.status_line()
                if tty:
                    width = shutil.get_terminal_size((120, 20)).columns
                    sys.stdout.write("\r" + line[: width - 1].ljust(width - 1))
                    sys.stdout.flush()
                elif time.monotonic() - last_print >= 5.0:
                    last_print = time.monotonic()
                    print(line, flush=True)

        ticker = threading.Thread(target=status, name="status", daemon=True)
        ticker.start()
        try:
            server.run(sockets=sockets)
        finally:
            done.set()
            runtime.close()  # flushes open buckets, drains alert queues, closes the store
            exposure.close()
            if sys.stdout.isatty():
                sys.stdout.write("\n")
            print("crowdsafe: stopped", flush=True)
    if not server.started and not signals.stop_requested.is_set():
        print(f"crowdsafe: could not serve on {url_host(host)}:{port}", file=sys.stderr)
        return 1
    return 0
