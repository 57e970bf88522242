"""A media node's place in the cluster (the scaled-out form): its heartbeat, and the live spaces it
claims, renews, loses and gives back.

Each round (about every half second, and at once when the control plane says a space went live or
ended): renew every held lease (a refused renewal stops that space here at once, writing nothing more);
beat; stop spaces that ended; then claim each live space nobody holds if this node is the one
`domain.placement.chosen` names. A space whose owner died is claimed when its lease lapses (the lease
time), and its programme resumes after the last segment the dead node stored.

A drain (SIGTERM) is make before break (`hand_over`): a cut at a segment end agreed ahead, the successor
armed before it, the speakers moved to the successor, the lease transferred once the old node's last
segment is stored; the successor's parts, held until then, continue the timeline with no gap.

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
from townhall.domain.placement import Handoff, Lease, Member, chosen, space_lease

log = logging.getLogger("townhall.media")
PLACEMENT_CHANNEL = "media:placement"  # the control plane's {"space": id, "event": "live" | "end"}
MARGIN_S = 0.5  # the node stops writing this long before its lease can lapse in the hot state
LEAD_S = 0.5  # a drain's cut is at least this far ahead: time for the successor to start its programme
# how long after the cut the old node waits for its last segment to be stored (it still holds and renews
# the lease meanwhile; a node whose writes lag under load catches up, rather than fall back to a break)
FINISH_SLACK_S = 5.0
STOP_WAIT_S = 5.0  # the membership's own tasks, once cancelled, are waited for this long at most
SUCCESSOR_TTL_S = 10.0  # API processes send speakers' offers to a drain's successor for this long


class Leases(Protocol):
    async def claim(self, name: str, holder: str, ttl_s: float, now: float) -> Lease | None: ...
    async def renew(self, name: str, lease: Lease, ttl_s: float, now: float) -> bool: ...
    async def release(self, name: str, lease: Lease, now: float) -> None: ...
    async def holder(self, name: str, now: float) -> Lease | None: ...
    async def beat(self, member: Member, ttl_s: float, now: float) -> None: ...
    async def leave(self, node_id: str) -> None: ...
    async def members(self, now: float) -> list[Member]: ...
    async def transfer(self, name: str, lease: Lease, to: str, ttl_s: float, now: float) -> Lease | None: ...
    async def fenced_put(
        self, name: str, lease: Lease, what: str, value: bytes, ttl_s: float | None, now: float
    ) -> bool: ...


class Signals(Protocol):
    def subscribe(self, channel: str) -> AsyncIterator[bytes]: ...
    async def publish(self, channel: str, message: bytes) -> None: ...


class SpaceControl(Protocol):
    """The media node (ThreadedMedia): start and stop a space's programme."""

    async def ensure_space(
        self, space: str, backfill_from: float | None = None, handoff: Handoff | None = None, /
    ) -> None: ...
    async def stop_space(self, space_id: str, ended: bool = True) -> float | None: ...
    async def plan_handoff(self, space_id: str, lead_s: float, /) -> Handoff | None: ...
    async def finish(self, space_id: str, timeout_s: float, /) -> float | None: ...
    async def hang_up_all(self, space_id: str, /) -> None: ...
    def fence_opened(self, space_id: str, /) -> None: ...


