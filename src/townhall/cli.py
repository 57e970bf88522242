"""The `townhall` command: lists the verbs of `townhall.commands`, parses the arguments and runs the chosen
verb. Holds no logic; the verbs never import this module."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from townhall.commands import Command
from townhall.commands.cluster import CLUSTER
from townhall.commands.demo import DEMO
from townhall.commands.edge import EDGE
from townhall.commands.grant import GRANT
from townhall.commands.guard import StartRefused
from townhall.commands.logs import setup_logging
from townhall.commands.scaled import API, MEDIA
from townhall.commands.serve import SERVE
from townhall.commands.trust import AUDIT, SOR, TRANSPARENCY_REPORT
from townhall.commands.verify import KEEP_HEADS, ROTATE_REPLAY_KEY, VERIFY
from townhall.settings import Settings

COMMANDS: tuple[Command, ...] = (
    SERVE,
    API,
    MEDIA,
    CLUSTER,
    DEMO,
    EDGE,
    GRANT,
    AUDIT,
    TRANSPARENCY_REPORT,
    SOR,
    VERIFY,
    ROTATE_REPLAY_KEY,
    KEEP_HEADS,
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="townhall", description="live audio spaces for very large audiences")
    sub = top.add_subparsers(dest="verb", required=True)
    for command in COMMANDS:
        command.args(sub.add_parser(command.name, help=command.help))
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    setup_logging(settings.log_level)
    run = next(c.run for c in COMMANDS if c.name == args.verb)
    try:
        return _run(run(args, settings))
    except StartRefused as exc:
        print(f"townhall {args.verb}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(main: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop  # optional: the faster event loop when installed
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


if __name__ == "__main__":
    raise SystemExit(main())
