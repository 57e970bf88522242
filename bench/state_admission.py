"""Admission through the hot-state stores: joins per second on memory and on the local Redis, into an
empty space and into one with a large audience seated, and the time Redis itself spends per join.

Usage: .venv/bin/python bench/state_admission.py [--joins 10000] [--seated 100000] [--concurrency 64]
Prints one line per store, then, last, `redis server us per join, large over empty = R` (near 1 means a
join costs the same whatever the audience: O(log n)). Uses its own Redis key prefix, deleted after.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis
from tests.support.servers import REDIS_URL
from tests.support.state import open_store

from townhall.store.state.base import StateStore

T0 = 1_764_170_000.0


async def fill(state: StateStore, space_id: str, n: int, concurrency: int) -> None:
    """Seat `n` listeners (no cap) so later joins run against a large seat book."""
    for start in range(0, n, concurrency * 16):
        batch = range(start, min(n, start + concurrency * 16))
        await asyncio.gather(*(state.join(space_id, f"seated-{i}", None, T0) for i in batch))


async def joins_per_s(state: StateStore, space_id: str, joins: int, concurrency: int, cap: int | None) -> float:
    """Joins by new listeners into a capped space (half get a seat, half a place in line)."""
    names = iter(range(joins))

    async def worker() -> None:
        for i in names:
            await state.join(space_id, f"joiner-{i}", cap, T0 + 1)

    began = time.perf_counter()
    async with asyncio.timeout(300):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return joins / (time.perf_counter() - began)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--joins", type=int, default=10_000)
    parser.add_argument("--seated", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    server_us: dict[str, float] = {}
    for kind in ("memory", "redis"):
        async with open_store(kind) as state:
            before = await script_time()
            small = await joins_per_s(state, "small", args.joins, args.concurrency, args.joins // 2)
            server_us["small"] = per_call(before, await script_time())
            await fill(state, "large", args.seated, args.concurrency)
            before = await script_time()
            large = await joins_per_s(state, "large", args.joins, args.concurrency, args.seated + args.joins // 2)
            server_us["large"] = per_call(before, await script_time())
        line = f"{kind}: {small:,.0f} joins/s into an empty space, {large:,.0f} joins/s with {args.seated:,} seated"
        if kind == "redis":
            line += f"; Redis spends {server_us['small']:.1f} us and {server_us['large']:.1f} us per join"
        print(line)
    print(f"redis server us per join, large over empty = {server_us['large'] / server_us['small']:.2f}")


async def script_time() -> tuple[int, int]:
    """Calls and microseconds Redis has spent in EVALSHA so far (server-wide: run on a quiet server)."""
    client = aioredis.from_url(REDIS_URL)
    try:
        stats = (await client.info("commandstats")).get("cmdstat_evalsha", {"calls": 0, "usec": 0})
    finally:
        await client.aclose()
    return int(stats["calls"]), int(stats["usec"])


def per_call(before: tuple[int, int], after: tuple[int, int]) -> float:
    return (after[1] - before[1]) / max(1, after[0] - before[0])


if __name__ == "__main__":
    asyncio.run(main())
