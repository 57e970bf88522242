"""Listening over HTTP: join with a token and a lease, the waiting room, renewals, leaving, reactions,
and the room state document the edge caches."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import auth, join, live_space, register
from townhall.domain.tokens import Scope, verify


async def test_join_returns_a_signed_token_bound_to_the_space(client: httpx.AsyncClient, app: Any) -> None:
    host = await register(client)
    sid = (await live_space(client, host))["id"]
    r = await join(client, sid, "device-abc123")
    assert r.status_code == 200
    body = r.json()
    rt = app.state.runtime
    claims = verify(body["token"], rt.keys.keys, rt.clock(), Scope.LISTEN, sid)
    assert claims.subject == "d-device-abc123"
    assert f"/e/{body['token']}/live/{sid}/master.m3u8" in body["playlist_url"]
    assert body["renew_every_s"] < rt.settings.lease_ttl_s


async def test_capped_space_queues_and_admits_in_order(client: httpx.AsyncClient) -> None:
    host = await register(client)
    sid = (await live_space(client, host, listener_cap=1))["id"]
    first = await join(client, sid, "device-first01")
    assert first.status_code == 200
    second = await join(client, sid, "device-second1")
    third = await join(client, sid, "device-third01")
    assert second.status_code == 202 and second.json()["status"] == "waiting" and second.json()["position"] == 1
    assert set(second.json()) == {"status", "position", "ticket", "poll_after_s"}
    assert third.json()["position"] == 2
    r = await client.delete(f"/api/spaces/{sid}/lease", headers=auth(first.json()["token"]))
    assert r.status_code == 204
    again = await join(client, sid, "device-second1")
    assert again.status_code == 200 and again.json()["status"] == "admitted"
    assert (await join(client, sid, "device-third01")).json()["position"] == 1


async def test_lease_renewal_and_lost_lease(client: httpx.AsyncClient, app: Any) -> None:
    host = await register(client)
    sid = (await live_space(client, host, listener_cap=10))["id"]
    token = (await join(client, sid)).json()["token"]
    r = await client.post(f"/api/spaces/{sid}/lease", headers=auth(token))
    assert r.status_code == 200 and r.json()["lease_expires"] > app.state.runtime.clock()
    await client.delete(f"/api/spaces/{sid}/lease", headers=auth(token))
    r = await client.post(f"/api/spaces/{sid}/lease", headers=auth(token))
    assert r.status_code == 404 and r.json()["code"] == "lease_lost"  # a capped space's seat went to the line


async def test_an_open_space_renewal_is_written_behind_and_keeps_or_retakes_the_seat(
    client: httpx.AsyncClient, app: Any
) -> None:
    """No cap: nobody waits for the seat, so a renewal is answered at once and written behind (decision
    0012); one with a valid token after the seat lapsed or was left takes it again, without a new join."""
    rt = app.state.runtime
    host = await register(client)
    sid = (await live_space(client, host))["id"]
    token = (await join(client, sid)).json()["token"]
    space = await rt.spaces.cached(sid)

    async def seated() -> int:
        await rt.admission.seats.renewals.flush()
        return int((await rt.admission.counts(space))[0])

    assert await seated() == 1
    await client.delete(f"/api/spaces/{sid}/lease", headers=auth(token))
    assert await seated() == 0
    r = await client.post(f"/api/spaces/{sid}/lease", headers=auth(token))
    assert r.status_code == 200 and r.json()["lease_expires"] == pytest.approx(rt.clock() + 120, abs=5)
    assert await seated() == 1


async def test_token_of_another_space_cannot_renew(client: httpx.AsyncClient) -> None:
    host = await register(client)
    a = (await live_space(client, host))["id"]
    b = (await live_space(client, host))["id"]
    token = (await join(client, a)).json()["token"]
    r = await client.post(f"/api/spaces/{b}/lease", headers=auth(token))
    assert r.status_code == 403 and r.json()["code"] == "token_wrong_space"


async def test_ended_space_refuses_joins(client: httpx.AsyncClient) -> None:
    host = await register(client)
    sid = (await live_space(client, host))["id"]
    await client.post(f"/api/spaces/{sid}/end", headers=host["headers"])
    r = await join(client, sid)
    assert r.status_code == 410 and r.json()["code"] == "space_ended"


async def test_room_state_is_small_cacheable_and_counts(client: httpx.AsyncClient) -> None:
    host = await register(client, "roomhost")
    sid = (await live_space(client, host))["id"]
    tokens = [(await join(client, sid)).json()["token"] for _ in range(3)]
    for kind in ("clap", "clap", "heart"):
        r = await client.post(f"/api/spaces/{sid}/reactions", json={"kind": kind}, headers=auth(tokens[0]))
        assert r.status_code == 204
    r = await client.get(f"/live/{sid}/state.json")
    assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=1"
    doc = r.json()
    assert doc["space"]["host"] == "roomhost" and doc["listeners"] == 3
    assert doc["reactions"] == {"clap": 2, "heart": 1}
    assert [s["handle"] for s in doc["speakers"]] == ["roomhost"]
    assert "token" not in r.text and len(r.content) < 4096
    r2 = await client.get(f"/live/{sid}/state.json", headers={"If-None-Match": r.headers["etag"]})
    assert r2.status_code == 304


async def test_unknown_reaction_is_400(client: httpx.AsyncClient) -> None:
    host = await register(client)
    sid = (await live_space(client, host))["id"]
    token = (await join(client, sid)).json()["token"]
    r = await client.post(f"/api/spaces/{sid}/reactions", json={"kind": "<script>"}, headers=auth(token))
    assert r.status_code == 400 and r.json()["code"] == "unknown_reaction"


async def test_direct_origin_gate_checks_the_listener_token(client: httpx.AsyncClient) -> None:
    host = await register(client)
    sid = (await live_space(client, host))["id"]
    token = (await join(client, sid)).json()["token"]
    assert (await client.get(f"/e/{token}/live/{sid}/state.json")).status_code == 200
    r = await client.get(f"/e/{token[:-2]}xx/live/{sid}/state.json")
    assert r.status_code == 403 and r.json()["code"] == "token_bad_signature"
    r = await client.get(f"/e/{token}/live/other123/state.json")
    assert r.status_code == 403 and r.json()["code"] == "token_wrong_space"


async def test_openapi_lists_the_operations(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/api/spaces/{space_id}/join"]
    assert "JoinIn" in doc["components"]["schemas"]
    assert (await client.get("/api/docs")).status_code == 200


async def test_health_ready_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "alive"
    assert (await client.get("/readyz")).json()["database"] == "ok"
    host = await register(client)
    sid = (await live_space(client, host))["id"]
    await join(client, sid)
    text = (await client.get("/metrics")).text
    assert "townhall_live_spaces 1.0" in text and "townhall_listeners 1.0" in text
    assert "townhall_http_request_seconds_bucket" in text


async def test_ending_a_space_releases_every_seat(client: httpx.AsyncClient, app: Any) -> None:
    host = await register(client)
    sid = (await live_space(client, host, listener_cap=1))["id"]
    await join(client, sid)
    await join(client, sid)
    space = await app.state.runtime.spaces.get(sid)
    assert await app.state.runtime.admission.counts(space) == (1, 1)
    await client.post(f"/api/spaces/{sid}/end", headers=host["headers"])
    assert await app.state.runtime.admission.counts(space) == (0, 0)


async def test_tools_and_load_generators_get_a_synthetic_token(client: httpx.AsyncClient, app: Any) -> None:
    host = await register(client)
    sid = (await live_space(client, host))["id"]
    rt = app.state.runtime

    async def claims(headers: dict[str, str], device: str) -> Any:
        r = await client.post(f"/api/spaces/{sid}/join", json={"device_id": device}, headers=headers)
        return verify(r.json()["token"], rt.keys.keys, rt.clock(), Scope.LISTEN, sid)

    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
    assert not (await claims(browser, "device-browser1")).synthetic
    assert (await claims({"User-Agent": "curl/8.0"}, "device-curl0001")).synthetic
    assert (await claims({**browser, "X-Townhall-Synthetic": "1"}, "device-loadgen1")).synthetic


async def test_before_the_start_a_listener_waits_in_the_lobby_with_no_seat_and_no_listen(
    client: httpx.AsyncClient, app: Any
) -> None:
    rt = app.state.runtime
    host = await register(client)
    start_at = rt.clock() + 600
    created = await client.post(
        "/api/spaces", json={"title": "At eight", "scheduled_start": start_at}, headers=host["headers"]
    )
    sid = created.json()["id"]
    for _ in range(3):  # one device, three early visits
        early = await join(client, sid, "device-early001")
        assert early.status_code == 202
        body = early.json()
        assert body["status"] == "lobby" and "token" not in body and body["scheduled_start"] == start_at
        assert 590 <= body["starts_in_s"] <= 600 and body["retry_after_s"] > 0
    space = await rt.spaces.get(sid)
    assert (await rt.admission.counts(space))[0] == 0  # no live seat (a place in the pool drawn at the start)
    counts = (await client.get(f"/api/spaces/{sid}/counts")).json()["listens"]
    assert counts["live_joins"] == 0 and counts["live_unique_listeners"] == 0  # no live listen
    assert (await client.post(f"/api/spaces/{sid}/start", headers=host["headers"])).status_code == 200
    admitted = await join(client, sid, "device-early001")
    assert admitted.status_code == 200 and admitted.json()["status"] == "admitted"
    assert await rt.admission.counts(await rt.spaces.get(sid)) == (1, 0)


async def test_a_due_space_copy_is_read_once_however_many_renew_at_that_moment(
    client: httpx.AsyncClient, app: Any
) -> None:
    import asyncio

    from townhall.services.spaces import SPACE_CACHE_S

    host = await register(client)
    sid = (await live_space(client, host))["id"]
    tokens = [(await join(client, sid, f"device-herd{i:04d}")).json()["token"] for i in range(40)]
    spaces = app.state.runtime.spaces
    reads, read = 0, spaces.spaces.get

    async def counted(space_id: str) -> Any:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.05)  # a database answering as a busy one does
        return await read(space_id)

    spaces.spaces.get = counted
    spaces._cache[sid] = (app.state.runtime.clock() - SPACE_CACHE_S, spaces._cache[sid][1])  # the copy is due
    renewals = await asyncio.gather(*(client.post(f"/api/spaces/{sid}/lease", headers=auth(t)) for t in tokens))
    assert [r.status_code for r in renewals] == [200] * 40
    assert reads == 1  # the others answered from the older copy while one read it again
