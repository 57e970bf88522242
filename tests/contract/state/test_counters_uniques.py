"""Counters (`Counters`): exact counts, maxima and per-field hashes that expire in the caller's time;
uniques (`Uniques`): HyperLogLog within its error, first-seen once per time to live."""

from __future__ import annotations

import asyncio

import pytest

from tests.contract.state.conftest import T0
from townhall.store.state.base import Counters, Uniques

pytestmark = pytest.mark.timeout(60)


async def test_counters_start_at_zero_and_add(state: Counters) -> None:
    assert await state.get_count("joins") == 0
    assert await state.incr("joins") == 1
    assert await state.incr("joins", 41) == 42
    assert await state.get_count("joins") == 42
    assert sum(await asyncio.gather(*(state.incr("burst") for _ in range(50)))) == sum(range(1, 51))


async def test_set_max_keeps_the_largest_value_seen(state: Counters) -> None:
    assert await state.set_max("peak", 5) == 5
    assert await state.set_max("peak", 3) == 5
    assert await state.set_max("peak", 12) == 12
    assert await state.get_count("peak") == 12
    await asyncio.gather(*(state.set_max("peak2", v) for v in [7, 90, 3, 45, 89]))
    assert await state.get_count("peak2") == 90


async def test_hash_counters_sum_per_field(state: Counters) -> None:
    assert await state.hgetall("react:1", T0) == {}
    await state.hincr("react:1", "clap", 1, 30, T0)
    await state.hincr("react:1", "clap", 2, 30, T0 + 1)
    await state.hincr("react:1", "heart", 1, 30, T0 + 2)
    assert await state.hgetall("react:1", T0 + 2) == {"clap": 3, "heart": 1}
    assert await state.hgetall("react:other", T0 + 2) == {}


async def test_a_hash_expires_its_ttl_after_the_last_write_in_the_callers_time(state: Counters) -> None:
    await state.hincr("react:2", "clap", 1, 30, T0)
    await state.hincr("react:2", "clap", 1, 30, T0 + 10)  # moves the expiry to T0 + 40
    assert await state.hgetall("react:2", T0 + 39.999) == {"clap": 2}
    assert await state.hgetall("react:2", T0 + 40) == {}


async def test_an_expired_hash_starts_again_from_zero(state: Counters) -> None:
    await state.hincr("react:3", "clap", 5, 1, T0)
    await state.hincr("react:3", "heart", 1, 30, T0 + 1)
    assert await state.hgetall("react:3", T0 + 1) == {"heart": 1}


async def test_unique_count_is_within_two_percent_at_100000(state: Uniques) -> None:
    n = 100_000
    for start in range(0, n, 5000):
        await state.pfadd("viewers", *(f"viewer-{i}" for i in range(start, start + 5000)))
    await state.pfadd("viewers", *(f"viewer-{i}" for i in range(5000)))  # seen again: not counted twice
    assert abs(await state.pfcount("viewers") - n) <= 0.02 * n


async def test_unique_counts_merge_keys_and_ignore_repeats(state: Uniques) -> None:
    assert await state.pfcount("nobody") == 0
    await state.pfadd("live", *(f"v{i}" for i in range(300)))
    await state.pfadd("live", *(f"v{i}" for i in range(300)))
    await state.pfadd("replay", *(f"v{i}" for i in range(200, 500)))
    assert abs(await state.pfcount("live") - 300) <= 6
    assert abs(await state.pfcount("live", "replay", "nobody") - 500) <= 10


async def test_first_seen_is_true_once_per_ttl_in_the_callers_time(state: Uniques) -> None:
    assert await state.first_seen("dd:v1", 60, T0) is True
    assert await state.first_seen("dd:v1", 60, T0 + 59.999) is False
    assert await state.first_seen("dd:v2", 60, T0 + 1) is True
    assert await state.first_seen("dd:v1", 60, T0 + 60) is True
    assert await state.first_seen("dd:v1", 60, T0 + 61) is False


async def test_first_seen_is_true_for_exactly_one_of_concurrent_callers(state: Uniques) -> None:
    results = await asyncio.gather(*(state.first_seen("dd:race", 60, T0) for _ in range(30)))
    assert results.count(True) == 1
