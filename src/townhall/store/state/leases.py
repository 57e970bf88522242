"""Leases with fencing numbers, and the media nodes' heartbeats: who runs which live space.

A lease names its holder and an epoch that grows by one with every new claim of the same name, so a
holder that lost its lease (paused, partitioned, presumed dead) can never write under it again (a drain
hands a lease to a named successor in one step, `transfer`, with a new epoch too): every
write it makes is checked against the current holder and epoch in the same atomic step
(`fenced_put`). Memory for the embedded form and the tests, Redis for the scaled-out form; one contract
suite (tests/contract/test_leases.py). Redis keeps each lease's keys in one hash slot (Redis Cluster).
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from townhall.domain.errors import Unavailable
from townhall.domain.placement import Lease, Member

RETRY_AFTER_S = 2.0  # as redis.py tells clients when Redis is unreachable


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class MemoryLeases:
    """One process's leases (the embedded form and the tests); time is the caller's `now`."""

    def __init__(self) -> None:
        self._leases: dict[str, tuple[Lease, float]] = {}
        self._epochs: dict[str, int] = {}
        self._values: dict[str, tuple[bytes, float]] = {}
        self._members: dict[str, tuple[Member, float]] = {}

    def _current(self, name: str, now: float) -> Lease | None:
        held = self._leases.get(name)
        if held is None or held[1] <= now:
            self._leases.pop(name, None)
            return None
        return held[0]

    async def claim(self, name: str, holder: str, ttl_s: float, now: float) -> Lease | None:
        if self._current(name, now) is not None:
            return None
        epoch = self._epochs[name] = self._epochs.get(name, 0) + 1
        lease = Lease(holder, epoch)
        self._leases[name] = (lease, now + ttl_s)
        return lease

    async def renew(self, name: str, lease: Lease, ttl_s: float, now: float) -> bool:
        if self._current(name, now) != lease:
            return False
        self._leases[name] = (lease, now + ttl_s)
        return True

    async def release(self, name: str, lease: Lease, now: float) -> None:
        if self._current(name, now) == lease:
            del self._leases[name]

    async def transfer(self, name: str, lease: Lease, to: str, ttl_s: float, now: float) -> Lease | None:
        if self._current(name, now) != lease:
            return None
        epoch = self._epochs[name] = self._epochs.get(name, 0) + 1
        moved = Lease(to, epoch)
        self._leases[name] = (moved, now + ttl_s)
        return moved

    async def holder(self, name: str, now: float) -> Lease | None:
        return self._current(name, now)

    async def fenced_put(
        self, name: str, lease: Lease, what: str, value: bytes, ttl_s: float | None, now: float
    ) -> bool:
        if self._current(name, now) != lease:
            return False
        self._values[f"{name}:{what}"] = (value, math.inf if ttl_s is None else now + ttl_s)
        return True

    async def fenced_get(self, name: str, what: str, now: float) -> bytes | None:
        held = self._values.get(f"{name}:{what}")
        if held is None or held[1] <= now:
            self._values.pop(f"{name}:{what}", None)
            return None
        return held[0]

    async def beat(self, member: Member, ttl_s: float, now: float) -> None:
        self._members[member.node_id] = (member, now + ttl_s)

    async def leave(self, node_id: str) -> None:
        self._members.pop(node_id, None)

    async def members(self, now: float) -> list[Member]:
        for node_id, (_, until) in list(self._members.items()):
            if until <= now:
                del self._members[node_id]
        return [member for member, _ in self._members.values()]

    async def close(self) -> None:
        return None


# KEYS: lease, epoch counter. ARGV: holder, ttl ms. Returns the new epoch, or nil when held.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
return epoch
"""
# KEYS: lease. ARGV: holder|epoch, ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: lease, epoch counter. ARGV: holder|epoch, new holder, ttl ms. Returns the new epoch, or nil when
# the lease is not (or no longer) the caller's.
_TRANSFER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. epoch, 'PX', ARGV[3])
return epoch
"""
# KEYS: lease, value. ARGV: holder|epoch, value, ttl ms ("" for none).
_FENCED_PUT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('SET', KEYS[2], ARGV[2]) else redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return 1
"""


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable("state_unavailable", f"the hot state did not answer ({type(exc).__name__})", RETRY_AFTER_S)


