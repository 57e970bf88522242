"""Each form served by uvicorn on a real port: ready when its database and state answer, not ready
(503, never a 500) once the state backend goes away."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import live_server, private_redis
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(90)


async def test_a_served_instance_is_ready_on_its_backends(form: Settings) -> None:
    async with live_server(form) as server, server.client() as c:
        r = await c.get("/readyz")
        assert r.status_code == 200 and r.json() == {"status": "ready", "database": "ok", "state": "ok"}


async def test_an_instance_whose_redis_goes_away_is_not_ready(settings: Settings, tmp_path: Path) -> None:
    async with private_redis(tmp_path) as redis:
        own = settings.model_copy(update={"state_url": redis.url})
        async with live_server(own) as server, server.client() as c:
            assert (await c.get("/readyz")).status_code == 200
            await redis.stop()
            r = await c.get("/readyz")
            assert r.status_code == 503
            assert (r.json()["code"], r.json()["state"], r.json()["database"]) == ("not_ready", "down", "ok")
