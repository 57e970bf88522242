"""The media node: runs many live spaces in one process on one 20 ms clock, and follows the control plane.

One ticker paced by the loop's clock (a missed tick is caught up at once, so the programme never drifts
and runs with no publishers at all); the events of `space:<id>` mute, hang up and stop; who is speaking
goes to `speaking:<id>`. Never decides who may publish: whip.py asks the control plane first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from townhall.domain.channels import (
    STAGE_MARK_EVERY_S,
    programme_channel,
    programme_stopped_key,
    stage_attended_key,
)
from townhall.domain.errors import Conflict, NotFound, TownhallError
from townhall.domain.spaces import Space
from townhall.media.ingest import Publisher, answer_offer
from townhall.media.metrics import MediaMetrics
from townhall.media.mixer import FRAME, RATE, MixerSettings
from townhall.media.programme import Fence, Programme, ProgrammeConfig, Relay, SegmentHook
from townhall.media.recorder import Recorder
from townhall.media.space import LiveSpace, VoiceConfig
from townhall.store.blobs.base import BlobStore

log = logging.getLogger("townhall.media")

TICK_S = FRAME / RATE
SPEAKING_EVERY_S = 0.25
SPEAKING_TTL_S = 3.0
MAX_CATCH_UP_TICKS = 50  # after a longer stall the clock is re-based (the gap is lost, not replayed)
STOPPED_TTL_S = 86400.0
EndedHook = Callable[[str, int | None], Awaitable[None] | None]


class MediaState(Protocol):
    """What the media node needs of the hot state: the control plane's events, and small values (whose
    expiry is in the control plane's clock, `MediaNode.clock`)."""

    async def put(self, key: str, value: bytes, now: float, ttl_s: float | None = None) -> None: ...
    async def publish(self, channel: str, message: bytes) -> None: ...
    def subscribe(self, channel: str) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class MediaConfig:
    programme: ProgrammeConfig = field(default_factory=ProgrammeConfig)
    mixer: MixerSettings = field(default_factory=MixerSettings)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    publishers_max: int = 13


