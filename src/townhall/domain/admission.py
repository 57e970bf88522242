"""Admission to a space: seats held by renewable leases, a cap, a pace, and a waiting room
(decision 0010).

Two settings per space (`Policy`): `cap`, the listeners seated at most, and `rate`, new admissions a
minute (paced: one every 60/rate s, with at most two seconds' worth saved up while nobody called, so
a control plane stalled for up to 2 s loses no admissions).
Those who arrive before the start wait in a pool, shuffled once when the space opens (sorted by
SHA-1 of a secret seed and their key, so the memory and Redis stores agree), then first in, first out.

Pure and single-threaded: the memory state store keeps one `Seats` per space; the Redis store
implements the same rules in one Lua script. Time is always passed in.

Invariants (property-tested): seated listeners never exceed the cap; new admissions in any 60 s never
exceed rate + two seconds' worth + 1 (3.4 % over at most); waiting listeners are seated in line order;
a seat freed while someone waits is handed on as soon as the pace allows (none is lost).
Every operation costs O(log n) in the audience size, expiries included (the one shuffle, O(n log n)).
"""

from __future__ import annotations

import hashlib
import heapq
from collections import OrderedDict
from dataclasses import dataclass, field

from sortedcontainers import SortedList


@dataclass(frozen=True, slots=True)
class Admitted:
    lease_expires: float


@dataclass(frozen=True, slots=True)
class Waiting:
    position: int  # 1 is next in line; 0 before the start (the place is drawn when the space opens)
    ahead: int


Admission = Admitted | Waiting

BURST_S = 2.0  # admissions saved up while nobody called: at most two seconds' worth


@dataclass(frozen=True, slots=True)
class Policy:
    """How a space admits: `cap` seated at most, `rate` new admissions a minute (None: no limit),
    `opened` once the space has started (before, arrivals wait in the pool), `seed` the secret that
    orders the pool at the start (any caller's seed will do: only the first opening call uses it)."""

    cap: int | None = None
    rate: int | None = None
    opened: bool = True
    seed: str = ""
    # a join's seat goes elsewhere at once (an uncapped space's shards, decision 0012): the book keeps the
    # pace and the line, and no lease for one it admits on a join
    hands_over: bool = False


def space_policy(cap: int | None, rate: int | None, default_rate: int, live: bool, seed: str) -> Policy:
    """A space's policy from its two settings (a rate of None: the platform's default pace)."""
    return Policy(cap, rate or default_rate, live, seed)


def as_policy(policy: Policy | int | None) -> Policy:
    """A bare cap (or None) as a policy that is open and unpaced: the callers that only know a cap."""
    return policy if isinstance(policy, Policy) else Policy(policy)


def draw_key(seed: str, who: str) -> str:
    """The order of the pool at the start: ascending SHA-1 of seed and key (the same in Lua)."""
    return hashlib.sha1((seed + who).encode(), usedforsecurity=False).hexdigest()


DEPARTURE_MEMORY_S = 30.0  # how long a seat book remembers who left (renewals written behind arrive sooner)


def next_slot(tat: float, now: float, rate: int) -> float:
    """The pace after one admission at `now`: the theoretical time of the next slot (GCRA)."""
    return max(tat, now - BURST_S) + 60.0 / rate


@dataclass(slots=True)
class _Expiring:
    """Members with an expiry; stale heap entries (from renewals) are skipped lazily."""

    expiry: dict[str, float] = field(default_factory=dict)
    heap: list[tuple[float, str]] = field(default_factory=list)

    def set(self, who: str, expires: float) -> None:
        self.expiry[who] = expires
        heapq.heappush(self.heap, (expires, who))
        if len(self.heap) > 2 * len(self.expiry) + 1024:
            self.heap = [(e, w) for w, e in self.expiry.items()]
            heapq.heapify(self.heap)

    def pop_expired(self, now: float) -> list[str]:
        gone: list[str] = []
        while self.heap and self.heap[0][0] <= now:
            expires, who = heapq.heappop(self.heap)
            if self.expiry.get(who) == expires:
                del self.expiry[who]
                gone.append(who)
        return gone

    def discard(self, who: str) -> bool:
        return self.expiry.pop(who, None) is not None

    def __contains__(self, who: str) -> bool:
        return who in self.expiry

    def __len__(self) -> int:
        return len(self.expiry)


