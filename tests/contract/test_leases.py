"""Leases and heartbeats: the same rules in memory and on a real Redis (one suite, every implementation).

Memory takes time from `now`; Redis from its own clock (PX), so the Redis cases that need a lease to
lapse use a short TTL and wait for it through `until`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.support.servers import REDIS_URL
from tests.support.state import CLUSTER_URL, STATE_KINDS, redis_prefix
from tests.support.wait import until
from townhall.domain.placement import Lease, Member
from townhall.store.state.leases import MemoryLeases, RedisLeases
from townhall.store.state.redis_cluster import RedisClusterLeases

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(params=STATE_KINDS)
async def leases(request: pytest.FixtureRequest) -> AsyncIterator[MemoryLeases | RedisLeases]:
    if request.param == "memory":
        yield MemoryLeases()
        return
    cluster = request.param == "redis-cluster"
    async with redis_prefix(cluster) as prefix:
        if cluster:
            store: RedisLeases = RedisClusterLeases(CLUSTER_URL, prefix=prefix)
        else:
            store = RedisLeases(f"{REDIS_URL}/0", prefix=prefix)
        try:
            yield store
        finally:
            await store.close()


async def _lapse(leases: MemoryLeases | RedisLeases, name: str, now: float) -> float:
    """Let the lease on `name` run out; return the `now` after it."""
    if isinstance(leases, MemoryLeases):
        return now + 10
    await until(lambda: _free(leases, name, now), 5, "the lease to lapse")
    return now


async def _free(leases: MemoryLeases | RedisLeases, name: str, now: float) -> bool:
    return await leases.holder(name, now) is None


async def test_one_holder_at_a_time(leases: MemoryLeases | RedisLeases) -> None:
    now = time.time()
    first = await leases.claim("space:a", "node-1", 0.3, now)
    assert first == Lease("node-1", 1)
    assert await leases.claim("space:a", "node-2", 0.3, now) is None
    assert await leases.holder("space:a", now) == first
    assert await leases.claim("space:b", "node-2", 0.3, now) == Lease("node-2", 1)


async def test_renewal_only_by_the_holder_of_the_current_epoch(leases: MemoryLeases | RedisLeases) -> None:
    now = time.time()
    first = await leases.claim("space:a", "node-1", 0.3, now)
    assert first is not None
    assert await leases.renew("space:a", first, 0.3, now)
    assert not await leases.renew("space:a", Lease("node-2", first.epoch), 0.3, now)
    now = await _lapse(leases, "space:a", now)
    second = await leases.claim("space:a", "node-2", 30, now)
    assert second == Lease("node-2", first.epoch + 1)  # the fencing number grows with every claim
    assert not await leases.renew("space:a", first, 30, now)  # the old holder comes back: refused
    assert await leases.holder("space:a", now) == second


async def test_fenced_writes_refused_once_the_lease_moved(leases: MemoryLeases | RedisLeases) -> None:
    now = time.time()
    first = await leases.claim("space:a", "node-1", 0.3, now)
    assert first is not None
    assert await leases.fenced_put("space:a", first, "media.m3u8", b"one", None, now)
    assert await leases.fenced_get("space:a", "media.m3u8", now) == b"one"
    now = await _lapse(leases, "space:a", now)
    assert not await leases.fenced_put("space:a", first, "media.m3u8", b"stale", None, now)  # lapsed
    second = await leases.claim("space:a", "node-2", 30, now)
    assert second is not None
    assert not await leases.fenced_put("space:a", first, "media.m3u8", b"stale", None, now)  # moved on
    assert await leases.fenced_get("space:a", "media.m3u8", now) == b"one"
    assert await leases.fenced_put("space:a", second, "media.m3u8", b"two", 30, now)
    assert await leases.fenced_get("space:a", "media.m3u8", now) == b"two"


async def test_a_drain_hands_the_lease_to_its_successor_in_one_step(leases: MemoryLeases | RedisLeases) -> None:
    now = time.time()
    first = await leases.claim("space:a", "node-1", 30, now)
    assert first is not None
    assert await leases.transfer("space:a", Lease("node-2", first.epoch), "node-3", 30, now) is None  # not yours
    moved = await leases.transfer("space:a", first, "node-2", 30, now)
    assert moved == Lease("node-2", first.epoch + 1)  # a new fencing number: the old holder is fenced out
    assert await leases.holder("space:a", now) == moved
    assert await leases.claim("space:a", "node-3", 30, now) is None  # held throughout: nobody else can claim
    assert not await leases.renew("space:a", first, 30, now)
    assert not await leases.fenced_put("space:a", first, "media.m3u8", b"stale", None, now)
    assert await leases.transfer("space:a", first, "node-1", 30, now) is None  # the old holder cannot take it back
    assert await leases.renew("space:a", moved, 30, now)
    assert await leases.fenced_put("space:a", moved, "media.m3u8", b"new", 30, now)


async def test_release_frees_only_your_own_lease(leases: MemoryLeases | RedisLeases) -> None:
    now = time.time()
    first = await leases.claim("space:a", "node-1", 30, now)
    assert first is not None
    await leases.release("space:a", Lease("node-2", first.epoch), now)
    assert await leases.holder("space:a", now) == first
    await leases.release("space:a", first, now)
    assert await leases.holder("space:a", now) is None
    assert await leases.claim("space:a", "node-2", 30, now) == Lease("node-2", first.epoch + 1)


async def test_members_alive_until_their_heartbeat_lapses(leases: MemoryLeases | RedisLeases) -> None:
    now = time.time()
    await leases.beat(Member("node-1", "http://127.0.0.1:1", 2, False), 3, now)
    await leases.beat(Member("node-2", "http://127.0.0.1:2", 0, True), 1, now)
    assert sorted(m.node_id for m in await leases.members(now)) == ["node-1", "node-2"]
    later = await leases.members(now + 2)  # node-2's heartbeat has lapsed by the caller's clock
    assert later == [Member("node-1", "http://127.0.0.1:1", 2, False)]
    await leases.leave("node-1")
    assert await leases.members(now) == []
