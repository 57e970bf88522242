"""Counting throughput: 1,000,000 listen events from 100,000 distinct listeners through the counting
path (viewer key HMAC, rules, group commit to SQL, HyperLogLog in the state store), per backend.

Producers hand in batches of 100 events (a beacon's worth) concurrently; every batch is acknowledged
only once committed. Prints events/s and the unique-count error per backend, the Redis figure last.
Run: .venv/bin/python bench/counting.py [--events N] [--listeners N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from townhall.domain.counting import Event, Kind
from townhall.services.admission import Listener
from townhall.services.counting import Counted, CountingService
from townhall.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"
BATCH = 100
PRODUCERS = 128


async def _service(backend: str, data_dir: Path) -> tuple[object, CountingService]:
    from townhall.app import build_runtime
    from townhall.store.sql import db as sqldb

    settings = Settings(data_dir=data_dir, token_keys="kb1:" + "33" * 32, log_level="warning")
    if backend == "redis":
        settings = settings.model_copy(
            update={"state_url": REDIS_URL, "state_prefix": f"bench-{uuid.uuid4().hex[:8]}:"}
        )
    rt = build_runtime(settings)
    await sqldb.migrate(rt.db.url.render_as_string(hide_password=False))
    counting = rt.recording.counting
    await counting.start()
    return rt, counting


async def run(backend: str, events: int, listeners: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="townhall-bench-") as tmp:
        rt, counting = await _service(backend, Path(tmp))
        space = "bench_space"
        people = [Listener(f"d-device{i:08d}") for i in range(listeners)]
        per_producer = events // PRODUCERS

        async def produce(p: int) -> None:
            i = p * per_producer
            end = i + per_producer
            while i < end:
                n = min(BATCH, end - i)
                batch = [
                    Counted(Event(Kind.JOIN, space, counting.viewer_of(people[(i + k) % listeners]))) for k in range(n)
                ]
                await counting.record(batch)
                i += n

        start = time.perf_counter()
        await asyncio.gather(*(produce(p) for p in range(PRODUCERS)))
        elapsed = time.perf_counter() - start
        totals = await counting.ledger.totals(f"space:{space}")
        unique = await rt.state.pfcount(f"hll:space:{space}:live")  # type: ignore[attr-defined]
        assert totals["joins"] == per_producer * PRODUCERS, totals
        await counting.stop()
        if backend == "redis":
            import redis.asyncio as aioredis

            client = aioredis.from_url(REDIS_URL)
            keys = [k async for k in client.scan_iter(match=f"{rt.state._p}*")]  # type: ignore[attr-defined]
            if keys:
                await client.delete(*keys)
            await client.aclose()
        await rt.state.close()  # type: ignore[attr-defined]
        await rt.db.dispose()  # type: ignore[attr-defined]
        return per_producer * PRODUCERS / elapsed, abs(unique - listeners) / listeners


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--listeners", type=int, default=100_000)
    args = parser.parse_args()
    results = {}
    for backend in ("memory", "redis"):
        rate, error = await run(backend, args.events, args.listeners)
        results[backend] = rate
        print(
            f"{backend}: {args.events:,} events, {args.listeners:,} listeners: "
            f"{rate:,.0f} events/s, unique-count error {error:.2%}",
            flush=True,
        )
    print(f"events/s (redis) = {results['redis']:.0f}")


if __name__ == "__main__":
    asyncio.run(main())
