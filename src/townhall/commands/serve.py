"""`townhall serve`: the control plane (and media node) on the embedded default. Also how the demo and the
benchmarks serve an app in their own event loop (`serving`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette

from townhall.api.runtime import Runtime
from townhall.commands import Command
from townhall.commands.guard import bound_socket, holding_data_dir
from townhall.settings import Settings


def server_args(p: argparse.ArgumentParser) -> None:
    d = Settings.model_fields
    p.add_argument("--host", help=f"address to listen on (default: {d['host'].default}; TOWNHALL_HOST)")
    p.add_argument("--port", type=int, help=f"port to listen on (default: {d['port'].default}; TOWNHALL_PORT)")
    p.add_argument(
        "--data-dir",
        help=f"where the database, recordings and keys are kept (default: {d['data_dir'].default}; TOWNHALL_DATA_DIR)",
    )


def with_server_args(args: argparse.Namespace, settings: Settings) -> Settings:
    """Settings with the command line's --host, --port and --data-dir applied (validated as usual)."""
    given = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "data_dir": getattr(args, "data_dir", None),
    }
    updates = {k: v for k, v in given.items() if v is not None}
    return Settings.model_validate({**settings.model_dump(), **updates}) if updates else settings


async def run_server(
    app: Starlette, settings: Settings, started: asyncio.Event | None = None, stop: asyncio.Event | None = None
) -> None:
    """Serve until the server exits, or until `stop` is set (a graceful shutdown: lifespan hooks run)."""
    import uvicorn  # the server only when serving: the offline verbs start without it

    from townhall.api.server import config as server_config

    config = server_config(app, settings.host, settings.port)
    server = uvicorn.Server(config)
    # each bound now, so a taken port is one clear line, not a traceback; the internal port (when set) has
    # an accept queue of its own, so a flood of connections to the public port never queues the edge's
    sockets = [bound_socket(settings.host, settings.port)]
    if settings.internal_port:
        internal = "--internal-port (TOWNHALL_INTERNAL_HOST, TOWNHALL_INTERNAL_PORT)"
        sockets.append(bound_socket(settings.internal_host, settings.internal_port, internal))
    if settings.delivery_port:  # bound by the app as it starts (api/delivery.py): a taken port said here
        delivery = "TOWNHALL_DELIVERY_PORT (and TOWNHALL_INTERNAL_HOST)"
        bound_socket(settings.internal_host, settings.delivery_port, delivery).close()
    task = asyncio.create_task(server.serve(sockets))
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.05)
    if started is not None:
        started.set()
    if stop is not None:
        waiting = asyncio.create_task(stop.wait())
        await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        server.should_exit = True
    try:
        await task
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class Served:
    app: Starlette
    runtime: Runtime
    task: asyncio.Task[None]  # done early only if the server stopped by itself


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Served]:
    """The app built from `settings`, served in this event loop for the block, then shut down gracefully
    (lifespan hooks run: the media node hangs up, counting drains). For the demo and the benchmarks."""
    from townhall.app import build_app, build_runtime  # the whole app (aiortc, av): only when serving it

    runtime = build_runtime(settings)
    app = build_app(runtime=runtime)
    started, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_server(app, settings, started, stop))
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        task.result()  # it failed to start: raise why
    try:
        yield Served(app, runtime, task)
    finally:
        stop.set()
        await task


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.app import build_app  # the whole app (aiortc, av): only for the verbs that serve it

    settings = with_server_args(args, settings)
    with holding_data_dir(settings.data_dir, "serve"):
        print(f"townhall serving on http://{settings.host}:{settings.port}  (data in {settings.data_dir})", flush=True)
        await run_server(build_app(settings), settings)
    return 0


SERVE = Command("serve", "run the control plane (and media node) on the embedded default", serve, server_args)
