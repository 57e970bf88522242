"""The control plane of the scaled-out form, per API core and per Redis shard, beside a bare endpoint.

Starts one `townhall api` process (PostgreSQL database of its own, a Redis key prefix of its own) pinned to
core 0, with one extra route that only returns an HMAC of its path (the bare endpoint: the same server,
framework and middleware), and drives it with wrk pinned to core 1, alternating rounds of:
  - baseline: GET /bench/hmac/<path>
  - join:     POST /api/spaces/<id>/join, a new anonymous device each time (token signed, seat taken,
              the join counted durably before it is answered)
  - renew:    POST /api/spaces/<id>/lease with listener tokens taken beforehand (the seat's lease renewed:
              answered at once, written behind in one pipelined call every 0.5 s; decision 0012)
  - leave:    DELETE /api/spaces/<id>/lease with those tokens
  - poll:     POST /api/spaces/<id>/queue with waiting-room tickets, in a second space that is full (cap 1),
              so each is a place in line, looked up (the page polls with its ticket every few seconds)
Redis's own CPU (INFO cpu) is read around the join, renew and leave rounds: the seat books' cost of each on
Redis, so `renewals per Redis shard-second` is what one Redis core sustains of renewals alone, and
bench/capacity.py adds the joins' and leaves' cost to size the shards.

Prints requests/s of each, the ratios, the figures bench/capacity.py models with, and, last,
`renew/baseline = R` (goal R >= 0.8).

    .venv/bin/python bench/control_plane.py [--seconds 6] [--rounds 2] [--connections 64] [--listeners 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
KEYS = "kcp:" + "5a" * 32

JOIN_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"device_id":"cp' .. string.format("%012d", counter) .. '"}'
  return wrk.format("POST", "/api/spaces/SPACE/join", {["Content-Type"]="application/json"}, body)
end
shown = 0
response = function(status, headers, body)
  if status >= 300 and shown < 3 then shown = shown + 1; print("error " .. status .. " " .. body) end
end
"""

TOKENS_LUA = """
tokens = {}
for line in io.lines("TOKENS") do tokens[#tokens + 1] = line end
counter = 0
request = function()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("METHOD", "/api/spaces/SPACE/lease", {["Authorization"]="Bearer " .. token}, "")
end
shown = 0
response = function(status, headers, body)
  if status >= 300 and shown < 3 then shown = shown + 1; print("error " .. status .. " " .. body) end
end
"""