class MediaNode:
    def __init__(
        self,
        config: MediaConfig,
        blobs: BlobStore,
        state: MediaState,
        registry: CollectorRegistry | None = None,
        relay: Relay | None = None,
        fence_for: Callable[[str], Fence | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.relay = relay  # the scaled-out form: every API process answers listeners from the relay
        self.fence_for = fence_for  # the scaled-out form: the space's lease, checked before every write
        self.blobs = blobs
        self.state = state
        self.clock = clock  # the control plane's clock, for what the node writes to the hot state
        self.metrics = MediaMetrics(registry)
        self.spaces: dict[str, LiveSpace] = {}
        self._hooks: list[SegmentHook] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}  # per space: its event listener
        self._ticker: asyncio.Task[None] | None = None
        self._speaking: asyncio.Task[None] | None = None
        self._starting: dict[str, asyncio.Lock] = {}

    def on_segment(self, hook: SegmentHook) -> None:
        """Call `hook(space_id, SegmentRecord)` after each segment is stored (sync or async)."""
        self._hooks.append(hook)

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(), name="media-ticker")
            self._speaking = asyncio.create_task(self._speaking_forever(), name="media-speaking")

    async def stop(self) -> None:
        for space_id in list(self.spaces):
            await self.stop_space(space_id, ended=False)
        for task in (self._ticker, self._speaking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._ticker = self._speaking = None

    async def ensure_space(self, space: Space | str, backfill_from: float | None = None) -> LiveSpace:
        """Start a space's programme (idempotent); `space` is a domain Space or its id; `backfill_from`
        when another node handed it over (the Unix time its last part ended)."""
        space_id = space if isinstance(space, str) else space.id
        lock = self._starting.setdefault(space_id, asyncio.Lock())
        async with lock:
            live = self.spaces.get(space_id)
            if live is not None:
                return live
            await self.start()
            loop = asyncio.get_running_loop()
            programme = Programme(
                space_id,
                self.config.programme,
                Recorder(self.blobs, space_id),
                self.metrics,
                time.time() - loop.time(),
                self._hooks,
                self.relay,
                self.fence_for(space_id) if self.fence_for is not None else None,
                backfill_from,
            )
            await programme.start()
            live = LiveSpace(space_id, programme, self.config.mixer, self.config.voice, self.metrics, loop.time)
            self.spaces[space_id] = live
            self.metrics.spaces.set(len(self.spaces))
            self._tasks[space_id] = asyncio.create_task(self._follow(space_id), name=f"media-events-{space_id}")
            await asyncio.sleep(0)  # let the listener subscribe before anyone publishes an event
            return live

    def set_chain_head(self, space_id: str, msn: int, head: str) -> None:
        """The replay chain's newest head, listed in the space's live playlist from its next part on."""
        live = self.spaces.get(space_id)
        if live is not None:
            live.programme.window.chain = (msn, head)

    # --- the live origin's port (api/origin.py LiveOrigin) ---------------------------------------
    async def multivariant(self, space_id: str) -> str | None:
        live = self.spaces.get(space_id)
        return live.programme.multivariant if live is not None else None

    async def playlist(self, space_id: str, wanted: tuple[int, int | None] | None) -> str | None:
        """The live playlist (held until `wanted` (msn, part) exists), or None when not live here."""
        live = self.spaces.get(space_id)
        if live is None:
            return None
        programme = live.programme
        if wanted is None:
            return programme.playlist
        hold = 3 * programme.window.timing.target_duration  # RFC 8216bis: at most three target durations
        return await programme.wait_for(wanted[0], wanted[1], hold)

    async def media_object(self, space_id: str, filename: str) -> bytes | None:
        """A recent part, a segment or the init section from memory; the part named by the playlist's
        preload hint is held until it exists. None when not here (the blob store may have it)."""
        live = self.spaces.get(space_id)
        if live is None:
            return None
        programme = live.programme
        data = programme.cached(filename)
        if data is None and filename.startswith("p"):
            msn, index = (int(x) for x in filename[1:].removesuffix(".m4s").split("."))
            if (msn, index) == programme.window.position:
                try:
                    await programme.wait_for(msn, index, 3 * programme.window.timing.part_target)
                except TownhallError:
                    return None
                data = programme.cached(filename)
        return data

    async def stop_space(self, space_id: str, ended: bool = True) -> float | None:
        """Hang up the space's speakers and stop its programme; `ended` False when only this node stops.
        Returns the Unix time the last stored part's audio ends (None when none was)."""
        live = self.spaces.pop(space_id, None)
        if live is None:
            return None
        self.metrics.spaces.set(len(self.spaces))
        for publisher in list(live.publishers.values()):
            live.detach(publisher)
            await publisher.close()
        task = self._tasks.pop(space_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        await live.programme.stop(ended)
        live.flush_cpu()
        self.metrics.forget(space_id)
        await self.state.put(f"speaking:{space_id}", b"[]", self.clock(), ttl_s=SPEAKING_TTL_S)
        self._starting.pop(space_id, None)
        if ended:  # every segment is stored and announced: whoever publishes the replay may go on
            last = live.programme.last_msn
            note = json.dumps({"space_id": space_id, "last_msn": last}).encode()
            await self.state.put(programme_stopped_key(space_id), note, self.clock(), ttl_s=STOPPED_TTL_S)
            await self.state.publish(programme_channel(space_id), note)
        return live.programme.last_part_end

    # --- publishers -------------------------------------------------------------------------------
    async def publish(self, space_id: str, account_id: str, sdp: str, muted: bool) -> tuple[Publisher, str]:
        """Answer a validated, authorised offer; a speaker's new session replaces their old one."""
        live = await self.ensure_space(space_id)
        if account_id not in live.publishers and len(live.publishers) >= self.config.publishers_max:
            raise Conflict("too_many_publishers", "this space already has as many speakers connected as it may")
        publisher, answer = await answer_offer(
            sdp,
            secrets.token_urlsafe(16),
            account_id,
            live.on_audio,
            lambda p: self._gone(space_id, p),
            self.metrics.minus_delay.observe,
        )
        if self.spaces.get(space_id) is not live:  # the space ended while ICE gathered
            await publisher.close()
            raise NotFound("space_not_running", "this space is not running on this media node")
        old = live.attach(publisher, muted)
        if old is not None:
            await old.close()
        return publisher, answer

    async def offer(self, space_id: str, account_id: str, sdp: str, muted: bool) -> tuple[str, str]:
        """The WHIP port (api/whip.py Publishing): (resource id, SDP answer) of a new session."""
        publisher, answer = await self.publish(space_id, account_id, sdp, muted)
        return publisher.resource_id, answer

    async def end_session(self, space_id: str, resource_id: str, account_id: str) -> bool:
        """Hang up the account's session `resource_id`; False when there is no such session."""
        publisher = self.find(space_id, resource_id)
        if publisher is None or publisher.account_id != account_id:
            return False
        await self.hang_up(space_id, publisher)
        return True

    def rejected(self, code: str) -> None:
        self.metrics.rejected.labels(code).inc()

    def find(self, space_id: str, resource_id: str) -> Publisher | None:
        live = self.spaces.get(space_id)
        if live is None:
            return None
        return next((p for p in live.publishers.values() if p.resource_id == resource_id), None)

    async def hang_up(self, space_id: str, publisher: Publisher) -> None:
        live = self.spaces.get(space_id)
        if live is not None:
            live.detach(publisher)
        await publisher.close()

    async def hang_up_account(self, space_id: str, account_id: str) -> None:
        live = self.spaces.get(space_id)
        publisher = live.publishers.get(account_id) if live is not None else None
        if publisher is not None:
            await self.hang_up(space_id, publisher)

    def _gone(self, space_id: str, publisher: Publisher) -> None:
        live = self.spaces.get(space_id)
        if live is not None:
            live.detach(publisher)
        publisher.closed.set()

    # --- control plane events ---------------------------------------------------------------------
    async def _follow(self, space_id: str) -> None:
        async for raw in self.state.subscribe(f"space:{space_id}"):
            try:
                event = json.loads(raw)
                if not isinstance(event, dict):
                    continue
                if await self._apply(space_id, event):
                    return
            except Exception:
                log.exception("media node could not apply event on space %s", space_id)

    async def _apply(self, space_id: str, event: dict[str, Any]) -> bool:
        """Apply one event; True when the space has ended."""
        kind, account = event.get("type"), str(event.get("account_id", ""))
        live = self.spaces.get(space_id)
        if kind == "ended" or live is None:
            await self.stop_space(space_id)
            return True
        if kind == "mute":
            live.set_muted(account, bool(event.get("muted")))
        elif kind in ("removed", "suspended") or (kind == "role" and event.get("role") == "listener"):
            await self.hang_up_account(space_id, account)
        return False

    # --- the clock --------------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        loop = asyncio.get_running_loop()
        base, k = loop.time(), 0
        while True:
            k += 1
            due = base + k * TICK_S
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay < MAX_CATCH_UP_TICKS * TICK_S:
                await asyncio.sleep(0)  # catching up: let the packets that waited out the stall in first
            else:
                log.warning("media ticker stalled %.0f ms; re-basing the clock (a gap in each replay)", -delay * 1000)
                for live in list(self.spaces.values()):
                    live.programme.clock_skipped(-delay)
                self.metrics.clock_rebases.inc()
                base, k = loop.time(), 0
                continue
            late = loop.time() - due
            self.metrics.tick_lateness.observe(late)
            if late > TICK_S:
                self.metrics.late_ticks.inc()
            for live in list(self.spaces.values()):
                try:
                    live.tick(due)
                except Exception:
                    log.exception("tick failed in space %s", live.space_id)

    async def _speaking_forever(self) -> None:
        written: dict[str, tuple[list[str], float]] = {}
        marked: dict[str, float] = {}
        while True:
            await asyncio.sleep(SPEAKING_EVERY_S)
            now = time.monotonic()
            for space_id, live in list(self.spaces.items()):
                speaking = live.mixer.speaking()
                previous = written.get(space_id)
                if previous is not None and previous[0] == speaking and now - previous[1] < 1.0:
                    continue
                written[space_id] = (speaking, now)
                with contextlib.suppress(Exception):
                    body = json.dumps(speaking).encode()
                    await self.state.put(f"speaking:{space_id}", body, self.clock(), ttl_s=SPEAKING_TTL_S)
            for gone in set(written) - set(self.spaces):
                del written[gone]
            await self._mark_stages(marked, now)

    async def _mark_stages(self, marked: dict[str, float], now: float) -> None:
        """Note in the hot state that a space's stage is attended, while anyone publishes (at most every
        STAGE_MARK_EVERY_S): the control plane ends a space nobody has been on stage in for long."""
        for space_id, live in list(self.spaces.items()):
            if live.publishers and now - marked.get(space_id, -STAGE_MARK_EVERY_S) >= STAGE_MARK_EVERY_S:
                marked[space_id] = now
                with contextlib.suppress(Exception):
                    at = self.clock()
                    await self.state.put(stage_attended_key(space_id), repr(at).encode(), at, ttl_s=86400.0)
        for gone in set(marked) - set(self.spaces):
            del marked[gone]
