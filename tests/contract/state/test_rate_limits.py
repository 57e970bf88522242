"""Rate limits (`RateLimits`): a fixed window in the caller's clock, counted exactly under concurrency;
and `Health`: a reachable store says so."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.contract.state.conftest import T0
from townhall.store.state.base import Health, RateLimits

pytestmark = pytest.mark.timeout(60)


async def test_a_fixed_window_allows_up_to_the_limit(state: RateLimits) -> None:
    key = f"rl-{uuid.uuid4().hex}"
    results = [await state.hit(key, 3, 60, 6000.0 + i) for i in range(5)]
    assert results == [True, True, True, False, False]


async def test_the_next_window_starts_afresh(state: RateLimits) -> None:
    key = f"rl-{uuid.uuid4().hex}"
    assert [await state.hit(key, 1, 60, 6059.9) for _ in range(2)] == [True, False]
    assert await state.hit(key, 1, 60, 6060.0) is True
    assert await state.hit(key, 1, 60, 6061.0) is False


async def test_rate_limit_keys_are_independent(state: RateLimits) -> None:
    assert await state.hit("rl-one", 1, 10, T0) is True
    assert await state.hit("rl-one", 1, 10, T0) is False
    assert await state.hit("rl-two", 1, 10, T0) is True


async def test_concurrent_hits_are_counted_exactly(state: RateLimits) -> None:
    results = await asyncio.gather(*(state.hit("rl-burst", 25, 60, T0) for _ in range(40)))
    assert results.count(True) == 25


async def test_ping_answers_true_when_reachable(state: Health) -> None:
    assert await state.ping() is True
