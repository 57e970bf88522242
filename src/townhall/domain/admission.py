"""Admission to a space: seats held by renewable leases, a cap, and a first-in-first-out waiting room.

Pure and single-threaded: the memory state store keeps one `Seats` per space; the Redis store
implements the same rules in one Lua script. Time is always passed in.

Invariants (property-tested): seated listeners never exceed the cap; waiting listeners are seated in
the order they arrived; a seat freed while someone waits is handed on at once (none is lost).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Admitted:
    lease_expires: float


@dataclass(frozen=True, slots=True)
class Waiting:
    position: int  # 1 is next in line
    ahead: int


Admission = Admitted | Waiting


@dataclass(slots=True)
class Seats:
    cap: int | None
    lease_ttl: float
    wait_ttl: float
    leases: dict[str, float] = field(default_factory=dict)
    waiting: OrderedDict[str, float] = field(default_factory=OrderedDict)  # listener -> ticket expiry

    def _expire(self, now: float) -> None:
        for who in [w for w, exp in self.leases.items() if exp <= now]:
            del self.leases[who]
        for who in [w for w, exp in self.waiting.items() if exp <= now]:
            del self.waiting[who]
        self._seat_waiting(now)

    def _free(self) -> int | None:
        return None if self.cap is None else self.cap - len(self.leases)

    def _seat_waiting(self, now: float) -> None:
        while self.waiting:
            free = self._free()
            if free is not None and free <= 0:
                return
            who, _ = self.waiting.popitem(last=False)
            self.leases[who] = now + self.lease_ttl

    def _position(self, who: str) -> Waiting:
        for i, w in enumerate(self.waiting):
            if w == who:
                return Waiting(position=i + 1, ahead=i)
        raise KeyError(who)

    def join(self, who: str, now: float) -> Admission:
        """Take a seat, or a place in line; joining again is idempotent."""
        self._expire(now)
        if who in self.leases:
            self.leases[who] = now + self.lease_ttl
            return Admitted(self.leases[who])
        if who in self.waiting:
            self.waiting[who] = now + self.wait_ttl
            return self._position(who)
        free = self._free()
        if free is None or (free > 0 and not self.waiting):
            self.leases[who] = now + self.lease_ttl
            return Admitted(self.leases[who])
        self.waiting[who] = now + self.wait_ttl
        return self._position(who)

    def poll(self, who: str, now: float) -> Admission | None:
        """A waiting listener checks its place; None when it holds neither seat nor ticket."""
        self._expire(now)
        if who in self.leases:
            return Admitted(self.leases[who])
        if who in self.waiting:
            self.waiting[who] = now + self.wait_ttl
            return self._position(who)
        return None

    def renew(self, who: str, now: float) -> float | None:
        """Extend a held lease; None when the seat was lost (the client must join again)."""
        self._expire(now)
        if who not in self.leases:
            return None
        self.leases[who] = now + self.lease_ttl
        return self.leases[who]

    def leave(self, who: str, now: float) -> None:
        self.leases.pop(who, None)
        self.waiting.pop(who, None)
        self._expire(now)

    def set_cap(self, cap: int | None, now: float) -> None:
        self.cap = cap
        self._expire(now)

    def seated(self, now: float) -> int:
        self._expire(now)
        return len(self.leases)

    def queued(self, now: float) -> int:
        self._expire(now)
        return len(self.waiting)
