"""What only the Redis store has to prove: several processes share one state, atomically; keys stay
under the store's prefix; pub/sub crosses stores, unsubscribes when unused and survives a reconnect;
an unreachable Redis is `Unavailable("state_unavailable")` from every operation, never a driver error."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.support.servers import REDIS_URL, free_port, private_redis
from tests.support.state import LEASE_TTL, WAIT_TTL, open_store, redis_prefix
from tests.support.wait import until
from townhall.domain.admission import Admitted, Waiting
from townhall.domain.errors import Unavailable
from townhall.store.state.redis import RedisState

pytestmark = pytest.mark.timeout(60)
T0 = 1_764_170_000.5


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    async with redis_prefix() as p:
        yield p


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def test_stores_in_different_processes_share_one_seat_book_atomically(prefix: str) -> None:
    async with open_store("redis", prefix) as a, open_store("redis", prefix) as b:
        outcomes = await asyncio.gather(*((a if i % 2 else b).join("s1", f"l{i}", 7, T0) for i in range(40)))
        assert sum(isinstance(o, Admitted) for o in outcomes) == 7
        assert sorted(o.position for o in outcomes if isinstance(o, Waiting)) == list(range(1, 34))
        assert await a.seated("s1", 7, T0) == await b.seated("s1", 7, T0) == 7


async def test_every_key_lives_under_the_prefix(prefix: str, raw: aioredis.Redis) -> None:
    async with open_store("redis", prefix) as state:
        await state.join("s1", "a", 1, T0)
        await state.join("s1", "b", 1, T0)
        await state.hit("rl", 5, 60, T0)
        await state.incr("n")
        await state.hincr("h", "f", 1, 30, T0)
        await state.pfadd("u", "x")
        await state.first_seen("seen", 60, T0)
        await state.put("v", b"1", T0, ttl_s=30)
        await state.qpush("q", "m", 5)
        ours = [k async for k in raw.scan_iter(match=f"{prefix}*", count=1000)]
        assert len(ours) == 12  # 5 seat-book keys (meta: the pace and the draw) + one per other kind
        assert all(k.startswith(prefix.encode()) for k in ours)


async def test_keys_that_only_bound_memory_expire_on_the_server(prefix: str, raw: aioredis.Redis) -> None:
    async with open_store("redis", prefix) as state:
        await state.hit("rl", 5, 60, T0)
        await state.first_seen("seen", 60, T0)
        await state.hincr("h", "f", 1, 30, T0)
        await state.put("v", b"1", T0, ttl_s=30)
        for key in [k async for k in raw.scan_iter(match=f"{prefix}*", count=1000)]:
            assert 0 < await raw.pttl(key) <= 62_000


async def test_a_message_published_through_another_store_reaches_the_subscriber(prefix: str) -> None:
    async with open_store("redis", prefix) as here, open_store("redis", prefix) as there:
        messages = here.subscribe("space:x")
        await here.publish("space:x", b"from here")  # once heard, the subscription is on the server
        assert await anext(messages) == b"from here"
        await there.publish("space:x", b"from there")
        assert await asyncio.wait_for(anext(messages), 5) == b"from there"
        await messages.aclose()  # type: ignore[attr-defined]


async def test_publish_waits_for_a_pending_subscription_of_the_same_store(prefix: str) -> None:
    async with open_store("redis", prefix) as state:
        messages = state.subscribe("space:y")
        await state.publish("space:y", b"first")  # SUBSCRIBE is still in flight when this is called
        assert await asyncio.wait_for(anext(messages), 5) == b"first"
        await messages.aclose()  # type: ignore[attr-defined]


async def _subscribers(raw: aioredis.Redis, channel: str) -> int:
    return int(dict(await raw.pubsub_numsub(channel))[channel.encode()])


async def test_subscriptions_share_one_connection_and_unsubscribe_when_unused(prefix: str, raw: aioredis.Redis) -> None:
    channel = f"{prefix}space:z"
    async with open_store("redis", prefix) as state:
        many = [state.subscribe("space:z") for _ in range(20)]
        await state.publish("space:z", b"hi")
        assert [await anext(m) for m in many] == [b"hi"] * 20
        assert await _subscribers(raw, channel) == 1
        for m in many:
            await m.aclose()  # type: ignore[attr-defined]
        never_read = state.subscribe("space:z")
        await state.publish("space:z", b"unheard")
        del never_read  # dropped before its first step: released too
        deadline = time.monotonic() + 5
        while await _subscribers(raw, channel) != 0:
            assert time.monotonic() < deadline, "UNSUBSCRIBE never reached the server"
            await asyncio.sleep(0.02)


async def test_a_subscription_survives_a_dropped_connection(prefix: str, raw: aioredis.Redis) -> None:
    channel = f"{prefix}space:k"
    async with open_store("redis", prefix) as opened:
        assert isinstance(opened, RedisState)
        state = opened
        messages = state.subscribe("space:k")
        await state.publish("space:k", b"before")
        assert await anext(messages) == b"before"
        writer = state._channels._pubsub.connection._writer  # type: ignore[attr-defined]
        host, port = writer.get_extra_info("sockname")[:2]
        await raw.client_kill(f"{host}:{port}")  # this store's pub/sub connection only
        deadline = time.monotonic() + 10
        while await _subscribers(raw, channel) != 1:  # resubscribed after reconnecting
            assert time.monotonic() < deadline, "the subscription never came back"
            await asyncio.sleep(0.05)
        await state.publish("space:k", b"after")
        assert await asyncio.wait_for(anext(messages), 5) == b"after"
        await messages.aclose()  # type: ignore[attr-defined]


async def test_ping_is_false_when_redis_is_unreachable() -> None:
    state = RedisState(f"redis://127.0.0.1:{free_port()}/0", LEASE_TTL, WAIT_TTL)
    try:
        assert await asyncio.wait_for(state.ping(), 10) is False
    finally:
        await state.close()


async def test_a_burst_larger_than_the_connection_pool_waits_instead_of_failing(prefix: str) -> None:
    state = RedisState(f"{REDIS_URL}/0", LEASE_TTL, WAIT_TTL, prefix=prefix, max_connections=4)
    try:
        outcomes = await asyncio.gather(*(state.join("burst", f"l{i}", 100, T0) for i in range(300)))
        assert sum(isinstance(o, Admitted) for o in outcomes) == 100
        assert await state.queued("burst", 100, T0) == 200
    finally:
        await state.close()


def _every_operation(state: RedisState) -> dict[str, Callable[[], Awaitable[object]]]:
    return {
        "join": lambda: state.join("s", "a", 1, T0),
        "poll": lambda: state.poll("s", "a", 1, T0),
        "renew": lambda: state.renew("s", "a", 1, T0),
        "leave": lambda: state.leave("s", "a", 1, T0),
        "seated": lambda: state.seated("s", 1, T0),
        "queued": lambda: state.queued("s", 1, T0),
        "drop_space": lambda: state.drop_space("s"),
        "hit": lambda: state.hit("rl", 1, 60, T0),
        "incr": lambda: state.incr("n"),
        "get_count": lambda: state.get_count("n"),
        "set_max": lambda: state.set_max("n", 3),
        "hincr": lambda: state.hincr("h", "f", 1, 30, T0),
        "hgetall": lambda: state.hgetall("h", T0),
        "pfadd": lambda: state.pfadd("u", "x"),
        "pfcount": lambda: state.pfcount("u"),
        "first_seen": lambda: state.first_seen("seen", 60, T0),
        "put": lambda: state.put("v", b"1", T0),
        "get": lambda: state.get("v", T0),
        "qpush": lambda: state.qpush("q", "m", 5),
        "qlist": lambda: state.qlist("q"),
        "qremove": lambda: state.qremove("q", "m"),
        "publish": lambda: state.publish("space:x", b"1"),
    }


async def test_every_operation_on_an_unreachable_redis_is_unavailable_with_a_retry_after() -> None:
    state = RedisState(f"redis://127.0.0.1:{free_port()}/0", LEASE_TTL, WAIT_TTL)
    try:
        for name, operation in _every_operation(state).items():
            with pytest.raises(Unavailable) as raised:
                await asyncio.wait_for(operation(), 10)
            assert raised.value.code == "state_unavailable", name
            assert raised.value.retry_after == 2.0, name
    finally:
        await state.close()


async def test_a_redis_that_goes_away_is_unavailable_then_answers_again(tmp_path: Path) -> None:
    async with private_redis(tmp_path) as server:
        state = RedisState(server.url, LEASE_TTL, WAIT_TTL)
        try:
            assert await state.incr("n") == 1  # a pooled connection, about to break
            await server.stop()
            with pytest.raises(Unavailable):
                await asyncio.wait_for(state.incr("n"), 10)
            assert await state.ping() is False
            await server.start()
            assert await asyncio.wait_for(state.incr("n"), 10) == 1  # a fresh server: nothing persisted
        finally:
            await state.close()


async def test_subscriptions_come_back_after_redis_restarts(tmp_path: Path) -> None:
    async with private_redis(tmp_path) as server:
        here, there = RedisState(server.url, LEASE_TTL, WAIT_TTL), RedisState(server.url, LEASE_TTL, WAIT_TTL)
        try:
            before = here.subscribe("space:r")
            await here.publish("space:r", b"before")
            assert await anext(before) == b"before"
            await server.stop()
            during = here.subscribe("space:r2")  # asked for while Redis is down: made once it is back
            await server.start()
            # each subscription hears a message published after the restart (published again until it does,
            # as the subscriber's reconnection may come after the first publish)
            assert await _heard(before, there, "space:r") == b"after"
            assert await _heard(during, there, "space:r2") == b"after"
            for messages in (before, during):
                await messages.aclose()  # type: ignore[attr-defined]
        finally:
            await here.close()
            await there.close()


async def _heard(messages: AsyncIterator[bytes], publisher: RedisState, channel: str) -> bytes:
    waiting = asyncio.ensure_future(anext(messages))

    async def arrived() -> bool:
        if not waiting.done():
            with contextlib.suppress(Unavailable):  # the publisher's own connection may still be coming back
                await publisher.publish(channel, b"after")
            await asyncio.wait({waiting}, timeout=0.2)
        return waiting.done()

    try:
        await until(arrived, 20, f"a message on {channel} after the restart", every=0.1)
    finally:
        if not waiting.done():
            waiting.cancel()
    return waiting.result()
