"""The waiting room of the scaled-out form lives in Redis: a place (and its ticket) survives the API
process being killed and another one started (decision 0010)."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEYS
from tests.scenarios.conftest import Clock, instance
from tests.support.api import auth, join, register
from tests.support.servers import REDIS_URL, postgres_database
from tests.support.state import redis_prefix
from townhall.cluster import cluster
from townhall.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_a_place_in_line_survives_an_api_process_restart(tmp_path: Path) -> None:
    async with postgres_database() as db, redis_prefix() as prefix:
        env = {
            "TOWNHALL_DATABASE_URL": db,
            "TOWNHALL_STATE_URL": f"{REDIS_URL}/0",
            "TOWNHALL_STATE_PREFIX": prefix,
            "TOWNHALL_TOKEN_KEYS": TEST_KEYS,
            "TOWNHALL_EDGE_SECRET": "waiting-room-test-edge-secret-0123456789",
            "TOWNHALL_LOG_LEVEL": "warning",
        }
        async with cluster(tmp_path, env, apis=1, media=0) as c:
            first = c.apis[0]
            async with httpx.AsyncClient(base_url=first.url, timeout=10) as api:
                host = await register(api)
                r = await api.post("/api/spaces", json={"title": "Full", "listener_cap": 1}, headers=host["headers"])
                sid = r.json()["id"]
                assert (await api.post(f"/api/spaces/{sid}/start", headers=host["headers"])).status_code == 200
                seated = (await join(api, sid, "device-seated1")).json()["token"]
                b = (await join(api, sid, "device-second1")).json()
                c_ = (await join(api, sid, "device-third01")).json()
                assert (b["position"], c_["position"]) == (1, 2)

            c.kill(first, signal.SIGKILL)
            await first.proc.wait()
            second = await c.start_process("api", "api-2")
            async with httpx.AsyncClient(base_url=second.url, timeout=10) as api:
                for ticket, position in ((b["ticket"], 1), (c_["ticket"], 2)):
                    r = await api.post(f"/api/spaces/{sid}/queue", headers=auth(ticket))
                    assert r.status_code == 202 and r.json()["position"] == position
                assert (await api.delete(f"/api/spaces/{sid}/lease", headers=auth(seated))).status_code == 204
                r = await api.post(f"/api/spaces/{sid}/queue", headers=auth(b["ticket"]))
                assert r.status_code == 200 and r.json()["token"]


async def test_a_refreshed_page_keeps_its_place_by_its_ticket_on_both_forms(form: Settings, clock: Clock) -> None:
    """Embedded (memory) and scaled out (Redis): the ticket, not the device, finds the place again, and
    in the scaled-out form another API instance answers it as well."""
    async with instance(form, clock) as node:
        c = node.client
        host = await register(c)
        r = await c.post("/api/spaces", json={"title": "Full", "listener_cap": 1}, headers=host["headers"])
        sid = r.json()["id"]
        await c.post(f"/api/spaces/{sid}/start", headers=host["headers"])
        await join(c, sid, "device-seated1")
        tickets = [(await join(c, sid, f"device-wait{i:03d}")).json()["ticket"] for i in range(5)]
        clock.advance(10)
        for i, ticket in enumerate(tickets):
            r = await c.post(f"/api/spaces/{sid}/queue", headers=auth(ticket))
            assert r.status_code == 202 and r.json()["position"] == i + 1
        if form.state_url.startswith("redis"):  # memory is per process: only Redis is shared
            async with instance(form, clock) as other:
                r = await other.client.post(f"/api/spaces/{sid}/queue", headers=auth(tickets[2]))
                assert r.status_code == 202 and r.json()["position"] == 3
