"""`townhall grant`: give an account a platform role."""

from __future__ import annotations

import argparse
import getpass
import sys

from townhall.commands import Command
from townhall.commands.serve import with_server_args
from townhall.domain.accounts import PlatformRole
from townhall.domain.errors import NotFound
from townhall.settings import Settings
from townhall.store.sql import db as sqldb


def grant_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("handle")
    p.add_argument("role", choices=["admin", "moderator", "trusted_flagger"])
    p.add_argument("--data-dir")


async def grant(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app import build_runtime  # the composition root imports the whole app (aiortc, av)

    rt = build_runtime(with_server_args(args, settings))
    try:
        await sqldb.migrate(rt.db.url.render_as_string(hide_password=False))
        account = await rt.trust.staff.grant_by_operator(_operator(), args.handle, PlatformRole(args.role))
    except NotFound:
        print(f"townhall grant: no account with the handle {args.handle!r}", file=sys.stderr)
        return 1
    finally:
        await rt.state.close()
        await rt.db.dispose()
    print(f"{account.handle}: {', '.join(sorted(account.platform_roles))}")
    return 0


def _operator() -> str:
    """Who ran the command, for the audit log: the OS user (there is no admin session on a shell)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


GRANT = Command("grant", "give an account a platform role (admin, moderator, trusted_flagger)", grant, grant_args)
