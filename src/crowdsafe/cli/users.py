"""``crowdsafe users add|remove|list|passwd CONFIG ...``: the dashboard's users.

Users live in the config's auth store (``auth.path``), never in the YAML.  A password is
asked for twice on the terminal (getpass), or read as one line from stdin with
``--password-stdin`` for scripts; never taken from the command line, where it would land
in the shell history and in every process listing.  Each change is audited as
``cli:<operating-system user>``; a password change or removal ends the user's sessions.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from crowdsafe.cli._common import Subcommands
from crowdsafe.errors import UsageError

__all__ = ["ROLES", "read_password", "register"]

ROLES = ("viewer", "operator", "admin")


def register(users: Subcommands) -> None:
    add = users.add_parser("add", help="add a dashboard user with a role")
    _common(add)
    add.add_argument(
        "--role",
        choices=ROLES,
        required=True,
        help="viewer: the numbers; operator: plus "
        "live view, snapshots, acknowledge/resolve; admin: plus audit trail and users",
    )
    _password_option(add)
    add.set_defaults(handler=_add)
    remove = users.add_parser("remove", help="remove a user (ends their sessions)")
    _common(remove)
    remove.set_defaults(handler=_remove)
    listing = users.add_parser("list", help="list the users and their roles")
    listing.add_argument("config", help="YAML config file (its auth store)")
    listing.set_defaults(handler=_list)
    passwd = users.add_parser("passwd", help="change a user's password (ends their sessions)")
    _common(passwd)
    _password_option(passwd)
    passwd.set_defaults(handler=_passwd)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="YAML config file (its auth store)")
    p.add_argument("name", help="user name (letters, digits, . _ @ -)")


def _password_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password as one line from stdin (scripts) instead of asking",
    )


def read_password(from_stdin: bool) -> str:
    """The new password, from one stdin line or asked twice on the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password on; pass --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ; nothing changed")
    return first


def _check_name(name: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", name):
        raise UsageError(f"user name '{name}': use 1 to 64 letters, digits, '.', '_', '@' or '-'")
    return name


def _add(args: argparse.Namespace) -> int:
    from crowdsafe.auth import Role
    from crowdsafe.cli._exposure import cli_actor, config_auth_store

    name = _check_name(args.name)
    password = read_password(args.password_stdin)
    with config_auth_store(args.config) as store:
        store.add_user(name, Role(args.role), password, actor=cli_actor())
    print(f"user '{name}' added as {args.role}")
    return 0


def _remove(args: argparse.Namespace) -> int:
    from crowdsafe.cli._exposure import cli_actor, config_auth_store

    with config_auth_store(args.config) as store:
        store.remove_user(args.name, actor=cli_actor())
    print(f"user '{args.name}' removed")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    from crowdsafe.cli._exposure import cli_actor, config_auth_store

    with config_auth_store(args.config) as store:
        store.set_password(args.name, read_password(args.password_stdin), actor=cli_actor())
    print(f"password of '{args.name}' changed; their sessions are ended")
    return 0


def _list(args: argparse.Namespace) -> int:
    import time

    from crowdsafe.cli._exposure import config_auth_store

    with config_auth_store(args.config) as store:
        users = store.users()
    for u in users:
        changed = time.strftime("%Y-%m-%d %H:%M", time.localtime(u.changed_at))
        print(f"{u.name}\t{u.role.value}\tpassword set {changed}")
    if not users:
        print("no users", file=sys.stderr)
    return 0