@dataclass(slots=True)
class Seats:
    cap: int | None
    lease_ttl: float
    wait_ttl: float
    rate: int | None = None
    opened: bool = True
    tat: float = float("-inf")  # the next admission slot's time (only with a rate)
    leases: _Expiring = field(default_factory=_Expiring)
    tickets: _Expiring = field(default_factory=_Expiring)
    _line: SortedList = field(default_factory=SortedList)  # ticket numbers in arrival order
    _ticket_of: dict[str, int] = field(default_factory=dict)
    _holder: dict[int, str] = field(default_factory=dict)
    _next_ticket: int = 0
    # who left, and when, for DEPARTURE_MEMORY_S (oldest first)
    departed: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def _leave_line(self, who: str) -> None:
        number = self._ticket_of.pop(who, None)
        if number is not None:
            self._line.remove(number)
            del self._holder[number]
        self.tickets.discard(who)

    def _expire(self, now: float) -> None:
        self.leases.pop_expired(now)
        for who in self.tickets.pop_expired(now):
            self._leave_line(who)
        self._seat_waiting(now)

    def _free(self) -> int | None:
        return None if self.cap is None else self.cap - len(self.leases)

    def _room(self, now: float) -> bool:
        """A seat and a slot of the pace are free (an admission may happen now)."""
        free = self._free()
        if free is not None and free <= 0:
            return False
        return self.rate is None or self.tat <= now

    def _pace(self, now: float) -> None:
        if self.rate is not None:
            self.tat = next_slot(self.tat, now, self.rate)

    def _admit(self, who: str, now: float) -> None:
        self._pace(now)
        self.leases.set(who, now + self.lease_ttl)

    def _seat_waiting(self, now: float) -> None:
        if not self.opened:
            return
        while self._line and self._room(now):
            who = self._holder[self._line[0]]
            self._leave_line(who)
            self._admit(who, now)

    def _position(self, who: str) -> Waiting:
        if not self.opened:
            return Waiting(position=0, ahead=0)
        ahead = self._line.bisect_left(self._ticket_of[who])
        return Waiting(position=ahead + 1, ahead=ahead)

    def draw(self, now: float, seed: str) -> None:
        """The space started: the pool is drawn in a random order (once), then the line moves."""
        if self.opened:
            return
        self._expire(now)
        drawn = sorted(self.line(), key=lambda who: draw_key(seed, who))
        self._line.clear()
        self._holder.clear()
        for number, who in enumerate(drawn):
            self._ticket_of[who] = number
            self._holder[number] = who
            self._line.add(number)
        self.opened = True
        self._seat_waiting(now)

    def apply(self, policy: Policy, now: float) -> None:
        """Bring the book to the caller's policy (cap, pace, opening) before an operation."""
        if policy.cap != self.cap or policy.rate != self.rate:
            self.cap, self.rate = policy.cap, policy.rate
            self._expire(now)
        if policy.opened and not self.opened:
            self.draw(now, policy.seed)

    def _seat(self, who: str, now: float) -> Admitted:
        expires = now + self.lease_ttl
        self.leases.set(who, expires)
        return Admitted(expires)

    def join(self, who: str, now: float, hands_over: bool = False) -> Admission:
        """Take a seat, or a place in line; joining again is idempotent. `hands_over`: an admitted seat
        goes elsewhere at once (`Policy.hands_over`), so this book keeps no lease for it."""
        self._expire(now)
        if who in self.leases:
            if hands_over:
                self.leases.discard(who)
                return Admitted(now + self.lease_ttl)
            return self._seat(who, now)
        if who in self._ticket_of:
            self.tickets.set(who, now + self.wait_ttl)
            return self._position(who)
        if self.opened and not self._line and self._room(now):
            if hands_over:
                self._pace(now)
            else:
                self._admit(who, now)
            return Admitted(now + self.lease_ttl)
        number = self._next_ticket
        self._next_ticket += 1
        self._ticket_of[who] = number
        self._holder[number] = who
        self._line.add(number)
        self.tickets.set(who, now + self.wait_ttl)
        return self._position(who)

    def poll(self, who: str, now: float) -> Admission | None:
        """A waiting listener checks its place; None when it holds neither seat nor ticket."""
        self._expire(now)
        if who in self.leases:
            return Admitted(self.leases.expiry[who])
        if who in self._ticket_of:
            self.tickets.set(who, now + self.wait_ttl)
            return self._position(who)
        return None

    def renew(self, who: str, now: float) -> float | None:
        """Extend a held lease; None when the seat was lost (the client must join again)."""
        self._expire(now)
        if who not in self.leases:
            return None
        return self._seat(who, now).lease_expires

    def leave(self, who: str, now: float) -> None:
        self.leases.discard(who)
        self._leave_line(who)
        self.departed[who] = max(now, self.departed.get(who, now))
        self.departed.move_to_end(who)
        forget = now - DEPARTURE_MEMORY_S  # only the last DEPARTURE_MEMORY_S matter: oldest first out
        while self.departed and next(iter(self.departed.values())) < forget:
            self.departed.popitem(last=False)
        self._expire(now)

    def refresh(self, who: str, at: float, now: float) -> None:
        """An open book's renewal, accepted at `at` and written now (decision 0012, written behind): the
        seat is taken or kept until `at + lease_ttl` (never shortened), unless `who` left at or after
        `at` (a renewal that was on its way when they left). Only for books without a cap or a pace:
        nobody waits for these seats."""
        self._expire(now)
        until = at + self.lease_ttl
        left = self.departed.get(who)
        if until <= now or (left is not None and left >= at and left >= now - DEPARTURE_MEMORY_S):
            return
        if self.leases.expiry.get(who, until) <= until:
            self.leases.set(who, until)

    def set_cap(self, cap: int | None, now: float) -> None:
        self.cap = cap
        self._expire(now)

    def seated(self, now: float) -> int:
        self._expire(now)
        return len(self.leases)

    def queued(self, now: float) -> int:
        self._expire(now)
        return len(self._line)

    def line(self) -> list[str]:
        """Waiting listeners, first in line first (for tests and the host's view)."""
        return [self._holder[n] for n in self._line]
