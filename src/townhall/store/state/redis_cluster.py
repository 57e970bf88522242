"""Hot state and leases on a Redis Cluster (`redis+cluster://host:port`), through redis-py's cluster client.

Only the connection differs: every multi-key script names keys of one space, which share that space's
hash tag (`RedisState._seat_keys`), so each runs on the one shard that owns the tag. Classic pub/sub is
broadcast over the cluster bus, so one connection to any node hears every channel. One command needs
more: PFCOUNT over keys in several slots (a cluster refuses it) counts copies gathered into one slot.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import RedisError

from townhall.domain.errors import Unavailable
from townhall.store.state.leases import RedisLeases
from townhall.store.state.redis import RedisState

SCRATCH_TTL_MS = 10_000  # copies made for one PFCOUNT; deleted at once, forgotten by Redis if we die
SCHEMES = {"redis+cluster://": "redis://", "rediss+cluster://": "rediss://"}


def node_url(url: str) -> str:
    """`redis+cluster://host:port` as the URL of that startup node (`redis://host:port`)."""
    for cluster, single in SCHEMES.items():
        if url.startswith(cluster):
            return single + url.removeprefix(cluster)
    raise ValueError(f"not a Redis Cluster URL: {url!r} (redis+cluster://host:port)")


def cluster_client(url: str, **options: Any) -> aioredis.Redis:
    """redis-py's cluster client for `url`, typed as the single-node client: the stores call the same
    commands on it, each routed to the node that owns its keys' slot."""
    from redis.asyncio.cluster import RedisCluster

    # the startup node tells the client every other node and which slots each owns
    return cast(aioredis.Redis, RedisCluster.from_url(node_url(url), **options))


class RedisClusterLeases(RedisLeases):
    """Leases on a Redis Cluster: each lease's keys share its name's hash tag (`RedisLeases._lease_key`)."""

    def _connect(self, url: str) -> aioredis.Redis:
        return cluster_client(url, socket_connect_timeout=2, socket_timeout=2)


class RedisClusterState(RedisState):
    def _connect(self, url: str, max_connections: int) -> aioredis.Redis:
        return cluster_client(url, max_connections=max_connections, socket_connect_timeout=5)

    async def pfcount(self, *keys: str) -> int:
        names = [f"{self._p}u:{k}" for k in keys]
        if len({key_slot(n.encode()) for n in names}) <= 1:
            return await super().pfcount(*keys)
        try:
            return await self._pfcount_across_slots(names)
        except (RedisError, OSError) as exc:
            raise Unavailable(
                "state_unavailable", "the hot state store is unreachable; try again shortly", 2.0
            ) from exc

    async def _pfcount_across_slots(self, names: list[str]) -> int:
        # a HyperLogLog is a string: copied under one hash tag, PFCOUNT merges the copies as it would the originals
        values = [v for v in await asyncio.gather(*(self._redis.get(n) for n in names)) if v is not None]
        if not values:
            return 0
        tag = uuid.uuid4().hex
        scratch = [f"{self._p}pfcount:{{{tag}}}:{i}" for i in range(len(values))]
        try:
            await asyncio.gather(
                *(self._redis.set(k, v, px=SCRATCH_TTL_MS) for k, v in zip(scratch, values, strict=True))
            )
            return int(await self._redis.pfcount(*scratch))
        finally:
            await self._redis.delete(*scratch)
