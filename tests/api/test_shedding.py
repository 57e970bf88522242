"""Shedding the right work first (issue 14): with the anonymous lane full, joins and anonymous reads are
refused 503 with Retry-After and a stable code, while a host's actions, a listener's renewal and the
edge's media fetches keep lanes of their own; a late event loop sheds anonymous work only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import httpx
import pytest

from tests.support.api import join, live_space, register
from tests.support.servers import live_server
from tests.support.wait import until
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(60)

PUBLIC_BUDGET = 4


async def _slow_join(port: int, space_id: str) -> asyncio.StreamWriter:
    """A join whose body never finishes: it holds its place in the anonymous lane (until the body
    deadline), as a slow client in a flood does."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /api/spaces/{space_id}/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        'Content-Length: 200\r\n\r\n{"device_id":'.encode()
    )
    await writer.drain()
    return writer


def _overloaded(r: httpx.Response) -> bool:
    return r.status_code == 503 and r.json().get("code") == "overloaded"


async def test_a_full_anonymous_lane_sheds_joins_but_not_the_host(settings: Settings) -> None:
    tuned = settings.model_copy(update={"shed_public_inflight": PUBLIC_BUDGET, "shed_retry_after_s": 3})
    async with live_server(tuned) as server, server.client() as c:
        host = await register(c)
        space = await live_space(c, host)
        admitted = await join(c, space["id"], device="early-listener")
        assert admitted.status_code == 200, admitted.text
        listener = {"Authorization": f"Bearer {admitted.json()['token']}"}
        second = await c.post("/api/spaces", json={"title": "Second"}, headers=host["headers"])
        assert second.status_code == 201, second.text

        slow = [await _slow_join(server.port, space["id"]) for _ in range(PUBLIC_BUDGET)]
        try:
            load = server.app.state.load
            await until(lambda: load.in_flight["public"] == PUBLIC_BUDGET, 5, "the slow joins to fill the lane")

            refused = await join(c, space["id"], device="late-listener")
            assert _overloaded(refused), refused.text
            assert refused.headers["retry-after"] == "3"
            for _ in range(5):  # a refusal's head stays the same size however many came before it
                again = await c.get("/api/spaces")
                assert _overloaded(again) and len(again.headers.raw) == len(refused.headers.raw), again.headers.raw
            assert len(again.headers.get_list("x-request-id")) == 1
            assert _overloaded(await c.get("/api/spaces"))  # an anonymous read
            assert _overloaded(await c.get("/api/openapi.json"))

            started = time.perf_counter()
            r = await c.post(f"/api/spaces/{second.json()['id']}/start", headers=host["headers"])
            assert r.status_code == 200, r.text
            r = await c.post(
                f"/api/spaces/{space['id']}/mute", json={"account_id": host["account_id"]}, headers=host["headers"]
            )
            assert r.status_code == 204, r.text
            assert time.perf_counter() - started < 1.0, "the host's lane was not free"
            # the listener's renewal and the edge's fetch of live media have a lane of their own too
            assert (await c.post(f"/api/spaces/{space['id']}/lease", headers=listener)).status_code == 200
            async with server.edge_client() as edge:
                assert (await edge.get(f"/live/{space['id']}/master.m3u8")).status_code == 200
            # a signed-in account's join is still a join: shed first
            assert _overloaded(await c.post(f"/api/spaces/{space['id']}/join", json={}, headers=host["headers"]))
        finally:
            for writer in slow:
                writer.close()
        await until(lambda: load.in_flight["public"] == 0, 5, "the slow joins to leave the lane")
        assert (await join(c, space["id"], device="late-listener")).status_code == 200
        shed = server.runtime.metrics.shed.labels("public")._value.get()
        assert shed >= 4


async def _hog(stop: asyncio.Event) -> None:
    """Keep the event loop late, as a flood of CPU-heavy requests does: block it 150 ms at a time."""
    while not stop.is_set():
        time.sleep(0.15)  # noqa: ASYNC251 -- blocking the loop is the point
        await asyncio.sleep(0)


