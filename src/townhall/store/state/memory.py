"""Hot state in this process: the embedded default and the test double for every caller.

Never shared between processes; passes the same contract suite as the Redis store.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from typing import Generic, Self, TypeVar

from datasketch import HyperLogLog

from townhall.domain.admission import Admission, Policy, Seats, as_policy

HLL_PRECISION = 14  # the same standard error as Redis: 0.81 %
V = TypeVar("V")


class _Expiring(Generic[V]):
    """Entries that expire at a time in the caller's clock. An expired entry is never returned, and is
    freed by the first call at a later `now` whether it is read or not: one heap entry per key, moved
    on when the key was renewed since."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float | None, V]] = {}
        self._expiry: list[tuple[float, str]] = []
        self._scheduled: set[str] = set()

    def __len__(self) -> int:
        return len(self._entries)

    def sweep(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, key = heapq.heappop(self._expiry)
            self._scheduled.discard(key)
            entry = self._entries.get(key)
            if entry is None or entry[0] is None:
                continue
            if entry[0] <= now:
                del self._entries[key]
            else:
                self._schedule(key, entry[0])

    def _schedule(self, key: str, until: float) -> None:
        heapq.heappush(self._expiry, (until, key))
        self._scheduled.add(key)

    def get(self, key: str, now: float) -> V | None:
        self.sweep(now)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] is not None and entry[0] <= now:
            del self._entries[key]
            return None
        return entry[1]

    def set(self, key: str, value: V, until: float | None, now: float) -> None:
        self.sweep(now)
        self._entries[key] = (until, value)
        if until is not None and key not in self._scheduled:
            self._schedule(key, until)


