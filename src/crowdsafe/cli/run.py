"""``crowdsafe run CONFIG``: a config's cameras with the live dashboard.

The server's address comes from the config (``server:``) unless ``--host``/``--port``
say otherwise, so a deployment's address lives in the file an operator reviews.  Off
loopback it needs a user or token to exist (``crowdsafe users add``), or
``--insecure-no-auth`` (``cli/_exposure.py``).  With ``--ray ADDRESS`` the cameras run
on a Ray cluster instead, and nothing is served here (``cli/fleet.py``).
"""

from __future__ import annotations

import argparse

from crowdsafe.cli._common import Subcommands
from crowdsafe.cli._serve import add_serve_options, serve

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    run = commands.add_parser("run", help="run the cameras of a config with a live dashboard")
    run.add_argument("config", help="YAML config file")
    add_serve_options(run, None)
    run.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve without any login (a closed lab network only; logged loudly)",
    )
    run.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the cameras on this Ray cluster (needs storage: postgresql; see "
        "`crowdsafe fleet stop`); nothing is served here",
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from crowdsafe.cli._exposure import expose
    from crowdsafe.config import load_config

    if args.ray is not None:
        from crowdsafe.cli.fleet import follow

        return follow(args.config, args.ray)
    config = load_config(args.config)
    host = config.server.host if args.host is None else args.host
    port = config.server.port if args.port is None else args.port
    return serve(
        config, host, port, args.quiet, lambda: expose(config, host, args.insecure_no_auth)
    )
