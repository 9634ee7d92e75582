"""``crowdsafe demo``: the bundled sample video and config, with the live dashboard.

Everything the demo writes (its database, its snapshots) goes beside the database it is
given, or into a temporary folder removed on exit, never into the installed package.
The demo is not an open API either: it prints a one-time admin login link with its URL
(``cli/_exposure.py``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from crowdsafe.cli._common import Subcommands, demo_config_path
from crowdsafe.cli._serve import add_serve_options, serve

__all__ = ["register"]


def register(commands: Subcommands) -> None:
    demo = commands.add_parser("demo", help="run the bundled sample video with a live dashboard")
    add_serve_options(demo, 8080)
    demo.add_argument("--db", help="keep the samples in this SQLite file (default: temporary)")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from crowdsafe.cli._exposure import expose_demo
    from crowdsafe.config import load_config
    from crowdsafe.config.storage import scratch_sqlite

    config = load_config(demo_config_path())
    tmp = None
    if args.db:
        db = Path(args.db).resolve()
    else:
        tmp = tempfile.mkdtemp(prefix="crowdsafe-demo-")
        db = Path(tmp) / "demo.db"
    config = config.model_copy(
        update={
            "storage": scratch_sqlite(config.storage, str(db)),
            "privacy": config.privacy.model_copy(
                update={"snapshot_dir": str(db.parent / "snapshots")}
            ),
        }
    )
    try:
        return serve(config, args.host, args.port, args.quiet, lambda: expose_demo(config))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
