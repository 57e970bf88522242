"""Each form served by uvicorn on a real port: ready when its database and state answer, not ready
(503, never a 500) once the state backend goes away."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support.servers import free_port, live_server
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(90)


async def test_a_served_instance_is_ready_on_its_backends(form: Settings) -> None:
    async with live_server(form) as server, server.client() as c:
        r = await c.get("/readyz")
        assert r.status_code == 200 and r.json() == {"status": "ready", "database": "ok", "state": "ok"}


async def test_an_instance_whose_redis_goes_away_is_not_ready(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    redis = await asyncio.create_subprocess_exec(
        *("redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        own = settings.model_copy(update={"state_url": f"redis://127.0.0.1:{port}/0"})
        await _until_answers(port)
        async with live_server(own) as server, server.client() as c:
            assert (await c.get("/readyz")).status_code == 200
            redis.terminate()
            await asyncio.wait_for(redis.wait(), 10)
            r = await c.get("/readyz")
            assert r.status_code == 503
            assert (r.json()["code"], r.json()["state"], r.json()["database"]) == ("not_ready", "down", "ok")
    finally:
        if redis.returncode is None:
            redis.kill()
            await redis.wait()


async def _until_answers(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            await asyncio.sleep(0.05)
