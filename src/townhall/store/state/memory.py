"""Hot state in this process: the embedded default and the test double for every caller.

Never shared between processes; passes the same contract suite as the Redis store.
"""

from __future__ import annotations

import asyncio
import heapq
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator

from datasketch import HyperLogLog

from townhall.domain.admission import Admission, Seats

HLL_PRECISION = 14  # the same standard error as Redis: 0.81 %


class MemoryState:
    def __init__(self, lease_ttl: float, wait_ttl: float) -> None:
        self._lease_ttl = lease_ttl
        self._wait_ttl = wait_ttl
        self._seats: dict[str, Seats] = {}
        self._windows: dict[str, tuple[float, int]] = {}
        self._counts: dict[str, int] = {}
        self._hashes: dict[str, tuple[float, dict[str, int]]] = {}
        self._hll: dict[str, HyperLogLog] = {}
        self._seen: dict[str, float] = {}
        self._seen_expiry: list[tuple[float, str]] = []
        self._values: dict[str, tuple[float | None, bytes]] = {}
        self._queues: dict[str, OrderedDict[str, None]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[bytes | None]]] = {}

    # --- admission ------------------------------------------------------------------------------
    def _book(self, space_id: str, cap: int | None, now: float) -> Seats:
        book = self._seats.get(space_id)
        if book is None:
            book = self._seats[space_id] = Seats(cap, self._lease_ttl, self._wait_ttl)
        elif book.cap != cap:
            book.set_cap(cap, now)
        return book

    async def join(self, space_id: str, who: str, cap: int | None, now: float) -> Admission:
        return self._book(space_id, cap, now).join(who, now)

    async def poll(self, space_id: str, who: str, cap: int | None, now: float) -> Admission | None:
        return self._book(space_id, cap, now).poll(who, now)

    async def renew(self, space_id: str, who: str, cap: int | None, now: float) -> float | None:
        return self._book(space_id, cap, now).renew(who, now)

    async def leave(self, space_id: str, who: str, cap: int | None, now: float) -> None:
        self._book(space_id, cap, now).leave(who, now)

    async def seated(self, space_id: str, cap: int | None, now: float) -> int:
        return self._book(space_id, cap, now).seated(now)

    async def queued(self, space_id: str, cap: int | None, now: float) -> int:
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

    async def hincr(self, key: str, field: str, by: int, ttl_s: float) -> None:
        loop_now = asyncio.get_running_loop().time()
        _, fields = self._hashes.get(key, (0.0, {}))
        fields[field] = fields.get(field, 0) + by
        self._hashes[key] = (loop_now + ttl_s, fields)

    async def hgetall(self, key: str) -> dict[str, int]:
        entry = self._hashes.get(key)
        if entry is None:
            return {}
        if entry[0] <= asyncio.get_running_loop().time():
            del self._hashes[key]
            return {}
        return dict(entry[1])

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
        while self._seen_expiry and self._seen_expiry[0][0] <= now:
            exp, old = heapq.heappop(self._seen_expiry)
            if self._seen.get(old) == exp:
                del self._seen[old]
        if key in self._seen and self._seen[key] > now:
            return False
        self._seen[key] = now + ttl_s
        heapq.heappush(self._seen_expiry, (now + ttl_s, key))
        return True

    # --- values ---------------------------------------------------------------------------------
    async def put(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        expires = None if ttl_s is None else asyncio.get_running_loop().time() + ttl_s
        self._values[key] = (expires, value)

    async def get(self, key: str) -> bytes | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires is not None and expires <= asyncio.get_running_loop().time():
            del self._values[key]
            return None
        return value

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
