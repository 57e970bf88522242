"""`townhall demo`: the embedded default serving, a demo host, a live space with synthetic speakers,
and (when Varnish is installed) an edge in front; prints where to listen, and on Ctrl-C the replay and the
command that verifies it offline.

Uses only public services and the real publish path; holds no rules of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from townhall.api.runtime import Runtime
from townhall.commands import Command
from townhall.commands.guard import bound_socket, holding_data_dir
from townhall.commands.logs import setup_logging
from townhall.commands.serve import server_args, serving, with_server_args
from townhall.domain.accounts import Account
from townhall.domain.errors import NotFound
from townhall.domain.spaces import Space
from townhall.edge.serve import start_local_edge, varnish_available
from townhall.settings import Settings

DEMO_HOST = "demo_host"


async def demo_host(rt: Runtime) -> Account:
    """The demo host account, created on first run with a password kept in the data directory."""
    path = rt.settings.data_dir / "demo-host.json"
    if path.exists():
        creds = json.loads(path.read_text())
        return (await rt.accounts.login(creds["handle"], creds["password"], "demo")).account
    password = secrets.token_urlsafe(12)
    signed = await rt.accounts.register(DEMO_HOST, password, "demo")
    path.write_text(json.dumps({"handle": DEMO_HOST, "password": password}))
    path.chmod(0o600)
    return signed.account


def through_edge(settings: Settings) -> Settings:
    """Settings for a process whose listeners go through a local edge (when Varnish is installed)."""
    if not varnish_available(settings) or settings.listener_base_url:
        return settings
    update: dict[str, object] = {"listener_base_url": f"http://{settings.edge_host}:{settings.edge_port}"}
    if not settings.delivery_port:  # the edge's live media off the API's loop (api/delivery.py)
        with bound_socket(settings.internal_host, 0, "TOWNHALL_INTERNAL_HOST") as free:
            update["delivery_port"] = free.getsockname()[1]
    return settings.model_copy(update=update)


async def run_demo(settings: Settings) -> int:
    settings = through_edge(settings)
    async with serving(settings) as served:
        rt = served.runtime
        edge, edge_line = await start_local_edge(settings, rt.keys.keys, rt.edge_secret, rt.metrics.registry)
        if edge is None:
            rt.listener_base_url = rt.public_url
        host = await demo_host(rt)
        space = await rt.spaces.create(host, "Welcome to townhall: a live demo space", None, None)
        space = await rt.spaces.start(host, space.id)
        extras = await start_extras(rt, host, space)
        creds = json.loads((settings.data_dir / "demo-host.json").read_text())
        print("", flush=True)
        print(f"  Listen:        {rt.public_url}/s/{space.id}", flush=True)
        print(
            f"  Host studio:   {rt.public_url}/studio   (sign in as {creds['handle']} / {creds['password']})",
            flush=True,
        )
        print(f"  Room state:    {rt.public_url}/api/spaces/{space.id}/state", flush=True)
        print(f"  API reference: {rt.public_url}/api/docs   (OpenAPI: {rt.public_url}/api/openapi.json)", flush=True)
        grant = shlex.join([*townhall_command(), "grant", "--data-dir", str(settings.data_dir), "<handle>", "admin"])
        print(f"  Moderation:    {rt.public_url}/admin   (give a role: {grant})", flush=True)
        print(f"  Transparency:  {rt.public_url}/transparency", flush=True)
        print(f"  {edge_line}", flush=True)
        for line in extras.lines:
            print(f"  {line}", flush=True)
        print("\n  Ctrl-C ends the space and stops.", flush=True)
        interrupted = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, interrupted.set)
        await asyncio.wait([served.task, asyncio.create_task(interrupted.wait())], return_when=asyncio.FIRST_COMPLETED)
        await extras.stop()
        if edge is not None:
            await edge.stop()
        await end_and_publish(rt, settings, host, space.id)
    return 0


async def end_and_publish(rt: Runtime, settings: Settings, host: Account, space_id: str) -> None:
    """End the demo space and publish its replay now rather than at the next start; print where it is and the
    command that verifies it once the demo has stopped."""
    await rt.spaces.end(host, space_id)
    if rt.recording is None:
        return
    replay = await rt.recording.replay.finish(space_id)
    if replay is None or replay.state != "published":
        return
    print(f"  Replay:        {rt.public_url}/r/{space_id}   (served while townhall runs on this data)", flush=True)
    print(f"  Verify it:     {verify_command(settings, space_id)}   (offline: no server needed)", flush=True)


def townhall_command() -> list[str]:
    """This program as a shell in the same directory runs it: the `townhall` script by the path it was started
    with (`.venv/bin/townhall` from the repository), else this interpreter running the module."""
    if Path(sys.argv[0]).name == "townhall":
        return [sys.argv[0]]
    return [sys.executable, "-m", "townhall.cli"]


def verify_command(settings: Settings, space_id: str) -> str:
    """The command that checks the space's replay from the data directory, with no server running."""
    return shlex.join([*townhall_command(), "verify", "--data-dir", str(settings.data_dir), space_id])


