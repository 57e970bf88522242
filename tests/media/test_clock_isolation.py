"""The audio clock is sacred: CPU spent on the API's event loop (a flood of expensive requests, a slow
handler) must not delay a space's 20 ms tick. The media node runs on its own thread and loop."""

from __future__ import annotations

import asyncio
import gc
import re
import time
from collections.abc import Iterator

import pytest
from tests.media.conftest import Stage
from tests.support.wait import until

pytestmark = [pytest.mark.media, pytest.mark.timeout(60)]

BURN_S = 3.0
SLICE_S = 0.2  # a slow handler (the uncached OpenAPI document cost 40 ms a request), back to back


def _lateness(stage: Stage) -> dict[float, float]:
    """Cumulative tick-lateness buckets: {upper bound: ticks at or under it}."""
    metric = stage.rt.media.node.metrics.tick_lateness
    return {float(s.labels["le"]): s.value for s in metric.collect()[0].samples if s.name.endswith("_bucket")}


async def test_a_busy_api_loop_does_not_delay_the_audio_clock(stage: Stage) -> None:
    programme = stage.live.programme
    await until(lambda: programme.window.next_msn >= 1, 10, "a first segment")
    before, parts_before = _lateness(stage), stage.rt.media.node.metrics.parts._value.get()
    started = time.monotonic()
    while time.monotonic() - started < BURN_S:  # the API's loop does nothing else for 3 s
        end = time.perf_counter() + SLICE_S
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(0)
    elapsed = time.monotonic() - started
    after, parts_after = _lateness(stage), stage.rt.media.node.metrics.parts._value.get()
    ticks = after[float("inf")] - before[float("inf")]
    on_time = after[0.05] - before[0.05]
    produced = parts_after - parts_before
    expected = elapsed / programme.window.timing.part_target
    assert ticks >= 0.9 * elapsed / 0.02, f"only {ticks} ticks in {elapsed:.1f} s"
    assert on_time >= 0.9 * ticks, f"{ticks - on_time} of {ticks} ticks ran more than 50 ms late"
    assert after[float("inf")] - after[0.5] == before[float("inf")] - before[0.5], "a tick ran over 500 ms late"
    assert produced >= 0.9 * expected, f"{produced} parts in {elapsed:.1f} s (expected {expected:.0f})"


@pytest.fixture
def startup_heap() -> Iterator[list[list[int]]]:
    """What a process holds once it has started, made large: two million tracked objects (a full
    collection of them holds the GIL for about 100 ms here)."""
    heap = [[i] for i in range(2_000_000)]
    yield heap
    heap.clear()


async def test_a_full_collection_on_the_api_thread_does_not_stop_the_clock(
    startup_heap: list[list[int]], stage: Stage
) -> None:
    """The collector holds the GIL for as long as it walks the heap, and a request can trigger a full
    collection (or a library can call one): the heap that exists at start-up is kept out of its walk."""
    programme = stage.live.programme
    await until(lambda: programme.window.next_msn >= 1, 10, "a first segment")
    before = _lateness(stage)
    for _ in range(10):  # ten full collections on the API's thread, a tick's worth of time between them
        gc.collect()
        await asyncio.sleep(0.05)
    after = _lateness(stage)
    late = (after[float("inf")] - after[0.05]) - (before[float("inf")] - before[0.05])
    assert late <= 2, f"{late} ticks ran more than 50 ms late during ten full collections"


async def test_the_clock_thread_runs_ahead_of_the_api(stage: Stage) -> None:
    """On a machine short of CPU the scheduler runs the audio clock's thread first (where permitted)."""
    import os
    import threading

    from townhall.media.thread import CLOCK_NICE

    clock = next(t for t in threading.enumerate() if t.name == "media-clock")
    assert clock.native_id is not None
    if os.geteuid() != 0:
        pytest.skip("this process may not raise a thread's priority (not root, no CAP_SYS_NICE)")
    assert os.getpriority(os.PRIO_PROCESS, clock.native_id) == CLOCK_NICE
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) > CLOCK_NICE


async def test_a_slow_segment_write_does_not_hold_up_the_parts_after_it(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment and its record are synced to disk; on a busy disk that took over a second, and every part
    after it waited (bench/flood.py: parts 0.8 to 1.4 s late). Parts go on while a segment is stored; the
    stored playlist names the segment only once its record is stored."""
    import threading

    programme = stage.live.programme
    await until(lambda: programme.window.next_msn >= 1, 10, "a first segment")
    blobs = programme.recorder.blobs
    put = blobs.put_immutable
    release = threading.Event()
    held_keys: list[str] = []

    async def synced_slowly(key: str, data: bytes, durable: bool = True) -> None:
        if durable and re.search(r"/s\d+\.m4s$", key):  # a segment (synced; its record is written after it)
            held_keys.append(key)
            await asyncio.to_thread(release.wait, 30)
        await put(key, data, durable=durable)

    monkeypatch.setattr(blobs, "put_immutable", synced_slowly)
    try:
        await until(lambda: held_keys, 10, "a segment's synced write")
        segment = held_keys[0].rsplit("/", 1)[1]
        msn = int(segment.removeprefix("s").removesuffix(".m4s"))
        per_segment = programme.window.timing.parts_per_segment
        at = programme.window.position
        # ten parts (2.1 s) published while the segment's write is held
        await until(
            lambda: (programme.window.position[0] - at[0]) * per_segment + programme.window.position[1] - at[1] >= 10,
            6,
            "parts published while a segment is being stored",
        )
        assert segment in programme.playlist, "the segment is named live once its parts all are"
        stored = await blobs.get(programme.recorder.key("media.m3u8"))
        assert stored is not None and segment.encode() not in stored, "a stored playlist named an unstored segment"
    finally:
        release.set()

    async def stored_playlist_names_it() -> bool:
        stored = await blobs.get(programme.recorder.key("media.m3u8"))
        return stored is not None and segment.encode() in stored

    record_key = programme.recorder.record_key(msn)
    await until(lambda: blobs.get(record_key), 10, "the held segment's record")
    await until(stored_playlist_names_it, 10, "the stored playlist naming it")
