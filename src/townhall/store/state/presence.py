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

A space that changes form moves its listeners at their next renewal: when the host sets a cap on a live
uncapped space, the renewal finds no seat in the space's book and the page joins again (admitted or in
line); when the cap is lifted, the renewal takes a seat in the listener's shard (written behind, below)
and the old seat lapses with its short lease.

An open book's renewals are written behind (`WriteBehind`): a renewal is answered at once (the seat is
kept until its time plus the lease) and the process writes the renewals it holds every `flush_s`, one
pipelined round trip for all of them (one script call per book; `SeatBook.refresh_many`). Nothing waits
for Redis on a renewal. A write takes the seat or keeps it, so a listener whose seat lapsed (a sleeping
laptop, a shard that failed over) is seated again by their next renewal; it never brings back one who
left after the renewal was accepted (the book remembers departures for `DEPARTURE_MEMORY_S`). A process
that dies loses at most `flush_s` of renewals: each listener renews every third of the lease, so the
next one comes long before the seat would lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import zlib
from collections.abc import Sequence

from townhall.domain.admission import Admission, Admitted, Policy, as_policy
from townhall.store.state.base import SeatBook

log = logging.getLogger("townhall.presence")
FLUSH_S = 0.5  # how long a renewal is held before it is written (a crash loses at most this much)


def spread(policy: Policy | int | None) -> bool:
    """Whether a space's seats are spread over shards: it has no cap (nobody waits for a seat to free)."""
    return as_policy(policy).cap is None


class WriteBehind:
    """Renewals of open books held in this process and written every `flush_s` (`refresh_many`)."""

    def __init__(self, book: SeatBook, flush_s: float) -> None:
        self.book = book
        self.flush_s = flush_s
        self._held: dict[tuple[str, str], float] = {}  # (book, who) -> the latest renewal's time
        self._writers: dict[int, asyncio.Task[None]] = {}  # one per event loop that renews
        self._failing = 0

    def renew(self, name: str, who: str, now: float) -> None:
        key = (name, who)
        self._held[key] = max(now, self._held.get(key, now))
        loop = asyncio.get_running_loop()
        writer = self._writers.get(id(loop))
        if writer is None or writer.done():
            self._writers[id(loop)] = loop.create_task(self._write_every(), name="presence-write-behind")

    def forget(self, name: str, who: str) -> None:
        """A listener left: their held renewal is not written."""
        self._held.pop((name, who), None)

    async def _write_every(self) -> None:
        while self._held:
            await asyncio.sleep(self.flush_s)
            with contextlib.suppress(Exception):  # logged by flush; the renewals are held for the next round
                await self.flush()

    async def flush(self) -> None:
        """Write every renewal held now (at stop, and in tests)."""
        if not self._held:
            return
        held, self._held = self._held, {}
        now = max(held.values())
        try:
            await self.book.refresh_many([(name, who, at) for (name, who), at in held.items()], now)
        except Exception as exc:
            for key, at in held.items():  # again next round, unless a newer renewal came meanwhile
                if at > self._held.get(key, float("-inf")):
                    self._held[key] = at
            self._failing += 1
            if self._failing == 1:
                log.warning("presence: could not write %d renewals (%s); holding them", len(held), exc)
            raise
        if self._failing:
            log.warning("presence: writing renewals again after %d failed rounds", self._failing)
            self._failing = 0

    async def close(self) -> None:
        for writer in self._writers.values():
            writer.cancel()
        self._writers.clear()
        with contextlib.suppress(Exception):
            await self.flush()


class ShardedSeats:
    """A `SeatBook` that keeps each space's pace and line in `books` and, for an uncapped space, its seats
    in `shards` books of `open_books`."""

    def __init__(
        self, books: SeatBook, open_books: SeatBook, shards: int, open_lease_ttl: float, flush_s: float = FLUSH_S
    ) -> None:
        if shards < 1:
            raise ValueError("presence needs at least one shard")
        self.books = books
        self.open_books = open_books
        self.shards = shards
        self.open_lease_ttl = open_lease_ttl  # open_books' lease
        self.renewals = WriteBehind(open_books, flush_s)

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
        shard = self.shard_of(space_id, who)
        kept = await self.open_books.renew(shard, who, None, now)
        if kept is not None:
            return Admitted(kept)  # joined again: the seat is kept
        # the pace and the line decide; the book keeps no seat for one it admits (handed over to the shard)
        outcome = await self.books.join(space_id, who, dataclasses.replace(as_policy(cap), hands_over=True), now)
        return await self.open_books.join(shard, who, None, now) if isinstance(outcome, Admitted) else outcome

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
        self.renewals.renew(self.shard_of(space_id, who), who, now)  # written behind: nothing waits
        return now + self.open_lease_ttl

    async def refresh_many(self, renewals: Sequence[tuple[str, str, float]], now: float) -> None:
        for space_id, who, at in renewals:
            self.renewals.renew(self.shard_of(space_id, who), who, at)
        await self.renewals.flush()

    async def leave(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> None:
        await self.books.leave(space_id, who, cap, now)  # in line, or a seat not yet moved
        if spread(cap):
            self.renewals.forget(self.shard_of(space_id, who), who)
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
