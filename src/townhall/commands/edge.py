"""`townhall edge`: a Varnish edge (or shield) in front of the origin: tokens, collapsing, limits."""

from __future__ import annotations

import argparse
from pathlib import Path

from townhall.commands import Command
from townhall.edge.serve import run_edge
from townhall.settings import Settings


def edge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, help="where the edge listens (TOWNHALL_EDGE_PORT)")
    p.add_argument("--origin", help="what it fetches from: the origin or a shield (TOWNHALL_EDGE_ORIGIN_URL)")
    p.add_argument("--role", choices=["edge", "shield"], help="shield: a tier that only edges reach")
    p.add_argument("--data-dir")


async def edge(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app import edge_secret, token_keys  # the composition root imports the whole app (aiortc, av)

    updates = {"edge_port": args.port, "edge_origin_url": args.origin, "edge_role": args.role}
    updates["data_dir"] = Path(args.data_dir) if args.data_dir else None
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    return await run_edge(settings, lambda: token_keys(settings).keys, edge_secret(settings))


EDGE = Command(
    "edge", "run a Varnish edge (or shield) in front of the origin: tokens, collapsing, limits", edge, edge_args
)
