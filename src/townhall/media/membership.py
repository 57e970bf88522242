"""A media node's place in the cluster (the scaled-out form): its heartbeat, and the live spaces it
claims, renews, loses and gives back.

Each round (about every half second, and at once when the control plane says a space went live or
ended): renew every held lease (a refused renewal stops that space here at once, writing nothing more);
beat; stop spaces that ended; then claim each live space nobody holds if this node is the one
`domain.placement.chosen` names. A space whose owner died is claimed when its lease lapses (the lease
time), and its programme resumes after the last segment the dead node stored.

Runs on the process's main loop; the programme's writes check `Held.valid` from the media thread, which
turns false a margin before the lease itself can lapse in the hot state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from townhall.domain.errors import Unavailable
from townhall.domain.placement import Lease, Member, chosen, space_lease

log = logging.getLogger("townhall.media")
PLACEMENT_CHANNEL = "media:placement"  # the control plane's {"space": id, "event": "live" | "end"}
MARGIN_S = 0.5  # the node stops writing this long before its lease can lapse in the hot state


class Leases(Protocol):
    async def claim(self, name: str, holder: str, ttl_s: float, now: float) -> Lease | None: ...
    async def renew(self, name: str, lease: Lease, ttl_s: float, now: float) -> bool: ...
    async def release(self, name: str, lease: Lease, now: float) -> None: ...
    async def holder(self, name: str, now: float) -> Lease | None: ...
    async def beat(self, member: Member, ttl_s: float, now: float) -> None: ...
    async def leave(self, node_id: str) -> None: ...
    async def members(self, now: float) -> list[Member]: ...


class Signals(Protocol):
    def subscribe(self, channel: str) -> AsyncIterator[bytes]: ...
    async def publish(self, channel: str, message: bytes) -> None: ...


class SpaceControl(Protocol):
    """The media node (ThreadedMedia): start and stop a space's programme."""

    async def ensure_space(self, space: str, backfill_from: float | None = None, /) -> None: ...
    async def stop_space(self, space_id: str, ended: bool = True) -> float | None: ...


class Held:
    """A lease this node holds, and until when (monotonic) it may still write under it."""

    def __init__(self, lease: Lease, until: float) -> None:
        self.lease = lease
        self.until = until
        self.renewed = time.monotonic()  # when a renewal was last sent that the hot state accepted

    def valid(self) -> bool:
        return time.monotonic() < self.until