class Held:
    """A lease this node holds, and until when (monotonic) it may still write under it."""

    def __init__(self, lease: Lease, until: float) -> None:
        self.lease = lease
        self.until = until
        self.renewed = time.monotonic()  # when a renewal was last sent that the hot state accepted
        self.closed = False  # handed over or given back: never valid again, whatever a renewal in flight says

    def valid(self) -> bool:
        return not self.closed and time.monotonic() < self.until

    def close(self) -> None:
        self.closed, self.until = True, 0.0


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
        relayed: Callable[[], Awaitable[None]] | None = None,
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
        self.relayed = relayed  # until the relay has written what the programmes handed it (a drain)
        self.draining = False
        self._closing = False
        self.held: dict[str, Held] = {}
        self.handing_over: set[str] = set()  # spaces being handed over (fence shut, lease not yet released)
        self.ended: set[str] = set()  # spaces that ended here
        # a drain's successor: spaces whose programme runs here before the cut, waiting for the lease
        # (the fence, not yet valid), and until when (monotonic) they wait for it
        self.armed: dict[str, tuple[Held, float]] = {}
        self._acks: dict[str, asyncio.Future[None]] = {}  # a draining node: successors that said "armed"
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- what the node's programmes and relay ask -------------------------------------------------
    def fence_for(self, space_id: str) -> Held | None:
        armed = self.armed.get(space_id)
        return self.held.get(space_id) or (armed[0] if armed is not None else None)

    def runs(self, space_id: str) -> bool:
        """Whether speakers' offers for the space are taken here: it holds the space, or is a drain's
        successor for it (the speakers move before the old node stops producing)."""
        return self.lease_of(space_id) is not None or space_id in self.armed

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
        """Drain and leave (SIGTERM): say this node is draining (no new space comes here), hand every
        space over at once (`hand_over`), renewing the leases meanwhile, then leave."""
        self.draining = True
        with contextlib.suppress(Exception):
            await self.leases.beat(self.member(), self.ttl_s, self.clock())
        await asyncio.gather(*(self.hand_over(space_id) for space_id in list(self.held)), return_exceptions=True)
        # the loops also end by this flag: a cancel that lands in a database call can come back as a
        # database error (the round then logged "failed" and went on, and the node never exited)
        self._closing = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_WAIT_S)
            if stuck:
                log.warning("node %s: membership tasks did not stop in %.0f s", self.node_id, STOP_WAIT_S)
        self._tasks = []
        for space_id in list(self.armed):
            await self._disarm(space_id)
        with contextlib.suppress(Exception):
            await self.leases.leave(self.node_id)

    async def hand_over(self, space_id: str) -> None:
        """Make before break. Agree a cut at a segment end at least LEAD_S ahead (`Handoff`), tell the
        chosen successor, which starts its programme to produce from the cut on and takes the speakers'
        new offers; once it says it is armed, end the speakers' sessions here (they publish again, to
        it); keep producing up to the cut and store the last segment; then shut this node's fence and
        transfer the lease to the successor in one step (a new fencing number), and signal it: its
        first part, held until then, is written. Without a successor or its answer: the break-first
        handover (fence shut, lease released, any node claims)."""
        held = self.held.get(space_id)
        if held is None:
            return
        plan, successor = None, None
        try:
            others = [m for m in await self.leases.members(self.clock()) if m.node_id != self.node_id]
            successor = chosen(others)
            if successor is not None:
                plan = await self.media.plan_handoff(space_id, LEAD_S)
        except Exception as exc:
            log.warning("node %s: no planned handover of space %s (%s)", self.node_id, space_id, exc)
        if plan is None or successor is None:
            await self._break_first(space_id, held)
            return
        log.info(
            "node %s hands space %s to %s at msn %d (%.3f)",
            self.node_id,
            space_id,
            successor.node_id,
            plan.msn,
            plan.at,
        )
        ack = self._acks[space_id] = asyncio.get_running_loop().create_future()
        armed = False
        try:
            await self._publish({"space": space_id, "event": "prepare", "to": successor.node_id, **plan.to_dict()})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ack, max(0.0, plan.at - self.clock()))
                armed = True
            if armed:  # speakers' offers go to the successor from now on; their sessions here end
                await self.leases.fenced_put(
                    space_lease(space_id),
                    held.lease,
                    "successor",
                    successor.node_id.encode(),
                    SUCCESSOR_TTL_S,
                    self.clock(),
                )
                await self.media.hang_up_all(space_id)
                log.info("node %s moved the speakers of space %s to %s", self.node_id, space_id, successor.node_id)
            until = await self.media.finish(space_id, max(0.0, plan.at - self.clock()) + FINISH_SLACK_S)
            if until is not None and self.relayed is not None:  # the last part and playlist, under this lease
                async with asyncio.timeout(FINISH_SLACK_S):
                    await self.relayed()
        except Exception as exc:
            log.warning("node %s: planned handover of space %s failed (%s)", self.node_id, space_id, exc)
            armed, until = False, None
        finally:
            self._acks.pop(space_id, None)
        if not armed or until is None:
            await self._break_first(space_id, held, until)
            return
        self.held.pop(space_id, None)
        held.close()  # from here this node writes nothing of the space
        moved = None
        with contextlib.suppress(Exception):
            moved = await self.leases.transfer(
                space_lease(space_id), held.lease, successor.node_id, self.ttl_s, self.clock()
            )
        if moved is None:  # the lease was lost meanwhile (or the hot state is away): whoever holds it goes on
            log.warning("node %s could not hand space %s to %s", self.node_id, space_id, successor.node_id)
        else:
            with contextlib.suppress(Exception):
                await self._publish(
                    {
                        "space": space_id,
                        "event": "handoff",
                        "to": successor.node_id,
                        "epoch": moved.epoch,
                        "until": until,
                    }
                )
            log.info("node %s handed space %s to %s (epoch %d)", self.node_id, space_id, successor.node_id, moved.epoch)
        await self.media.stop_space(space_id, ended=False)

    async def _break_first(self, space_id: str, held: Held, until: float | None = None) -> None:
        """Fence shut, programme stopped, lease released, `handoff` signalled: any chosen node claims."""
        self.held.pop(space_id, None)
        held.close()
        self.handing_over.add(space_id)  # what it wrote still goes out (the lease is still this node's)
        try:  # the programme settles (a write already under way lands) before anyone else may start
            stopped = await self.media.stop_space(space_id, ended=False)
            until = until if until is not None else stopped
        finally:
            self.handing_over.discard(space_id)
            with contextlib.suppress(Exception):
                await self.leases.release(space_lease(space_id), held.lease, self.clock())
                await self._publish({"space": space_id, "event": "handoff", "until": until})
            log.info("node %s handed space %s over", self.node_id, space_id)

    async def _publish(self, message: dict[str, object]) -> None:
        await self.signals.publish(PLACEMENT_CHANNEL, json.dumps(message).encode())

    async def _prepare(self, space_id: str, plan: Handoff) -> None:
        """A drain's successor: start the programme before the cut, fence not yet valid; say so."""
        if self.draining or space_id in self.held or space_id in self.armed:
            return
        held = Held(Lease(self.node_id, 0), 0.0)
        waits = max(0.0, plan.at - self.clock()) + FINISH_SLACK_S + 2 * self.ttl_s
        self.armed[space_id] = (held, time.monotonic() + waits)
        try:
            await self.media.ensure_space(space_id, None, plan)
        except Exception:
            log.exception("node %s: could not arm space %s", self.node_id, space_id)
            await self._disarm(space_id)
            return
        await self._publish({"space": space_id, "event": "armed", "node": self.node_id})

    async def _take_over(self, space_id: str, epoch: int, until: float | None) -> None:
        """A drain's successor: the lease was transferred to this node; confirm it, and the programme's
        parts (held since the cut) are written."""
        armed = self.armed.pop(space_id, None)
        lease, started = Lease(self.node_id, epoch), time.monotonic()
        if not await self.leases.renew(space_lease(space_id), lease, self.ttl_s, self.clock()):
            log.warning("node %s: the lease on space %s handed to it is not its own", self.node_id, space_id)
            if armed is not None:
                await self.media.stop_space(space_id, ended=False)
            return
        held = armed[0] if armed is not None else Held(lease, 0.0)
        held.lease, held.renewed, held.until = lease, started, started + self.ttl_s - MARGIN_S
        self.held[space_id] = held
        log.info("node %s took space %s over (epoch %d)", self.node_id, space_id, epoch)
        self.media.fence_opened(space_id)
        if armed is None:  # the prepare was missed: start now, after what the old node stored
            await self.media.ensure_space(space_id, until)

    async def _disarm(self, space_id: str) -> None:
        armed = self.armed.pop(space_id, None)
        if armed is not None:
            armed[0].close()
            with contextlib.suppress(Exception):
                await self.media.stop_space(space_id, ended=False)

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
            held.close()
            log.warning("space %s: lease lost by node %s; stopping it here", space_id, self.node_id)
            await self.media.stop_space(space_id, ended=False)

    # --- the rounds -------------------------------------------------------------------------------
    async def _rounds(self) -> None:
        while not self._closing:
            try:
                await self.round()
            except Exception as exc:  # the hot state or the database is away (renewals: `_unrenewed` said so)
                if self._closing:
                    return
                self._failing = True
                if not (isinstance(exc, Unavailable) and self.unrenewed_since is not None):
                    log.warning("node %s: membership round failed (%s)", self.node_id, exc)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as the event
            # is set (a drain's own signal wakes the round as the drain cancels it), and stop() hung
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every_s):
                    await self._wake.wait()
            self._wake.clear()

    async def _listen(self) -> None:
        while not self._closing:
            try:
                async for raw in self.signals.subscribe(PLACEMENT_CHANNEL):
                    message = json.loads(raw)
                    if isinstance(message, dict) and isinstance(message.get("space"), str):
                        await self._on_signal(message["space"], message)
                    self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closing:
                    return
                log.warning("node %s: placement signals failed (%s); listening again", self.node_id, exc)
                await asyncio.sleep(self.every_s)

    async def _on_signal(self, space_id: str, message: dict[str, object]) -> None:
        event, to = message.get("event"), message.get("to")
        until = message.get("until")
        until = until if isinstance(until, float) else None
        if event == "end" and space_id in self.held:
            await self.give_up(space_id, ended=True)
        elif event == "end" and space_id in self.armed:
            await self._disarm(space_id)
        elif event == "prepare" and to == self.node_id:
            plan = Handoff.from_dict(message)
            if plan is not None:
                await self._prepare(space_id, plan)
        elif event == "armed":
            ack = self._acks.get(space_id)
            if ack is not None and not ack.done():
                ack.set_result(None)
        elif event == "handoff" and to is not None:  # a planned handover: only the named successor acts
            epoch = message.get("epoch")
            if to == self.node_id and isinstance(epoch, int):
                await self._take_over(space_id, epoch, until)
        elif event == "handoff" and not self.draining:
            await self._disarm(space_id)  # a planned handover that fell back: claim as any node would
            await self._try_claim(space_id, until)  # a drained space is live: no need to ask the database

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
        for space_id, (_, wait_until) in list(self.armed.items()):
            if started > wait_until or space_id not in live:  # the old node never handed it over
                await self._disarm(space_id)
        if self.draining or started - self._recovered_at < self.ttl_s:
            return
        for space_id in sorted(live - self.held.keys()):
            await self._try_claim(space_id)

    async def _renew(self, space_id: str, held: Held, started: float, now: float) -> None:
        if held.closed:
            return
        name = space_lease(space_id)
        if await self.leases.renew(name, held.lease, self.ttl_s, now):
            if not held.closed:
                held.renewed, held.until = started, started + self.ttl_s - MARGIN_S
            return
        if await self.leases.holder(name, now) is None:  # the hot state lost it (a restart): claim again
            lease = await self.leases.claim(name, self.node_id, self.ttl_s, now)
            if lease is not None:
                log.warning("node %s: the lease on space %s was gone; claimed again", self.node_id, space_id)
                if held.closed:
                    await self.leases.release(name, lease, now)
                    return
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
        if (
            space_id in self.held
            or space_id in self.armed
            or await self.leases.holder(space_lease(space_id), now) is not None
        ):
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
