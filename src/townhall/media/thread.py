"""The embedded form's media node, on a thread and an event loop of its own.

The 20 ms ticker, the mixer, the encoder, the packager and the blob writes of every space run on the
media loop; nothing a request does on the API's loop (CPU, a slow await, thousands of connections) can
delay a tick there. The API reaches the node through the ports it owns (`LiveOrigin`, `Publishing`),
each call a hop onto the media loop; the node reaches the hot state through `HostState`, which hops
back (a Redis client's connections belong to the loop that opened them). The interpreter is still
shared, so the switch interval is lowered: a CPU-bound request hands over the GIL within about 1 ms
instead of 5 (docs/decisions/0007-media-clock-thread.md has the measurements).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, Protocol, TypeVar

import uvloop

from townhall.domain.placement import Handoff
from townhall.domain.spaces import Space
from townhall.media.node import MediaNode
from townhall.media.programme import SegmentHook
from townhall.media.recorder import SegmentRecord

log = logging.getLogger("townhall.media")
T = TypeVar("T")
SWITCH_INTERVAL_S = 0.001
CLOCK_NICE = -10  # the media thread's scheduling priority: ahead of the API's threads and of a busy host
YOUNG_GC_THRESHOLD = 20_000  # allocations between young collections (CPython's default is 700)


def _settle_heap() -> tuple[int, int, int]:
    """Keep the garbage collector from stopping the clock. A full collection holds the GIL while it walks
    every tracked object: with the app's modules loaded (about 150,000 objects, more with live spaces)
    that is tens of milliseconds in which no tick can run, on whichever thread triggered it. What exists
    once the app has started lives as long as the process, so it is moved out of the collector's sight
    (`gc.freeze`), and young collections run less often (each a millisecond or so, not hundreds a
    second). Returns the thresholds to restore."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, previous[1], previous[2])
    return previous


def _unsettle_heap(previous: tuple[int, int, int]) -> None:
    gc.set_threshold(*previous)
    gc.unfreeze()  # a process that starts apps one after another (tests) does not keep each one's heap


