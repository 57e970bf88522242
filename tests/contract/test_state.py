"""The hot-state contract: every StateStore implementation (memory, Redis) behaves the same.

Admission must follow domain/admission.py `Seats` exactly; Redis runs against the real server,
each test under its own key prefix.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.state import LEASE_TTL, STATE_KINDS, WAIT_TTL, open_store
from townhall.domain.admission import Admitted, Seats, Waiting
from townhall.store.state.base import StateStore

pytestmark = pytest.mark.timeout(60)

T0 = 1_764_170_000.123456  # a realistic wall-clock time with a fraction, to catch rounding


@pytest.fixture(params=STATE_KINDS)
async def state(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    async with open_store(request.param) as store:
        yield store


def space() -> str:
    return f"s{uuid.uuid4().hex[:10]}"


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 3.0) -> None:
    """Poll `check` until it holds, failing at the deadline (for expiries kept by the server's clock)."""
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.02)


# --- admission -----------------------------------------------------------------------------------
async def test_listeners_are_seated_up_to_the_cap_then_wait_in_line(state: StateStore) -> None:
    s = space()
    assert await state.join(s, "a", 2, T0) == Admitted(T0 + LEASE_TTL)
    assert await state.join(s, "b", 2, T0) == Admitted(T0 + LEASE_TTL)
    assert await state.join(s, "c", 2, T0) == Waiting(position=1, ahead=0)
    assert await state.join(s, "d", 2, T0) == Waiting(position=2, ahead=1)
    assert await state.seated(s, 2, T0) == 2
    assert await state.queued(s, 2, T0) == 2


async def test_without_a_cap_everyone_is_seated(state: StateStore) -> None:
    s = space()
    for who in "abcdef":
        assert isinstance(await state.join(s, who, None, T0), Admitted)
    assert await state.seated(s, None, T0) == 6
    assert await state.queued(s, None, T0) == 0


async def test_lease_expiry_is_the_callers_time_plus_the_ttl_exactly(state: StateStore) -> None:
    s = space()
    admitted = await state.join(s, "a", 1, T0)
    assert admitted == Admitted(T0 + LEASE_TTL)
    assert await state.renew(s, "a", 1, T0 + 1.25) == T0 + 1.25 + LEASE_TTL
    assert await state.poll(s, "a", 1, T0 + 2) == Admitted(T0 + 1.25 + LEASE_TTL)


async def test_the_waiting_room_seats_listeners_first_in_first_out(state: StateStore) -> None:
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


async def test_joining_again_is_idempotent(state: StateStore) -> None:
    s = space()
    await state.join(s, "a", 1, T0)
    await state.join(s, "b", 1, T0)
    assert await state.join(s, "a", 1, T0 + 5) == Admitted(T0 + 5 + LEASE_TTL)
    assert await state.join(s, "b", 1, T0 + 5) == Waiting(position=1, ahead=0)
    assert await state.join(s, "b", 1, T0 + 6) == Waiting(position=1, ahead=0)
    assert await state.seated(s, 1, T0 + 6) == 1
    assert await state.queued(s, 1, T0 + 6) == 1


async def test_a_seat_freed_by_leaving_goes_to_the_head_of_the_line_at_once(state: StateStore) -> None:
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


async def test_a_lease_not_renewed_frees_the_seat_within_its_ttl(state: StateStore) -> None:
    s = space()
    await state.join(s, "gone", 1, T0)
    await state.join(s, "next", 1, T0)
    for t in (10.0, 20.0, 30.0, LEASE_TTL - 1):  # "next" keeps its ticket by polling
        assert isinstance(await state.poll(s, "next", 1, T0 + t), Waiting)
    assert await state.poll(s, "next", 1, T0 + LEASE_TTL) == Admitted(T0 + 2 * LEASE_TTL)
    assert await state.renew(s, "gone", 1, T0 + LEASE_TTL) is None


async def test_renewing_keeps_the_seat_past_the_first_ttl(state: StateStore) -> None:
    s = space()
    await state.join(s, "a", 1, T0)
    await state.join(s, "b", 1, T0)
    for k in range(1, 5):
        now = T0 + k * LEASE_TTL / 2
        assert await state.renew(s, "a", 1, now) == now + LEASE_TTL
        assert isinstance(await state.poll(s, "b", 1, now), Waiting)
    assert await state.seated(s, 1, T0 + 2 * LEASE_TTL) == 1


async def test_renewing_a_lost_or_unknown_seat_returns_none(state: StateStore) -> None:
    s = space()
    assert await state.renew(s, "stranger", None, T0) is None
    await state.join(s, "a", None, T0)
    assert await state.renew(s, "a", None, T0 + LEASE_TTL + 0.001) is None


