"""A served instance on Redis state whose Redis stops and comes back: while it is gone a join answers 503
with the stable code `state_unavailable` and a Retry-After (never a 500) and readiness is 503; once the
same server is back on the same port, joins and readiness recover without restarting the instance."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.api import join, live_space, register
from tests.support.servers import live_server, private_redis
from tests.support.wait import until
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(120)


async def test_join_and_readiness_answer_503_while_redis_is_down_and_recover_when_it_returns(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "redis").mkdir()
    async with private_redis(tmp_path / "redis") as redis:
        own = settings.model_copy(update={"state_url": redis.url})
        async with live_server(own) as server, server.client() as c:
            host = await register(c)
            space = await live_space(c, host)
            assert (await join(c, space["id"])).status_code == 200
            assert (await c.get("/readyz")).status_code == 200

            await redis.stop()
            refused = await join(c, space["id"])
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "state_unavailable"
            assert refused.headers["Retry-After"] == "2"
            ready = await c.get("/readyz")
            assert (ready.status_code, ready.json()["state"], ready.json()["database"]) == (503, "down", "ok")
            assert ready.headers["Retry-After"] == "2"

            await redis.start()

            async def joined() -> httpx.Response | None:
                r = await join(c, space["id"])
                return r if r.status_code == 200 else None

            async def ready_again() -> bool:
                return (await c.get("/readyz")).status_code == 200

            back = await until(joined, 20, "a join to succeed once Redis is back", every=0.1)
            assert back.json()["token"]
            await until(ready_again, 20, "readiness once Redis is back", every=0.1)