def serve(port: int) -> None:
    """The server side: `townhall api` as the command builds it, plus the bare baseline route."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from townhall.api.server import config
    from townhall.app import build_app, build_runtime
    from townhall.domain.tokens import hmac_hex
    from townhall.settings import Settings

    settings = Settings(port=port, log_level="warning", joins_per_minute_per_ip=10**9)
    app = build_app(runtime=build_runtime(settings, role="api"))
    key = app.state.runtime.keys.signing_key

    async def bare(request: Request) -> PlainTextResponse:
        return PlainTextResponse(hmac_hex(key, request.url.path.encode()))

    app.router.routes.append(Route("/bench/hmac/{rest:path}", bare))
    uvicorn.Server(config(app, "127.0.0.1", port)).run()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> float:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def make_database(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def listener_tokens(base: str, space: str, n: int, key: str = "token", prefix: str = "seated") -> list[str]:
    """`n` listeners joined beforehand (their tokens renew and leave in the rounds; in a full space, their
    waiting-room tickets poll)."""
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        names = iter(range(n))
        tokens: list[str] = []

        async def worker() -> None:
            for i in names:
                for attempt in range(3):  # a kept-alive connection the server closed meanwhile: try again
                    try:
                        r = await http.post(f"/api/spaces/{space}/join", json={"device_id": f"{prefix}{i:010d}"})
                        break
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                r.raise_for_status()
                tokens.append(r.json()[key])

        await asyncio.gather(*(worker() for _ in range(32)))
        return tokens


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--listeners", type=int, default=4000, help="listeners joined beforehand (renew, leave)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.port)
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (Debian package wrk; `make setup` installs it)")

    run = uuid.uuid4().hex[:10]
    database, prefix = f"townhall_cp_{run}", f"thcp{run}:"
    asyncio.run(make_database(database))
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="townhall-cp-"))
    env = {
        **os.environ,
        "TOWNHALL_LOG_LEVEL": "warning",
        "TOWNHALL_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "TOWNHALL_STATE_URL": REDIS_URL,
        "TOWNHALL_STATE_PREFIX": prefix,
        "TOWNHALL_BLOB_URL": f"file://{work / 'blobs'}",
        "TOWNHALL_DATA_DIR": str(work / "data"),
        "TOWNHALL_TOKEN_KEYS": KEYS,
        "TOWNHALL_LEASE_TTL_S": "900",  # the cost of a renewal is measured, not expiry: seats outlive the run
        "TOWNHALL_EDGE_SECRET": "control-plane-bench-edge-secret-0123456789",
    }
    server = subprocess.Popen(["taskset", "-c", "0", sys.executable, __file__, "--serve", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    r_client = redis.Redis.from_url(REDIS_URL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the API process did not become ready")
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post("/api/accounts", json={"handle": "cphost", "password": "bench password"})
            headers = {"Authorization": f"Bearer {r.json()['session_token']}"}
            space = c.post("/api/spaces", json={"title": "control plane bench"}, headers=headers).json()["id"]
            c.post(f"/api/spaces/{space}/start", headers=headers).raise_for_status()
            # a full space (cap 1, one listener seated for the run): everyone after waits in line and polls
            full_body = {"title": "control plane bench, full", "listener_cap": 1}
            full = c.post("/api/spaces", json=full_body, headers=headers).json()["id"]
            c.post(f"/api/spaces/{full}/start", headers=headers).raise_for_status()
        tokens = asyncio.run(listener_tokens(base, space, args.listeners))
        (work / "tokens.txt").write_text("\n".join(tokens) + "\n")
        asyncio.run(listener_tokens(base, full, 1, prefix="first"))
        tickets = asyncio.run(listener_tokens(base, full, args.listeners, key="ticket", prefix="waiting"))
        (work / "tickets.txt").write_text("\n".join(tickets) + "\n")
        scripts = {n: work / f"{n}.lua" for n in ("join", "renew", "leave", "poll")}
        scripts["join"].write_text(JOIN_LUA.replace("SPACE", space))
        for name, method in (("renew", "POST"), ("leave", "DELETE")):
            text = TOKENS_LUA.replace("SPACE", space).replace("METHOD", method)
            scripts[name].write_text(text.replace("TOKENS", str(work / "tokens.txt")))
        poll = TOKENS_LUA.replace("SPACE", full).replace("METHOD", "POST").replace("/lease", "/queue")
        scripts["poll"].write_text(poll.replace("TOKENS", str(work / "tickets.txt")))

        got: dict[str, list[float]] = {"baseline": [], "join": [], "renew": [], "leave": [], "poll": []}
        redis_us_per_renew: list[float] = []
        redis_us_per_join: list[float] = []
        redis_us_per_leave: list[float] = []
        wrk(f"{base}/bench/hmac/warm", 2, args.connections)
        for i in range(args.rounds):
            got["baseline"].append(wrk(f"{base}/bench/hmac/space/{space}/x", args.seconds, args.connections))
            before = redis_cpu_s(r_client)
            got["join"].append(wrk(base, args.seconds, args.connections, scripts["join"]))
            redis_us_per_join.append((redis_cpu_s(r_client) - before) / (got["join"][-1] * args.seconds) * 1e6)
            before = redis_cpu_s(r_client)
            got["renew"].append(wrk(base, args.seconds, args.connections, scripts["renew"]))
            spent = redis_cpu_s(r_client) - before
            redis_us_per_renew.append(spent / (got["renew"][-1] * args.seconds) * 1e6)
            # leave last in a round: the next round joins its listeners again first
            before = redis_cpu_s(r_client)
            got["leave"].append(wrk(base, args.seconds, args.connections, scripts["leave"]))
            redis_us_per_leave.append((redis_cpu_s(r_client) - before) / (got["leave"][-1] * args.seconds) * 1e6)
            got["poll"].append(wrk(base, args.seconds, args.connections, scripts["poll"]))
            print(
                f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} req/s" for k, v in got.items()),
                flush=True,
            )
            if i + 1 < args.rounds:
                tokens = asyncio.run(listener_tokens(base, space, args.listeners))
                (work / "tokens.txt").write_text("\n".join(tokens) + "\n")
        m = {k: statistics.median(v) for k, v in got.items()}
        us = statistics.median(redis_us_per_renew)
        print(f"baseline (bare HMAC endpoint, same server, one core): {m['baseline']:,.0f} requests/s")
        for k in ("join", "renew", "leave", "poll"):
            print(f"{k}: {m[k]:,.0f} requests/s per API core ({k}/baseline = {m[k] / m['baseline']:.2f})")
        join_us, leave_us = statistics.median(redis_us_per_join), statistics.median(redis_us_per_leave)
        print(f"redis: {us:.1f} us of Redis CPU per renewal = {1e6 / us:,.0f} renewals per Redis shard-second")
        print(f"redis: {join_us:.1f} us of Redis CPU per join (every call of it, pace and seat)")
        print(f"redis: {leave_us:.1f} us of Redis CPU per leave")
        print("load average: " + Path("/proc/loadavg").read_text().strip())
        figures = {
            "api_joins_per_core_s": round(m["join"]),
            "api_renewals_per_core_s": round(m["renew"]),
            "api_leaves_per_core_s": round(m["leave"]),
            "api_polls_per_core_s": round(m["poll"]),
            "redis_renewals_per_shard_s": round(1e6 / us),
            "redis_us_per_join": round(join_us, 1),
            "redis_us_per_leave": round(leave_us, 1),
        }
        print("figures for bench/capacity.py --control-plane: " + json.dumps(figures))
        print(f"renew/baseline = {m['renew'] / m['baseline']:.2f}")
    finally:
        server.terminate()
        server.wait(10)
        for key in r_client.scan_iter(f"{prefix}*", count=1000):
            r_client.delete(key)
        asyncio.run(drop_database(database))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
