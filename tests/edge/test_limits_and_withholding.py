"""The edge refuses on its own: 429 past the per-address limit, 451 where a space is withheld."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from edge_support import KEYS, SPACE, EdgeFactory, Origin, listener_token, raw_get, session_token
from prometheus_client import CollectorRegistry
from tests.support.wait import until

from townhall.domain.tokens import Scope
from townhall.edge import metrics

pytestmark = pytest.mark.integration
PART = f"/live/{SPACE}/part-3.m4s"


async def test_an_address_past_its_limit_gets_429_with_retry_after(origin: Origin, start_edge: EdgeFactory) -> None:
    origin.publish(PART, b"part")
    edge = await start_edge(origin.url, edge_requests_per_ip=5, edge_rate_period_s=10)
    path = f"/e/{listener_token()}{PART}"
    async with httpx.AsyncClient(base_url=edge.url) as client:
        answers = [await client.get(path) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    assert answers[-1].json()["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert origin.total == 1


async def test_a_withheld_space_gets_451_in_that_country_also_from_the_cache(
    origin: Origin, start_edge: EdgeFactory
) -> None:
    origin.publish(PART, b"part", x_townhall_withheld="DE FR")
    edge = await start_edge(origin.url)
    path = f"/e/{listener_token()}{PART}"
    async with httpx.AsyncClient(base_url=edge.url) as client:
        first = await client.get(path, headers={"X-Country-Code": "de"})
        elsewhere = await client.get(path, headers={"X-Country-Code": "US"})
        cached = await client.get(path, headers={"X-Country-Code": "FR"})
        unknown = await client.get(path)
    assert first.status_code == 451 and first.json()["code"] == "withheld_in_country"
    assert elsewhere.status_code == 200 and "x-townhall-withheld" not in elsewhere.headers
    assert cached.status_code == 451 and cached.headers["x-cache"] == "hit"
    assert unknown.status_code == 200
    # One object for every country: the origin was asked once and never saw the country.
    assert origin.total == 1
    assert "x-country-code" not in origin.seen_headers[0]


async def test_edge_metrics_count_hits_misses_collapsed_waits_and_rejections_by_reason(
    origin: Origin, start_edge: EdgeFactory
) -> None:
    origin.publish(PART, b"part")
    edge = await start_edge(origin.url)
    registry = CollectorRegistry()
    collector = await asyncio.to_thread(metrics.register, registry, edge)
    try:
        async with httpx.AsyncClient(base_url=edge.url) as client:
            for path in (f"/e/{listener_token()}{PART}", f"/e/{listener_token()}{PART}", PART):
                await client.get(path)
        rejected = {"reason": "token_malformed"}

        def counted() -> bool:  # collecting runs varnishstat: off the event loop
            return registry.get_sample_value("townhall_edge_rejections_total", rejected) == 1

        await until(lambda: asyncio.to_thread(counted), 10, "the rejection in the metrics")
        assert registry.get_sample_value("townhall_edge_up") == 1
        assert registry.get_sample_value("townhall_edge_cache_hits_total") == 1
        assert registry.get_sample_value("townhall_edge_cache_misses_total") == 1
        assert registry.get_sample_value("townhall_edge_origin_requests_total") == 1
        assert registry.get_sample_value("townhall_edge_collapsed_waits_total") == 0
    finally:
        collector.rejections.close()


async def test_oversized_or_too_many_headers_are_refused_at_the_edge(origin: Origin, start_edge: EdgeFactory) -> None:
    origin.publish(PART, b"part")
    edge = await start_edge(origin.url)
    path = f"/e/{listener_token()}{PART}"
    one_huge = await _status(edge.port, path, {"X-Big": "a" * 40_000})
    too_many = await _status(edge.port, path, {f"X-H{i}": "v" for i in range(100)})
    fine = await _status(edge.port, path, {"X-Fine": "a" * 2_000})
    assert one_huge in (0, 400, 413, 431) and too_many in (0, 400, 413, 431), (one_huge, too_many)
    assert fine == 200
    assert origin.total == 1  # neither refused request reached the origin


async def _status(port: int, path: str, headers: dict[str, str]) -> int:
    """The answer's status, or 0 when the edge refused by closing the connection."""
    try:
        return (await raw_get(port, path, headers)).status
    except (ConnectionResetError, BrokenPipeError, IndexError, ValueError):
        return 0