async def test_a_ticket_not_polled_expires_and_leaves_the_line(state: StateStore) -> None:
    s = space()
    await state.join(s, "seated", 1, T0)
    await state.join(s, "idle", 1, T0)
    await state.join(s, "polling", 1, T0)
    for t in (10.0, 20.0, 29.0, 35.0):
        assert isinstance(await state.poll(s, "polling", 1, T0 + t), Waiting)
    assert await state.poll(s, "idle", 1, T0 + 35) is None
    assert await state.poll(s, "polling", 1, T0 + 36) == Waiting(position=1, ahead=0)
    assert await state.queued(s, 1, T0 + 36) == 1


async def test_an_expired_ticket_joins_again_at_the_back(state: StateStore) -> None:
    s = space()
    await state.join(s, "seated", 1, T0)
    await state.join(s, "idle", 1, T0)
    await state.join(s, "b", 1, T0 + WAIT_TTL - 1)
    assert await state.join(s, "idle", 1, T0 + WAIT_TTL) == Waiting(position=2, ahead=1)


async def test_leaving_while_waiting_moves_those_behind_up(state: StateStore) -> None:
    s = space()
    await state.join(s, "a", 1, T0)
    for who in ("b", "c", "d"):
        await state.join(s, who, 1, T0)
    await state.leave(s, "c", 1, T0 + 1)
    assert await state.poll(s, "c", 1, T0 + 1) is None
    assert await state.poll(s, "d", 1, T0 + 1) == Waiting(position=2, ahead=1)
    assert await state.queued(s, 1, T0 + 1) == 2
    assert await state.seated(s, 1, T0 + 1) == 1


async def test_polling_without_seat_or_ticket_is_none(state: StateStore) -> None:
    assert await state.poll(space(), "stranger", 3, T0) is None


async def test_raising_the_cap_seats_those_waiting_in_order(state: StateStore) -> None:
    s = space()
    for who in "abcd":
        await state.join(s, who, 1, T0)
    assert await state.seated(s, 3, T0 + 1) == 3
    assert await state.poll(s, "b", 3, T0 + 1) == Admitted(T0 + 1 + LEASE_TTL)
    assert await state.poll(s, "c", 3, T0 + 1) == Admitted(T0 + 1 + LEASE_TTL)
    assert await state.poll(s, "d", 3, T0 + 1) == Waiting(position=1, ahead=0)
    assert await state.seated(s, None, T0 + 2) == 4
    assert await state.queued(s, None, T0 + 2) == 0


async def test_lowering_the_cap_keeps_seats_but_admits_nobody_new(state: StateStore) -> None:
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


async def test_each_space_has_its_own_seats(state: StateStore) -> None:
    one, two = space(), space()
    await state.join(one, "a", 1, T0)
    assert isinstance(await state.join(two, "a", 1, T0), Admitted)
    assert isinstance(await state.join(two, "b", 1, T0), Waiting)
    assert await state.queued(one, 1, T0) == 0


async def test_dropping_a_space_forgets_its_seats_and_line(state: StateStore) -> None:
    s = space()
    await state.join(s, "a", 1, T0)
    await state.join(s, "b", 1, T0)
    await state.drop_space(s)
    assert await state.seated(s, 1, T0) == 0
    assert await state.queued(s, 1, T0) == 0
    assert await state.poll(s, "b", 1, T0) is None
    assert isinstance(await state.join(s, "b", 1, T0), Admitted)


async def test_concurrent_joins_never_exceed_the_cap(state: StateStore) -> None:
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
    state: StateStore, ops: list[tuple[str, str, float, int | None]], first_cap: int | None
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


# --- rate limits ---------------------------------------------------------------------------------
async def test_a_fixed_window_allows_up_to_the_limit(state: StateStore) -> None:
    key = f"rl-{uuid.uuid4().hex}"
    results = [await state.hit(key, 3, 60, 6000.0 + i) for i in range(5)]
    assert results == [True, True, True, False, False]


async def test_the_next_window_starts_afresh(state: StateStore) -> None:
    key = f"rl-{uuid.uuid4().hex}"
    assert [await state.hit(key, 1, 60, 6059.9) for _ in range(2)] == [True, False]
    assert await state.hit(key, 1, 60, 6060.0) is True
    assert await state.hit(key, 1, 60, 6061.0) is False


async def test_rate_limit_keys_are_independent(state: StateStore) -> None:
    assert await state.hit("rl-one", 1, 10, T0) is True
    assert await state.hit("rl-one", 1, 10, T0) is False
    assert await state.hit("rl-two", 1, 10, T0) is True


async def test_concurrent_hits_are_counted_exactly(state: StateStore) -> None:
    results = await asyncio.gather(*(state.hit("rl-burst", 25, 60, T0) for _ in range(40)))
    assert results.count(True) == 25


# --- counters ------------------------------------------------------------------------------------
async def test_counters_start_at_zero_and_add(state: StateStore) -> None:
    assert await state.get_count("joins") == 0
    assert await state.incr("joins") == 1
    assert await state.incr("joins", 41) == 42
    assert await state.get_count("joins") == 42
    assert sum(await asyncio.gather(*(state.incr("burst") for _ in range(50)))) == sum(range(1, 51))


