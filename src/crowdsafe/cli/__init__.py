"""The ``crowdsafe`` command: one module per command, one place for exit statuses.

Each command module (``demo``, ``run``, ``serve``, ``check``, ``calibrate``, ``eval_counts``,
``eval_lines``, ``eval_anonymise``, ``eval_density``, ``eval_forecast``, ``eval_motion``,
``eval_skip``, ``eval_twin``, ``train``, ``bench``, ``plan``, ``users``, ``tokens``, ``db``,
``fleet``) registers its own parser next to its handler with ``register(subparsers)``; this module
only builds the tree and dispatches. ``crowdsafe --help`` lists every command from the
registered parsers themselves, so the list cannot drift from what the command accepts.
Command modules import their heavy dependencies inside their handlers, so the help stays
instant.

:func:`main` is the one place that turns an outcome into an exit status: 0 success,
1 runtime failure (a handler returns it, e.g. a server that could not start), 2 bad
input (a :class:`~crowdsafe.errors.CrowdsafeError` such as ``UsageError`` or
``ConfigError``, or a missing file; argparse's own refusals exit 2 too; for ``demo`` and
``run`` also an address that cannot be listened on), 130 after a Ctrl-C of any command
but ``demo`` and ``run``, which treat SIGINT and SIGTERM as a stop and exit 0.
Handlers raise; they never print an error and pick a status themselves.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import textwrap
from collections.abc import Iterator

from crowdsafe import __version__
from crowdsafe.cli import (
    bench,
    calibrate,
    check,
    db,
    demo,
    eval_anonymise,
    eval_counts,
    eval_density,
    eval_forecast,
    eval_lines,
    eval_motion,
    eval_skip,
    eval_twin,
    fleet,
    plan,
    run,
    serve,
    tokens,
    train,
    users,
)
from crowdsafe.cli._common import Subcommands, demo_config_path
from crowdsafe.errors import CrowdsafeError

__all__ = ["demo_config_path", "main"]

_DESCRIPTION = "Live, anonymous crowd-safety numbers from CCTV video."
_NOTES = (
    "Evaluation and benchmark commands print one JSON object as their last line.\n"
    "Exit status: 0 success (demo and run: also after a stop by Ctrl-C or SIGTERM),\n"
    "1 runtime failure, 2 bad input (config, arguments, files, or an address that\n"
    "cannot be listened on: a port in use, a host not of this machine)."
)


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
        formatter_class=argparse.RawDescriptionHelpFormatter,  # keeps the command table
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    p.add_argument("--version", action="version", version=f"crowdsafe {__version__}")
    commands = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (demo, run, serve, check, calibrate):
        command.register(commands)
    evaluations = _group(commands, "eval", "evaluate against annotated data")
    for evaluation in (
        eval_counts,
        eval_lines,
        eval_anonymise,
        eval_density,
        eval_forecast,
        eval_motion,
        eval_skip,
        eval_twin,
    ):
        evaluation.register(evaluations)
    train.register(_group(commands, "train", "train a model"))
    bench.register(commands)
    plan.register(commands)
    users.register(_group(commands, "users", "manage the dashboard's users"))
    tokens.register(_group(commands, "tokens", "manage API tokens"))
    db.register(commands)
    fleet.register(commands)
    # The table replaces argparse's list of the top-level commands, which would leave out
    # those under eval and train; the usage line is argparse's own, taken before.
    p.usage = p.format_usage().removeprefix("usage: ").strip()
    commands.help = argparse.SUPPRESS
    p.description = f"{_DESCRIPTION}\n\n{_every_command(commands)}"
    p.epilog = _NOTES
    return p


def _group(commands: Subcommands, name: str, summary: str) -> Subcommands:
    """A command that only groups others (``eval WHAT``, ``train WHAT``)."""
    group = commands.add_parser(name, help=summary)
    return group.add_subparsers(dest="what", required=True, metavar="WHAT")


def _every_command(commands: Subcommands) -> str:
    """Every runnable command line with its positional arguments and its help, as a table
    as wide as argparse makes its own help."""
    width = shutil.get_terminal_size().columns - 2
    rows = list(_runnable(commands, "crowdsafe"))
    left = max(len(name) for name, _ in rows) + 2
    lines = ["commands ('crowdsafe COMMAND --help' gives a command's options):"]
    for name, text in rows:
        wrapped = textwrap.wrap(text, max(width - 2 - left, 30), break_on_hyphens=False) or [""]
        lines.append(f"  {name:<{left}}{wrapped[0]}")
        lines.extend(" " * (2 + left) + more for more in wrapped[1:])
    return "\n".join(lines)


def _runnable(commands: Subcommands, prefix: str) -> Iterator[tuple[str, str]]:
    """(``crowdsafe eval counts``-style name, help) of each command under ``commands``,
    in registration order, descending into groups."""
    # argparse keeps each command's help only on the pseudo-actions of _choices_actions,
    # and a parser's arguments only in _actions: neither has a public accessor.
    for choice in commands._choices_actions:
        parser = commands.choices[choice.dest]
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested and nested[0].required:
            yield from _runnable(nested[0], f"{prefix} {choice.dest}")
            continue
        positionals = [
            (a.metavar if isinstance(a.metavar, str) else a.dest).upper()
            for a in parser._actions
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
        ]
        yield " ".join([prefix, choice.dest, *positionals]), choice.help or ""
        if nested:  # optional modes (``bench live``) follow their command
            yield from _runnable(nested[0], f"{prefix} {choice.dest}")
