"""Bounded queues (`Queues`): unique members in arrival order, a bound that holds under concurrency."""

from __future__ import annotations

import asyncio

import pytest

from townhall.store.state.base import Queues

pytestmark = pytest.mark.timeout(60)


async def test_a_queue_keeps_unique_members_in_arrival_order(state: Queues) -> None:
    assert await state.qlist("speakq:1") == []
    for who in ("b", "a", "c", "a"):
        assert await state.qpush("speakq:1", who, 10) is True
    assert await state.qlist("speakq:1") == ["b", "a", "c"]
    assert await state.qremove("speakq:1", "a") is True
    assert await state.qremove("speakq:1", "a") is False
    assert await state.qpush("speakq:1", "a", 10) is True
    assert await state.qlist("speakq:1") == ["b", "c", "a"]


async def test_a_full_queue_refuses_newcomers_but_not_members(state: Queues) -> None:
    for who in ("a", "b"):
        assert await state.qpush("speakq:2", who, 2) is True
    assert await state.qpush("speakq:2", "c", 2) is False
    assert await state.qpush("speakq:2", "a", 2) is True
    assert await state.qremove("speakq:2", "a") is True
    assert await state.qpush("speakq:2", "c", 2) is True
    assert await state.qlist("speakq:2") == ["b", "c"]


async def test_concurrent_pushes_respect_the_bound(state: Queues) -> None:
    results = await asyncio.gather(*(state.qpush("speakq:3", f"m{i}", 10) for i in range(30)))
    assert results.count(True) == 10
    assert len(await state.qlist("speakq:3")) == 10
