"""Edge cost of a cached part: requests/s per core of varnishd's own CPU, with and without the token check,
and with and without the revocation lookup (the space's cached list of revoked listeners, issue 18).

A real townhall edge (and a shield, which skips the token check) in front of a two-route origin on
loopback; 50 keep-alive clients fetch the same cached 1.7 KB part 400 times each, per role.
Usage: .venv/bin/python bench/edge_hits.py [--requests 20000]
Prints, last, `cached hits per varnishd core with the token check = X req/s`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hls_client import Connection
from listeners import cpu_seconds, free_port
from townhall.domain.tokens import Claims, Scope, sign
from townhall.edge.varnish import Edge
from townhall.settings import Settings

SPACE = "bench-space"
PART = f"/live/{SPACE}/p1.0.m4s"
CLIENTS = 50
CREDENTIAL = secrets.token_urlsafe(32)


async def part(request: Request) -> Response:
    return Response(b"\0" * 1700, media_type="audio/mp4", headers={"Cache-Control": "max-age=31536000, immutable"})


async def revoked(request: Request) -> Response:
    headers = {"X-Townhall-Revoked": "a-someone-else d-another", "Cache-Control": "public, max-age=1"}
    return Response(b'{"revoked":[]}', media_type="application/json", headers=headers)


async def per_core(role: str, origin: str, keys: dict[str, bytes], requests: int, revocation_s: float = 1.0) -> float:
    settings = Settings(edge_role=role, edge_requests_per_ip=0, edge_revocation_ttl_s=revocation_s)
    edge = Edge(settings, keys, credential=CREDENTIAL, origin=origin, port=free_port())
    await edge.astart()
    try:
        token = sign(Claims("bench", Scope.LISTEN, SPACE, "d-bench-hits", int(time.time()) + 600), keys["bench"])
        path = f"/e/{token}{PART}" if role == "edge" else PART
        proof = "" if role == "edge" else f"X-Townhall-Edge: {CREDENTIAL}\r\n"  # what an edge sends a shield
        conns = await asyncio.gather(*(Connection.open("127.0.0.1", edge.port) for _ in range(CLIENTS)))
        await conns[0].get(path, proof)  # the one miss

        async def client(conn: Connection) -> None:
            for _ in range(requests // CLIENTS):
                answer = await conn.get(path, proof)
                assert answer.status == 200, answer.status

        cpu, started = cpu_seconds(edge.pid), time.perf_counter()
        await asyncio.gather(*(client(conn) for conn in conns))
        wall, cpu = time.perf_counter() - started, cpu_seconds(edge.pid) - cpu
        for conn in conns:
            conn.close()
        label = role if role == "shield" or revocation_s > 0 else "edge, no revocation list"
        print(
            f"{label:6}: {requests / wall:8,.0f} req/s on the wall clock, varnishd {cpu:.2f} CPU-s -> "
            f"{requests / cpu:8,.0f} req/s per varnishd core (load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        return requests / cpu
    finally:
        await edge.astop()


async def main(requests: int) -> None:
    app = Starlette(routes=[Route(PART, part), Route(f"/live/{SPACE}/revoked", revoked)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    origin = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    keys = {"bench": secrets.token_hex(32).encode()}
    try:
        shield = await per_core("shield", origin, keys, requests)
        bare = await per_core("edge", origin, keys, requests, revocation_s=0)
        edge = await per_core("edge", origin, keys, requests)
    finally:
        server.should_exit = True
        await task
    print(f"token check costs {(1 - bare / shield) * 100:.0f} % of a cached hit")
    print(f"the revocation lookup costs {(1 - edge / bare) * 100:.0f} % more")
    print(f"cached hits per varnishd core with the token check = {edge:,.0f} req/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    import uvloop

    uvloop.run(main(parser.parse_args().requests))
