"""Presence at scale (decision 0012): an uncapped space's seats spread over shards with a longer lease, on
every store (memory, Redis, a three-master Redis Cluster); a capped space never admits past its cap
whatever the shards, and a silent listener's seat frees within the lease."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract.state.conftest import T0, space
from tests.support.state import LEASE_TTL
from tests.support.wait import until
from townhall.domain.admission import BURST_S, Admitted, Policy, Waiting
from townhall.domain.errors import Unavailable
from townhall.store.state.base import StateStore
from townhall.store.state.presence import ShardedSeats

pytestmark = pytest.mark.timeout(120)

OPEN_TTL = 120.0
SHARDS = 8
OPEN = Policy(None, None, True)


def sharded(state: StateStore) -> ShardedSeats:
    return ShardedSeats(state, state.lasting(OPEN_TTL), SHARDS, OPEN_TTL)


async def test_an_uncapped_audience_is_spread_over_shards_with_the_longer_lease(state: StateStore) -> None:
    seats, s = sharded(state), space()
    for i in range(200):
        assert await seats.join(s, f"l{i}", OPEN, T0) == Admitted(T0 + OPEN_TTL)
    assert await seats.seated(s, OPEN, T0) == 200 and await seats.queued(s, OPEN, T0) == 0
    per_shard = [await state.seated(f"{s}~{k}", None, T0) for k in range(SHARDS)]
    assert sum(per_shard) == 200 and min(per_shard) > 0  # every shard holds some: spread, not one slot
    assert await state.seated(s, OPEN, T0) == 0  # nothing left in the space's own book
    later = T0 + LEASE_TTL + 5  # past a capped space's lease, within an open one's
    assert await seats.renew(s, "l0", OPEN, later) == later + OPEN_TTL  # answered at once, written behind
    assert await seats.join(s, "l1", OPEN, later) == Admitted(later + OPEN_TTL)  # a refresh keeps the seat
    await seats.renew(s, "l2", OPEN, later)
    await seats.leave(s, "l2", OPEN, later)  # a renewal still held when they leave is not written
    await seats.renewals.flush()
    assert await seats.seated(s, OPEN, later) == 199
    silent = T0 + OPEN_TTL + 1  # the 197 who never renewed are gone; l0 and l1 renewed
    assert await seats.seated(s, OPEN, silent) == 2
    assert await seats.renew(s, "l3", OPEN, silent) == silent + OPEN_TTL  # a lapsed seat is taken again
    await seats.renewals.flush()
    assert await seats.seated(s, OPEN, silent) == 3
    await seats.drop_space(s)
    assert await seats.seated(s, OPEN, later) == 0


class Counting:
    """A seat book that counts the calls that reach it (each would be one round trip), and those whose
    write has completed (what a read after it sees)."""

    def __init__(self, book: StateStore) -> None:
        self.book, self.calls, self.written = book, 0, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.book, name)

    async def refresh_many(self, renewals: list[tuple[str, str, float]], now: float) -> None:
        self.calls += 1
        await self.book.refresh_many(renewals, now)
        self.written += 1


async def test_renewals_are_answered_at_once_and_written_together(state: StateStore) -> None:
    open_books = Counting(state.lasting(OPEN_TTL))
    seats, s = ShardedSeats(state, open_books, SHARDS, OPEN_TTL, flush_s=0.05), space()  # type: ignore[arg-type]
    for i in range(100):
        await seats.join(s, f"l{i}", OPEN, T0)
    later = T0 + 60
    renewed = await asyncio.gather(*(seats.renew(s, f"l{i}", OPEN, later) for i in range(100)))
    assert renewed == [later + OPEN_TTL] * 100 and open_books.calls == 0  # nothing waited for the store
    await until(lambda: open_books.written >= 1, 5, "the held renewals to be written")
    assert open_books.calls == 1  # every book's renewals in one call
    assert await seats.seated(s, OPEN, T0 + OPEN_TTL + 1) == 100  # kept past their first lease


async def test_renewals_the_store_refused_are_written_in_a_later_round(state: StateStore) -> None:
    class Refusing(Counting):
        async def refresh_many(self, renewals: list[tuple[str, str, float]], now: float) -> None:
            self.calls += 1
            if self.calls == 1:
                raise Unavailable("state_unavailable", "the hot state store is unreachable; try again shortly")
            await self.book.refresh_many(renewals, now)
            self.written += 1

    open_books = Refusing(state.lasting(OPEN_TTL))
    seats, s = ShardedSeats(state, open_books, SHARDS, OPEN_TTL, flush_s=0.05), space()  # type: ignore[arg-type]
    await seats.join(s, "a", OPEN, T0)
    assert await seats.renew(s, "a", OPEN, T0 + 60) == T0 + 60 + OPEN_TTL
    await until(lambda: open_books.written >= 1, 5, "a second round, written, after the refused one")
    assert open_books.calls == 2
    assert await seats.seated(s, OPEN, T0 + OPEN_TTL + 1) == 1


async def test_a_paced_uncapped_space_admits_at_its_pace_then_spreads_the_seats(state: StateStore) -> None:
    seats, s = sharded(state), space()
    paced = Policy(None, 60, True)  # one admission a second
    burst = 1 + round(BURST_S)  # the first, and the seconds' worth saved up while nobody called
    for who in range(burst):
        assert isinstance(await seats.join(s, f"early{who}", paced, T0), Admitted)
    waiting = await seats.join(s, "c", paced, T0)
    assert isinstance(waiting, Waiting) and waiting.position == 1
    assert await seats.queued(s, paced, T0) == 1
    assert await seats.poll(s, "c", paced, T0 + 2) == Admitted(T0 + 2 + OPEN_TTL)  # its turn: seated in a shard
    assert await seats.seated(s, paced, T0 + 2) == burst + 1 and await seats.queued(s, paced, T0 + 2) == 0
    assert await seats.poll(s, "early0", paced, T0 + 2) == Admitted(T0 + OPEN_TTL)


async def test_a_capped_space_stays_in_one_book_with_the_short_lease(state: StateStore) -> None:
    seats, s = sharded(state), space()
    assert await seats.join(s, "a", 1, T0) == Admitted(T0 + LEASE_TTL)
    assert await seats.join(s, "b", 1, T0) == Waiting(position=1, ahead=0)
    assert await seats.seated(s, 1, T0) == 1 and await state.seated(s, 1, T0) == 1
    await seats.leave(s, "a", 1, T0 + 1)
    assert await seats.poll(s, "b", 1, T0 + 1) == Admitted(T0 + 1 + LEASE_TTL)  # the freed seat, handed on


OPS = st.lists(
    st.tuples(st.sampled_from(["join", "renew", "leave", "wait"]), st.integers(0, 11), st.integers(1, 30)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cap=st.integers(1, 5), ops=OPS)
async def test_a_capped_space_never_seats_more_than_its_cap_across_all_shards(
    state: StateStore, cap: int, ops: list[tuple[str, int, int]]
) -> None:
    seats, s, now = sharded(state), space(), T0
    for op, who, step in ops:
        name = f"w{who}"
        if op == "wait":
            now += step
        elif op == "join":
            await seats.join(s, name, cap, now)
        elif op == "renew":
            await seats.renew(s, name, cap, now)
        else:
            await seats.leave(s, name, cap, now)
        total = await seats.seated(s, cap, now)
        in_shards = sum([await state.seated(f"{s}~{k}", None, now) for k in range(SHARDS)])
        assert total <= cap and in_shards == 0, (total, in_shards)  # one book decides, the cap holds
