"""Admission to a space: seats held by renewable leases, a cap, and a first-in-first-out waiting room.

Pure and single-threaded: the memory state store keeps one `Seats` per space; the Redis store
implements the same rules in one Lua script. Time is always passed in.

Invariants (property-tested): seated listeners never exceed the cap; waiting listeners are seated in
the order they arrived; a seat freed while someone waits is handed on at once (none is lost).
Every operation costs O(log n) in the audience size, expiries included.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from sortedcontainers import SortedList


@dataclass(frozen=True, slots=True)
class Admitted:
    lease_expires: float


@dataclass(frozen=True, slots=True)
class Waiting:
    position: int  # 1 is next in line
    ahead: int


Admission = Admitted | Waiting


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
    leases: _Expiring = field(default_factory=_Expiring)
    tickets: _Expiring = field(default_factory=_Expiring)
    _line: SortedList = field(default_factory=SortedList)  # ticket numbers in arrival order
    _ticket_of: dict[str, int] = field(default_factory=dict)
    _holder: dict[int, str] = field(default_factory=dict)
    _next_ticket: int = 0

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

    def _seat_waiting(self, now: float) -> None:
        while self._line:
            free = self._free()
            if free is not None and free <= 0:
                return
            who = self._holder[self._line[0]]
            self._leave_line(who)
            self.leases.set(who, now + self.lease_ttl)

    def _position(self, who: str) -> Waiting:
        ahead = self._line.bisect_left(self._ticket_of[who])
        return Waiting(position=ahead + 1, ahead=ahead)

    def _seat(self, who: str, now: float) -> Admitted:
        expires = now + self.lease_ttl
        self.leases.set(who, expires)
        return Admitted(expires)

    def join(self, who: str, now: float) -> Admission:
        """Take a seat, or a place in line; joining again is idempotent."""
        self._expire(now)
        if who in self.leases:
            return self._seat(who, now)
        if who in self._ticket_of:
            self.tickets.set(who, now + self.wait_ttl)
            return self._position(who)
        free = self._free()
        if free is None or (free > 0 and not self._line):
            return self._seat(who, now)
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
        self._expire(now)

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
