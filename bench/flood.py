"""Starts on time under a flood (issue 14): a live space with two real WebRTC publishers and legitimate
listeners through the Varnish edge, then a flood from many loopback addresses, while the host creates
and starts a second space.

- The stage: the embedded default (bench/live_space.py: `townhall serve`'s app, media node and origin
  in one process) behind a townhall edge (Varnish, the rendered VCL, its per-address limit on), which
  fetches from the origin's internal port (`internal_port`: an accept queue of its own), and live media
  from its delivery port (`delivery_port`: a server on a thread and loop of its own; off with
  --no-delivery-port, for a baseline).
- With --cluster, the scaled-out form instead (`townhall cluster`'s processes: one API process, two media
  nodes); the edge fetches live media from the API process's delivery port, which reads the relay on a
  loop of its own (off with --no-delivery-port: from its API port, as before); and a second API process,
  the staff lane, to which the edge sends the requests it verified as signed in (sessions, speaker
  tokens): the host's create and start (off with --no-staff-lane, for a baseline).
- Two publishers: synthetic WHIP speakers (aiortc, real WebRTC) in a process of their own, so a slow
  API loop could not be mistaken for a slow speaker; a dropped session is counted.
- Legitimate listeners (default 1,000), each from an address of its own (127.2.x.y), with valid
  tokens: LL-HLS players through the edge (blocking reloads, every part) and lease renewals
  (bench/listeners.py's players, in worker processes at normal priority).
- A probe (its own process) follows the live playlist where the edge fetches it, with its credential, and
  stamps each new part: the longest gap between parts is the longest time between two new parts (at
  nice 0; --probe-nice -10 keeps the instrument itself from being starved at a high load average).
- The flood, every generator at `nice -n 19`: wrk processes (lua) from 127.0.0.1 through the edge
  (junk, token-less media, the bypass URLs of the issue, the most expensive public endpoints, joins);
  Python flooders from thousands of addresses (127.1.x.y), each under the edge's per-address limit,
  through the edge and straight at the origin (joins, documents, reports, listings, bad JSON, forged
  session tokens); and slow clients (heads and bodies that never finish).
- Meanwhile the host (its session over HTTP through the edge) creates and starts a second space.

Usage: .venv/bin/python bench/flood.py [--listeners 1000] [--seconds 40]
Prints the figures, `cat /proc/loadavg`, and last `legit error rate under flood = P%`.
Bounded: every process stops by --seconds + 120 s whatever happens; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import random
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from hls_client import Connection, once
from listeners import JSON, PART_S, Stage, _hint, _listed, free_port, join, worker_main
from townhall.edge.varnish import Edge
from townhall.services.keys import parse_keys
from townhall.settings import Settings

LISTENERS_NICE = 10  # the simulated listeners stand for clients on machines of their own: below the service
FLOOD_ADDRESSES = 4000  # 127.1.x.y sources of the Python flooders
SLOW_CLIENTS = 300  # connections that never finish their request
WRK_PROCESSES = 2
WRK_CONNECTIONS = 64
HOST_ADDRESS = "127.3.0.1"  # the host's own address (the wrk flood comes from 127.0.0.1)


# --- the probe: when each part appears at the origin -------------------------------------------
async def _probe(origin_port: int, space: str, credential: str, pipe: Pipe, limit_s: float) -> list[float]:
    conn = await Connection.open("127.0.0.1", origin_port)
    proof = f"X-Townhall-Edge: {credential}\r\n"
    base = f"/live/{space}/media.m3u8"
    answer = await conn.get(base, proof)
    seen: set[tuple[int, int]] = set(_listed(answer.body))
    stamps: list[float] = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and not pipe.poll():
        wanted = _hint(answer.body)
        if wanted is None:
            break
        answer = await conn.get(f"{base}?_HLS_msn={wanted[0]}&_HLS_part={wanted[1]}", proof)
        now = time.time()
        for part in _listed(answer.body):
            if part not in seen:
                seen.add(part)
                stamps.append(now)
    conn.close()
    return stamps


def probe_main(origin_port: int, space: str, credential: str, limit_s: float, nice: int, pipe: Pipe) -> None:
    import uvloop

    if nice:  # the instrument, not the service: starved at a high load, it would stamp its own waits
        with contextlib.suppress(OSError):
            os.nice(nice)

    pipe.send(uvloop.run(_probe(origin_port, space, credential, pipe, limit_s)))


# --- the two publishers -----------------------------------------------------------------------
async def _speak(whip: str, tokens: list[str], pipe: Pipe, limit_s: float) -> dict[str, int]:
    from townhall.media.synthetic import SignalTrack, tone_bursts, whip_publish

    tally: Counter[str] = Counter()
    stop = asyncio.Event()

    async def speaker(i: int, token: str) -> None:
        while not stop.is_set():
            try:
                session = await whip_publish(whip, token, SignalTrack(tone_bursts(440.0 * (i + 1), offset=25 * i)))
            except Exception:
                tally["publish_failed"] += 1
                await asyncio.sleep(1.0)
                continue
            tally["published"] += 1
            while not stop.is_set() and session.pc.connectionState not in ("failed", "closed"):  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # aiortc offers a state-change event, but a poll is simpler here
            if not stop.is_set():
                tally["dropped"] += 1
            await session.close()

    tasks = [asyncio.create_task(speaker(i, token)) for i, token in enumerate(tokens)]
    pipe.send("speaking")
    deadline = time.monotonic() + limit_s
    while not pipe.poll() and time.monotonic() < deadline:  # noqa: ASYNC110 - a pipe is not awaitable
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    return dict(tally)


def speakers_main(whip: str, tokens: list[str], limit_s: float, pipe: Pipe) -> None:
    pipe.send(asyncio.run(_speak(whip, tokens, pipe, limit_s)))


# --- the flood --------------------------------------------------------------------------------
WRK_SCRIPT = r"""
local requests = {}
local space = os.getenv("FLOOD_SPACE")
init = function(args)
  local h = {}
  local junk = {["Content-Type"] = "application/json"}
  local paths = {
    {"GET", "/live/" .. space .. "/media.m3u8", h},                   -- token-less media
    {"GET", "/%6cive/" .. space .. "/media.m3u8", h},                 -- the bypasses of the issue
    {"GET", "/live%2f" .. space .. "/media.m3u8", h},
    {"GET", "/live/" .. space .. "/media.m3u8", {["Upgrade"] = "websocket", ["Connection"] = "Upgrade"}},
    {"GET", "/%6detrics", h},
    {"GET", "/api/openapi.json", h},                                  -- the most expensive public answers
    {"GET", "/api/docs", h},
    {"GET", "/transparency", h},
    {"GET", "/api/transparency?from=2000-01-01", h},
    {"GET", "/api/spaces?state=live,scheduled,ended", h},
    {"GET", "/api/spaces/" .. space .. "/state", h},
    {"POST", "/api/spaces/" .. space .. "/join", junk, '{"device_id":"wrk-flood"}'},
    {"POST", "/api/spaces/" .. space .. "/join", junk, '{"device_id":'},
    {"GET", "/no/such/thing/" .. math.random(1e9), h},
    {"GET", "/e/v1.k.l." .. space .. ".d-x.9999999999.n.00/live/" .. space .. "/media.m3u8", h},
  }
  for i, p in ipairs(paths) do
    requests[i] = wrk.format(p[1], p[2], p[3], p[4])
  end
