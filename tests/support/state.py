"""Hot-state stores for tests: every implementation by name, Redis isolated under its own key prefix.

A Redis prefix is deleted (SCAN + DEL of that prefix only) when the test ends; never FLUSHDB.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import cast

import redis.asyncio as aioredis

from tests.support.servers import REDIS_URL
from townhall.store.state.base import StateStore

LEASE_TTL = 45.0
WAIT_TTL = 30.0
STATE_KINDS = ["memory", "redis", "redis-cluster"]  # every hot-state implementation; each contract runs on all
CLUSTER_URL = "redis+cluster://127.0.0.1:7001"  # scripts/services.sh starts it


@contextlib.asynccontextmanager
async def redis_prefix(cluster: bool = False) -> AsyncIterator[str]:
    """A fresh key prefix on the local Redis (or Redis Cluster); its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        client = _cluster_client() if cluster else aioredis.from_url(REDIS_URL)
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
    from townhall.store.state.redis_cluster import RedisClusterState

    cluster = kind == "redis-cluster"
    async with contextlib.AsyncExitStack() as stack:
        if prefix is None:
            prefix = await stack.enter_async_context(redis_prefix(cluster))
        if cluster:
            shared: RedisState = RedisClusterState(CLUSTER_URL, LEASE_TTL, WAIT_TTL, prefix=prefix)
        else:
            shared = RedisState(f"{REDIS_URL}/0", LEASE_TTL, WAIT_TTL, prefix=prefix)
        try:
            yield shared
        finally:
            await shared.close()


async def forget_scripts(kind: str) -> None:
    """What a restarted or newly promoted Redis node knows of our Lua scripts: nothing (SCRIPT FLUSH on every
    master). Harmless to other tests: every caller reloads a script the server does not know."""
    if kind == "memory":
        return
    client = _cluster_client() if kind == "redis-cluster" else aioredis.from_url(REDIS_URL)
    try:
        await client.script_flush()
    finally:
        await client.aclose()


def _cluster_client() -> aioredis.Redis:
    from redis.asyncio.cluster import RedisCluster

    from townhall.store.state.redis_cluster import node_url

    return cast(aioredis.Redis, RedisCluster.from_url(node_url(CLUSTER_URL)))  # SCAN and DEL visit every master
