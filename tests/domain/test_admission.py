"""Admission rules: the cap holds, the waiting room is first in first out, no freed seat is lost,
leases and tickets expire. Property tests drive random sequences of joins, polls, renewals, leaves
and clock advances against a simple reference model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from townhall.domain.admission import BURST_S, Admitted, Seats, Waiting, draw_key

LEASE, WAIT = 45.0, 30.0


def test_uncapped_space_seats_everyone() -> None:
    seats = Seats(None, LEASE, WAIT)
    assert all(isinstance(seats.join(f"l{i}", 0.0), Admitted) for i in range(1000))
    assert seats.seated(0.0) == 1000


def test_full_space_gives_a_place_in_line_and_hands_on_the_seat() -> None:
    seats = Seats(1, LEASE, WAIT)
    assert isinstance(seats.join("a", 0.0), Admitted)
    assert seats.join("b", 1.0) == Waiting(position=1, ahead=0)
    assert seats.join("c", 2.0) == Waiting(position=2, ahead=1)
    seats.leave("a", 3.0)
    assert isinstance(seats.poll("b", 3.0), Admitted)
    assert seats.poll("c", 3.0) == Waiting(position=1, ahead=0)


def test_lease_not_renewed_frees_the_seat_within_its_ttl() -> None:
    seats = Seats(1, LEASE, WAIT)
    seats.join("a", 0.0)
    seats.join("b", 0.0)
    seats.poll("b", 20.0)
    seats.poll("b", 40.0)
    assert isinstance(seats.poll("b", LEASE + 0.001), Admitted)
    assert LEASE < 60  # the issue: a listener who stops renewing frees the seat within 60 s


def test_renewal_keeps_the_seat() -> None:
    seats = Seats(1, LEASE, WAIT)
    seats.join("a", 0.0)
    assert seats.renew("a", 40.0) == 40.0 + LEASE
    seats.join("b", 41.0)
    assert isinstance(seats.poll("b", 50.0), Waiting)
    assert seats.renew("ghost", 50.0) is None


def test_waiting_ticket_not_polled_expires() -> None:
    seats = Seats(1, LEASE, WAIT)
    seats.join("a", 0.0)
    seats.join("b", 0.0)
    seats.join("c", 0.0)
    for t in (10.0, 20.0, 30.0, 40.0):
        seats.renew("a", t)
        seats.poll("c", t)
    assert seats.poll("b", 41.0) is None
    assert seats.poll("c", 41.0) == Waiting(position=1, ahead=0)


def test_joining_again_is_idempotent() -> None:
    seats = Seats(2, LEASE, WAIT)
    seats.join("a", 0.0)
    seats.join("a", 1.0)
    assert seats.seated(1.0) == 1


def test_raising_the_cap_seats_the_line_in_order() -> None:
    seats = Seats(1, LEASE, WAIT)
    for who in "abcd":
        seats.join(who, 0.0)
    seats.set_cap(3, 1.0)
    assert isinstance(seats.poll("b", 1.0), Admitted)
    assert isinstance(seats.poll("c", 1.0), Admitted)
    assert seats.poll("d", 1.0) == Waiting(position=1, ahead=0)


ops = st.lists(
    st.tuples(st.sampled_from(["join", "poll", "renew", "leave", "tick"]), st.integers(0, 11), st.floats(0, 20)),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(cap=st.integers(1, 5), steps=ops)
def test_cap_fifo_and_no_lost_seat(cap: int, steps: list[tuple[str, int, float]]) -> None:
    seats = Seats(cap, LEASE, WAIT)
    now = 0.0
    queued_order: list[str] = []
    for op, n, dt in steps:
        who = f"l{n}"
        if op == "tick":
            now += dt
        line_before = seats.line()
        seated_before = set(seats.leases.expiry)
        if op == "join":
            seats.join(who, now)
            if who not in line_before and who in seats.line():
                queued_order = [w for w in queued_order if w != who] + [who]  # a new ticket goes to the back
        elif op == "poll":
            seats.poll(who, now)
        elif op == "renew":
            seats.renew(who, now)
        elif op == "leave":
            seats.leave(who, now)
        else:
            seats.seated(now)
        seated_now = set(seats.leases.expiry)
        # the cap holds
        assert len(seated_now) <= cap
        # no freed seat is lost: a free seat never coexists with someone waiting
        assert len(seated_now) == cap or not seats.line()
        line_now = seats.line()
        # first in, first out: of those still in line before this step (not expired, not gone),
        # the ones seated now are exactly its head, in order
        still_there = [w for w in line_before if w in seated_now or w in line_now]
        promoted = [w for w in still_there if w in seated_now and w not in seated_before]
        assert promoted == still_there[: len(promoted)]
        # the line keeps arrival order
        assert line_now == [w for w in queued_order if w in line_now]


# --- the waiting room's two settings and the draw at the start (decision 0010) -----------------------
class _Recorded(Seats):
    """Seats that note each admission (who, when): the invariants are checked on these."""

    admissions: list[tuple[str, float]]

    def _admit(self, who: str, now: float) -> None:
        self.admissions.append((who, now))
        super()._admit(who, now)


def _recorded(cap: int | None, rate: int | None, opened: bool) -> _Recorded:
    seats = _Recorded(cap, LEASE, WAIT, rate, opened=opened)
    seats.admissions = []
    return seats


@settings(max_examples=300, deadline=None)
@given(
    cap=st.integers(1, 6),
    rate=st.sampled_from([1, 3, 60, 120]),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["join", "poll", "poll", "renew", "leave", "open"]),
            st.integers(0, 11),
            st.sampled_from([0.0, 0.1, 1.0, 7.0, 20.0]),
        ),
        max_size=120,
    ),
)
def test_never_above_the_cap_nor_the_pace_and_first_in_first_out_after_the_draw(
    cap: int, rate: int, ops: list[tuple[str, int, float]]
) -> None:
    seats, now, seed = _recorded(cap, rate, opened=False), 0.0, "s"
    for op, n, step in ops:
        now += step
        who = f"l{n}"
        if op == "open":
            if not seats.opened:
                seats.draw(now, seed)
                seats.line()
            continue
        getattr(seats, op)(who, now)
        assert seats.seated(now) <= cap
    times = [t for _, t in seats.admissions]
    for start in times:  # any 60 s: at most the rate plus the saved-up seconds' worth (and the boundary)
        assert sum(1 for t in times if start <= t < start + 60) <= rate + rate * BURST_S / 60 + 1
    if not seats.opened:
        assert seats.admissions == []  # nobody before the start


def test_the_draw_is_a_fair_shuffle_not_the_arrival_race() -> None:
    firsts: dict[str, int] = {}
    for trial in range(2000):
        seats = Seats(1, LEASE, WAIT, None, opened=False)
        for who in "abcd":
            seats.join(who, 0.0)
        seats.draw(1.0, f"seed{trial}")
        first = next(w for w in "abcd" if isinstance(seats.poll(w, 1.0), Admitted))
        firsts[first] = firsts.get(first, 0) + 1
    assert set(firsts) == set("abcd")
    assert all(400 <= n <= 600 for n in firsts.values()), firsts  # each about a quarter


def test_after_the_draw_the_line_is_first_in_first_out_at_the_pace() -> None:
    seats = Seats(None, LEASE, WAIT, 60, opened=False)
    for who in ("p1", "p2", "p3"):
        seats.join(who, 0.0)
    seats.draw(10.0, "seed")
    drawn = sorted(["p1", "p2", "p3"], key=lambda w: draw_key("seed", w))
    assert seats.line() == drawn[1 + int(BURST_S) :]  # the saved-up seconds' worth seated at once
    for who in ("n1", "n2"):
        assert isinstance(seats.join(who, 10.0), Waiting)
    order: list[str] = []
    for t in range(10, 20):
        for who in ("p1", "p2", "p3", "n1", "n2"):
            if who not in order and isinstance(seats.poll(who, float(t)), Admitted):
                order.append(who)
    assert order == [*drawn, "n1", "n2"]
