"""What storing one LL-HLS part in S3 costs the process that writes it: PUT latency (p50, p99) and the
CPU the writer's event loop spends per PUT (`time.thread_time` on the loop's thread, so the driver's own
threads and the server are not counted; that CPU is what competes with a space's 20 ms tick).

An S3-compatible server (moto's server mode) runs in a process of its own on loopback; each PUT is the
immutable write of a fresh part of --size bytes (`If-None-Match: *`), one at a time, then --concurrency
at once. `--client aiobotocore` measures the same PUTs through aiobotocore, where it is installed
(docs/decisions/0009 compares the two); the default is the store the project uses (obstore).

    .venv/bin/python bench/blobs_s3.py [--puts 500] [--size 1800] [--concurrency 16] [--client obstore]

Prints `s3 put p50 = A ms, p99 = B ms, loop CPU = C us/put (D above a bare wake-up; CLIENT)` last: a timer
wake-up of the loop has a CPU cost of its own on a given machine, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.support.s3 import new_bucket, s3_options  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

Put = Callable[[str, bytes], Awaitable[None]]


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(endpoint, timeout=1)
            return proc, endpoint
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("moto_server did not start") from None
            time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def obstore_put(endpoint: str, bucket: str) -> tuple[Put, Callable[[], Awaitable[None]]]:
    from townhall.store.blobs.s3 import S3Blobs

    store = S3Blobs(bucket, "bench", **s3_options(endpoint))

    async def close() -> None:
        return None

    return store.put_immutable, close


async def aiobotocore_put(endpoint: str, bucket: str) -> tuple[Put, Callable[[], Awaitable[None]]]:
    from aiobotocore.session import get_session

    o = s3_options(endpoint)
    context = get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=o["region"],
        aws_access_key_id=o["access_key_id"],
        aws_secret_access_key=o["secret_access_key"],
    )
    client = await context.__aenter__()

    async def put(key: str, data: bytes) -> None:
        await client.put_object(Bucket=bucket, Key=f"bench/{key}", Body=data, IfNoneMatch="*")

    async def close() -> None:
        await context.__aexit__(None, None, None)

    return put, close


async def measure(put: Put, puts: int, size: int, concurrency: int) -> dict[str, float]:
    payload = os.urandom(size)
    run = uuid.uuid4().hex[:8]
    for i in range(20):  # warm the connection pool and the server
        await put(f"warm/{run}/p{i}.m4s", payload)
    latencies: list[float] = []
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for i in range(puts):
        start = time.perf_counter()
        await put(f"seq/{run}/p{i}.m4s", payload)
        latencies.append(time.perf_counter() - start)
    cpu_seq, wall_seq = time.thread_time() - cpu0, time.perf_counter() - wall0
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for batch in range(0, puts, concurrency):
        keys = [f"par/{run}/p{i}.m4s" for i in range(batch, min(puts, batch + concurrency))]
        await asyncio.gather(*(put(k, payload) for k in keys))
    cpu_par, wall_par = time.thread_time() - cpu0, time.perf_counter() - wall0
    # what the loop spends waking up at all (epoll, timers) on this machine, for as many waits as long
    wait = statistics.median(latencies)
    cpu0 = time.thread_time()
    for _ in range(puts):
        await asyncio.sleep(wait)
    cpu_wake = time.thread_time() - cpu0
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "cpu_us": 1e6 * cpu_seq / puts,
        "cpu_par_us": 1e6 * cpu_par / puts,
        "cpu_wake_us": 1e6 * cpu_wake / puts,
        "rate_seq": puts / wall_seq,
        "rate_par": puts / wall_par,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--puts", type=int, default=500)
    parser.add_argument("--size", type=int, default=1800, help="bytes per part (213 ms of 64 kbit/s AAC ~ 1.7 KB)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--client", choices=["obstore", "aiobotocore"], default="obstore")
    args = parser.parse_args()
    proc, endpoint = start_server()
    try:
        bucket = new_bucket(endpoint)
        opener = obstore_put if args.client == "obstore" else aiobotocore_put
        put, close = await opener(endpoint, bucket)
        try:
            r = await measure(put, args.puts, args.size, args.concurrency)
        finally:
            await close()
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"{args.puts} PUTs of {args.size} B through {args.client} to moto_server on loopback (its own process)")
    print(f"one at a time: {r['rate_seq']:.0f} PUT/s; {args.concurrency} at once: {r['rate_par']:.0f} PUT/s")
    print(f"loop CPU with {args.concurrency} in flight: {r['cpu_par_us']:.0f} us/put")
    print(f"loop CPU of a bare timer wake-up of the same length (the machine's floor): {r['cpu_wake_us']:.0f} us")
    print(
        f"s3 put p50 = {r['p50_ms']:.2f} ms, p99 = {r['p99_ms']:.2f} ms, "
        f"loop CPU = {r['cpu_us']:.0f} us/put "
        f"({r['cpu_us'] - r['cpu_wake_us']:.0f} above a bare wake-up; {args.client})"
    )


if __name__ == "__main__":
    asyncio.run(main())
