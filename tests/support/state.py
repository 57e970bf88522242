"""Hot-state stores for tests: every implementation by name, Redis isolated under its own key prefix.

A Redis prefix is deleted (SCAN + DEL of that prefix only) when the test ends; never FLUSHDB.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from tests.support.servers import REDIS_URL
from townhall.store.state.base import StateStore

LEASE_TTL = 45.0
WAIT_TTL = 30.0
STATE_KINDS = ["memory", "redis"]  # every implementation of the hot-state ports; each contract runs on all


@contextlib.asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A fresh key prefix on the local Redis; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        client = aioredis.from_url(REDIS_URL)
        try:
            batch: list[bytes] = []
            async for key in client.scan_iter(match=f"{prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await client.delete(*batch)
                    batch.clear()
            if batch:
                await client.delete(*batch)
        finally:
            await client.aclose()


@contextlib.asynccontextmanager
async def open_store(kind: str, prefix: str | None = None) -> AsyncIterator[StateStore]:
    """A store of `kind` (one of STATE_KINDS); for Redis under `prefix` (a fresh one when None)."""
    if kind == "memory":
        from townhall.store.state.memory import MemoryState

        memory = MemoryState(LEASE_TTL, WAIT_TTL)
        try:
            yield memory
        finally:
            await memory.close()
        return
    from townhall.store.state.redis import RedisState

    async with contextlib.AsyncExitStack() as stack:
        if prefix is None:
            prefix = await stack.enter_async_context(redis_prefix())
        shared = RedisState(f"{REDIS_URL}/0", LEASE_TTL, WAIT_TTL, prefix=prefix)
        try:
            yield shared
        finally:
            await shared.close()
