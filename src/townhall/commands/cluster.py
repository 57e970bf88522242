"""`townhall cluster`: the scaled-out form on this machine, for trying it and for fault drills. Starts on
loopback two `townhall api` processes, two `townhall media` nodes and a Varnish edge in front of the
first API process, on the local PostgreSQL (a database of its own) and Redis (a key prefix of its own)
that `scripts/services.sh` starts, with one blob folder; prints the URLs; stops everything on Ctrl-C.
docs/deploy.md shows the same layout across machines."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import uuid
from pathlib import Path

from townhall.cluster import cluster, free_port
from townhall.commands import Command, with_data_dir
from townhall.settings import Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--apis", type=int, default=2, help="API processes (default 2)")
    p.add_argument("--media", type=int, default=2, help="media nodes (default 2)")
    p.add_argument("--data-dir", help="where the processes keep their logs and blobs (default data/cluster)")


async def _database(name: str) -> str:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def run_cluster(args: argparse.Namespace, settings: Settings) -> int:
    from townhall.edge.varnish import Edge, EdgeError
    from townhall.services.keys import parse_keys

    settings = with_data_dir(args, settings)
    work = (settings.data_dir if getattr(args, "data_dir", None) else Path("data/cluster")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        database = settings.database_url or await _database("townhall_cluster")
    except OSError as exc:
        print(f"townhall cluster: PostgreSQL does not answer on 127.0.0.1:5432 ({exc}); run scripts/services.sh")
        return 2
    keys = settings.token_keys or "kc1:" + secrets.token_hex(32)
    edge_secret = settings.edge_secret or secrets.token_urlsafe(32)
    env = {
        "TOWNHALL_DATABASE_URL": database,
        "TOWNHALL_STATE_URL": settings.state_url if settings.state_url != "memory://" else "redis://127.0.0.1:6379/0",
        "TOWNHALL_STATE_PREFIX": f"cluster-{uuid.uuid4().hex[:8]}:",
        "TOWNHALL_TOKEN_KEYS": keys,
        "TOWNHALL_EDGE_SECRET": edge_secret,
        "TOWNHALL_LOG_LEVEL": "info",
    }
    if settings.blob_url:
        env["TOWNHALL_BLOB_URL"] = settings.blob_url
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with cluster(work, env, apis=args.apis, media=args.media) as running:
            edge_settings = settings.model_copy(update={"data_dir": work / "edge", "edge_secret": edge_secret})
            origin = running.apis[0].url
            edge = Edge(edge_settings, parse_keys(keys).keys, credential=edge_secret, origin=origin, port=free_port())
            edge_line = f"  edge:   {edge.url} (Varnish in front of {running.apis[0].name})"
            try:
                await edge.astart(timeout_s=90)  # varnishd compiles its VCL with cc: slow on a busy machine
            except EdgeError as exc:
                edge_line = f"  edge:   did not start ({exc}); listeners fetch from the API processes"
            print("townhall cluster (scaled-out form on loopback; Ctrl-C stops everything)")
            for process in running.apis:
                print(f"  api:    {process.url}   (log {process.log})")
            for process in running.media:
                print(f"  media:  {process.url}   node {process.name} (log {process.log})")
            print(edge_line)
            print(f"  state:  {env['TOWNHALL_STATE_URL']} prefix {env['TOWNHALL_STATE_PREFIX']}; database {database}")
            print(f"  studio: {running.apis[0].url}/studio   listeners join through any API process", flush=True)
            try:
                await stop.wait()
            finally:
                with contextlib.suppress(EdgeError):
                    await edge.astop()
    except RuntimeError as exc:  # a process did not become ready: its log says why
        print(f"townhall cluster: {exc}")
        return 1
    return 0


CLUSTER = Command("cluster", "run the scaled-out form on loopback: 2 API, 2 media nodes, an edge", run_cluster, _args)
