"""Revoked listener tokens: who was removed from a space, or suspended everywhere, before their token expired.

A listener token is checked without a lookup (decision 0001), so a removal, a block or a suspension has to
reach every place that checks one. The revocation set lives in the shared hot state, one entry per subject
(per space, or `*` for every space), and lasts as long as a token issued before it can (the listener token
lifetime): after that the token has expired anyway, and neither a renewal nor a new join gives another.

Who reads it: the lease renewal (refused at once), the origin's `/e/<token>/` gate (at once), and the Varnish
edge, which fetches the space's list (`/live/<space>/revoked`, the `X-Townhall-Revoked` header) through its
cache at most `edge_revocation_ttl_s` old. docs/trust-and-safety.md states the bound.
"""

from __future__ import annotations

from townhall.services.context import Context
from townhall.store.state.base import Queues, SeatBook, Values

EVERY_SPACE = "*"
LIST_MAX = 200  # subjects per list the edge reads (one response header); past it the token lifetime bounds


class Revocations:
    def __init__(self, ctx: Context, values: Values, queues: Queues, seats: SeatBook) -> None:
        self.ctx = ctx
        self.values = values
        self.queues = queues
        self.seats = seats

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

    async def unseat(self, space_id: str, cap: int | None, subject: str) -> None:
        """Free the subject's seat (or place in line) in the space now, not when its lease would lapse."""
        await self.seats.leave(space_id, subject, cap, self.ctx.clock())

    async def restore(self, space_id: str | None, subject: str) -> None:
        """Lift a revocation (a reversed removal or suspension): tokens issued from now on work again."""
        where = space_id or EVERY_SPACE
        await self.values.put(f"revoked:{where}:{subject}", b"0", self.ctx.clock(), 1.0)
        await self.queues.qremove(f"revoked:{where}", subject)

    async def revoked(self, space_id: str, subject: str) -> bool:
        now = self.ctx.clock()
        for where in (space_id, EVERY_SPACE):
            if await self.values.get(f"revoked:{where}:{subject}", now) == b"1":
                return True
        return False

    async def listed(self, space_id: str) -> list[str]:
        """Every subject whose tokens for `space_id` are revoked now (what the edge refuses)."""
        out: list[str] = []
        for where in (space_id, EVERY_SPACE):
            out += await self._sweep(where)
        return out

    async def _sweep(self, where: str) -> list[str]:
        """The live entries of one list; the expired ones are dropped from it."""
        now = self.ctx.clock()
        alive: list[str] = []
        for subject in await self.queues.qlist(f"revoked:{where}"):
            if await self.values.get(f"revoked:{where}:{subject}", now) == b"1":
                alive.append(subject)
            else:
                await self.queues.qremove(f"revoked:{where}", subject)
        return alive
