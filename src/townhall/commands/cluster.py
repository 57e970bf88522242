"""`townhall cluster`: the scaled-out form on this machine, for trying it and for fault drills. Starts on
loopback two `townhall api` processes, two `townhall media` nodes and a Varnish edge in front of the
first API process, on the local PostgreSQL (a database of its own) and Redis (a key prefix of its own)
that `scripts/services.sh` starts, and the S3 test server (moto; `--blobs file`: one blob folder instead);
prints the URLs; stops everything on Ctrl-C.
docs/deploy.md shows the same layout across machines."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import sys
import uuid
from pathlib import Path

import httpx

from townhall.cluster import cluster, free_port
from townhall.commands import Command, with_data_dir
from townhall.settings import Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--apis", type=int, default=2, help="API processes (default 2)")
    p.add_argument("--media", type=int, default=2, help="media nodes (default 2)")
    p.add_argument("--data-dir", help="where the processes keep their logs and blobs (default data/cluster)")
    p.add_argument(
        "--blobs",
        choices=("s3", "file"),
        default="s3",
        help="s3 (default): start the S3 test server (moto, a dev dependency) on loopback; file: one blob folder",
    )


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
    s3: asyncio.subprocess.Process | None = None
    s3_line = ""
    if settings.blob_url:
        env["TOWNHALL_BLOB_URL"] = settings.blob_url
    elif args.blobs == "s3":
        s3, s3_line = await _s3_server(work, env)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with cluster(work, env, apis=args.apis, media=args.media) as running:
            first = running.apis[0]  # the edge fetches live media from its delivery port
            # with two API processes or more, the last is the staff lane: the edge sends it the requests
            # of hosts, speakers and moderators, which a flood at the others' public ports cannot reach
            staff = running.apis[-1] if len(running.apis) > 1 else first
            edge_settings = settings.model_copy(
                update={
                    "data_dir": work / "edge",
                    "edge_secret": edge_secret,
                    "delivery_port": first.delivery_port,
                    "edge_staff_url": staff.url,
                }
            )
            edge = Edge(
                edge_settings, parse_keys(keys).keys, credential=edge_secret, origin=first.url, port=free_port()
            )
            edge_line = f"  edge:   {edge.url} (Varnish in front of {first.name}; signed-in requests to {staff.name})"
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
            print(s3_line or f"  blobs:  {env.get('TOWNHALL_BLOB_URL') or work / 'blobs'}")
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
    finally:
        if s3 is not None:
            await _stop(s3)
    return 0


S3_BUCKET = "townhall"


async def _s3_server(work: Path, env: dict[str, str]) -> tuple[asyncio.subprocess.Process | None, str]:
    """Start `python -m townhall.s3server` (moto) on a free loopback port with the cluster's bucket, and
    point `env` at it; without moto installed, the cluster keeps one blob folder and says so."""
    import importlib.util

    if importlib.util.find_spec("moto") is None:
        return None, "  blobs:  one folder (moto is not installed: pip install -e .[dev] for the S3 test server)"
    from townhall.s3server import ACCESS_KEY, REGION, SECRET_KEY

    port = free_port()
    log = work / "s3.log"
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "townhall.s3server", "--port", str(port), "--bucket", S3_BUCKET),
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if proc.returncode is not None:
                raise SystemExit(f"townhall cluster: the S3 test server exited:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.head(f"{url}/{S3_BUCKET}")).status_code == 200:
                    break
            if loop.time() > deadline:
                await _stop(proc)
                raise SystemExit(f"townhall cluster: the S3 test server did not start:\n{log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)
    env.update(
        {
            "TOWNHALL_BLOB_URL": f"s3://{S3_BUCKET}/cluster-{env['TOWNHALL_STATE_PREFIX'].rstrip(':')}",
            "TOWNHALL_BLOB_S3_ENDPOINT": url,
            "TOWNHALL_BLOB_S3_REGION": REGION,
            "TOWNHALL_BLOB_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "TOWNHALL_BLOB_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }
    )
    return proc, f"  s3:     {url} bucket {S3_BUCKET} (moto, the S3 test server; log {log})"


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()


CLUSTER = Command("cluster", "run the scaled-out form on loopback: 2 API, 2 media nodes, an edge", run_cluster, _args)
