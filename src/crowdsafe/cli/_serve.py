"""Serving a config: the runtime, the dashboard and the live status line of ``demo`` and ``run``.

A Ctrl-C (or SIGTERM) is how an operator stops crowdsafe, so it is a clean exit with
status 0; the runtime is closed whatever ends the server, so readers and the store are
never left open. Status 1 means the server never started (the port is taken, say): a
runtime failure, not bad input.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crowdsafe.cli._exposure import Exposure
    from crowdsafe.config import CrowdsafeConfig

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
        help=f"port (default {default_port or 'from the config'})",
    )
    parser.add_argument("--quiet", action="store_true", help="no live status line")


def serve(
    config: CrowdsafeConfig, host: str, port: int, quiet: bool, exposure: Exposure | None = None
) -> int:
    """Run the config's cameras with the dashboard on ``host:port`` until stopped, behind
    ``exposure``'s logins (default: ``crowdsafe run``'s, :mod:`crowdsafe.cli._exposure`)."""
    import uvicorn

    from crowdsafe.api.app import create_app
    from crowdsafe.cli._exposure import expose
    from crowdsafe.runtime import Runtime

    exposure = exposure or expose(config, host)  # refuses an open API before anything runs
    runtime = Runtime(config)
    app = create_app(runtime, exposure.auth, config.server.host_names(host))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            **exposure.uvicorn_options,
        )
    )
    runtime.start()
    url = f"{exposure.scheme}://{host}:{port}/{exposure.login_query}"
    print(f"crowdsafe: dashboard at {url}  (Ctrl-C to stop)", flush=True)
    for note in exposure.notes:
        print(f"crowdsafe: {note}", flush=True)
    print(f"crowdsafe: storing zone samples in {runtime.store_path}", flush=True)
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
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal;
        # a Ctrl-C is how an operator stops crowdsafe, so it is a clean exit here.
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        done.set()
        runtime.close()
        exposure.close()
        if sys.stdout.isatty():
            sys.stdout.write("\n")
        print("crowdsafe: stopped", flush=True)
    if not server.started:
        print(f"crowdsafe: could not serve on {host}:{port} (is the port in use?)", file=sys.stderr)
        return 1
    return 0
