"""Pub/sub (`PubSub`): a subscription is registered when `subscribe` returns, hears its channel only,
and ends when the store closes."""

from __future__ import annotations

import asyncio

import pytest

from townhall.store.state.base import StateStore

pytestmark = pytest.mark.timeout(60)


async def test_a_subscription_hears_what_is_published_after_subscribe_returns(state: StateStore) -> None:
    messages = state.subscribe("space:p1")  # not iterated yet: already registered
    await state.publish("space:p1", b"one")
    await state.publish("space:p1", b"two")
    assert [await anext(messages), await anext(messages)] == [b"one", b"two"]
    await messages.aclose()  # type: ignore[attr-defined]


async def test_every_subscriber_hears_every_message_of_its_channel_only(state: StateStore) -> None:
    first, second, other = state.subscribe("space:p2"), state.subscribe("space:p2"), state.subscribe("space:p3")
    await state.publish("space:p2", b"hello")
    await state.publish("space:p3", b"elsewhere")
    assert await anext(first) == b"hello"
    assert await anext(second) == b"hello"
    assert await anext(other) == b"elsewhere"
    for it in (first, second, other):
        await it.aclose()  # type: ignore[attr-defined]


async def test_one_subscriber_leaving_does_not_silence_the_others(state: StateStore) -> None:
    staying, leaving = state.subscribe("space:p4"), state.subscribe("space:p4")
    await state.publish("space:p4", b"1")
    assert await anext(leaving) == b"1"
    await leaving.aclose()  # type: ignore[attr-defined]
    await state.publish("space:p4", b"2")
    assert [await anext(staying), await anext(staying)] == [b"1", b"2"]
    await staying.aclose()  # type: ignore[attr-defined]


async def test_a_subscription_dropped_unused_is_forgotten_and_a_new_one_works(state: StateStore) -> None:
    dropped = state.subscribe("space:p5")
    del dropped
    fresh = state.subscribe("space:p5")
    await state.publish("space:p5", b"x")
    assert await anext(fresh) == b"x"
    await fresh.aclose()  # type: ignore[attr-defined]


async def test_closing_the_store_ends_open_subscriptions(state: StateStore) -> None:
    messages = state.subscribe("space:p6")
    waiting = asyncio.ensure_future(anext(messages))
    await asyncio.sleep(0)
    await state.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, 5)
