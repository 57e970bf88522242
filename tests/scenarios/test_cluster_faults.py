"""Faults of the scaled-out form's dependencies, on real processes: Redis down when a process starts,
a mute decided while Redis is away, and the blob store failing under a live space (issue 13, faults)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEYS
from tests.support.servers import PrivateRedis, free_port, postgres_database
from tests.support.wait import until
from townhall.cluster import Cluster, Process, cluster_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
EDGE_SECRET = "cluster-test-edge-secret-0123456789abcdef"


async def _ready_status(process: Process) -> int | None:
    async with httpx.AsyncClient(timeout=2) as client:
        with contextlib.suppress(httpx.HTTPError):
            return (await client.get(process.url + "/readyz")).status_code
    return None


async def test_processes_started_while_redis_is_down_serve_not_ready_then_become_ready(tmp_path: Path) -> None:
    """`townhall api` and `townhall media` started with Redis down: both serve /readyz 503 (they do not
    exit) and become ready by themselves once Redis answers."""
    redis = PrivateRedis(free_port(), tmp_path)  # its port is chosen; the server is not started yet
    async with postgres_database() as db:
        env = {
            "TOWNHALL_DATABASE_URL": db,
            "TOWNHALL_STATE_URL": redis.url,
            "TOWNHALL_TOKEN_KEYS": TEST_KEYS,
            "TOWNHALL_EDGE_SECRET": EDGE_SECRET,
            "TOWNHALL_LOG_LEVEL": "info",
        }
        c = Cluster(cluster_env(tmp_path, env), tmp_path)
        try:
            api = await c.start_process("api", "api-1", wait=False)  # first: it migrates the database
            await until(lambda: _is_not_ready(api), 90, "the API process to answer /readyz 503")
            media = await c.start_process("media", "media-1", wait=False)
            await until(lambda: _is_not_ready(media), 90, "the media node to answer /readyz 503")
            assert api.alive and media.alive

            await redis.start()
            for process in (api, media):
                await c.ready(process)  # 200 without a restart
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
                body = (await client.get("/readyz")).json()
                assert (body["status"], body["state"], body["database"]) == ("ready", "ok", "ok")
        finally:
            await c.stop()
            await redis.stop()


async def _is_not_ready(process: Process) -> bool:
    if not process.alive:
        raise AssertionError(f"{process.name} exited:\n{process.log.read_text()[-3000:]}")
    return await _ready_status(process) == 503