class MemoryState:
    def __init__(self, lease_ttl: float, wait_ttl: float) -> None:
        self._lease_ttl = lease_ttl
        self._wait_ttl = wait_ttl
        self._seats: dict[str, Seats] = {}
        self._windows: dict[str, tuple[float, int]] = {}
        self._counts: dict[str, int] = {}
        self._hashes: _Expiring[dict[str, int]] = _Expiring()
        self._hll: dict[str, HyperLogLog] = {}
        self._seen: _Expiring[bool] = _Expiring()
        self._values: _Expiring[bytes] = _Expiring()
        self._queues: dict[str, OrderedDict[str, None]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[bytes | None]]] = {}

    # --- admission ------------------------------------------------------------------------------
    def lasting(self, lease_ttl: float) -> Self:
        """The same store (shared data and connections) whose seat leases last `lease_ttl` (open spaces')."""
        view = copy.copy(self)
        view._lease_ttl = lease_ttl
        return view

    def _book(self, space_id: str, policy: Policy | int | None, now: float) -> Seats:
        p = as_policy(policy)
        book = self._seats.get(space_id)
        if book is None:
            book = self._seats[space_id] = Seats(p.cap, self._lease_ttl, self._wait_ttl, p.rate, opened=p.opened)
        book.apply(p, now)
        return book

    async def join(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> Admission:
        return self._book(space_id, cap, now).join(who, now, as_policy(cap).hands_over)

    async def poll(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> Admission | None:
        return self._book(space_id, cap, now).poll(who, now)

    async def renew(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> float | None:
        return self._book(space_id, cap, now).renew(who, now)

    async def refresh_many(self, renewals: Sequence[tuple[str, str, float]], now: float) -> None:
        for book, who, at in renewals:
            self._book(book, None, now).refresh(who, at, now)

    async def leave(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> None:
        self._book(space_id, cap, now).leave(who, now)

    async def seated(self, space_id: str, cap: Policy | int | None, now: float) -> int:
        return self._book(space_id, cap, now).seated(now)

    async def queued(self, space_id: str, cap: Policy | int | None, now: float) -> int:
        return self._book(space_id, cap, now).queued(now)

    async def drop_space(self, space_id: str) -> None:
        self._seats.pop(space_id, None)

    # --- rate limits ----------------------------------------------------------------------------
    async def hit(self, key: str, limit: int, window_s: float, now: float) -> bool:
        window = int(now // window_s)
        start, n = self._windows.get(key, (window, 0))
        if start != window:
            n = 0
        n += 1
        self._windows[key] = (window, n)
        if len(self._windows) > 100_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        return n <= limit

    # --- counters -------------------------------------------------------------------------------
    async def incr(self, key: str, by: int = 1) -> int:
        n = self._counts.get(key, 0) + by
        self._counts[key] = n
        return n

    async def get_count(self, key: str) -> int:
        return self._counts.get(key, 0)

    async def set_max(self, key: str, value: int) -> int:
        n = max(self._counts.get(key, 0), value)
        self._counts[key] = n
        return n

    async def hincr(self, key: str, field: str, by: int, ttl_s: float, now: float) -> None:
        fields = self._hashes.get(key, now) or {}
        fields[field] = fields.get(field, 0) + by
        self._hashes.set(key, fields, now + ttl_s, now)

    async def hgetall(self, key: str, now: float) -> dict[str, int]:
        return dict(self._hashes.get(key, now) or {})

    # --- uniques --------------------------------------------------------------------------------
    async def pfadd(self, key: str, *items: str) -> None:
        hll = self._hll.get(key)
        if hll is None:
            hll = self._hll[key] = HyperLogLog(p=HLL_PRECISION)
        for item in items:
            hll.update(item.encode())

    async def pfcount(self, *keys: str) -> int:
        present = [self._hll[k] for k in keys if k in self._hll]
        if not present:
            return 0
        if len(present) == 1:
            return round(float(present[0].count()))
        union = HyperLogLog(p=HLL_PRECISION)
        for h in present:
            union.merge(h)
        return round(float(union.count()))

    async def first_seen(self, key: str, ttl_s: float, now: float) -> bool:
        if self._seen.get(key, now):
            return False
        self._seen.set(key, True, now + ttl_s, now)
        return True

    # --- values ---------------------------------------------------------------------------------
    async def put(self, key: str, value: bytes, now: float, ttl_s: float | None = None) -> None:
        self._values.set(key, value, None if ttl_s is None else now + ttl_s, now)

    async def get(self, key: str, now: float) -> bytes | None:
        return self._values.get(key, now)

    async def get_many(self, keys: Sequence[str], now: float) -> list[bytes | None]:
        return [self._values.get(key, now) for key in keys]

    # --- bounded queues -------------------------------------------------------------------------
    async def qpush(self, key: str, member: str, limit: int) -> bool:
        q = self._queues.setdefault(key, OrderedDict())
        if member in q:
            return True
        if len(q) >= limit:
            return False
        q[member] = None
        return True

    async def qlist(self, key: str) -> list[str]:
        return list(self._queues.get(key, ()))

    async def qremove(self, key: str, member: str) -> bool:
        q = self._queues.get(key)
        if q is None or member not in q:
            return False
        del q[member]
        return True

    # --- pub/sub --------------------------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        for q in list(self._subscribers.get(channel, ())):
            if q.qsize() < 1000:
                q.put_nowait(message)

    def subscribe(self, channel: str) -> AsyncIterator[bytes]:
        """Registered before this returns: every message published afterwards is delivered."""
        q: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._subscribers.setdefault(channel, set()).add(q)
        messages = self._messages(channel, q)
        weakref.finalize(messages, self._unsubscribe, channel, q)  # an iterator dropped before its first step
        return messages

    async def _messages(self, channel: str, q: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
        try:
            while (message := await q.get()) is not None:
                yield message
        finally:
            self._unsubscribe(channel, q)

    def _unsubscribe(self, channel: str, q: asyncio.Queue[bytes | None]) -> None:
        queues = self._subscribers.get(channel)
        if queues is not None:
            queues.discard(q)
            if not queues:
                del self._subscribers[channel]

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        """Ends every open subscription: their iterators stop."""
        for queues in self._subscribers.values():
            for q in queues:
                q.put_nowait(None)
        self._subscribers.clear()
