"""`townhall api` and `townhall media`: the two processes of the scaled-out form (docs/decisions/0008), a
control plane and origin that answers from media nodes running apart, and a media node."""

from __future__ import annotations

import argparse
import sys

from townhall.commands import Command
from townhall.commands.serve import run_server, server_args, with_server_args
from townhall.settings import Settings


def _scaled_out(settings: Settings, role: str) -> str | None:
    """Why `settings` cannot run `role` of the scaled-out form (None when they can)."""
    if settings.state_url.startswith("memory://"):
        return f"townhall {role}: the scaled-out form shares its hot state: set TOWNHALL_STATE_URL=redis://..."
    if not settings.database_url.startswith("postgresql"):
        return (
            f"townhall {role}: the scaled-out form shares its database: "
            "set TOWNHALL_DATABASE_URL=postgresql+asyncpg://..."
        )
    return None


async def api(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app import build_app, build_runtime  # the whole app (aiortc, av): only for the verbs that serve it

    settings = with_server_args(args, settings)
    if (why := _scaled_out(settings, "api")) is not None:
        print(why, file=sys.stderr)
        return 2
    print(f"townhall api on http://{settings.host}:{settings.port}", flush=True)
    await run_server(build_app(runtime=build_runtime(settings, role="api")), settings)
    return 0


async def media(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app.node import build_media_role, media_app  # the media node: aiortc, av
    from townhall.media.thread import raise_node_priority

    settings = with_server_args(args, settings)
    if (why := _scaled_out(settings, "media")) is not None:
        print(why, file=sys.stderr)
        return 2
    raise_node_priority()  # before the media thread and the loop's executor threads start
    role = build_media_role(settings)
    print(f"townhall media node {role.membership.node_id} on http://{settings.host}:{settings.port}", flush=True)
    await run_server(media_app(role), settings)
    return 0


API = Command("api", "run a control plane and origin of the scaled-out form (media nodes run apart)", api, server_args)
MEDIA = Command(
    "media", "run a media node of the scaled-out form: claims live spaces, runs their audio", media, server_args
)
