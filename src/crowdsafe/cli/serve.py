"""``crowdsafe serve CONFIG``: an API server over a fleet's shared store, with no cameras.

It serves the dashboard and the API of the config's cameras, which the fleet's workers
analyse (``crowdsafe run CONFIG --ray ADDRESS``), from the shared PostgreSQL store
(:mod:`crowdsafe.apiserver`).  Any number of them run behind a reverse proxy; each
needs the same config and the same auth store (``auth.path`` on a path they share,
docs/deployment.md).  Logins as for ``crowdsafe run`` (``cli/_exposure.py``).
"""

from __future__ import annotations

import argparse

from crowdsafe.cli._common import Subcommands
from crowdsafe.cli._serve import add_serve_options, serve

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    p = commands.add_parser(
        "serve", help="serve the API and dashboard of a fleet from its shared store"
    )
    p.add_argument("config", help="YAML config file (storage.backend: postgresql)")
    add_serve_options(p, None)
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve without any login (a closed lab network only; logged loudly)",
    )
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from crowdsafe.apiserver.site import FleetSite, postgres_section
    from crowdsafe.cli._exposure import expose
    from crowdsafe.config import load_config

    config = load_config(args.config)
    postgres_section(config)  # before the port is taken: a clear config error
    host = config.server.host if args.host is None else args.host
    port = config.server.port if args.port is None else args.port
    return serve(
        config,
        host,
        port,
        args.quiet,
        lambda: expose(config, host, args.insecure_no_auth),
        make_site=FleetSite,  # serve() starts it (a second start() raised)
    )
