"""A live space's playlist and newest parts, relayed through the hot state so that any API process can
answer an edge for any space, whichever media node owns it (the scaled-out form; decision 0008).

The owner writes each part, then the playlist that names it, under short-lived keys, and publishes the
playlist on the space's channel; an API process keeps one subscription per space that edges are asking
for, so a blocking playlist reload is answered from memory the moment the part exists. Objects older
than the relay's window, and everything after the space ends, come from the blob store as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from townhall.domain.errors import Unavailable
from townhall.domain.placement import Lease, space_lease
from townhall.media.playlist import LiveEdge, LiveWindow

log = logging.getLogger("townhall.media")
OBJECT_TTL_S = 60.0  # a part is read through the relay for a minute, from the blob store after
PLAYLIST_TTL_S = 30.0  # a space whose owner died stops being "live here" after this (failover is faster)
ENDED_TTL_S = 86400.0  # the init section, the multivariant and the closing playlist
PLAYLIST = "media.m3u8"
IDLE_WATCH_S = 30.0  # an API process drops its subscription to a space no edge asked for in this long


class RelayState(Protocol):
    """The hot state as the relay uses it (values with a lifetime in the shared clock, pub/sub)."""

    async def put(self, key: str, value: bytes, now: float, ttl_s: float | None = None) -> None: ...
    async def get(self, key: str, now: float) -> bytes | None: ...
    async def publish(self, channel: str, message: bytes) -> None: ...
    def subscribe(self, channel: str) -> AsyncIterator[bytes]: ...


class FencedValues(Protocol):
    """Writes accepted only from the current holder of a lease (store/state/leases.py)."""

    async def fenced_put(
        self, name: str, lease: Lease, what: str, value: bytes, ttl_s: float | None, now: float
    ) -> bool: ...
    async def fenced_get(self, name: str, what: str, now: float) -> bytes | None: ...


def _key(space_id: str, what: str) -> str:
    return f"relay:{{{space_id}}}:{what}"


def _channel(space_id: str) -> str:
    return f"relay:{{{space_id}}}"


@dataclass(frozen=True, slots=True)
class LivePlaylist:
    """A playlist as relayed, with what a blocking request needs to know about it."""

    text: str
    next_msn: int  # the segment being filled
    position: tuple[int, int]  # (msn, part) of the next part to be published
    parts_per_segment: int
    part_target: float
    target_duration: int
    ended: bool

    @classmethod
    def of(cls, window: LiveWindow, text: str) -> LivePlaylist:
        t = window.timing
        return cls(
            text, window.next_msn, window.position, t.parts_per_segment, t.part_target, t.target_duration, window.ended
        )

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "text": self.text,
                "next_msn": self.next_msn,
                "position": list(self.position),
                "pps": self.parts_per_segment,
                "part_target": self.part_target,
                "target_duration": self.target_duration,
                "ended": self.ended,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> LivePlaylist:
        d = json.loads(raw)
        msn, part = d["position"]
        return cls(d["text"], d["next_msn"], (msn, part), d["pps"], d["part_target"], d["target_duration"], d["ended"])

    @property
    def edge(self) -> LiveEdge:
        return LiveEdge(self.next_msn, self.position, self.parts_per_segment, self.ended)

    def has(self, msn: int, part: int | None) -> bool:
        return self.edge.has(msn, part)

    def check_reachable(self, msn: int, part: int | None) -> None:
        self.edge.check_reachable(msn, part)


class LiveRelay:
    """The owner's side. The programme (on the media thread) hands each object and playlist over without
    waiting; one task on the process's main loop writes them in order: objects first, then the playlist
    that names them (a fenced write: refused once another node holds the space), then its signal."""

    def __init__(
        self,
        state: RelayState,
        fenced: FencedValues,
        lease_of: Callable[[str], Lease | None],
        on_lost: Callable[[str], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        self.state = state
        self.fenced = fenced
        self.lease_of = lease_of
        self.on_lost = on_lost
        self.clock = clock
        self.failures = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[str, str, bytes, float | None] | asyncio.Future[None] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start_writing(self) -> None:
        """On the main loop, before any programme starts."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._write_forever(), name="live-relay")

    async def stop_writing(self) -> None:
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    async def flush(self) -> None:
        """Until everything handed over before this call is written (a drain: the old node's last part
        and playlist reach every API process before its lease moves to the successor)."""
        if self._task is None:
            return
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(written)
        await written

    def _send(self, space_id: str, what: str, data: bytes, ttl_s: float | None) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (space_id, what, data, ttl_s))

    # --- called by the programme, from any thread -------------------------------------------------
    def start(self, space_id: str, init: bytes, multivariant: str) -> None:
        self._send(space_id, "init.mp4", init, ENDED_TTL_S)
        self._send(space_id, "master.m3u8", multivariant.encode(), ENDED_TTL_S)

    def media_object(self, space_id: str, name: str, data: bytes) -> None:
        self._send(space_id, name, data, OBJECT_TTL_S)

    def playlist(self, space_id: str, playlist: LivePlaylist) -> None:
        self._send(space_id, PLAYLIST, playlist.to_json(), ENDED_TTL_S if playlist.ended else PLAYLIST_TTL_S)

    # --- the writer, on the main loop ---------------------------------------------------------------
    async def _write_forever(self) -> None:
        failing = 0  # writes failed in a row: logged once when it starts and once when it ends
        while (item := await self._queue.get()) is not None:
            if isinstance(item, asyncio.Future):
                if not item.done():
                    item.set_result(None)
                continue
            space_id, what, data, ttl_s = item
            try:
                await self._write(space_id, what, data, ttl_s)
            except Exception as exc:
                self.failures += 1
                failing += 1
                if failing == 1:
                    log.warning("space %s: could not relay %s (%s); listeners read the blob store", space_id, what, exc)
                continue
            if failing:
                log.warning("relaying again after %d failed writes", failing)
                failing = 0

    async def _write(self, space_id: str, what: str, data: bytes, ttl_s: float | None) -> None:
        if what != PLAYLIST:
            await self.state.put(_key(space_id, what), data, self.clock(), ttl_s=ttl_s)
            return
        lease = self.lease_of(space_id)
        if lease is None:
            return  # no longer ours: the programme is being stopped
        if not await self.fenced.fenced_put(space_lease(space_id), lease, PLAYLIST, data, ttl_s, self.clock()):
            log.warning("space %s: another node holds it now; this node stops writing it", space_id)
            await self.on_lost(space_id)
            return
        await self.state.publish(_channel(space_id), data)


