"""Where an API process sends a speaker's WHIP offer in the scaled-out form: to the node holding the
space's lease, or, during a drain, to the successor the draining node names under its lease (the
speakers move before the old node stops producing). On a real Redis and in memory."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from tests.support.servers import REDIS_URL
from tests.support.state import redis_prefix

from townhall.domain.placement import Member, space_lease
from townhall.media.remote import RemotePublishing
from townhall.store.state.leases import MemoryLeases, RedisLeases
from townhall.store.state.memory import MemoryState


@pytest_asyncio.fixture(params=["memory", "redis"])
async def leases(request: pytest.FixtureRequest) -> AsyncIterator[MemoryLeases | RedisLeases]:
    if request.param == "memory":
        yield MemoryLeases()
        return
    async with redis_prefix() as prefix:
        store = RedisLeases(f"{REDIS_URL}/0", prefix=prefix)
        try:
            yield store
        finally:
            await store.close()


async def test_offers_go_to_a_drains_successor_named_under_the_lease(leases: MemoryLeases | RedisLeases) -> None:
    now = time.time()
    for node in ("old", "next"):
        await leases.beat(Member(node, f"http://{node}", 1, node == "old"), 30, now)
    held = await leases.claim(space_lease("s1"), "old", 30, now)
    assert held is not None
    publishing = RemotePublishing(leases, MemoryState(30, 30), "secret", time.time)
    try:
        assert (await publishing._owner("s1", 0)).node_id == "old"
        await leases.fenced_put(space_lease("s1"), held, "successor", b"next", 30, now)
        assert (await publishing._owner("s1", 0)).node_id == "next"  # moved before the old node stops
        await leases.fenced_put(space_lease("s1"), held, "successor", b"gone", 30, now)
        assert (await publishing._owner("s1", 0)).node_id == "old"  # a successor with no heartbeat: the holder
    finally:
        await publishing.close()