class Membership:
    def __init__(
        self,
        node_id: str,
        url: str,
        leases: Leases,
        signals: Signals,
        media: SpaceControl,
        live_spaces: Callable[[], Awaitable[set[str]]],
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        grace_s: float = 0.0,
    ) -> None:
        self.node_id = node_id
        self.url = url
        self.leases = leases
        self.signals = signals
        self.media = media
        self.live_spaces = live_spaces
        self.ttl_s = ttl_s
        self.every_s = ttl_s / 5
        # while the hot state cannot be reached at all, nobody can claim a space either: the owner keeps
        # writing for up to this long after its last renewal rather than silence every space at once
        self.grace_s = max(grace_s, ttl_s - MARGIN_S)
        self.unrenewed_since: float | None = None  # monotonic time renewals started failing
        self._failing = False  # the last round failed (the hot state or the database away)
        self._recovered_at = -float("inf")  # monotonic time a round first succeeded again
        self.clock = clock
        self.draining = False
        self.held: dict[str, Held] = {}
        self.handing_over: set[str] = set()  # spaces being handed over (fence shut, lease not yet released)
        self.ended: set[str] = set()  # spaces that ended here
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- what the node's programmes and relay ask -------------------------------------------------
    def fence_for(self, space_id: str) -> Held | None:
        return self.held.get(space_id)

    def may_upload(self, space_id: str) -> bool:
        """Whether what this node spooled of the space may go to the blob store now: while it holds the
        space, while handing it over, or once the space ended here (nobody else writes it then)."""
        held = self.held.get(space_id)
        return (held is not None and held.valid()) or space_id in self.handing_over or space_id in self.ended

    def lease_of(self, space_id: str) -> Lease | None:
        held = self.held.get(space_id)
        return held.lease if held is not None and held.valid() else None

    def member(self) -> Member:
        return Member(self.node_id, self.url, len(self.held), self.draining)

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._rounds(), name="media-membership"),
            asyncio.create_task(self._listen(), name="media-placement"),
        ]

    async def stop(self) -> None:
        """Drain and leave (SIGTERM): say this node is draining, then hand each space over: stop writing
        it, stop its programme, release its lease and signal, so another node claims it at once, not after a
        lease time."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.draining = True
        with contextlib.suppress(Exception):
            await self.leases.beat(self.member(), self.ttl_s, self.clock())
        for space_id in list(self.held):
            await self.hand_over(space_id)
        with contextlib.suppress(Exception):
            await self.leases.leave(self.node_id)

    async def hand_over(self, space_id: str) -> None:
        held = self.held.pop(space_id, None)
        if held is None:
            return
        held.until = 0.0  # the fence shuts first: from here this node writes nothing of the space
        until = None
        self.handing_over.add(space_id)  # what it wrote still goes out (the lease is still this node's)
        try:  # the programme settles (a write already under way lands) before anyone else may start
            until = await self.media.stop_space(space_id, ended=False)
        finally:
            self.handing_over.discard(space_id)
            with contextlib.suppress(Exception):
                await self.leases.release(space_lease(space_id), held.lease, self.clock())
                signal = json.dumps({"space": space_id, "event": "handoff", "until": until}).encode()
                await self.signals.publish(PLACEMENT_CHANNEL, signal)
            log.info("node %s handed space %s over", self.node_id, space_id)

    async def give_up(self, space_id: str, ended: bool) -> None:
        held = self.held.get(space_id)
        if ended:
            self.ended.add(space_id)  # nobody writes it any more: what this node spooled of it may go out
        try:
            await self.media.stop_space(space_id, ended)
        finally:
            self.held.pop(space_id, None)
            if held is not None:
                with contextlib.suppress(Exception):
                    await self.leases.release(space_lease(space_id), held.lease, self.clock())

    async def lost(self, space_id: str) -> None:
        """Another node holds the space now: stop here, writing nothing more (the fence is already shut)."""
        held = self.held.pop(space_id, None)
        if held is not None:
            held.until = 0.0
            log.warning("space %s: lease lost by node %s; stopping it here", space_id, self.node_id)
            await self.media.stop_space(space_id, ended=False)

    # --- the rounds -------------------------------------------------------------------------------
    async def _rounds(self) -> None:
        while True:
            try:
                await self.round()
            except Exception as exc:  # the hot state or the database is away (renewals: `_unrenewed` said so)
                self._failing = True
                if not (isinstance(exc, Unavailable) and self.unrenewed_since is not None):
                    log.warning("node %s: membership round failed (%s)", self.node_id, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every_s)
            self._wake.clear()

    async def _listen(self) -> None:
        while True:
            try:
                async for raw in self.signals.subscribe(PLACEMENT_CHANNEL):
                    message = json.loads(raw)
                    space_id = message.get("space")
                    event = message.get("event")
                    if event == "end" and space_id in self.held:
                        await self.give_up(space_id, ended=True)
                    elif event == "handoff" and isinstance(space_id, str) and not self.draining:
                        until = message.get("until")  # a drained space is live: no need to ask the database
                        await self._try_claim(space_id, until if isinstance(until, float) else None)
                    self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("node %s: placement signals failed (%s); listening again", self.node_id, exc)
                await asyncio.sleep(self.every_s)

    async def round(self) -> None:
        started = time.monotonic()
        now = self.clock()
        try:
            for space_id, held in list(self.held.items()):
                await self._renew(space_id, held, started, now)
        except Unavailable as exc:
            self._unrenewed(started, exc)
            raise
        if self.unrenewed_since is not None:
            log.warning("node %s renews its leases again after %.1f s", self.node_id, started - self.unrenewed_since)
            self.unrenewed_since = None
        await self.leases.beat(self.member(), self.ttl_s, now)
        if self._failing:  # back after an outage: owners reclaim what Redis may have lost before others claim
            self._failing, self._recovered_at = False, started
        live = await self.live_spaces()
        for space_id in [s for s in self.held if s not in live]:
            await self.give_up(space_id, ended=True)  # ended while the control plane's signal was missed
        if self.draining or started - self._recovered_at < self.ttl_s:
            return
        for space_id in sorted(live - self.held.keys()):
            await self._try_claim(space_id)

    async def _renew(self, space_id: str, held: Held, started: float, now: float) -> None:
        name = space_lease(space_id)
        if await self.leases.renew(name, held.lease, self.ttl_s, now):
            held.renewed, held.until = started, started + self.ttl_s - MARGIN_S
            return
        if await self.leases.holder(name, now) is None:  # the hot state lost it (a restart): claim again
            lease = await self.leases.claim(name, self.node_id, self.ttl_s, now)
            if lease is not None:
                log.warning("node %s: the lease on space %s was gone; claimed again", self.node_id, space_id)
                held.lease, held.renewed, held.until = lease, started, started + self.ttl_s - MARGIN_S
                return
        await self.lost(space_id)

    def _unrenewed(self, started: float, exc: Exception) -> None:
        """The hot state does not answer: keep each space for the grace after its last renewal."""
        if self.unrenewed_since is None:
            self.unrenewed_since = started
            log.warning(
                "node %s cannot renew its leases (%s); it keeps its spaces for up to %.0f s",
                self.node_id,
                exc,
                self.grace_s,
            )
        for held in self.held.values():
            held.until = max(held.until, held.renewed + self.grace_s)

    def unrenewed_s(self) -> float:
        """Seconds since renewals started failing (0 while they succeed): a metric."""
        return 0.0 if self.unrenewed_since is None else time.monotonic() - self.unrenewed_since

    async def _try_claim(self, space_id: str, backfill_from: float | None = None) -> None:
        """Claim and start `space_id` if nobody holds it and this node is the one to take it;
        `backfill_from` is when the audio of the node that handed it over ended."""
        started, now = time.monotonic(), self.clock()
        if space_id in self.held or await self.leases.holder(space_lease(space_id), now) is not None:
            return
        others = [m for m in await self.leases.members(now) if m.node_id != self.node_id]
        best = chosen([*others, self.member()])
        if best is None or best.node_id != self.node_id:
            return
        lease = await self.leases.claim(space_lease(space_id), self.node_id, self.ttl_s, now)
        if lease is None:
            return
        self.held[space_id] = Held(lease, started + self.ttl_s - MARGIN_S)
        log.info("node %s claimed space %s (epoch %d)", self.node_id, space_id, lease.epoch)
        try:
            await self.media.ensure_space(space_id, backfill_from)
        except Exception:
            log.exception("node %s: could not start space %s; giving it back", self.node_id, space_id)
            await self.give_up(space_id, ended=False)
