"""A host runs a capped space from start to end, through the HTTP API, on the embedded form and on
the scaled-out form: the same journey must give the same answers on both."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.scenarios.conftest import Clock, instance
from tests.support.api import auth, join, register
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(90)


async def room_state(client: httpx.AsyncClient, space_id: str) -> tuple[dict[str, Any], httpx.Response]:
    r = await client.get(f"/api/spaces/{space_id}/state")
    assert r.status_code == 200, r.text
    return r.json(), r


async def test_a_capped_space_from_start_to_end(form: Settings, clock: Clock) -> None:
    async with instance(form, clock) as node:
        c = node.client
        host, ada, bob = await register(c), await register(c), await register(c)

        r = await c.post("/api/spaces", json={"title": "Town hall", "listener_cap": 1}, headers=host["headers"])
        assert r.status_code == 201, r.text
        space_id = r.json()["id"]
        r = await c.post(f"/api/spaces/{space_id}/start", headers=host["headers"])
        assert r.status_code == 200 and r.json()["state"] == "live"

        # two listeners, one seat: the second waits
        first = await join(c, space_id, person=ada)
        assert first.status_code == 200 and first.json()["status"] == "admitted"
        ada_token = first.json()["token"]
        second = await join(c, space_id, person=bob)
        assert second.status_code == 202 and second.json()["status"] == "waiting" and second.json()["position"] == 1
        doc, _ = await room_state(c, space_id)
        assert (doc["listeners"], doc["waiting"]) == (1, 1)

        # the first leaves; the seat is the second's when it polls, and nobody else's
        r = await c.delete(f"/api/spaces/{space_id}/lease", headers=auth(ada_token))
        assert r.status_code == 204
        polled = await join(c, space_id, person=bob)
        assert polled.status_code == 200 and polled.json()["status"] == "admitted"
        back = await join(c, space_id, person=ada)
        assert back.status_code == 202 and back.json()["position"] == 1

        # the listener asks to speak; the host accepts, then mutes them
        r = await c.post(f"/api/spaces/{space_id}/requests", headers=bob["headers"])
        assert r.status_code == 201 and r.json()["position"] == 1
        r = await c.get(f"/api/spaces/{space_id}/requests", headers=host["headers"])
        assert [m["account_id"] for m in r.json()["members"]] == [bob["account_id"]]
        r = await c.post(f"/api/spaces/{space_id}/accept", json={"account_id": bob["account_id"]}, **_as(host))
        assert r.status_code == 204, r.text
        r = await c.post(f"/api/spaces/{space_id}/mute", json={"account_id": bob["account_id"]}, **_as(host))
        assert r.status_code == 204, r.text
        r = await c.get(f"/api/spaces/{space_id}/requests", headers=host["headers"])
        assert r.json()["members"] == []

        # listeners read one cacheable document; it is rebuilt at most once a second
        clock.advance(1.5)
        doc, response = await room_state(c, space_id)
        speakers = {s["handle"]: (s["role"], s["muted"]) for s in doc["speakers"]}
        assert speakers == {host["handle"]: ("host", False), bob["handle"]: ("speaker", True)}
        assert (doc["listeners"], doc["waiting"], doc["space"]["listener_cap"]) == (1, 1, 1)
        assert "max-age=1" in response.headers["cache-control"]
        etag = response.headers["etag"]
        r = await c.get(f"/api/spaces/{space_id}/state", headers={"If-None-Match": etag})
        assert r.status_code == 304 and r.headers["etag"] == etag

        r = await c.post(f"/api/spaces/{space_id}/end", headers=host["headers"])
        assert r.status_code == 200 and r.json()["state"] == "ended"
        late = await join(c, space_id, device="late-listener-0001")
        assert late.status_code == 410 and late.json()["code"] == "space_ended"


async def test_a_listener_who_stops_renewing_hands_the_seat_on(form: Settings, clock: Clock) -> None:
    async with instance(form, clock) as node:
        c, lease_ttl = node.client, form.lease_ttl_s
        host = await register(c)
        r = await c.post("/api/spaces", json={"title": "Capped", "listener_cap": 1}, headers=host["headers"])
        space_id = r.json()["id"]
        await c.post(f"/api/spaces/{space_id}/start", headers=host["headers"])

        gone = await join(c, space_id, device="device-gone-000001")
        assert gone.status_code == 200
        assert (await join(c, space_id, device="device-next-000001")).status_code == 202
        waited = 0.0
        while waited + 10 < lease_ttl:  # the waiting listener keeps its ticket by polling
            clock.advance(10)
            waited += 10
            assert (await join(c, space_id, device="device-next-000001")).status_code == 202
        clock.advance(lease_ttl - waited)
        assert (await join(c, space_id, device="device-next-000001")).status_code == 200
        r = await c.post(f"/api/spaces/{space_id}/lease", headers=auth(gone.json()["token"]))
        assert r.status_code == 404 and r.json()["code"] == "lease_lost"


def _as(person: dict[str, Any]) -> dict[str, Any]:
    return {"headers": person["headers"]}
