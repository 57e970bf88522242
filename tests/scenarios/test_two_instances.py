"""Two control-plane instances behind a load balancer, sharing one PostgreSQL and one Redis: a seat
taken through one counts against the cap on the other, and an event published by one reaches a
subscriber on the other. (The embedded form is one process by design, so this runs scaled out.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import websockets

from tests.scenarios.conftest import Clock, instance
from tests.support.api import auth, join, register
from tests.support.servers import REDIS_URL, live_server, postgres_database
from tests.support.state import redis_prefix
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def scaled(settings: Settings) -> AsyncIterator[Settings]:
    async with postgres_database() as url, redis_prefix() as prefix:
        yield settings.model_copy(update={"database_url": url, "state_url": f"{REDIS_URL}/0", "state_prefix": prefix})


async def test_a_seat_taken_through_one_instance_counts_on_the_other(scaled: Settings, clock: Clock) -> None:
    async with instance(scaled, clock) as a, instance(scaled, clock) as b:
        host = await register(a.client)
        r = await a.client.post("/api/spaces", json={"title": "Shared", "listener_cap": 1}, headers=host["headers"])
        space_id = r.json()["id"]
        assert (await a.client.post(f"/api/spaces/{space_id}/start", headers=host["headers"])).status_code == 200

        seated = await join(a.client, space_id, device="device-on-a-000001")
        assert seated.status_code == 200
        waiting = await join(b.client, space_id, device="device-on-b-000001")
        assert waiting.status_code == 202 and waiting.json()["position"] == 1
        clock.advance(1.5)
        doc = (await b.client.get(f"/api/spaces/{space_id}/state")).json()
        assert (doc["listeners"], doc["waiting"]) == (1, 1)

        # a token issued by A is honoured by B, and the seat it frees is handed on across instances
        left = await b.client.delete(f"/api/spaces/{space_id}/lease", headers=auth(seated.json()["token"]))
        assert left.status_code == 204
        assert (await join(a.client, space_id, device="device-on-b-000001")).status_code == 200
        assert (await join(b.client, space_id, device="device-late-000001")).status_code == 202


async def test_an_event_published_through_one_instance_reaches_a_subscriber_on_the_other(
    scaled: Settings, clock: Clock
) -> None:
    async with instance(scaled, clock) as a, instance(scaled, clock) as b:
        host, guest = await register(a.client), await register(a.client)
        r = await a.client.post("/api/spaces", json={"title": "Events"}, headers=host["headers"])
        space_id = r.json()["id"]
        await a.client.post(f"/api/spaces/{space_id}/start", headers=host["headers"])

        events = b.runtime.state.subscribe(f"space:{space_id}")
        await b.runtime.ctx.publish(space_id, {"type": "probe"})  # heard back: B's subscription is live
        assert json.loads(await asyncio.wait_for(anext(events), 5)) == {"type": "probe"}

        assert (await a.client.post(f"/api/spaces/{space_id}/requests", headers=guest["headers"])).status_code == 201
        event = json.loads(await asyncio.wait_for(anext(events), 5))
        assert (event["type"], event["account_id"], event["pending"]) == ("request", guest["account_id"], True)

        # the request made through A is in the shared queue B's host sees and accepts
        accepted = await b.client.post(
            f"/api/spaces/{space_id}/accept", json={"account_id": guest["account_id"]}, headers=host["headers"]
        )
        assert accepted.status_code == 204, accepted.text
        event = json.loads(await asyncio.wait_for(anext(events), 5))
        assert (event["type"], event["account_id"], event["role"]) == ("role", guest["account_id"], "speaker")
        await events.aclose()


async def test_the_host_page_served_by_one_instance_hears_actions_taken_on_the_other(scaled: Settings) -> None:
    async with live_server(scaled) as a, live_server(scaled) as b, a.client() as via_a, b.client() as via_b:
        host, guest = await register(via_a), await register(via_a)
        r = await via_a.post("/api/spaces", json={"title": "Two pages"}, headers=host["headers"])
        space_id = r.json()["id"]
        await via_a.post(f"/api/spaces/{space_id}/start", headers=host["headers"])
        url = f"ws://127.0.0.1:{b.port}/api/spaces/{space_id}/events?access_token={host['session_token']}"
        async with websockets.connect(url) as page:

            async def next_event() -> dict[str, object]:
                event: dict[str, object] = json.loads(await asyncio.wait_for(page.recv(), 5))
                return event

            assert (await next_event())["type"] == "hello"
            # published through B, which first waits until B's subscription is acknowledged by Redis
            assert (await via_b.post(f"/api/spaces/{space_id}/requests", headers=guest["headers"])).status_code == 201
            assert (await next_event())["type"] == "request"
            target = {"account_id": guest["account_id"]}
            assert (
                await via_a.post(f"/api/spaces/{space_id}/accept", json=target, headers=host["headers"])
            ).status_code == 204
            assert (
                await via_a.post(f"/api/spaces/{space_id}/mute", json=target, headers=host["headers"])
            ).status_code == 204
            role, mute = await next_event(), await next_event()
            assert (role["type"], role["account_id"], role["role"]) == ("role", guest["account_id"], "speaker")
            assert (mute["type"], mute["account_id"], mute["muted"]) == ("mute", guest["account_id"], True)
