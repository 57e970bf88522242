"""The hot-state ports, one per concern: the seat book, rate limits, counters, uniques, small values,
queues, pub/sub and health; `StateStore` is all of them, for the composition root only.

Implementations: memory.py (one process) and redis.py (shared); both pass tests/contract/state/.
Every time-dependent method takes `now` (the caller's clock), so tests control time and nodes agree on it.
A store that cannot reach its backend raises `domain.errors.Unavailable("state_unavailable")`, never a
driver's exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from townhall.domain.admission import Admission, Policy


class SeatBook(Protocol):
    """Admission: one seat book per space, leases and a waiting room (rules in domain/admission.py).
    `cap` is the space's `Policy` (cap, pace, opened, seed), or a bare cap for an open, unpaced space."""

    async def join(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> Admission: ...
    async def poll(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> Admission | None: ...
    async def renew(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> float | None: ...
    async def refresh_many(self, renewals: Sequence[tuple[str, str, float]], now: float) -> None:
        """Open books' renewals written behind (decision 0012), in one call (one round trip): each
        (book, who, at) takes or keeps the seat until `at` plus the lease (never shortened), unless `who`
        left that book at or after `at` (domain/admission.py `Seats.refresh`). For books with no cap
        and no pace only."""
        ...

    async def leave(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> None: ...
    async def seated(self, space_id: str, cap: Policy | int | None, now: float) -> int: ...
    async def queued(self, space_id: str, cap: Policy | int | None, now: float) -> int: ...
    async def drop_space(self, space_id: str) -> None: ...


class RateLimits(Protocol):
    async def hit(self, key: str, limit: int, window_s: float, now: float) -> bool:
        """Count one hit in the fixed window holding `now`; True while within `limit`."""
        ...


class Counters(Protocol):
    """Exact counters and maxima, and per-field counters in a hash that expires as a whole."""

    async def incr(self, key: str, by: int = 1) -> int: ...
    async def get_count(self, key: str) -> int: ...
    async def set_max(self, key: str, value: int) -> int: ...
    async def hincr(self, key: str, field: str, by: int, ttl_s: float, now: float) -> None:
        """Add `by` to `field`; the whole hash expires `ttl_s` after the latest `now` that touched it."""
        ...

    async def hgetall(self, key: str, now: float) -> dict[str, int]: ...


class Uniques(Protocol):
    """Unique counts (HyperLogLog, 0.81 % standard error) and first-seen de-duplication."""

    async def pfadd(self, key: str, *items: str) -> None: ...
    async def pfcount(self, *keys: str) -> int: ...
    async def first_seen(self, key: str, ttl_s: float, now: float) -> bool: ...


class Values(Protocol):
    """Small values (room state pieces, who is speaking, watermarks), optionally with a time to live."""

    async def put(self, key: str, value: bytes, now: float, ttl_s: float | None = None) -> None: ...
    async def get(self, key: str, now: float) -> bytes | None: ...
    async def get_many(self, keys: Sequence[str], now: float) -> list[bytes | None]:
        """The values of `keys`, in order, in one round trip (None where absent or expired)."""
        ...


class Queues(Protocol):
    """Bounded queues (requests to speak): push unique, list in arrival order, remove."""

    async def qpush(self, key: str, member: str, limit: int) -> bool: ...
    async def qlist(self, key: str) -> list[str]: ...
    async def qremove(self, key: str, member: str) -> bool: ...


class PubSub(Protocol):
    """Messages between nodes (host and speaker events, the media node's notes)."""

    async def publish(self, channel: str, message: bytes) -> None: ...
    def subscribe(self, channel: str) -> AsyncIterator[bytes]:
        """Registered before this returns; survives a lost connection (resubscribed when it is back)."""
        ...


class Health(Protocol):
    async def ping(self) -> bool:
        """True when the backend answers; never raises."""
        ...


class StateStore(SeatBook, RateLimits, Counters, Uniques, Values, Queues, PubSub, Health, Protocol):
    """Every port of one store, as the composition root opens and closes it."""

    async def close(self) -> None: ...
    def lasting(self, lease_ttl: float) -> SeatBook:
        """The same store's seat book with leases of `lease_ttl` (open spaces', decision 0012)."""
        ...
