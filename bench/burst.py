"""A burst of joins for one capped space on the scaled-out control plane (decision 0010).

Starts two `townhall api` processes on a fresh PostgreSQL database and the local Redis (own key prefix,
deleted after; src/townhall/cluster.py), creates a space with the waiting room's two settings (cap
10,000, 2,000 admissions a minute) and starts it; then makes 100,000 join attempts in 60 s, open loop
(each attempt has its scheduled time, so a slow answer delays nobody else's measurement), from load
generator processes at nice 19 over keep-alive connections bound to 250 loopback addresses
(127.0.0.2-251; 100,000 joins at 600 a minute an address stay under the per-address limit), spread
over both API processes. Meanwhile it samples the space's seated listeners in Redis twice a second.

Leases are set to 10 minutes for the run, so a seat is only ever taken, never freed: the admissions in
any minute are the growth of the seated count over it. Waiting clients do not poll (their polls would
be extra load; the joins themselves move the line, which admits lazily on every call).

Usage: .venv/bin/python bench/burst.py [--attempts 100000] [--seconds 60] [--cap 10000] [--rate 2000]
       [--generators 3] [--connections 240]
Prints the counts, the latency percentiles, the admissions a minute, and last
`join burst p99 = S s, over cap = N`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import redis.asyncio as aioredis
from tests.support.servers import REDIS_URL, postgres_database
from tests.support.state import redis_prefix

from townhall.cluster import cluster

KEYS = "kb1:" + "ab" * 32  # a throwaway token key for the run
ADDRESSES = [f"127.0.0.{i}" for i in range(2, 252)]


# --- the load generator (child processes at nice 19) -----------------------------------------------
def _request(space: str, device: str) -> bytes:
    body = f'{{"device_id":"{device}"}}'.encode()
    head = (
        f"POST /api/spaces/{space}/join HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Townhall-Synthetic: 1\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _generate(
    worker: int,
    workers: int,
    ports: list[int],
    space: str,
    attempts: int,
    seconds: float,
    start_at: float,
    connections: int,
) -> list[tuple[float, float, int]]:
    """Attempts worker, worker + workers, ... at their scheduled times; (scheduled, latency, status)."""
    mine = list(range(worker, attempts, workers))
    interval = seconds / attempts
    queue: asyncio.Queue[int] = asyncio.Queue()
    results: list[tuple[float, float, int]] = []

    async def connection(k: int) -> None:
        address = ADDRESSES[(worker + k * workers) % len(ADDRESSES)]
        port = ports[k % len(ports)]
        reader = writer = None
        while True:
            n = await queue.get()
            scheduled = start_at + n * interval
            status = 0
            for _ in range(2):  # one reconnect if the server closed a kept-alive connection
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
                    writer.write(_request(space, f"burst{n:08d}"))
                    assert reader is not None
                    status = await asyncio.wait_for(_read_response(reader), 30)
                    break
                except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                    if writer is not None:
                        writer.close()
                    reader = writer = None
            results.append((scheduled, time.time() - scheduled, status))
            queue.task_done()

    tasks = [asyncio.create_task(connection(k)) for k in range(connections)]
    for n in mine:
        delay = start_at + n * interval - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(n)
    await queue.join()
    for t in tasks:
        t.cancel()
    return results


def _generator(args: tuple[int, int, list[int], str, int, float, float, int], out: mp.Queue) -> None:  # type: ignore[type-arg]
    os.nice(19)  # the service, not the load generator, gets the CPU
    import resource

    import uvloop

    results = uvloop.run(_generate(*args))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.put((results, usage.ru_utime + usage.ru_stime))


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the run -------------------------------------------------------------------------------------------
async def _sample(redis: aioredis.Redis, key: str, stop: asyncio.Event, samples: list[tuple[float, int]]) -> None:
    while not stop.is_set():
        samples.append((time.time(), int(await redis.zcard(key))))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def _admissions_a_minute(samples: list[tuple[float, int]], start: float, end: float) -> list[int]:
    """Seated-count growth over each whole minute from `start` (no seat is freed during the run)."""
    out, t = [], start
    while t + 60 <= end + 0.5:
        before = max((n for at, n in samples if at <= t), default=0)
        after = max((n for at, n in samples if at <= t + 60), default=0)
        out.append(after - before)
        t += 60
    return out


async def run(args: argparse.Namespace) -> None:
    async with postgres_database() as db, redis_prefix() as prefix:
        env = {
            "TOWNHALL_DATABASE_URL": db,
            "TOWNHALL_STATE_URL": f"{REDIS_URL}/0",
            "TOWNHALL_STATE_PREFIX": prefix,
            "TOWNHALL_TOKEN_KEYS": KEYS,
            "TOWNHALL_EDGE_SECRET": "burst-bench-edge-secret-0123456789abcdef",
            "TOWNHALL_LOG_LEVEL": "warning",
            "TOWNHALL_LEASE_TTL_S": "600",
        }
        with tempfile.TemporaryDirectory(prefix="townhall-burst-") as work:
            async with cluster(Path(work), env, apis=args.apis, media=0) as c:
                ports = [p.port for p in c.apis]
                async with httpx.AsyncClient(base_url=c.apis[0].url, timeout=10) as api:
                    r = await api.post("/api/accounts", json={"handle": "bursthost", "password": "burst password"})
                    headers = {"Authorization": f"Bearer {r.json()['session_token']}"}
                    body = {"title": "Burst", "listener_cap": args.cap, "admissions_per_minute": args.rate}
                    space = (await api.post("/api/spaces", json=body, headers=headers)).json()["id"]
                    (await api.post(f"/api/spaces/{space}/start", headers=headers)).raise_for_status()
                redis = aioredis.from_url(f"{REDIS_URL}/0")
                samples: list[tuple[float, int]] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(_sample(redis, f"{prefix}seats:{{{space}}}:leases", stop, samples))
                start_at = time.time() + 2.0
                ctx = mp.get_context("spawn")
                out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
                per = max(1, args.connections // args.generators)
                procs = [
                    ctx.Process(
                        target=_generator,
                        args=((w, args.generators, ports, space, args.attempts, args.seconds, start_at, per), out),
                    )
                    for w in range(args.generators)
                ]
                api_cpu = [_cpu_s(a.proc.pid) for a in c.apis]
                for p in procs:
                    p.start()
                results: list[tuple[float, float, int]] = []
                generator_cpu = 0.0
                for _ in procs:
                    got, cpu = await asyncio.to_thread(out.get)
                    results += got
                    generator_cpu += cpu
                api_cpu = [_cpu_s(a.proc.pid) - before for a, before in zip(c.apis, api_cpu, strict=True)]
                for p in procs:
                    p.join()
                end = time.time()
                stop.set()
                await sampler
                await redis.aclose()

    latencies = sorted(lat for _, lat, _ in results)
    statuses: dict[int, int] = {}
    for _, _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    answered = statuses.get(200, 0) + statuses.get(202, 0)
    server_errors = sum(n for s, n in statuses.items() if s >= 500)
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    span = max(s for s, _, _ in results) - min(s for s, _, _ in results)
    most = max(n for _, n in samples)
    minutes = _admissions_a_minute(samples, start_at, end)
    load = (await asyncio.to_thread(Path("/proc/loadavg").read_text)).strip()
    print(f"attempts: {len(results):,} scheduled over {span:.1f} s to {args.apis} API processes (PostgreSQL + Redis)")
    print(f"answers: {dict(sorted(statuses.items()))} (0 = no answer); admitted or queued: {answered:,}")
    print(f"5xx: {server_errors}; latency p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {latencies[-1]:.2f} s")
    print(f"seated at most {most:,} of cap {args.cap:,} over {len(samples)} samples")
    mean = statistics.mean(minutes) if minutes else float("nan")
    during = [(at, n) for at, n in samples if start_at <= at <= start_at + span]
    if len(during) >= 2:
        pace = (during[-1][1] - during[0][1]) / (during[-1][0] - during[0][0]) * 60
        print(f"admissions a minute over the burst (seated growth): {pace:,.0f} (setting {args.rate:,})")
    print(f"admissions in each whole minute: {minutes} (setting {args.rate}; mean off by {mean / args.rate - 1:+.1%})")
    wall = end - start_at
    print(
        f"CPU over {wall:.0f} s: API processes {' + '.join(f'{x:.0f}' for x in api_cpu)} s, "
        f"load generators {generator_cpu:.0f} s (nice 19); {answered / wall:,.0f} answers/s"
    )
    print(f"load average: {load}")
    print(f"join burst p99 = {p99:.3f} s, over cap = {max(0, most - args.cap)}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--attempts", type=int, default=100_000)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--cap", type=int, default=10_000)
    p.add_argument("--rate", type=int, default=2_000)
    p.add_argument("--apis", type=int, default=2)
    p.add_argument("--generators", type=int, default=3)
    p.add_argument("--connections", type=int, default=240)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