class RedisLeases:
    """Leases in Redis: each claim, renewal and fenced write is one script, so two nodes never race."""

    def __init__(self, url: str, prefix: str = "th:") -> None:
        self._redis = self._connect(url)
        self._p = prefix
        script = self._redis.register_script
        self._claim, self._renew, self._release = script(_CLAIM), script(_RENEW), script(_RELEASE)
        self._fenced_put, self._transfer = script(_FENCED_PUT), script(_TRANSFER)

    def _connect(self, url: str) -> aioredis.Redis:
        return aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)

    def _lease_key(self, name: str) -> str:
        return f"{self._p}lease:{{{name}}}"

    def _epoch_key(self, name: str) -> str:
        return f"{self._p}epoch:{{{name}}}"

    def _value_key(self, name: str, what: str) -> str:
        return f"{self._p}fenced:{{{name}}}:{what}"

    async def _run(self, call: Any) -> Any:
        try:
            return await call
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from exc

    async def claim(self, name: str, holder: str, ttl_s: float, now: float) -> Lease | None:
        keys = [self._lease_key(name), self._epoch_key(name)]
        epoch = await self._run(self._claim(keys=keys, args=[holder, _ms(ttl_s)]))
        return Lease(holder, int(epoch)) if epoch else None

    async def renew(self, name: str, lease: Lease, ttl_s: float, now: float) -> bool:
        args: list[str | int] = [f"{lease.holder}|{lease.epoch}", _ms(ttl_s)]
        return bool(await self._run(self._renew(keys=[self._lease_key(name)], args=args)))

    async def release(self, name: str, lease: Lease, now: float) -> None:
        await self._run(self._release(keys=[self._lease_key(name)], args=[f"{lease.holder}|{lease.epoch}"]))

    async def transfer(self, name: str, lease: Lease, to: str, ttl_s: float, now: float) -> Lease | None:
        keys = [self._lease_key(name), self._epoch_key(name)]
        args: list[str | int] = [f"{lease.holder}|{lease.epoch}", to, _ms(ttl_s)]
        epoch = await self._run(self._transfer(keys=keys, args=args))
        return Lease(to, int(epoch)) if epoch else None

    async def holder(self, name: str, now: float) -> Lease | None:
        raw = cast(bytes | None, await self._run(self._redis.get(self._lease_key(name))))
        if raw is None:
            return None
        holder, _, epoch = raw.decode().rpartition("|")
        return Lease(holder, int(epoch))

    async def fenced_put(
        self, name: str, lease: Lease, what: str, value: bytes, ttl_s: float | None, now: float
    ) -> bool:
        keys = [self._lease_key(name), self._value_key(name, what)]
        args: list[str | bytes] = [f"{lease.holder}|{lease.epoch}", value, "" if ttl_s is None else str(_ms(ttl_s))]
        return bool(await self._run(self._fenced_put(keys=keys, args=args)))

    async def fenced_get(self, name: str, what: str, now: float) -> bytes | None:
        return cast(bytes | None, await self._run(self._redis.get(self._value_key(name, what))))

    async def beat(self, member: Member, ttl_s: float, now: float) -> None:
        record = {"url": member.url, "load": member.load, "draining": member.draining, "until": now + ttl_s}
        await self._run(self._redis.hset(f"{self._p}media-nodes", member.node_id, json.dumps(record)))

    async def leave(self, node_id: str) -> None:
        await self._run(self._redis.hdel(f"{self._p}media-nodes", node_id))

    async def members(self, now: float) -> list[Member]:
        raw = cast(dict[bytes, bytes], await self._run(self._redis.hgetall(f"{self._p}media-nodes")))
        alive, gone = [], []
        for node_id, record in raw.items():
            r = json.loads(record)
            if r["until"] <= now:
                gone.append(node_id)
            else:
                alive.append(Member(node_id.decode(), r["url"], int(r["load"]), bool(r["draining"])))
        if gone:
            await self._run(self._redis.hdel(f"{self._p}media-nodes", *gone))
        return alive

    async def close(self) -> None:
        await self._redis.aclose()