def _raise_priority(what: str = "media clock thread") -> None:
    """Best effort: run the calling thread (and the threads it starts after this) at `CLOCK_NICE`, so on a
    machine short of CPU (a flood of requests, other processes) the scheduler runs the 20 ms tick first.
    Needs CAP_SYS_NICE (root, or `AmbientCapabilities=CAP_SYS_NICE` in the unit); without it the thread
    keeps its priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CLOCK_NICE)
    except OSError as exc:
        log.info("%s keeps its priority (%s); grant CAP_SYS_NICE to raise it", what, exc)


def raise_node_priority() -> None:
    """A media node's process (`townhall media`), called before it starts any thread: every thread of it
    at `CLOCK_NICE`. Raising the clock's thread alone is not enough there: the main thread (the relay's
    writes, the HTTP server) holds the GIL at times, and when the scheduler preempts it for a busy
    neighbour the clock waits for the GIL behind it (priority inversion: ticks up to 200 ms late in
    bench/flood.py --cluster at load 13). A node does nothing but the audio, so all of it goes first:
    the calling thread (whose later threads inherit it) and every thread already started (Linux)."""
    _raise_priority("media node")
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, int(task), CLOCK_NICE)


class HostedState(Protocol):
    async def put(self, key: str, value: bytes, now: float, ttl_s: float | None = None) -> None: ...
    async def publish(self, channel: str, message: bytes) -> None: ...
    def subscribe(self, channel: str) -> AsyncIterator[bytes]: ...


async def _on(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on `loop` (another thread's) and await its result from the calling loop."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))


class HostState:
    """The hot state as seen from the media loop: every call runs on the API's loop."""

    def __init__(self, state: HostedState) -> None:
        self.state = state
        self.loop: asyncio.AbstractEventLoop | None = None  # the API's loop, known once started

    def _host(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            raise RuntimeError("the media thread has not been started")
        return self.loop

    async def put(self, key: str, value: bytes, now: float, ttl_s: float | None = None) -> None:
        await _on(self._host(), self.state.put(key, value, now, ttl_s=ttl_s))

    async def publish(self, channel: str, message: bytes) -> None:
        await _on(self._host(), self.state.publish(channel, message))

    def subscribe(self, channel: str) -> AsyncIterator[bytes]:
        """Subscribed on the API's loop as soon as this is called (before the caller's next hop back
        completes), messages handed over to the media loop in order."""
        here = asyncio.get_running_loop()
        inbox: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for message in self.state.subscribe(channel):
                    here.call_soon_threadsafe(inbox.put_nowait, message)
            finally:
                with contextlib.suppress(RuntimeError):  # the media loop already closed
                    here.call_soon_threadsafe(inbox.put_nowait, None)

        pumping = asyncio.run_coroutine_threadsafe(pump(), self._host())

        async def messages() -> AsyncIterator[bytes]:
            try:
                while (message := await inbox.get()) is not None:
                    yield message
            finally:
                pumping.cancel()

        return messages()


class ThreadedMedia:
    """A `MediaNode` run on its own thread; implements the API's `LiveOrigin` and `Publishing` ports and
    the root's control of spaces (start, stop, segment hooks, chain head)."""

    def __init__(self, node: MediaNode, host_state: HostState) -> None:
        self.node = node
        self.host_state = host_state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._host: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Future[Any]] = set()  # hooks' awaitables still running on the API loop
        self._gc_thresholds: tuple[int, int, int] | None = None
        self.stopping: list[Callable[[], Coroutine[Any, Any, None]]] = []  # run on the media loop after the node

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._thread is not None:
            return
        self._host = self.host_state.loop = asyncio.get_running_loop()
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._gc_thresholds = _settle_heap()
        loop = uvloop.new_event_loop()
        started = asyncio.get_running_loop().create_future()
        host = self._host

        def run() -> None:
            _raise_priority()
            asyncio.set_event_loop(loop)
            loop.call_soon(host.call_soon_threadsafe, started.set_result, None)
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="media-clock", daemon=True)
        self._thread.start()
        await started
        self._loop = loop
        await self._call(self.node.start())

    async def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            await self._call(self.node.stop())
            for step in self.stopping:
                await self._call(step())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join)
            self._loop = self._thread = None
            if self._gc_thresholds is not None:
                _unsettle_heap(self._gc_thresholds)
                self._gc_thresholds = None

    async def _call(self, work: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            work.close()
            raise RuntimeError("the media thread is not running")
        return await _on(self._loop, work)

    # --- the root's control of spaces ------------------------------------------------------------
    async def ensure_space(
        self, space: Space | str, backfill_from: float | None = None, handoff: Handoff | None = None
    ) -> None:
        await self._call(self.node.ensure_space(space, backfill_from, handoff))

    async def plan_handoff(self, space_id: str, lead_s: float) -> Handoff | None:
        return await self._call(self.node.plan_handoff(space_id, lead_s))

    async def finish(self, space_id: str, timeout_s: float) -> float | None:
        return await self._call(self.node.finish(space_id, timeout_s))

    def fence_opened(self, space_id: str) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.node.fence_opened, space_id)

    async def hang_up_all(self, space_id: str) -> None:
        await self._call(self.node.hang_up_all(space_id))

    async def stop_space(self, space_id: str, ended: bool = True) -> float | None:
        return await self._call(self.node.stop_space(space_id, ended))

    async def voices(self) -> dict[str, dict[str, bool]]:
        async def read() -> dict[str, dict[str, bool]]:
            return self.node.voices()

        return await self._call(read())

    async def reconcile(self, space_id: str, roster: Mapping[str, tuple[bool, bool]]) -> int:
        return await self._call(self.node.reconcile(space_id, dict(roster)))

    def on_segment(self, hook: SegmentHook) -> None:
        """`hook` runs on the API's loop, after the segment is stored (never waited for by the clock)."""

        def hand_over(space_id: str, record: SegmentRecord) -> None:
            host = self._host
            if host is not None:
                host.call_soon_threadsafe(self._run_hook, hook, space_id, record)

        self.node.on_segment(hand_over)

    def _run_hook(self, hook: SegmentHook, space_id: str, record: SegmentRecord) -> None:
        try:
            result = hook(space_id, record)
            if inspect.isawaitable(result):
                running = asyncio.ensure_future(result)
                self._pending.add(running)
                running.add_done_callback(self._pending.discard)
        except Exception:
            log.exception("on_segment hook failed for space %s", space_id)

    def set_chain_head(self, space_id: str, msn: int, head: str) -> None:
        """The live playlist lists the chain's head; a link chained while the node stops (its loop closed,
        its last segments still being chained on the API's loop) has no live playlist left to list it."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the media loop closed under us: stopping
                loop.call_soon_threadsafe(self.node.set_chain_head, space_id, msn, head)

    # --- LiveOrigin -------------------------------------------------------------------------------
    async def multivariant(self, space_id: str) -> str | None:
        return await self._call(self.node.multivariant(space_id))

    async def playlist(self, space_id: str, wanted: tuple[int, int | None] | None) -> str | None:
        return await self._call(self.node.playlist(space_id, wanted))

    async def media_object(self, space_id: str, filename: str) -> bytes | None:
        return await self._call(self.node.media_object(space_id, filename))

    # --- Publishing -------------------------------------------------------------------------------
    async def offer(self, space_id: str, account_id: str, sdp: str, muted: bool) -> tuple[str, str]:
        return await self._call(self.node.offer(space_id, account_id, sdp, muted))

    async def end_session(self, space_id: str, resource_id: str, account_id: str) -> bool:
        return await self._call(self.node.end_session(space_id, resource_id, account_id))

    def rejected(self, code: str) -> None:
        self.node.rejected(code)