async def test_a_late_event_loop_sheds_anonymous_work_only(settings: Settings) -> None:
    async with live_server(settings.model_copy(update={"shed_loop_lag_ms": 100.0})) as server, server.client() as c:
        host = await register(c)
        space = await live_space(c, host)
        load = server.app.state.load
        time.sleep(0.4)  # noqa: ASYNC251 -- one stall alone (a collection, a start-up step): no standing queue
        assert (await join(c, space["id"])).status_code == 200
        stop = asyncio.Event()
        hog = asyncio.create_task(_hog(stop))
        try:
            await until(lambda: load.lag > 0.1, 5, "the lag to be measured")
            assert _overloaded(await join(c, space["id"]))
            assert _overloaded(await c.get("/api/spaces"))
            r = await c.get(f"/api/spaces/{space['id']}/requests", headers=host["headers"])
            assert r.status_code == 200, r.text
            # A process that never saw the session (the staff lane's own, or one just restarted) knows
            # it by its signature; a forged one, shaped the same, is anonymous work.
            server.runtime.accounts._seen.clear()
            r = await c.get(f"/api/spaces/{space['id']}/requests", headers=host["headers"])
            assert r.status_code == 200, r.text
            token = host["headers"]["Authorization"]
            forged = {"Authorization": token[:-1] + ("0" if token[-1] != "0" else "1")}
            assert _overloaded(await c.get(f"/api/spaces/{space['id']}/requests", headers=forged))
        finally:
            stop.set()
            await hog
        await until(lambda: load.lag < 0.1, 5, "the lag to fall")
        assert (await join(c, space["id"])).status_code == 200


async def test_the_origin_answers_the_edge_on_a_port_of_its_own(settings: Settings) -> None:
    """A flood of connections to the public port fills its accept queue; the edge connects to the internal
    port, whose queue is its own (a direct flood once kept a new edge connection waiting 13.9 s)."""
    from tests.support.servers import free_port
    from townhall.commands.serve import serving
    from townhall.edge.varnish import origin_url

    public, internal = free_port(), free_port()
    tuned = settings.model_copy(update={"host": "127.0.0.1", "port": public, "internal_port": internal})
    assert origin_url(tuned) == f"http://127.0.0.1:{internal}"
    async with serving(tuned):
        for port in (public, internal):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
                assert (await c.get("/healthz")).status_code == 200


async def _hog_in(stop: asyncio.Event, slice_s: float) -> None:
    while not stop.is_set():
        time.sleep(slice_s)  # noqa: ASYNC251 -- blocking the API's loop is the point
        await asyncio.sleep(0)


def _get_all(url: str, count: int) -> list[int]:
    """`count` GETs at once, each on a connection of its own, from a thread of their own (the test's
    loop is the API's, and held): their statuses, or 0 for one that got no answer."""

    def one(_: int) -> int:
        try:
            return httpx.get(url, timeout=30).status_code
        except httpx.HTTPError:
            return 0

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


async def test_a_late_loop_stops_reading_the_public_port_not_the_edges(settings: Settings) -> None:
    """Issue 14, the host's lane in the embedded form: priority admission sorts a request once it is read,
    and a flood straight at the public port kept the loop reading and refusing (a host's request on the
    edge's port waited about 20 s in `bench/flood.py`). With an internal port for the edge, while the
    loop runs late the public port reads nothing between requests: the flood's bytes wait in the kernel
    and cost the loop nothing, and they are answered once it catches up; the edge's port is read as
    always."""
    from tests.support.servers import free_port
    from townhall.commands.serve import serving

    public, internal = free_port(), free_port()
    tuned = settings.model_copy(update={"host": "127.0.0.1", "port": public, "internal_port": internal})
    async with serving(tuned) as served:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{public}", timeout=10) as c:
            host = await register(c)
            space = await live_space(c, host)
        load, shed = served.app.state.load, served.runtime.metrics.shed
        stop = asyncio.Event()
        hog = asyncio.create_task(_hog_in(stop, 0.3))
        try:
            await until(lambda: load.lag > 0.1, 10, "the loop's lag to be measured")
            seen_before = shed.labels("public")._value.get()
            flood = asyncio.create_task(asyncio.to_thread(_get_all, f"http://127.0.0.1:{public}/api/spaces", 40))
            # the edge's port is read while the public one waits: the host's request is answered meanwhile
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{internal}", timeout=20) as edge_port:
                r = await edge_port.get(f"/api/spaces/{space['id']}/requests", headers=host["headers"])
            assert r.status_code == 200, r.text
            assert not flood.done()
            assert shed.labels("public")._value.get() == seen_before  # not one public request was read
        finally:
            stop.set()
            await hog
        statuses = await flood
        assert statuses.count(200) + statuses.count(503) == 40, statuses  # every one answered once it caught up
