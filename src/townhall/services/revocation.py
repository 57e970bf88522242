"""Revoked listener tokens: who was removed from a space, or suspended everywhere, before their token expired.

A listener token is checked without a lookup (decision 0001), so a removal, a block or a suspension has to
reach every place that checks one. The revocation set lives in the shared hot state, one entry per subject
(per space, or `*` for every space), and lasts as long as a token issued before it can (the listener token
lifetime): after that the token has expired anyway, and neither a renewal nor a new join gives another.

Who reads it: the lease renewal and the origin's `/e/<token>/` gate, and the Varnish edge, which fetches the
space's list (`/live/<space>/revoked`, the `X-Townhall-Revoked` header) through its cache at most
`edge_revocation_ttl_s` old. The renewal and the gate read a copy of the same lists kept in this process at
most `revocation_fresh_s` old (1 s, as the edge's; decision 0012), so a renewal costs no lookup: a decision
taken in this process is seen here at once (it drops the copy), one taken in another process within the
bound. Past `LIST_MAX` live subjects a list may be incomplete; the space's subjects are then looked up one
by one. docs/trust-and-safety.md states the bound.
"""

from __future__ import annotations

import math

from townhall.domain.admission import Policy
from townhall.services.context import Context
from townhall.store.state.base import Queues, SeatBook, Values

EVERY_SPACE = "*"
LIST_MAX = 200  # subjects per list the edge reads (one response header); past it the token lifetime bounds
READ_GRACE_S = 4.0  # an older copy still answers while one caller reads it again (a slow store)
COPIES_MAX = 10_000  # spaces whose copy is kept; past it every copy is read again


class Revocations:
    def __init__(self, ctx: Context, values: Values, queues: Queues, seats: SeatBook, fresh_s: float = 1.0) -> None:
        self.ctx = ctx
        self.values = values
        self.queues = queues
        self.seats = seats
        self.fresh_s = fresh_s
        # space -> (read at, its revoked subjects and every space's; None when a list was full)
        self._copies: dict[str, tuple[float, frozenset[str] | None]] = {}
        self._reading: set[str] = set()

    @property
    def lifetime_s(self) -> float:
        return float(self.ctx.settings.listener_token_ttl_s)

    async def revoke(self, space_id: str | None, subject: str, until: float | None = None) -> None:
        """Revoke `subject`'s listener tokens for one space (None: every space), until `until` at the latest."""
        now = self.ctx.clock()
        ttl = self.lifetime_s if until is None else min(self.lifetime_s, until - now)
        if ttl <= 0:
            return
        where = space_id or EVERY_SPACE
        await self.values.put(f"revoked:{where}:{subject}", b"1", now, ttl)
        if not await self.queues.qpush(f"revoked:{where}", subject, LIST_MAX):
            await self._sweep(where)
            await self.queues.qpush(f"revoked:{where}", subject, LIST_MAX)
        self._forget(space_id)

    async def unseat(self, space_id: str, cap: Policy | int | None, subject: str) -> None:
        """Free the subject's seat (or place in line) in the space now, not when its lease would lapse."""
        await self.seats.leave(space_id, subject, cap, self.ctx.clock())

    async def restore(self, space_id: str | None, subject: str) -> None:
        """Lift a revocation (a reversed removal or suspension): tokens issued from now on work again."""
        where = space_id or EVERY_SPACE
        await self.values.put(f"revoked:{where}:{subject}", b"0", self.ctx.clock(), 1.0)
        await self.queues.qremove(f"revoked:{where}", subject)
        self._forget(space_id)

    async def revoked(self, space_id: str, subject: str) -> bool:
        """Whether `subject`'s tokens for the space are revoked, as known at most `fresh_s` ago."""
        copy = await self._copy(space_id)
        if copy is not None:
            return subject in copy
        keys = [f"revoked:{where}:{subject}" for where in (space_id, EVERY_SPACE)]
        return b"1" in await self.values.get_many(keys, self.ctx.clock())

    async def listed(self, space_id: str) -> list[str]:
        """Every subject whose tokens for `space_id` are revoked now (what the edge refuses)."""
        out: list[str] = []
        for where in (space_id, EVERY_SPACE):
            out += await self._sweep(where)
        return out

    async def _copy(self, space_id: str) -> frozenset[str] | None:
        """This process's copy of the space's lists, read again once older than `fresh_s` (by one caller;
        the others keep the older copy meanwhile); None when a list is full or there is no copy yet."""
        if self.fresh_s <= 0:
            return None
        now = self.ctx.clock()
        read_at, subjects = self._copies.get(space_id, (-math.inf, None))
        if now - read_at < self.fresh_s or space_id in self._reading:
            return subjects if now - read_at < self.fresh_s + READ_GRACE_S else None
        self._reading.add(space_id)
        try:
            lists = [await self._sweep(where) for where in (space_id, EVERY_SPACE)]
        finally:
            self._reading.discard(space_id)
        subjects = None if max(map(len, lists)) >= LIST_MAX else frozenset(lists[0] + lists[1])
        if len(self._copies) >= COPIES_MAX:
            self._copies.clear()
        self._copies[space_id] = (now, subjects)
        return subjects

    def _forget(self, space_id: str | None) -> None:
        """A decision taken here is seen here at once: the copy it changes is read again."""
        if space_id is None:
            self._copies.clear()
        else:
            self._copies.pop(space_id, None)

    async def _sweep(self, where: str) -> list[str]:
        """The live entries of one list; the expired ones are dropped from it."""
        now = self.ctx.clock()
        listed = await self.queues.qlist(f"revoked:{where}")
        values = await self.values.get_many([f"revoked:{where}:{subject}" for subject in listed], now)
        alive: list[str] = []
        for subject, value in zip(listed, values, strict=True):
            if value == b"1":
                alive.append(subject)
            else:
                await self.queues.qremove(f"revoked:{where}", subject)
        return alive
