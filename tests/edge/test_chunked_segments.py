"""Chunked CMAF segments through a real Varnish edge: one origin request per segment however many
listeners ask while it is being made, every chunk passed on to each of them as it comes, and a segment
the origin cuts short never kept as if it were whole."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
import uvicorn
from edge_support import SPACE, EdgeFactory, listener_token
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from tests.support.servers import EdgedSpace, space_behind_edge
from tests.support.wait import until

from townhall.edge.varnish import Edge
from townhall.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.media, pytest.mark.timeout(90)]
CLIENTS = 60


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[EdgedSpace]:
    async with space_behind_edge(settings, "Chunked") as live:
        yield live


def origin_requests(edge: Edge, fragment: str) -> int:
    """Backend requests varnishd made whose URL contains `fragment` (its own log)."""
    out = subprocess.run(
        ["varnishlog", "-n", edge.name, "-d", "-g", "raw", "-i", "BereqURL"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return sum(fragment in line for line in out.splitlines())


async def read_timed(http: httpx.AsyncClient, url: str) -> tuple[int, bytes, list[tuple[float, int]]]:
    loop = asyncio.get_running_loop()
    body = bytearray()
    arrivals: list[tuple[float, int]] = []
    async with http.stream("GET", url) as response:
        async for data in response.aiter_raw():
            body.extend(data)
            arrivals.append((loop.time(), len(body)))
        return response.status_code, bytes(body), arrivals


async def test_listeners_of_a_segment_being_made_cost_one_origin_request_and_each_gets_every_chunk(
    live: EdgedSpace,
) -> None:
    rt = live.server.runtime
    programme = rt.media.node.spaces[live.space_id].programme
    await until(lambda: programme.window.next_msn >= 1, 10, "a first segment")
    msn = programme.window.next_msn + 1  # not begun: every request waits from before its first chunk
    url = f"http://127.0.0.1:{live.edge.port}/e/{live.token}/live/{live.space_id}/c{msn}.m4s"
    limits = httpx.Limits(max_connections=CLIENTS + 10)
    async with httpx.AsyncClient(timeout=20, limits=limits) as http:
        early = [asyncio.create_task(read_timed(http, url)) for _ in range(CLIENTS // 2)]
        # the rest arrive while the fetch is under way, after its first chunks were made
        await until(lambda: programme.window.position >= (msn, 2), 10, "two chunks of the segment made")
        late = [asyncio.create_task(read_timed(http, url)) for _ in range(CLIENTS - CLIENTS // 2)]
        results = await asyncio.wait_for(asyncio.gather(*early, *late), 30)
    whole = b"".join(programme.cached(f"p{msn}.{i}.m4s") for i in range(9))
    assert all(status == 200 for status, _, _ in results)
    assert all(body == whole for _, body, _ in results), "every listener got every chunk, in order"
    assert await asyncio.to_thread(origin_requests, live.edge, f"/c{msn}.m4s") == 1
    # streamed, not stored and forwarded: an early listener had the first chunk a segment's time
    # before the last (the segment takes 1.92 s to make)
    first = len(programme.cached(f"p{msn}.0.m4s"))
    spans = [arr[-1][0] - next(t for t, n in arr if n >= first) for _, _, arr in results[: CLIENTS // 2]]
    assert statistics.median(spans) > 1.4, spans
    # the same segment once complete comes from the edge's cache, whole
    async with httpx.AsyncClient(timeout=10) as http:
        again = await http.get(url)
    assert again.content == whole and again.headers.get("x-cache") == "hit"
    assert await asyncio.to_thread(origin_requests, live.edge, f"/c{msn}.m4s") == 1
    # the MPD names the clock, which the edge answers itself (never cached, never the origin's)
    async with httpx.AsyncClient(timeout=10) as http:
        mpd = await http.get(f"http://127.0.0.1:{live.edge.port}/e/{live.token}/live/{live.space_id}/chunked.mpd")
        assert mpd.status_code == 200 and 'availabilityTimeComplete="false"' in mpd.text
        assert f"http://127.0.0.1:{live.edge.port}/api/clock" in mpd.text
        ticks = [await http.get(f"http://127.0.0.1:{live.edge.port}/api/clock") for _ in range(3)]
    times = [datetime.fromisoformat(t.text.replace("Z", "+00:00")).timestamp() for t in ticks]
    assert all(t.status_code == 200 and t.headers["cache-control"] == "no-store" for t in ticks)
    assert times == sorted(times) and abs(times[-1] - time.time()) < 2 and len(set(times)) == 3, times
    assert await asyncio.to_thread(origin_requests, live.edge, "/api/clock") == 0


@pytest.fixture
async def cutting_origin() -> AsyncIterator[tuple[str, list[int]]]:
    """An origin whose first answer for a segment is cut after two chunks; later ones are whole."""
    calls: list[int] = []

    async def segment(request: Request) -> StreamingResponse:
        calls.append(1)
        cut = len(calls) == 1

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(4):
                if cut and i == 2:
                    raise RuntimeError("the programme stalled")  # uvicorn cuts the connection
                yield bytes([i]) * 1000
                await asyncio.sleep(0.05)

        return StreamingResponse(chunks(), media_type="audio/mp4", headers={"Cache-Control": "max-age=3600"})

    app = Starlette(routes=[Route("/live/{space}/c{n}.m4s", segment)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done(), 10, "the test origin to start", every=0.01)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", calls
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def test_a_segment_cut_short_by_the_origin_is_not_kept_as_whole(
    cutting_origin: tuple[str, list[int]], start_edge: EdgeFactory
) -> None:
    origin_url, calls = cutting_origin
    edge = await start_edge(origin_url)
    url = f"http://127.0.0.1:{edge.port}/e/{listener_token()}/live/{SPACE}/c5.m4s"
    async with httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(httpx.HTTPError):  # the listener sees the cut, not a short "complete" segment
            async with http.stream("GET", url) as response:
                async for _ in response.aiter_raw():
                    pass
        whole = await http.get(url)
    assert whole.status_code == 200 and whole.content == b"".join(bytes([i]) * 1000 for i in range(4))
    assert len(calls) == 2  # fetched again, not served from a truncated cache object
