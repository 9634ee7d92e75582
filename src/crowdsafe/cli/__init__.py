"""The ``crowdsafe`` command: one module per command, one place for exit statuses.

Each command module (``demo``, ``run``, ``check``, ``calibrate``, ``eval_counts``,
``eval_lines``, ``eval_anonymise``, ``eval_density``, ``eval_forecast``, ``train``,
``bench``) registers its own parser next to its handler with ``register(subparsers)``;
this module only builds the tree and dispatches. Command modules import their heavy
dependencies inside their handlers, so ``crowdsafe --help`` stays instant.

:func:`main` is the one place that turns an outcome into an exit status: 0 success,
1 runtime failure (a handler returns it, e.g. a server that could not start), 2 bad
input (a :class:`~crowdsafe.errors.CrowdsafeError` such as ``UsageError`` or
``ConfigError``, or a missing file; argparse's own refusals exit 2 too), 130 after a
Ctrl-C. Handlers raise; they never print an error and pick a status themselves.
"""

from __future__ import annotations

import argparse
import logging
import sys

from crowdsafe import __version__
from crowdsafe.cli import (
    bench,
    calibrate,
    check,
    demo,
    eval_anonymise,
    eval_counts,
    eval_density,
    eval_forecast,
    eval_lines,
    run,
    train,
)
from crowdsafe.cli._common import Subcommands, demo_config_path
from crowdsafe.errors import CrowdsafeError

__all__ = ["demo_config_path", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run one ``crowdsafe`` command line; the exit status (module docstring)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except (CrowdsafeError, FileNotFoundError) as exc:
        print(f"crowdsafe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="crowdsafe",
        description="Live, anonymous crowd-safety numbers from CCTV video.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.add_argument("--version", action="version", version=f"crowdsafe {__version__}")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (demo, run, check, calibrate):
        command.register(commands)
    evaluations = _group(commands, "eval", "evaluate against annotated data")
    for evaluation in (eval_counts, eval_lines, eval_anonymise, eval_density, eval_forecast):
        evaluation.register(evaluations)
    train.register(_group(commands, "train", "train a model"))
    bench.register(commands)
    return p


def _group(commands: Subcommands, name: str, summary: str) -> Subcommands:
    """A command that only groups others (``eval WHAT``, ``train WHAT``)."""
    group = commands.add_parser(name, help=summary)
    return group.add_subparsers(dest="what", required=True, metavar="WHAT")
