"""``crowdsafe tokens add|revoke|list CONFIG ...``: bearer API tokens for machine clients.

A token has a label (``prometheus``, ``vms-bridge``) and a role.  ``add`` prints the
token once, alone on stdout (so ``TOKEN=$(crowdsafe tokens add ...)`` works); only its
SHA-256 digest is kept, so a lost token is revoked and replaced, never shown again.
Clients send ``Authorization: Bearer <token>``; a revoked token answers 401 at once.
"""

from __future__ import annotations

import argparse
import sys

from crowdsafe.cli._common import Subcommands
from crowdsafe.cli.users import ROLES

__all__ = ["register"]


def register(tokens: Subcommands) -> None:
    add = tokens.add_parser("add", help="make an API token with a role (shown once)")
    add.add_argument("config", help="YAML config file (its auth store)")
    add.add_argument("label", help="what the token is for, e.g. prometheus")
    add.add_argument("--role", choices=ROLES, required=True, help="the token's role")
    add.set_defaults(handler=_add)
    revoke = tokens.add_parser("revoke", help="revoke the active token with a label")
    revoke.add_argument("config", help="YAML config file (its auth store)")
    revoke.add_argument("label", help="the token's label")
    revoke.set_defaults(handler=_revoke)
    listing = tokens.add_parser("list", help="list tokens: label, role, created, revoked")
    listing.add_argument("config", help="YAML config file (its auth store)")
    listing.set_defaults(handler=_list)


def _add(args: argparse.Namespace) -> int:
    from crowdsafe.auth import Role
    from crowdsafe.cli._exposure import cli_actor, config_auth_store
    from crowdsafe.errors import UsageError

    if not 1 <= len(args.label) <= 64 or not args.label.isprintable():
        raise UsageError(f"token label '{args.label}': use 1 to 64 printable characters")
    with config_auth_store(args.config) as store:
        token = store.add_token(args.label, Role(args.role), actor=cli_actor())
    print(f"token '{args.label}' ({args.role}); it is shown only now:", file=sys.stderr)
    print(token)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from crowdsafe.cli._exposure import cli_actor, config_auth_store

    with config_auth_store(args.config) as store:
        store.revoke_token(args.label, actor=cli_actor())
    print(f"token '{args.label}' revoked")
    return 0


def _list(args: argparse.Namespace) -> int:
    import time

    from crowdsafe.cli._exposure import config_auth_store

    def when(t: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))

    with config_auth_store(args.config) as store:
        tokens = store.tokens()
    for t in tokens:
        revoked = "active" if t.revoked_at is None else f"revoked {when(t.revoked_at)}"
        print(f"{t.label}\t{t.role.value}\tcreated {when(t.created_at)}\t{revoked}")
    if not tokens:
        print("no tokens", file=sys.stderr)
    return 0