end
local n = 0
request = function()
  n = n + 1
  return requests[(n % #requests) + 1]
end
"""


def start_wrk(edge_port: int, space: str, seconds: float, folder: Path) -> list[subprocess.Popen[bytes]]:
    script = folder / "flood.lua"
    script.write_text(WRK_SCRIPT)
    return [
        subprocess.Popen(
            [
                "nice",
                "-n",
                "19",
                "wrk",
                "-t1",
                f"-c{WRK_CONNECTIONS}",
                f"-d{int(seconds)}s",
                "--timeout",
                "5s",
                "-s",
                str(script),
                f"http://127.0.0.1:{edge_port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "FLOOD_SPACE": space},
        )
        for _ in range(WRK_PROCESSES)
    ]


def wrk_requests(output: str) -> tuple[int, int]:
    """(requests, non-2xx/3xx) from wrk's summary."""
    total = bad = 0
    for line in output.splitlines():
        words = line.split()
        if "requests in" in line:
            total = int(words[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            bad = int(words[-1])
    return total, bad


def flood_requests(space: str) -> list[bytes]:
    def get(path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: flood\r\n\r\n".encode()

    def post(path: str, body: bytes, extra: str = "") -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    # a session token shaped as ours with a made-up signature: it must not reach the staff lane
    forged = f"v1.k0.u.session.{secrets.token_urlsafe(32)}.{int(time.time()) + 3600}.0.{secrets.token_hex(32)}"
    bearer = f"Authorization: Bearer {forged}\r\n"

    return [
        post(f"/api/spaces/{space}/join", b'{"device_id":"flood-%d"}' % random.randrange(10**9)),  # join storm
        post(f"/api/spaces/{space}/join", json.dumps({"device_id": secrets.token_hex(8)}).encode()),
        post(f"/api/spaces/{space}/join", b"{not json"),
        get("/api/openapi.json"),
        get("/api/docs"),
        get(f"/api/transparency?from=2000-01-01&to=2026-{random.randint(1, 12):02d}-01"),
        get("/transparency"),
        get("/api/spaces"),
        get(f"/api/spaces/{space}"),
        get(f"/api/spaces/{space}/members"),
        get(f"/live/{space}/media.m3u8"),  # token-less media
        get(f"/live/{space}/media.m3u8?_HLS_msn=999999&_HLS_part=0"),
        get(f"/%6cive/{space}/media.m3u8"),
        get("/nothing-here"),
        f"GET /api/me HTTP/1.1\r\nHost: flood\r\n{bearer}\r\n".encode(),  # forged sessions
        post("/api/spaces", b'{"title":"flood"}', bearer),
    ]


async def _flood(targets: list[int], first: int, count: int, space: str, until: float) -> dict[str, int]:
    """Keep-alive connections from `count` addresses, requests back to back, until the wall clock says."""
    tally: Counter[str] = Counter()
    requests = flood_requests(space)

    async def one(k: int) -> None:
        address = f"127.1.{(first + k) // 250}.{1 + (first + k) % 250}"
        port = targets[k % len(targets)]
        conn: Connection | None = None
        while time.time() < until:
            try:
                if conn is None or conn.transport is None:
                    conn = await Connection.open("127.0.0.1", port, local_host=address)
                answer = await asyncio.wait_for(conn.request(random.choice(requests)), 5)
                tally[f"{answer.status // 100}xx"] += 1
                if b"connection: close" in answer.head:
                    conn.close()
                    conn = None
            except (OSError, ConnectionError, TimeoutError):
                tally["failed"] += 1
                if conn is not None:
                    conn.close()
                conn = None
                await asyncio.sleep(0.05)
        if conn is not None:
            conn.close()

    async def slow(k: int) -> None:
        address = f"127.1.{200 + k // 250}.{1 + k % 250}"
        port = targets[k % len(targets)]
        with contextlib.suppress(OSError):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
            if k % 2:
                writer.write(
                    f"POST /api/spaces/{space}/join HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{{".encode()
                )
            else:
                writer.write(b"GET /api/spaces HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            tally["slow_opened"] += 1
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(reader.read(), max(0.1, until - time.time()))
            writer.close()

    slow_share = SLOW_CLIENTS // 2 if first == 0 else SLOW_CLIENTS - SLOW_CLIENTS // 2
    await asyncio.gather(*(one(k) for k in range(count)), *(slow(k + first) for k in range(slow_share)))
    return dict(tally)


def flood_main(targets: list[int], first: int, count: int, space: str, until: float, pipe: Pipe) -> None:
    os.nice(19)  # below the service and the legitimate listeners
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    import uvloop

    pipe.send(uvloop.run(_flood(targets, first, count, space, until)))


# --- the host, during the flood ---------------------------------------------------------------
async def _as_host(edge_port: int, path: str, body: bytes, auth: str, notes: list[str]) -> Any:
    """One host action through the edge, retried as the page does (after Retry-After, at most 5 times)."""
    for attempt in range(5):
        started = time.perf_counter()
        answer = await once("127.0.0.1", edge_port, "POST", path, body, auth, HOST_ADDRESS)
        if answer.status in (200, 201):
            return json.loads(answer.body)
        notes.append(f"{path.rsplit('/', 1)[-1]} attempt {attempt + 1}: {answer.status} after "
                     f"{(time.perf_counter() - started) * 1000:.0f} ms {answer.body[:80]!r}")  # fmt: skip
        await asyncio.sleep(0.5 * 2**attempt)
    raise SystemExit(f"the host could not act: {notes}")


async def second_space(edge_port: int, media_port: int, session: str, credential: str) -> dict[str, Any]:
    """Create and start a space through the edge as the host's page does; then wait for its first part."""
    auth = f"Authorization: Bearer {session}\r\n{JSON}"
    notes: list[str] = []
    started = time.perf_counter()
    space = (await _as_host(edge_port, "/api/spaces", b'{"title":"Second space"}', auth, notes))["id"]
    asked = time.perf_counter()
    await _as_host(edge_port, f"/api/spaces/{space}/start", b"", auth, notes)
    live = time.perf_counter()
    first_part = float("nan")
    for _ in range(200):
        playlist = await once(
            "127.0.0.1", media_port, "GET", f"/live/{space}/media.m3u8", b"", f"X-Townhall-Edge: {credential}\r\n"
        )
        if playlist.status == 200 and _listed(playlist.body):
            first_part = time.perf_counter() - asked
            break
        await asyncio.sleep(0.05)
    return {"create_s": asked - started, "start_s": live - asked, "first_part_s": first_part, "notes": notes}


# --- counters ---------------------------------------------------------------------------------
async def origin_counts(origin_port: int, *media_ports: int) -> dict[str, float]:
    """The origin's counts, and the media clock's histograms (in its process, or summed over the media
    nodes of the scaled-out form)."""
    out: Counter[str] = Counter()
    for port in (origin_port, *media_ports):
        text = (await once("127.0.0.1", port, "GET", "/metrics")).body.decode()
        _count_metrics(text, out)
    return dict(out)


def _count_metrics(text: str, out: Counter[str]) -> None:
    for line in text.splitlines():
        if line.startswith("townhall_http_request_seconds_count{"):
            out["answered"] += float(line.rsplit(" ", 1)[1])
            if 'status="5xx"' in line:
                out["answered_5xx"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("townhall_shed_requests_total{"):
            out["shed"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith(
            ("townhall_media_part_lateness_seconds_bucket{", "townhall_media_tick_lateness_seconds_bucket{")
        ):
            name = line.split("_seconds_bucket", 1)[0].removeprefix("townhall_media_")
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[f"{name}<={bound}"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("townhall_media_late_ticks_total "):
            out["late_ticks"] += float(line.rsplit(" ", 1)[1])


@contextlib.asynccontextmanager
async def embedded_stage(
    keys: str,
    credential: str,
    origin_port: int,
    internal_port: int,
    delivery_port: int,
    edge_port: int,
    data_under: str | None,
    stage_nice: int,
) -> AsyncIterator[dict[str, Any]]:
    """`townhall serve`'s app in a process of its own (bench/live_space.py); its description as it prints it."""
    stage_log = tempfile.NamedTemporaryFile(prefix="townhall-flood-", suffix=".log", delete=False)
    stage = await asyncio.create_subprocess_exec(
        *(["nice", "-n", str(stage_nice)] if stage_nice else []),
        sys.executable, str(Path(__file__).with_name("live_space.py")), "--port", str(origin_port),
        "--listener-base-url", f"http://127.0.0.1:{edge_port}", "--speakers", "2", "--external-speakers",
        "--internal-port", str(internal_port), "--delivery-port", str(delivery_port),
        *(["--data-under", data_under] if data_under else []),
        stdout=asyncio.subprocess.PIPE, stderr=stage_log,
        env={**os.environ, "TOWNHALL_TOKEN_KEYS": keys, "TOWNHALL_EDGE_SECRET": credential},
    )  # fmt: skip
    try:
        assert stage.stdout is not None
        line = await asyncio.wait_for(stage.stdout.readline(), 60)
        if not line:
            raise SystemExit(f"the live space did not start; its log: {stage_log.name}")
        yield dict(json.loads(line))
    finally:
        stage.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stage.wait(), 20)


@contextlib.asynccontextmanager
async def cluster_stage(keys: str, credential: str, edge_port: int, staff_lane: bool) -> AsyncIterator[dict[str, Any]]:
    """The scaled-out form (`townhall cluster`'s processes: one API process, two media nodes, PostgreSQL,
    Redis; with `staff_lane`, a second API process that the edge sends signed-in requests to, as
    `townhall cluster` does); the host, a guest speaker and the space made over HTTP."""
    import asyncpg
    import httpx

    from townhall.cluster import cluster

    name = f"townhall_flood_{secrets.token_hex(5)}"
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    env = {
        "TOWNHALL_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        "TOWNHALL_STATE_URL": "redis://127.0.0.1:6379/0",
        "TOWNHALL_STATE_PREFIX": f"flood-{secrets.token_hex(4)}:",
        "TOWNHALL_TOKEN_KEYS": keys,
        "TOWNHALL_EDGE_SECRET": credential,
        "TOWNHALL_LISTENER_BASE_URL": f"http://127.0.0.1:{edge_port}",
        "TOWNHALL_JOINS_PER_MINUTE_PER_IP": str(10**9),  # the legitimate listeners join from one address
        "TOWNHALL_LOG_LEVEL": "warning",
    }
    try:
        with tempfile.TemporaryDirectory(prefix="townhall-flood-cluster-") as work:
            async with cluster(Path(work), env, apis=2 if staff_lane else 1, media=2) as running:
                api = running.apis[0].url
                async with httpx.AsyncClient(base_url=api, timeout=30) as http:
                    people = []
                    for handle in ("floodhost", "floodguest"):
                        r = await http.post("/api/accounts", json={"handle": handle, "password": "correct horse"})
                        people.append(
                            (r.json()["account_id"], {"Authorization": f"Bearer {r.json()['session_token']}"})
                        )
                    (_, host), (guest_id, guest) = people
                    space = (await http.post("/api/spaces", json={"title": "Flood"}, headers=host)).json()["id"]
                    await http.post(f"/api/spaces/{space}/start", headers=host)
                    await http.post(f"/api/spaces/{space}/invite", json={"account_id": guest_id}, headers=host)
                    await http.post(f"/api/spaces/{space}/invite/accept", headers=guest)
                    tokens = [
                        (await http.post(f"/api/spaces/{space}/speaker-token", headers=who)).json()["token"]
                        for who in (host, guest)
                    ]
                session = host["Authorization"].removeprefix("Bearer ")
                staff = running.apis[1].url if staff_lane else ""
                yield {"origin": api, "delivery_port": running.apis[0].delivery_port, "space": space,
                       "staff_url": staff, "media_ports": [node.port for node in running.media],
                       "whip": f"{api}/whip/{space}", "speaker_tokens": tokens, "host_session": session}  # fmt: skip
    finally:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def listeners_main(*args: Any) -> None:
    os.nice(LISTENERS_NICE)
    worker_main(*args)


def worst(before: dict[str, float], after: dict[str, float], name: str) -> str:
    """The media node's own account: the smallest histogram bound under which every observation of the
    interval falls (an upper bound on the worst one)."""
    bounds = sorted((float(k.split("<=", 1)[1]), k) for k in after if k.startswith(name + "<="))
    total = after.get(f"{name}<=+Inf", 0) - before.get(f"{name}<=+Inf", 0)
    for bound, key in bounds:
        if after[key] - before.get(key, 0) >= total:
            return f"<= {bound * 1000:.0f} ms" if bound != float("inf") else "over the largest bound"
    return "n/a (not in this process's metrics)"


def spawn(target: Any, *args: Any) -> tuple[multiprocessing.process.BaseProcess, Pipe]:
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    process = context.Process(target=target, args=(*args, there), daemon=True)
    process.start()
    return process, here


async def recv(pipe: Pipe, within: float) -> Any:
    return await asyncio.wait_for(asyncio.to_thread(pipe.recv), within)


async def main(
    listeners: int,
    seconds: float,
    workers: int,
    floods: int,
    data_under: str | None,
    direct: bool,
    stage_nice: int,
    scaled: bool,
    delivery: bool,
    probe_nice: int = 0,
    staff_lane: bool = True,
) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    keys = f"bench{secrets.token_hex(2)}:{secrets.token_hex(32)}"
    credential = secrets.token_urlsafe(32)
    origin_port, internal_port, edge_port = free_port(), free_port(), free_port()
    delivery_port = 0 if scaled or not delivery else free_port()  # the edge's live media off the API's loop
    stack = contextlib.AsyncExitStack()
    await stack.__aenter__()
    if scaled:
        live = await stack.enter_async_context(cluster_stage(keys, credential, edge_port, staff_lane))
        origin_port = internal_port = int(live["origin"].rsplit(":", 1)[1])  # the edge in front of API 1
        if delivery:
            delivery_port = live["delivery_port"]  # API 1's server for the edge's live media (api/delivery.py)
    else:
        live = await stack.enter_async_context(
            embedded_stage(
                keys, credential, origin_port, internal_port, delivery_port, edge_port, data_under, stage_nice
            )
        )
    space = live["space"]
    edge_settings = Settings(
        edge_host="127.0.0.1", delivery_port=delivery_port, edge_staff_url=live.get("staff_url", "")
    )
    edge = Edge(edge_settings, parse_keys(keys).keys, credential=credential,
                origin=f"http://127.0.0.1:{internal_port}", port=edge_port)  # fmt: skip
    limit = seconds + 120
    processes: list[multiprocessing.process.BaseProcess] = []
    wrks: list[subprocess.Popen[bytes]] = []
    try:
        await edge.astart()
        speakers, speakers_pipe = spawn(speakers_main, live["whip"], live["speaker_tokens"], limit)
        processes.append(speakers)
        await recv(speakers_pipe, 30)
        tokens = await join(Stage(space, edge_port, origin_port), listeners)
        share = math.ceil(listeners / workers)
        pipes = []
        for w in range(workers):
            part = Stage(space, edge_port, origin_port, spread=True)
            process, pipe = spawn(listeners_main, part, w * share, tokens[w * share : (w + 1) * share])
            processes.append(process)
            pipes.append(pipe)
        for pipe in pipes:
            await recv(pipe, 120)  # every player has its first playlist
        probe, probe_pipe = spawn(probe_main, delivery_port or internal_port, space, credential, limit, probe_nice)
        processes.append(probe)
        calm = 5.0  # seconds measured before the flood starts, for comparison
        window = (time.time() + 2.0, time.time() + 2.0 + calm + seconds)
        for pipe in pipes:
            pipe.send(window)
        await asyncio.sleep(max(0.0, window[0] - time.time()))
        media_ports = live.get("media_ports", [])
        before = (await origin_counts(internal_port, *media_ports), edge.stats(), os.times())
        await asyncio.sleep(calm)
        flood_started = time.time()
        until = flood_started + seconds
        with tempfile.TemporaryDirectory() as folder:
            wrks = start_wrk(edge_port, space, seconds, Path(folder))
            per = FLOOD_ADDRESSES // floods
            flood_pipes = []
            for f in range(floods):
                # two thirds through the edge and a third straight at the origin's public port; or, as deployed
                # with the public port firewalled (--no-direct), everything through the edge
                targets = [edge_port, edge_port, origin_port] if direct else [edge_port]
                process, pipe = spawn(flood_main, targets, f * per, per, space, until)
                processes.append(process)
                flood_pipes.append(pipe)
            await asyncio.sleep(min(10.0, seconds / 3))
            host = await second_space(edge_port, delivery_port or internal_port, live["host_session"], credential)
            await asyncio.sleep(max(0.0, until - time.time()))
            flood_tallies = [await recv(pipe, 60) for pipe in flood_pipes]
            wrk_out = [p.communicate(timeout=30)[0].decode(errors="replace") for p in wrks]
        after = (await origin_counts(internal_port, *media_ports), edge.stats(), os.times())
        tallies = [await recv(pipe, 60) for pipe in pipes]
        probe_pipe.send("stop")
        stamps = await recv(probe_pipe, 30)
        speakers_pipe.send("stop")
        spoken = await recv(speakers_pipe, 30)
    finally:
        for p in wrks:
            with contextlib.suppress(ProcessLookupError):
                p.kill()
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
        await edge.astop()
        await stack.aclose()
    # --- figures ---
    flood_s = seconds
    wrk_total = [wrk_requests(out) for out in wrk_out]
    python_flood = Counter[str]()
    for tally in flood_tallies:
        python_flood.update(tally)
    answered = sum(v for k, v in python_flood.items() if k.endswith("xx"))
    flood_rate = (sum(t for t, _ in wrk_total) + answered) / flood_s
    flood_stamps = [t for t in stamps if flood_started <= t <= until]
    calm_stamps = [t for t in stamps if window[0] <= t < flood_started]
    # the flood's end closes the last gap: a probe that saw no part for the rest of the flood saw a gap
    gap = max((b - a for a, b in itertools.pairwise([*flood_stamps, until])), default=float("nan"))
    calm_gap = max((b - a for a, b in itertools.pairwise(calm_stamps)), default=float("nan"))
    requests = sum(t.requests + t.renewals for t in tallies)
    errors = Counter[str]()
    for t in tallies:
        errors.update(t.errors)
    legit = sum(errors.values()) / max(1, requests) * 100
    o0, o1 = before[0], after[0]
    e0, e1 = before[1], after[1]
    edge_in = e1["MAIN.client_req"] - e0["MAIN.client_req"]
    edge_out = e1["MAIN.backend_req"] - e0["MAIN.backend_req"]
    edge_synth = e1.get("MAIN.s_synth", 0) - e0.get("MAIN.s_synth", 0)
    form = f"scaled-out (1 API process{' + the staff lane' if live.get('staff_url') else ''}, 2 media nodes)"
    print(f"stage: {form if scaled else 'embedded default'} behind the "
          f"Varnish edge, data under "
          f"{data_under or tempfile.gettempdir()}, nice {stage_nice}; {listeners} listeners; "
          f"flood {'also' if direct else 'not'} straight "
          "at the origin's public port; "
          f"flood {flood_s:.0f} s after {calm:.0f} s calm")  # fmt: skip
    print(f"flood generators (nice 19): wrk x{WRK_PROCESSES} {[t for t, _ in wrk_total]} requests "
          f"({sum(b for _, b in wrk_total)} non-2xx); python x{floods} from {FLOOD_ADDRESSES} addresses "
          f"{dict(python_flood)}; {SLOW_CLIENTS} slow clients")  # fmt: skip
    print(f"flood rate reached = {flood_rate:,.0f} req/s")
    print(f"second space: created in {host['create_s'] * 1000:.0f} ms, live (start answered) in "
          f"{host['start_s'] * 1000:.0f} ms, first part after {host['first_part_s'] * 1000:.0f} ms "
          f"{host['notes'] or ''}")  # fmt: skip
    print(f"longest gap between parts: {gap * 1000:.0f} ms under flood, {(gap - PART_S) * 1000:.0f} ms over the "
          f"part's own duration ({len(flood_stamps)} parts of {flood_s / PART_S:.0f} due; "
          f"{calm_gap * 1000:.0f} ms calm, part = {PART_S * 1000:.0f} ms); "
          f"media late ticks +{o1.get('late_ticks', 0) - o0.get('late_ticks', 0):.0f}; the media node's own account "
          f"over the run: worst tick lateness {worst(o0, o1, 'tick_lateness')}, worst part lateness "
          f"{worst(o0, o1, 'part_lateness')}")  # fmt: skip
    print(f"legitimate listeners: {requests} requests (incl. renewals), errors {dict(errors) or 0}")
    print(f"speakers: {spoken}")
    print(f"edge: {edge_in:,} client requests, {edge_synth:,} answered by the edge itself (synth), "
          f"{edge_out:,} sent to the origin; origin answered {o1.get('answered', 0) - o0.get('answered', 0):,.0f} "
          f"(shed 503 {o1.get('shed', 0) - o0.get('shed', 0):,.0f}, "
          f"5xx {o1.get('answered_5xx', 0) - o0.get('answered_5xx', 0):,.0f})")  # fmt: skip
    closes = {
        k.removeprefix("MAIN."): e1[k] - e0.get(k, 0) for k in e1 if k.startswith("MAIN.sc_") and e1[k] > e0.get(k, 0)
    }
    print(
        f"edge: connections closed by reason {closes}, "
        f"dropped {e1.get('MAIN.sess_dropped', 0) - e0.get('MAIN.sess_dropped', 0)}"
    )
    print(f"/proc/loadavg: {' '.join(str(round(x, 2)) for x in os.getloadavg())}")
    print(f"legit error rate under flood = {legit:.3f}%")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=40.0, help="how long the flood lasts")
    parser.add_argument("--workers", type=int, default=2, help="processes of legitimate listeners")
    parser.add_argument("--floods", type=int, default=2, help="Python flood processes")
    parser.add_argument(
        "--data-under", help="the stage's data directory under this folder (/dev/shm: no disk; default: temp folder)"
    )
    parser.add_argument(
        "--no-direct", action="store_true", help="flood through the edge only (the origin's public port firewalled)"
    )
    parser.add_argument("--cluster", action="store_true", help="the scaled-out form (1 API process, 2 media nodes)")
    parser.add_argument(
        "--no-staff-lane", action="store_true",
        help="--cluster without the staff lane's own API process (signed-in requests share API 1; a baseline)",
    )  # fmt: skip
    parser.add_argument(
        "--no-delivery-port", action="store_true", help="the edge fetches live media from the API's port (a baseline)"
    )
    parser.add_argument(
        "--stage-nice", type=int, default=0, help="the service's niceness (negative: ahead of other tenants; root)"
    )
    parser.add_argument(
        "--probe-nice", type=int, default=0,
        help="the probe's niceness (negative, as root: the instrument is not starved by the load it measures)",
    )  # fmt: skip
    args = parser.parse_args()
    import uvloop

    uvloop.run(
        main(args.listeners, args.seconds, args.workers, args.floods, args.data_under, not args.no_direct,
             args.stage_nice, args.cluster, not args.no_delivery_port, args.probe_nice, not args.no_staff_lane)
    )  # fmt: skip