class Extras:
    """What the demo starts beside the server (synthetic speakers, an edge), and how to stop it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.stoppers: list[Callable[[], Awaitable[None] | None]] = []

    async def stop(self) -> None:
        for fn in reversed(self.stoppers):
            result = fn()
            if asyncio.iscoroutine(result):
                await result


SYNTHETIC_SPEAKERS = ("demo_ada", "demo_grace")


async def synthetic_speaker(rt: Runtime, handle: str) -> Account:
    """A demo speaker's account (created once; nobody signs in as it)."""
    try:
        return await rt.accounts.by_handle(handle)
    except NotFound:
        return (await rt.accounts.register(handle, secrets.token_urlsafe(16), "demo")).account


async def start_extras(rt: Runtime, host: Account, space: Space) -> Extras:
    """Two synthetic speakers, invited by the host and publishing over the real WHIP path."""
    from townhall.media.synthetic import run_synthetic_speakers  # aiortc and av: only when the demo runs

    extras = Extras()
    tokens = []
    for handle in SYNTHETIC_SPEAKERS:
        speaker = await synthetic_speaker(rt, handle)
        await rt.spaces.invite(host, space.id, speaker.id)
        await rt.spaces.accept_invite(speaker, space.id)
        tokens.append(await rt.spaces.speaker_token(speaker, space.id))
    stop = asyncio.Event()
    task = asyncio.create_task(run_synthetic_speakers(lambda i: f"{rt.public_url}/whip/{space.id}", tokens, stop))

    async def stopping() -> None:
        stop.set()
        await asyncio.wait_for(task, 10)

    extras.stoppers.append(stopping)
    extras.lines.append(f"Speakers:      {', '.join(SYNTHETIC_SPEAKERS)} (synthetic, publishing over WHIP)")
    return extras


def demo_args(p: argparse.ArgumentParser) -> None:
    server_args(p)
    default = Settings.model_fields["edge_port"].default
    p.add_argument(
        "--edge-port", type=int, help=f"port of the local Varnish edge (default: {default}; TOWNHALL_EDGE_PORT)"
    )


async def demo(args: argparse.Namespace, settings: Settings) -> int:
    if "log_level" not in settings.model_fields_set:
        setup_logging("warning")  # the demo's terminal shows its links, not every request
    settings = with_server_args(args, settings)
    if args.edge_port is not None:
        settings = Settings.model_validate({**settings.model_dump(), "edge_port": args.edge_port})
    with holding_data_dir(settings.data_dir, "demo"):
        if varnish_available(settings):  # the edge's port taken: say so now, not a fallback later
            bound_socket(settings.edge_host, settings.edge_port, "--edge-port (TOWNHALL_EDGE_PORT)").close()
        return await run_demo(settings)


DEMO = Command("demo", "serve plus a ready live space with synthetic speakers; prints its URL", demo, demo_args)
