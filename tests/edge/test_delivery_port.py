"""The edge's live media fetches go to the origin's delivery port, a server on a thread and event loop
of its own: a busy API (a flood straight at the origin, a slow handler) cannot hold up the parts the
edge passes on to listeners. Through a real Varnish edge."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from edge_support import free_port
from tests.support.servers import EdgedSpace, space_behind_edge
from tests.support.wait import until

from townhall.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.media, pytest.mark.timeout(90)]
BURN_S = 4.0
SLICE_S = 1.0  # one request's CPU on the API's loop, back to back (the uncached OpenAPI document was 40 ms)
PART = re.compile(r'^#EXT-X-PART:.*URI="([^"]+)"', re.M)


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[EdgedSpace]:
    async with space_behind_edge(settings, "Delivery", free_port()) as live:
        yield live


@pytest.fixture
async def live_on_api_port(settings: Settings) -> AsyncIterator[EdgedSpace]:
    async with space_behind_edge(settings, "Delivery") as live:
        yield live


async def test_the_delivery_port_serves_the_edge_and_nothing_else(live: EdgedSpace) -> None:
    rt = live.server.runtime
    delivery = f"http://127.0.0.1:{rt.settings.delivery_port}"
    playlist = f"{delivery}/live/{live.space_id}/media.m3u8"
    async with httpx.AsyncClient(timeout=10) as http:
        refused = await http.get(playlist)
        assert refused.status_code == 403 and refused.json()["code"] == "edge_credential_required"
        with_token = await http.get(f"{delivery}/e/{live.token}/live/{live.space_id}/media.m3u8")
        assert with_token.status_code == 403  # a listener's token is for the API's port (or the edge)
        edge = {"X-Townhall-Edge": rt.edge_secret}
        served = await http.get(playlist, headers=edge)
        assert served.status_code == 200 and served.text.startswith("#EXTM3U")
        assert (await http.get(f"{delivery}/api/spaces", headers=edge)).status_code == 404
        assert (await http.get(f"{delivery}/live/{live.space_id}/revoked", headers=edge)).status_code == 404


def _follow(url: str, stop: threading.Event, seen: list[tuple[float, str]]) -> None:
    """A listener through the edge, on a thread of its own (the test's loop is the API's): blocking
    reloads for each next part, the time each new part was first listed (or what else was answered)."""
    with httpx.Client(timeout=10) as http:
        text = http.get(url).text
        while not stop.is_set():
            if not text.startswith("#EXTM3U"):
                seen.append((time.monotonic(), "ERR " + text[:200]))
                return
            msn = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
            parts = PART.findall(text)
            if parts and (not seen or parts[-1] != seen[-1][1]):
                seen.append((time.monotonic(), parts[-1]))
            hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="p(\d+)\.(\d+)\.m4s"', text)
            wanted = {"_HLS_msn": hint.group(1), "_HLS_part": hint.group(2)} if hint else {"_HLS_msn": str(msn)}
            text = http.get(url, params=wanted).text


async def _longest_gap_while_the_api_is_busy(live: EdgedSpace) -> float:
    programme = live.programme
    await until(lambda: programme.window.next_msn >= 1, 15, "a first segment")
    url = f"{live.edge.url}/e/{live.token}/live/{live.space_id}/media.m3u8"
    stop, seen = threading.Event(), []  # type: ignore[var-annotated]
    follower = threading.Thread(target=_follow, args=(url, stop, seen), daemon=True)
    follower.start()
    await until(lambda: len(seen) >= 3, 15, "the listener to follow the live playlist")
    started = time.monotonic()
    while time.monotonic() - started < BURN_S:  # the API's loop does nothing else
        end = time.perf_counter() + SLICE_S
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(0)
    ended = time.monotonic()
    stop.set()
    await asyncio.to_thread(follower.join, 15)
    assert not any(what.startswith("ERR") for _, what in seen), f"the edge answered otherwise: {seen}"
    times = [t for t, what in seen if started <= t <= ended]
    return max(b - a for a, b in zip([started, *times], [*times, ended], strict=True))


async def test_a_busy_api_does_not_hold_up_the_parts_the_edge_passes_on(live: EdgedSpace) -> None:
    gap = await _longest_gap_while_the_api_is_busy(live)
    assert gap < 0.6, f"the listener waited {gap:.2f} s for a new part while the API's loop was busy"


async def test_without_a_delivery_port_the_busy_api_holds_them_up(live_on_api_port: EdgedSpace) -> None:
    """What the delivery port is for: the same listener, with the edge fetching from the API's port."""
    gap = await _longest_gap_while_the_api_is_busy(live_on_api_port)
    assert gap >= SLICE_S * 0.8, f"longest wait {gap:.2f} s: the busy API's loop did not hold up the edge"
