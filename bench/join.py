"""Join throughput against a bare endpoint in the same server and framework.

Starts `townhall` (uvicorn + Starlette, one process pinned to one core) with one extra route that only
returns an HMAC of its path, then drives both with wrk (on the other core), alternating rounds:
  - baseline: GET /bench/hmac/<path>
  - join:     POST /api/spaces/<id>/join with a new anonymous device id each time (token issued, lease taken)
Prints requests/s of each and, last, `join/baseline = R` (goal R >= 0.7).

    .venv/bin/python bench/join.py [--seconds 8] [--rounds 3] [--connections 64] [--without-counting]

--without-counting leaves out the counting hook (each admitted join is committed to the count ledger
before it is acknowledged), to show what that durability costs; the figure that counts is the default run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"device_id":"bench' .. string.format("%010d", counter) .. '"}'
  return wrk.format("POST", "/api/spaces/SPACE/join", {["Content-Type"]="application/json"}, body)
end
"""


def serve(port: int, data_dir: str) -> None:
    """The server side: the real app plus the bare baseline route."""
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from townhall.app import build_app
    from townhall.domain.tokens import hmac_hex
    from townhall.settings import Settings

    settings = Settings(data_dir=Path(data_dir), port=port, log_level="warning", joins_per_minute_per_ip=10**9)
    app = build_app(settings)
    key = app.state.runtime.keys.signing_key

    async def bare(request: Request) -> PlainTextResponse:
        return PlainTextResponse(hmac_hex(key, request.url.path.encode()))

    app.router.routes.append(Route("/bench/hmac/{rest:path}", bare))
    if os.environ.get("TOWNHALL_BENCH_WITHOUT_COUNTING"):  # to see what durable counting costs a join
        app.state.runtime.admission.on_join.clear()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> float:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--without-counting", action="store_true")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--data", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.port, args.data)
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (Debian package wrk; `make setup` installs it)")

    port = free_port()
    data = tempfile.mkdtemp(prefix="townhall-bench-")
    server = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, __file__, "--serve", "--port", str(port), "--data", data],
        env={
            **os.environ,
            "TOWNHALL_LOG_LEVEL": "warning",
            **({"TOWNHALL_BENCH_WITHOUT_COUNTING": "1"} if args.without_counting else {}),
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        with httpx.Client(base_url=base) as c:
            r = c.post("/api/accounts", json={"handle": "benchhost", "password": "bench password"})
            headers = {"Authorization": f"Bearer {r.json()['session_token']}"}
            space = c.post("/api/spaces", json={"title": "bench"}, headers=headers).json()["id"]
            c.post(f"/api/spaces/{space}/start", headers=headers).raise_for_status()
            assert c.post(f"/api/spaces/{space}/join", json={"device_id": "warmup0001"}).status_code == 200
        script = Path(data) / "join.lua"
        script.write_text(LUA.replace("SPACE", space))
        baseline, joins = [], []
        wrk(f"{base}/bench/hmac/warm", 2, args.connections)
        for i in range(args.rounds):
            baseline.append(wrk(f"{base}/bench/hmac/space/{space}/x", args.seconds, args.connections))
            joins.append(wrk(base, args.seconds, args.connections, str(script)))
            print(f"round {i + 1}: baseline {baseline[-1]:,.0f} req/s, join {joins[-1]:,.0f} req/s", flush=True)
        b, j = statistics.median(baseline), statistics.median(joins)
        print(f"baseline (bare HMAC endpoint, Starlette on uvicorn, one core): {b:,.0f} requests/s")
        print(f"join (token issued, lease taken, new listener each time): {j:,.0f} requests/s")
        print(f"join/baseline = {j / b:.2f}")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
