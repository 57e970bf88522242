"""The seat book (`SeatBook`): admission follows domain/admission.py `Seats` exactly on every store."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract.state.conftest import T0, space
from tests.support.state import LEASE_TTL, WAIT_TTL, forget_scripts
from townhall.domain.admission import BURST_S, Admitted, Policy, Seats, Waiting
from townhall.store.state.base import SeatBook

pytestmark = pytest.mark.timeout(60)


async def test_listeners_are_seated_up_to_the_cap_then_wait_in_line(state: SeatBook) -> None:
    s = space()
    assert await state.join(s, "a", 2, T0) == Admitted(T0 + LEASE_TTL)
    assert await state.join(s, "b", 2, T0) == Admitted(T0 + LEASE_TTL)
    assert await state.join(s, "c", 2, T0) == Waiting(position=1, ahead=0)
    assert await state.join(s, "d", 2, T0) == Waiting(position=2, ahead=1)
    assert await state.seated(s, 2, T0) == 2
    assert await state.queued(s, 2, T0) == 2


async def test_without_a_cap_everyone_is_seated(state: SeatBook) -> None:
    s = space()
    for who in "abcdef":
        assert isinstance(await state.join(s, who, None, T0), Admitted)
    assert await state.seated(s, None, T0) == 6
    assert await state.queued(s, None, T0) == 0


async def test_lease_expiry_is_the_callers_time_plus_the_ttl_exactly(state: SeatBook) -> None:
    s = space()
    admitted = await state.join(s, "a", 1, T0)
    assert admitted == Admitted(T0 + LEASE_TTL)
    assert await state.renew(s, "a", 1, T0 + 1.25) == T0 + 1.25 + LEASE_TTL
    assert await state.poll(s, "a", 1, T0 + 2) == Admitted(T0 + 1.25 + LEASE_TTL)


async def test_the_waiting_room_seats_listeners_first_in_first_out(state: SeatBook) -> None:
    s = space()
    await state.join(s, "seated", 1, T0)
    for i, who in enumerate(["w1", "w2", "w3"]):
        assert await state.join(s, who, 1, T0 + i) == Waiting(position=i + 1, ahead=i)
    order: list[str] = []
    for step in range(3):
        now = T0 + 10 + step
        holder = "seated" if step == 0 else order[-1]
        await state.leave(s, holder, 1, now)
        for who in ["w1", "w2", "w3"]:
            if isinstance(await state.poll(s, who, 1, now), Admitted) and who not in order:
                order.append(who)
    assert order == ["w1", "w2", "w3"]


async def test_joining_again_is_idempotent(state: SeatBook) -> None:
    s = space()
    await state.join(s, "a", 1, T0)
    await state.join(s, "b", 1, T0)
    assert await state.join(s, "a", 1, T0 + 5) == Admitted(T0 + 5 + LEASE_TTL)
    assert await state.join(s, "b", 1, T0 + 5) == Waiting(position=1, ahead=0)
    assert await state.join(s, "b", 1, T0 + 6) == Waiting(position=1, ahead=0)
    assert await state.seated(s, 1, T0 + 6) == 1
    assert await state.queued(s, 1, T0 + 6) == 1


async def test_a_seat_freed_by_leaving_goes_to_the_head_of_the_line_at_once(state: SeatBook) -> None:
    s = space()
    await state.join(s, "a", 1, T0)
    await state.join(s, "b", 1, T0)
    await state.join(s, "c", 1, T0)
    await state.leave(s, "a", 1, T0 + 1)
    # the seat is already b's before b polls: nobody else can take it
    assert await state.seated(s, 1, T0 + 1) == 1
    assert await state.join(s, "late", 1, T0 + 1) == Waiting(position=2, ahead=1)
    assert await state.poll(s, "b", 1, T0 + 2) == Admitted(T0 + 1 + LEASE_TTL)
    assert await state.poll(s, "c", 1, T0 + 2) == Waiting(position=1, ahead=0)


async def test_a_lease_not_renewed_frees_the_seat_within_its_ttl(state: SeatBook) -> None:
    s = space()
    await state.join(s, "gone", 1, T0)
    await state.join(s, "next", 1, T0)
    for t in (10.0, 20.0, 30.0, LEASE_TTL - 1):  # "next" keeps its ticket by polling
        assert isinstance(await state.poll(s, "next", 1, T0 + t), Waiting)
    assert await state.poll(s, "next", 1, T0 + LEASE_TTL) == Admitted(T0 + 2 * LEASE_TTL)
    assert await state.renew(s, "gone", 1, T0 + LEASE_TTL) is None


async def test_renewing_keeps_the_seat_past_the_first_ttl(state: SeatBook) -> None:
    s = space()
    await state.join(s, "a", 1, T0)
    await state.join(s, "b", 1, T0)
    for k in range(1, 5):
        now = T0 + k * LEASE_TTL / 2
        assert await state.renew(s, "a", 1, now) == now + LEASE_TTL
        assert isinstance(await state.poll(s, "b", 1, now), Waiting)
    assert await state.seated(s, 1, T0 + 2 * LEASE_TTL) == 1


async def test_renewals_written_behind_take_or_keep_seats_in_one_call(state: SeatBook) -> None:
    s, t = space(), space()  # two open books: a slot each on a cluster
    await state.join(s, "a", None, T0)
    await state.refresh_many([], T0)
    later = T0 + LEASE_TTL - 1
    await state.refresh_many([(s, "a", later), (s, "b", later - 1), (t, "c", later)], later + 0.2)
    after_first_lease = T0 + LEASE_TTL + 1
    assert await state.seated(s, None, after_first_lease) == 2  # a kept, b (never seated, or lapsed) taken
    assert await state.seated(t, None, after_first_lease) == 1
    await state.refresh_many([(s, "a", T0)], later + 0.3)  # an older renewal arriving late shortens nothing
    assert await state.seated(s, None, later + LEASE_TTL - 1.5) == 2
    assert await state.seated(s, None, later + LEASE_TTL + 0.5) == 0  # then they lapse like any lease
    stale = later + 2 * LEASE_TTL
    await state.refresh_many([(s, "d", stale - LEASE_TTL - 1)], stale)  # already over when written: nothing
    assert await state.seated(s, None, stale) == 0


async def test_a_renewal_written_behind_never_brings_back_one_who_left_after_it(state: SeatBook) -> None:
    s = space()
    for who in ("a", "b"):
        await state.join(s, who, None, T0)
    await state.leave(s, "a", None, T0 + 2)  # the renewal at T0 + 1 was still on its way
    await state.leave(s, "b", None, T0 + 2)
    await state.refresh_many([(s, "a", T0 + 1), (s, "b", T0 + 3)], T0 + 3.5)  # b renewed after leaving: back
    assert await state.seated(s, None, T0 + 4) == 1
    assert await state.poll(s, "b", None, T0 + 4) == Admitted(T0 + 3 + LEASE_TTL)
    assert await state.poll(s, "a", None, T0 + 4) is None


async def test_renewals_written_behind_survive_a_server_that_forgot_the_script(
    state: SeatBook, request: pytest.FixtureRequest
) -> None:
    # a fresh, restarted or promoted node has no scripts loaded: a cluster pipeline sends EVALSHA regardless
    # (CI's first run on a new cluster failed here with NOSCRIPT, answered as "unreachable")
    s, t = space(), space()
    await forget_scripts(request.node.callspec.params["state"])
    await state.refresh_many([(s, "a", T0), (t, "b", T0)], T0)
    assert await state.seated(s, None, T0) == 1 and await state.seated(t, None, T0) == 1


async def test_renewing_a_lost_or_unknown_seat_returns_none(state: SeatBook) -> None:
    s = space()
    assert await state.renew(s, "stranger", None, T0) is None
    await state.join(s, "a", None, T0)
    assert await state.renew(s, "a", None, T0 + LEASE_TTL + 0.001) is None


async def test_a_ticket_not_polled_expires_and_leaves_the_line(state: SeatBook) -> None:
    s = space()
    await state.join(s, "seated", 1, T0)
    await state.join(s, "idle", 1, T0)
    await state.join(s, "polling", 1, T0)
    for t in (10.0, 20.0, 29.0, 35.0):
        assert isinstance(await state.poll(s, "polling", 1, T0 + t), Waiting)
    assert await state.poll(s, "idle", 1, T0 + 35) is None
    assert await state.poll(s, "polling", 1, T0 + 36) == Waiting(position=1, ahead=0)
    assert await state.queued(s, 1, T0 + 36) == 1


async def test_an_expired_ticket_joins_again_at_the_back(state: SeatBook) -> None:
    s = space()
    await state.join(s, "seated", 1, T0)
    await state.join(s, "idle", 1, T0)
    await state.join(s, "b", 1, T0 + WAIT_TTL - 1)
    assert await state.join(s, "idle", 1, T0 + WAIT_TTL) == Waiting(position=2, ahead=1)


async def test_leaving_while_waiting_moves_those_behind_up(state: SeatBook) -> None:
    s = space()
    await state.join(s, "a", 1, T0)
    for who in ("b", "c", "d"):
        await state.join(s, who, 1, T0)
    await state.leave(s, "c", 1, T0 + 1)
    assert await state.poll(s, "c", 1, T0 + 1) is None
    assert await state.poll(s, "d", 1, T0 + 1) == Waiting(position=2, ahead=1)
    assert await state.queued(s, 1, T0 + 1) == 2
    assert await state.seated(s, 1, T0 + 1) == 1


async def test_polling_without_seat_or_ticket_is_none(state: SeatBook) -> None:
    assert await state.poll(space(), "stranger", 3, T0) is None


async def test_raising_the_cap_seats_those_waiting_in_order(state: SeatBook) -> None:
    s = space()
    for who in "abcd":
        await state.join(s, who, 1, T0)
    assert await state.seated(s, 3, T0 + 1) == 3
    assert await state.poll(s, "b", 3, T0 + 1) == Admitted(T0 + 1 + LEASE_TTL)
    assert await state.poll(s, "c", 3, T0 + 1) == Admitted(T0 + 1 + LEASE_TTL)
    assert await state.poll(s, "d", 3, T0 + 1) == Waiting(position=1, ahead=0)
    assert await state.seated(s, None, T0 + 2) == 4
    assert await state.queued(s, None, T0 + 2) == 0


async def test_lowering_the_cap_keeps_seats_but_admits_nobody_new(state: SeatBook) -> None:
    s = space()
    for who in "abc":
        await state.join(s, who, 3, T0)
    assert await state.join(s, "d", 1, T0 + 1) == Waiting(position=1, ahead=0)
    assert await state.seated(s, 1, T0 + 1) == 3
    await state.leave(s, "a", 1, T0 + 2)
    await state.leave(s, "b", 1, T0 + 2)
    assert isinstance(await state.poll(s, "d", 1, T0 + 2), Waiting)
    await state.leave(s, "c", 1, T0 + 3)
    assert isinstance(await state.poll(s, "d", 1, T0 + 3), Admitted)


async def test_each_space_has_its_own_seats(state: SeatBook) -> None:
    one, two = space(), space()
    await state.join(one, "a", 1, T0)
    assert isinstance(await state.join(two, "a", 1, T0), Admitted)
    assert isinstance(await state.join(two, "b", 1, T0), Waiting)
    assert await state.queued(one, 1, T0) == 0


async def test_dropping_a_space_forgets_its_seats_and_line(state: SeatBook) -> None:
    s = space()
    await state.join(s, "a", 1, T0)
    await state.join(s, "b", 1, T0)
    await state.drop_space(s)
    assert await state.seated(s, 1, T0) == 0
    assert await state.queued(s, 1, T0) == 0
    assert await state.poll(s, "b", 1, T0) is None
    assert isinstance(await state.join(s, "b", 1, T0), Admitted)


async def test_concurrent_joins_never_exceed_the_cap(state: SeatBook) -> None:
    s = space()
    outcomes = await asyncio.gather(*(state.join(s, f"l{i}", 10, T0) for i in range(60)))
    admitted = [o for o in outcomes if isinstance(o, Admitted)]
    positions = sorted(o.position for o in outcomes if isinstance(o, Waiting))
    assert len(admitted) == 10
    assert positions == list(range(1, 51))


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["join", "join", "poll", "poll", "renew", "leave", "seated", "queued", "cap"]),
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.sampled_from([0.0, 0.0, 1.0, 5.0, 15.0, WAIT_TTL, LEASE_TTL]),
        st.sampled_from([None, 0, 1, 2, 3]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS, first_cap=st.sampled_from([None, 1, 2]))
async def test_admission_follows_the_domain_rules_step_by_step(
    state: SeatBook, ops: list[tuple[str, str, float, int | None]], first_cap: int | None
) -> None:
    s, model, now, cap = space(), Seats(first_cap, LEASE_TTL, WAIT_TTL), T0, first_cap
    for op, who, step, new_cap in ops:
        now += step
        if op == "cap":
            cap = new_cap
            continue
        if model.cap != cap:
            model.set_cap(cap, now)
        got = await getattr(state, op)(s, *([] if op in ("seated", "queued") else [who]), cap, now)
        expected = getattr(model, op)(*([] if op in ("seated", "queued") else [who]), now)
        assert got == expected, (op, who, now - T0, cap)


async def test_a_book_that_hands_its_seats_over_keeps_the_pace_and_no_lease(state: SeatBook) -> None:
    s = space()
    paced = Policy(None, 60, True, hands_over=True)  # one admission a second, each seat taken elsewhere
    for i in range(1 + round(BURST_S)):  # the first, and the seconds' worth saved up
        assert await state.join(s, f"early{i}", paced, T0) == Admitted(T0 + LEASE_TTL)
    assert await state.seated(s, paced, T0) == 0  # handed over: nothing kept here
    assert isinstance(await state.join(s, "late", paced, T0), Waiting)  # but the pace was spent
    kept = Policy(None, 60, True)
    assert isinstance(await state.poll(s, "late", kept, T0 + 1.5), Admitted)  # its turn: a seat here, in line
    assert await state.join(s, "late", paced, T0 + 1.5) == Admitted(T0 + 1.5 + LEASE_TTL)  # handed over
    assert await state.seated(s, paced, T0 + 1.5) == 0