async def test_anonymous_api_requests_get_a_capped_pool_and_the_host_keeps_its_own(
    origin: Origin, start_edge: EdgeFactory
) -> None:
    """Issue 14, shedding: a flood of anonymous API requests and joins through the edge holds at most
    `edge_public_connections` origin connections and is then answered 503 + Retry-After by the edge
    itself; a signed-in request (a session the origin signed) goes to the origin on connections of its own."""
    edge = await start_edge(origin.url, edge_public_connections=2, edge_requests_per_ip=0)
    origin.publish("/api/spaces/s1/requests", b"{}")
    async with httpx.AsyncClient(base_url=edge.url, timeout=20) as client:
        held = [asyncio.create_task(client.get(f"/api/held/{i}")) for i in range(2)]  # held at the origin
        await until(lambda: origin.total == 2, 10, "both anonymous requests to reach the origin")
        refused = await client.get("/api/spaces")
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["code"] == "origin_unavailable"
        signed_in = {"Authorization": f"Bearer {session_token()}"}
        joined = await client.post("/api/spaces/s1/join", json={}, headers=signed_in)
        assert joined.status_code == 503  # a join is a join, whoever sends it
        hosting = await client.get("/api/spaces/s1/requests", headers=signed_in)  # the test origin answers GETs
        assert hosting.status_code == 200
        assert origin.total == 3
        for i in range(2):
            origin.publish(f"/api/held/{i}", b"{}")
        assert [(await h).status_code for h in held] == [200, 200]


async def test_signed_in_requests_take_the_staff_lane_and_forged_bearers_the_public_pool(
    origin: Origin, staff_origin: Origin, start_edge: EdgeFactory
) -> None:
    """Issue 14, the host's lane: a session or speaker token the edge verifies goes to the staff lane's
    own API process (`edge_staff_url`), which a flood at the public API never reaches; a listener's
    token to the origin's own pool; a bearer the edge cannot verify (forged, expired, another key, not
    ours at all) is anonymous as far as the edge knows, and waits in the capped public pool with the
    flood instead of reaching the staff lane."""
    edge = await start_edge(
        origin.url, edge_public_connections=1, edge_requests_per_ip=0, edge_staff_url=staff_origin.url
    )
    for o in (origin, staff_origin):
        o.publish("/api/me", b"{}")
    async with httpx.AsyncClient(base_url=edge.url, timeout=20) as client:
        held = asyncio.create_task(client.get("/api/held"))  # the public pool's one connection, held
        await until(lambda: origin.total == 1, 10, "the anonymous request to reach the origin")

        def bearer(token: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {token}"}

        for token in (session_token(), listener_token(scope=Scope.SPEAK)):
            assert (await client.get("/api/me", headers=bearer(token))).status_code == 200
        assert staff_origin.requests["/api/me"] == 2
        assert staff_origin.seen_headers[0]["authorization"] == f"Bearer {session_token()}"  # the origin decides

        assert (await client.get("/api/me", headers=bearer(listener_token()))).status_code == 200
        assert origin.requests["/api/me"] == 1  # a listener's renewal: the origin's own pool, not the staff lane

        forged = [
            session_token(key=b"not-our-key-0123456789abcdef0123"),  # signed with a key we do not hold
            session_token(ttl_s=-10),  # expired
            session_token(kid="key-none", key=KEYS["key-new"]),  # a kid we do not know
            session_token()[:-1] + ("0" if session_token()[-1] != "0" else "1"),  # one digit changed
            "a-random-bearer",  # not a token of ours at all
        ]
        for token in forged:
            refused = await client.get("/api/me", headers=bearer(token))
            assert refused.status_code == 503, token  # the public pool is full: the edge answers itself
            assert refused.json()["code"] == "origin_unavailable"
        assert staff_origin.total == 2 and origin.requests["/api/me"] == 1
        origin.publish("/api/held", b"{}")
        assert (await held).status_code == 200


async def test_a_hosts_events_socket_keeps_the_staff_lane(
    origin: Origin, staff_origin: Origin, start_edge: EdgeFactory
) -> None:
    """The events socket (a host's requests to speak) follows its session as a request does: with a
    session the edge verifies, in `?access_token=` as the page sends it or in `Authorization`, to the
    staff lane; with anything else to the origin (never the capped public pool, whose connections a
    long-lived socket would hold)."""
    import websockets

    edge = await start_edge(
        origin.url, edge_public_connections=1, edge_requests_per_ip=0, edge_staff_url=staff_origin.url
    )
    events = f"ws://127.0.0.1:{edge.port}/api/spaces/s1/events"

    async def answered_by(url: str, headers: dict[str, str] | None = None) -> str:
        async with websockets.connect(url, additional_headers=headers) as ws:
            return str(await ws.recv())

    assert await answered_by(f"{events}?access_token={session_token()}") == staff_origin.url
    assert await answered_by(f"{events}?x=1&access_token={session_token()}&y=2") == staff_origin.url
    assert await answered_by(events, {"Authorization": f"Bearer {session_token()}"}) == staff_origin.url
    forged = session_token(key=b"not-our-key-0123456789abcdef0123")
    assert await answered_by(f"{events}?access_token={forged}") == origin.url
    assert await answered_by(events) == origin.url