async def test_set_max_keeps_the_largest_value_seen(state: StateStore) -> None:
    assert await state.set_max("peak", 5) == 5
    assert await state.set_max("peak", 3) == 5
    assert await state.set_max("peak", 12) == 12
    assert await state.get_count("peak") == 12
    await asyncio.gather(*(state.set_max("peak2", v) for v in [7, 90, 3, 45, 89]))
    assert await state.get_count("peak2") == 90


async def test_hash_counters_sum_per_field_and_expire(state: StateStore) -> None:
    assert await state.hgetall("react:1") == {}
    await state.hincr("react:1", "clap", 1, 30)
    await state.hincr("react:1", "clap", 2, 30)
    await state.hincr("react:1", "heart", 1, 30)
    assert await state.hgetall("react:1") == {"clap": 3, "heart": 1}
    await state.hincr("react:2", "clap", 1, 0.05)

    async def gone() -> bool:
        return await state.hgetall("react:2") == {}

    await eventually(gone)
    assert await state.hgetall("react:1") == {"clap": 3, "heart": 1}


# --- uniques -------------------------------------------------------------------------------------
async def test_unique_count_is_within_two_percent_at_100000(state: StateStore) -> None:
    n = 100_000
    for start in range(0, n, 5000):
        await state.pfadd("viewers", *(f"viewer-{i}" for i in range(start, start + 5000)))
    await state.pfadd("viewers", *(f"viewer-{i}" for i in range(5000)))  # seen again: not counted twice
    assert abs(await state.pfcount("viewers") - n) <= 0.02 * n


async def test_unique_counts_merge_keys_and_ignore_repeats(state: StateStore) -> None:
    assert await state.pfcount("nobody") == 0
    await state.pfadd("live", *(f"v{i}" for i in range(300)))
    await state.pfadd("live", *(f"v{i}" for i in range(300)))
    await state.pfadd("replay", *(f"v{i}" for i in range(200, 500)))
    assert abs(await state.pfcount("live") - 300) <= 6
    assert abs(await state.pfcount("live", "replay", "nobody") - 500) <= 10


async def test_first_seen_is_true_once_per_ttl_in_the_callers_time(state: StateStore) -> None:
    assert await state.first_seen("dd:v1", 60, T0) is True
    assert await state.first_seen("dd:v1", 60, T0 + 59.999) is False
    assert await state.first_seen("dd:v2", 60, T0 + 1) is True
    assert await state.first_seen("dd:v1", 60, T0 + 60) is True
    assert await state.first_seen("dd:v1", 60, T0 + 61) is False


async def test_first_seen_is_true_for_exactly_one_of_concurrent_callers(state: StateStore) -> None:
    results = await asyncio.gather(*(state.first_seen("dd:race", 60, T0) for _ in range(30)))
    assert results.count(True) == 1


# --- values --------------------------------------------------------------------------------------
async def test_values_are_stored_replaced_and_missing_is_none(state: StateStore) -> None:
    assert await state.get("speaking:x") is None
    await state.put("speaking:x", b'["a"]')
    assert await state.get("speaking:x") == b'["a"]'
    await state.put("speaking:x", b"[]", ttl_s=30)
    assert await state.get("speaking:x") == b"[]"


async def test_values_with_a_ttl_expire(state: StateStore) -> None:
    await state.put("short", b"1", ttl_s=0.05)
    await state.put("long", b"2", ttl_s=30)

    async def gone() -> bool:
        return await state.get("short") is None

    await eventually(gone)
    assert await state.get("long") == b"2"


# --- bounded queues ------------------------------------------------------------------------------
async def test_a_queue_keeps_unique_members_in_arrival_order(state: StateStore) -> None:
    assert await state.qlist("speakq:1") == []
    for who in ("b", "a", "c", "a"):
        assert await state.qpush("speakq:1", who, 10) is True
    assert await state.qlist("speakq:1") == ["b", "a", "c"]
    assert await state.qremove("speakq:1", "a") is True
    assert await state.qremove("speakq:1", "a") is False
    assert await state.qpush("speakq:1", "a", 10) is True
    assert await state.qlist("speakq:1") == ["b", "c", "a"]


async def test_a_full_queue_refuses_newcomers_but_not_members(state: StateStore) -> None:
    for who in ("a", "b"):
        assert await state.qpush("speakq:2", who, 2) is True
    assert await state.qpush("speakq:2", "c", 2) is False
    assert await state.qpush("speakq:2", "a", 2) is True
    assert await state.qremove("speakq:2", "a") is True
    assert await state.qpush("speakq:2", "c", 2) is True
    assert await state.qlist("speakq:2") == ["b", "c"]


async def test_concurrent_pushes_respect_the_bound(state: StateStore) -> None:
    results = await asyncio.gather(*(state.qpush("speakq:3", f"m{i}", 10) for i in range(30)))
    assert results.count(True) == 10
    assert len(await state.qlist("speakq:3")) == 10


# --- pub/sub -------------------------------------------------------------------------------------
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


async def test_ping_answers_true_when_reachable(state: StateStore) -> None:
    assert await state.ping() is True
