"""The hot state on a real three-master Redis Cluster (scripts/services.sh starts it on 7001-7003):
chosen by `redis+cluster://` in TOWNHALL_STATE_URL, each space's seat book on one shard, spaces spread
over every shard."""

from __future__ import annotations

from collections import Counter

import pytest
import redis.asyncio as aioredis

from tests.support.state import CLUSTER_URL, redis_prefix
from townhall.app import open_state
from townhall.settings import Settings
from townhall.store.state.redis_cluster import RedisClusterState, node_url

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
MASTERS = (7001, 7002, 7003)
NOW = 1_764_170_000.0


async def keys_per_master(prefix: str) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for port in MASTERS:
        node = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            found[port] = [k.decode() async for k in node.scan_iter(match=f"{prefix}*", count=1000)]
        finally:
            await node.aclose()
    return found


async def test_a_cluster_url_opens_the_cluster_store_and_each_space_lives_on_one_shard() -> None:
    async with redis_prefix(cluster=True) as prefix:
        state = open_state(Settings(state_url=CLUSTER_URL, state_prefix=prefix))
        try:
            assert isinstance(state, RedisClusterState)
            spaces = [f"sp{i:03d}" for i in range(30)]
            for space in spaces:
                for who in ("a", "b", "c"):
                    await state.join(space, who, 2, NOW)
                assert await state.seated(space, 2, NOW) == 2 and await state.queued(space, 2, NOW) == 1
            placed = await keys_per_master(prefix)
        finally:
            await state.close()
    owners: dict[str, set[int]] = {}
    for port, keys in placed.items():
        for key in keys:
            owners.setdefault(key.split("{")[1].split("}")[0], set()).add(port)
    assert sorted(owners) == spaces
    assert all(len(ports) == 1 for ports in owners.values()), owners  # a space's multi-key scripts run on one shard
    per_master = Counter(next(iter(ports)) for ports in owners.values())
    assert len(per_master) == 3, per_master  # 30 spaces over 3 masters: every one holds some


def test_only_cluster_urls_name_a_startup_node() -> None:
    assert node_url("redis+cluster://127.0.0.1:7001") == "redis://127.0.0.1:7001"
    assert node_url("rediss+cluster://h:7001/0") == "rediss://h:7001/0"
    with pytest.raises(ValueError):
        node_url("redis://127.0.0.1:6379")


async def test_the_app_on_the_cluster_seats_queues_and_admits_listeners(settings: Settings) -> None:
    """The whole control plane on the cluster: a capped space's waiting room, a seat freed by leaving."""
    import httpx

    from tests.support.api import auth, join, live_space, register
    from townhall.app import build_app

    async with redis_prefix(cluster=True) as prefix:
        app = build_app(settings.model_copy(update={"state_url": CLUSTER_URL, "state_prefix": prefix}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=10) as client:
                host = await register(client)
                sid = (await live_space(client, host, listener_cap=1))["id"]
                first = await join(client, sid, "device-first01")
                second = await join(client, sid, "device-second1")
                assert first.status_code == 200 and second.status_code == 202, (first.text, second.text)
                left = await client.delete(f"/api/spaces/{sid}/lease", headers=auth(first.json()["token"]))
                assert left.status_code == 204
                again = await join(client, sid, "device-second1")
                assert again.status_code == 200 and again.json()["status"] == "admitted"
            assert isinstance(app.state.runtime.state, RedisClusterState)
        placed = await keys_per_master(prefix)
        assert any(f"{{{sid}}}" in key for keys in placed.values() for key in keys), placed
