"""The waiting room (decision 0010) on every store: the cap, the pace (new admissions a minute), the
pool drawn once at the start, then first in first out; step by step the same as domain/admission.py."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract.state.conftest import T0, space
from tests.support.state import LEASE_TTL, WAIT_TTL
from townhall.domain.admission import BURST_S, Admitted, Policy, Seats, Waiting, draw_key
from townhall.store.state.base import SeatBook

pytestmark = pytest.mark.timeout(120)


async def test_admissions_a_minute_never_exceed_the_rate_and_keep_up_with_it(state: SeatBook) -> None:
    s, rate, people = space(), 60, [f"w{i:03d}" for i in range(200)]
    policy = Policy(cap=None, rate=rate)
    for who in people:
        await state.join(s, who, policy, T0)
    admitted_at: dict[str, float] = {}
    waiting = list(people)
    for step in range(1, 151):
        now = T0 + step
        refresh_all = step % 20 == 0  # keep every ticket (30 s in tests) alive
        for who in list(waiting if refresh_all else waiting[:4]):
            if isinstance(await state.poll(s, who, policy, now), Admitted):
                admitted_at[who] = now
                waiting.remove(who)
    times = sorted(admitted_at.values())
    most = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert most <= rate + rate * BURST_S / 60 + 1, most
    # keeps pace: about a minute's worth in every minute (the 4 polled each second see every admission)
    assert len(times) >= 2.4 * rate, len(times)
    assert [w for w in people if w in admitted_at] == people[: len(admitted_at)]  # first in, first out


async def test_arrivals_before_the_start_are_drawn_once_then_first_in_first_out(state: SeatBook) -> None:
    s = space()
    closed, pool = Policy(cap=5, rate=None, opened=False), [f"early{i:02d}" for i in range(40)]
    for i, who in enumerate(pool):
        assert await state.join(s, who, closed, T0 + i * 0.01) == Waiting(position=0, ahead=0)
    assert await state.seated(s, closed, T0 + 1) == 0  # nobody is seated before the start
    opened = Policy(cap=5, rate=None, opened=True, seed="secret-seed")
    late = [f"late{i}" for i in range(3)]
    for who in late:
        await state.join(s, who, opened, T0 + 2)
    drawn = sorted(pool, key=lambda who: draw_key("secret-seed", who))
    assert drawn != pool
    expected_line = drawn[5:] + late
    again = Policy(cap=5, rate=None, opened=True, seed="another-seed")  # drawn once: a later seed changes nothing
    for who in drawn[:5]:
        assert isinstance(await state.poll(s, who, again, T0 + 3), Admitted)
    for i, who in enumerate(expected_line):
        assert await state.poll(s, who, again, T0 + 3) == Waiting(position=i + 1, ahead=i)


async def test_concurrent_joins_with_a_pace_never_exceed_the_cap(state: SeatBook) -> None:
    s, policy = space(), Policy(cap=10, rate=100_000)
    outcomes = await asyncio.gather(*(state.join(s, f"l{i}", policy, T0 + i * 0.001) for i in range(80)))
    assert sum(isinstance(o, Admitted) for o in outcomes) <= 10
    assert await state.seated(s, policy, T0 + 1) == 10


async def test_a_place_is_kept_five_minutes_after_the_last_poll(state: SeatBook) -> None:
    # the stores in tests hold a ticket WAIT_TTL; the service's setting is at least 300 s (settings.py)
    s, policy = space(), Policy(cap=1)
    await state.join(s, "seated", policy, T0)
    await state.join(s, "a", policy, T0)
    await state.join(s, "b", policy, T0)
    assert await state.poll(s, "b", policy, T0 + WAIT_TTL - 0.5) == Waiting(position=2, ahead=1)
    assert await state.poll(s, "b", policy, T0 + WAIT_TTL + 1) == Waiting(position=1, ahead=0)  # a lapsed


_OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["join", "join", "join", "poll", "poll", "renew", "leave", "seated", "queued", "policy", "open"]
        ),
        st.sampled_from(["a", "b", "c", "d", "e", "f"]),
        st.sampled_from([0.0, 0.0, 0.25, 1.0, 5.0, 15.0, WAIT_TTL, LEASE_TTL]),
        st.sampled_from([None, 0, 1, 2, 3]),
        st.sampled_from([None, 1, 6, 60, 600]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS, first_cap=st.sampled_from([None, 1, 2]), first_rate=st.sampled_from([None, 6, 60]))
async def test_the_waiting_room_follows_the_domain_rules_step_by_step(
    state: SeatBook,
    ops: list[tuple[str, str, float, int | None, int | None]],
    first_cap: int | None,
    first_rate: int | None,
) -> None:
    s, now = space(), T0
    policy = Policy(first_cap, first_rate, opened=False, seed="seed")
    model = Seats(first_cap, LEASE_TTL, WAIT_TTL, first_rate, opened=False)
    for op, who, step, new_cap, new_rate in ops:
        now += step
        if op == "policy":
            policy = Policy(new_cap, new_rate, policy.opened, policy.seed)
            continue
        if op == "open":
            policy = Policy(policy.cap, policy.rate, True, policy.seed)
            continue
        model.apply(policy, now)
        args = [] if op in ("seated", "queued") else [who]
        got = await getattr(state, op)(s, *args, policy, now)
        expected = getattr(model, op)(*args, now)
        assert got == expected, (op, who, now - T0, policy)
