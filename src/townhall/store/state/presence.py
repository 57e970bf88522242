"""The seat book at the seed's scale (docs/decisions/0012-presence-at-scale.md): an uncapped space's seated
audience spread over many seat books, each its own Redis hash slot, with a longer lease; a capped space
keeps one seat book (one slot), because its cap needs one atomic view of every seat.

An uncapped space has nobody waiting for a free seat: a listener's lease only says they are still there
(for the live count and the peak). Its joins still pass through the space's own book, which holds the
pace of admissions and the waiting room (decision 0010); the moment a listener is admitted their seat
moves to one of `shards` books named `<space>~<k>` (chosen by a hash of who they are; Redis keys
`seats:{<space>~<k>}:...`, a slot each, so a Redis Cluster spreads one space's renewals over its masters),
where it is renewed and left, with a lease of `open_lease_ttl` (renewed every third of it) instead of the
capped spaces' short one. A capped space is unchanged: its cap holds at every instant because one script
decides every admission.

A space that changes form (the host sets a cap on a live uncapped space) moves its listeners at their next
renewal: the renewal finds no seat in the other book and the page joins again (admitted or in line).

Renewals are sent together (`Coalesced`, a group commit): those that arrive while a call is on its way go
in the next call, one round trip for all of them (one script call per shard, pipelined), so a busy API
process sends one call per round trip however many renew, and a quiet one sends each at once.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence

from townhall.domain.admission import Admission, Admitted, Policy, as_policy
from townhall.store.state.base import SeatBook


def spread(policy: Policy | int | None) -> bool:
    """Whether a space's seats are spread over shards: it has no cap (nobody waits for a seat to free)."""
    return as_policy(policy).cap is None


class Coalesced:
    """A seat book's renewals (of open books) sent together: while one call is on its way, the renewals
    that arrive wait for the next, which carries them all, whatever their book (`SeatBook.renew_many`)."""

    def __init__(self, book: SeatBook) -> None:
        self.book = book
        self._waiting: dict[int, list[tuple[str, str, float, asyncio.Future[float | None]]]] = {}
        self._senders: set[asyncio.Task[None]] = set()

    async def renew(self, name: str, who: str, now: float) -> float | None:
        loop = asyncio.get_running_loop()
        key = id(loop)  # a future belongs to one loop
        renewed: asyncio.Future[float | None] = loop.create_future()
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = []
            sender = loop.create_task(self._send(key))
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        waiting.append((name, who, now, renewed))
        return await renewed

    async def _send(self, key: int) -> None:
        try:
            while batch := [entry for entry in self._waiting[key] if not entry[3].done()]:
                self._waiting[key] = []
                await self._one_call(batch)
        finally:
            for *_, left in self._waiting.pop(key, []):
                left.cancel()

    async def _one_call(self, batch: Sequence[tuple[str, str, float, asyncio.Future[float | None]]]) -> None:
        try:
            got = await self.book.renew_many([(name, who) for name, who, _, _ in batch], None, max(b[2] for b in batch))
        except Exception as exc:
            for *_, renewed in batch:
                if not renewed.done():
                    renewed.set_exception(exc)
            return
        except BaseException:  # cancelled: so are its waiters
            for *_, renewed in batch:
                renewed.cancel()
            raise
        for (*_, renewed), expires in zip(batch, got, strict=True):
            if not renewed.done():
                renewed.set_result(expires)


class ShardedSeats:
    """A `SeatBook` that keeps each space's pace and line in `books` and, for an uncapped space, its seats
    in `shards` books of `open_books`."""

    def __init__(self, books: SeatBook, open_books: SeatBook, shards: int) -> None:
        if shards < 1:
            raise ValueError("presence needs at least one shard")
        self.books = books
        self.open_books = open_books
        self.shards = shards
        self._renewals = Coalesced(open_books)

    def shard_of(self, space_id: str, who: str) -> str:
        return f"{space_id}~{zlib.crc32(who.encode()) % self.shards}"

    def _all(self, space_id: str) -> list[str]:
        return [f"{space_id}~{k}" for k in range(self.shards)]

    async def _seat(self, space_id: str, who: str, policy: Policy | int | None, now: float) -> Admission:
        """Move an admitted listener of an uncapped space from the space's book to their shard."""
        seated = await self.open_books.join(self.shard_of(space_id, who), who, None, now)
        await self.books.leave(space_id, who, policy, now)
        return seated

    async def join(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> Admission:
        if not spread(cap):
            return await self.books.join(space_id, who, cap, now)
        if await self.open_books.renew(self.shard_of(space_id, who), who, None, now) is not None:
            return await self.open_books.join(self.shard_of(space_id, who), who, None, now)  # joined again
        outcome = await self.books.join(space_id, who, cap, now)  # the pace and the line decide
        return await self._seat(space_id, who, cap, now) if isinstance(outcome, Admitted) else outcome

    async def poll(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> Admission | None:
        if not spread(cap):
            return await self.books.poll(space_id, who, cap, now)
        outcome = await self.books.poll(space_id, who, cap, now)
        if isinstance(outcome, Admitted):
            return await self._seat(space_id, who, cap, now)
        if outcome is not None:
            return outcome
        return await self.open_books.poll(self.shard_of(space_id, who), who, None, now)

    async def renew(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> float | None:
        if not spread(cap):
            return await self.books.renew(space_id, who, cap, now)
        return await self._renewals.renew(self.shard_of(space_id, who), who, now)

    async def renew_many(
        self, renewals: Sequence[tuple[str, str]], cap: Policy | int | None, now: float
    ) -> list[float | None]:
        return list(await asyncio.gather(*(self.renew(space_id, who, cap, now) for space_id, who in renewals)))

    async def leave(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> None:
        await self.books.leave(space_id, who, cap, now)  # in line, or a seat not yet moved
        if spread(cap):
            await self.open_books.leave(self.shard_of(space_id, who), who, None, now)

    async def seated(self, space_id: str, cap: Policy | int | None, now: float) -> int:
        here = await self.books.seated(space_id, cap, now)
        if not spread(cap):
            return here
        counts = await asyncio.gather(*(self.open_books.seated(name, None, now) for name in self._all(space_id)))
        return here + sum(counts)

    async def queued(self, space_id: str, cap: Policy | int | None, now: float) -> int:
        return await self.books.queued(space_id, cap, now)

    async def drop_space(self, space_id: str) -> None:
        shards = (self.open_books.drop_space(name) for name in self._all(space_id))
        await asyncio.gather(self.books.drop_space(space_id), *shards)
