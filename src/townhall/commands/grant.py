"""`townhall grant`: give an account a platform role."""

from __future__ import annotations

import argparse

from townhall.commands import Command
from townhall.commands.serve import with_server_args
from townhall.settings import Settings
from townhall.store.sql import db as sqldb


def grant_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("handle")
    p.add_argument("role", choices=["admin", "moderator", "trusted_flagger"])
    p.add_argument("--data-dir")


async def grant(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app import build_runtime  # the composition root imports the whole app (aiortc, av)

    rt = build_runtime(with_server_args(args, settings))
    await sqldb.migrate(rt.db.url.render_as_string(hide_password=False))
    account = await rt.accounts.by_handle(args.handle)
    account = await rt.accounts.grant(account.id, args.role)
    print(f"{account.handle}: {', '.join(sorted(account.platform_roles))}")
    await rt.db.dispose()
    return 0


GRANT = Command("grant", "give an account a platform role (admin, moderator, trusted_flagger)", grant, grant_args)