class _Watch:
    """One API process's view of one live space: the newest playlist, and an event for each change."""

    def __init__(self) -> None:
        self.latest: LivePlaylist | None = None
        self.changed = asyncio.Event()
        self.ready = asyncio.Event()
        self.used = 0.0
        self.task: asyncio.Task[None] | None = None

    def update(self, playlist: LivePlaylist) -> None:
        if self.latest is not None and playlist.position < self.latest.position and not playlist.ended:
            return  # an older message overtaken by a read
        self.latest = playlist
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class RemoteOrigin:
    """The API's `LiveOrigin` port when the media node runs elsewhere: answers from the relay."""

    def __init__(self, state: RelayState, fenced: FencedValues, clock: Callable[[], float]) -> None:
        self.state = state
        self.fenced = fenced
        self.clock = clock
        self._watches: dict[str, _Watch] = {}

    async def multivariant(self, space_id: str) -> str | None:
        if (await self._watch(space_id)).latest is None:
            return None
        raw = await self.state.get(_key(space_id, "master.m3u8"), self.clock())
        return raw.decode() if raw is not None else None

    async def playlist(self, space_id: str, wanted: tuple[int, int | None] | None) -> str | None:
        watch = await self._watch(space_id)
        current = watch.latest
        if current is None:
            return None
        if wanted is None:
            return current.text
        msn, part = wanted
        current.check_reachable(msn, part)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3 * current.target_duration  # RFC 8216bis: at most three target durations
        while watch.latest is not None and not watch.latest.has(msn, part):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Unavailable("hls_hold_timeout", "the requested part did not arrive in time")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.changed.wait(), remaining)
        return watch.latest.text if watch.latest is not None else current.text

    async def media_object(self, space_id: str, filename: str) -> bytes | None:
        data = await self.state.get(_key(space_id, filename), self.clock())
        if data is not None or not filename.startswith("p"):
            return data
        watch = await self._watch(space_id)
        current = watch.latest
        if current is None:
            return None
        msn, index = (int(x) for x in filename[1:].removesuffix(".m4s").split("."))
        if (msn, index) != current.position:  # only the part named by the preload hint is held
            return None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.changed.wait(), 3 * current.part_target)
        return await self.state.get(_key(space_id, filename), self.clock())

    async def _watch(self, space_id: str) -> _Watch:
        now = asyncio.get_running_loop().time()
        self._drop_idle(now)
        watch = self._watches.get(space_id)
        if watch is None:
            watch = self._watches[space_id] = _Watch()
            watch.task = asyncio.create_task(self._follow(space_id, watch), name=f"relay-{space_id}")
        watch.used = now
        await watch.ready.wait()
        return watch

    def _drop_idle(self, now: float) -> None:
        for space_id, watch in list(self._watches.items()):
            if now - watch.used > IDLE_WATCH_S and watch.task is not None:
                watch.task.cancel()
                del self._watches[space_id]

    async def _follow(self, space_id: str, watch: _Watch) -> None:
        messages = self.state.subscribe(_channel(space_id))  # before the read: no update falls between
        try:
            raw = await self.fenced.fenced_get(space_lease(space_id), PLAYLIST, self.clock())
            if raw is not None:
                watch.update(LivePlaylist.from_json(raw))
            watch.ready.set()
            async for raw in messages:
                watch.update(LivePlaylist.from_json(raw))
        except Exception:
            log.exception("relay subscription for space %s failed", space_id)
        finally:
            watch.ready.set()
            if self._watches.get(space_id) is watch:
                del self._watches[space_id]
            aclose = getattr(messages, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def close(self) -> None:
        for watch in list(self._watches.values()):
            if watch.task is not None:
                watch.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch.task
