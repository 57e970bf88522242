"""Hot state shared by every process through Redis: the scaled-out form of `base.StateStore`.

Each read-modify-write is one Lua script or one pipelined round trip, so processes never race;
time always comes from the caller (`now`), never from Redis's clock, except to forget stale keys.
No driver error leaves this module: a lost connection is `Unavailable("state_unavailable")`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import math
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, ParamSpec, Self, TypeVar, cast

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from townhall.domain.admission import BURST_S, DEPARTURE_MEMORY_S, Admission, Admitted, Policy, Waiting, as_policy
from townhall.domain.errors import Unavailable

log = logging.getLogger("townhall.state")
QUEUE_MAX = 1000  # messages held for a slow subscriber before newer ones are dropped (as in memory.py)
SUBSCRIBE_WAIT_S = 5.0
POOL_WAIT_S = 10.0  # longest a command waits for a free connection before failing
RETRY_AFTER_S = 2.0  # what a client is told to wait when Redis is unreachable
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.1, 5.0  # pub/sub reconnection backoff, doubled per failure
DRIVER_ERRORS = (RedisError, OSError)  # OSError covers refused connections and timeouts
P = ParamSpec("P")
R = TypeVar("R")


def unavailable() -> Unavailable:
    return Unavailable("state_unavailable", "the hot state store is unreachable; try again shortly", RETRY_AFTER_S)


def _translated(method: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """The method with every driver error raised as `Unavailable` (the driver's error as its cause)."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except DRIVER_ERRORS as exc:
            raise unavailable() from exc

    return call


# --- admission: the rules of domain/admission.py `Seats`, one script per operation -------------
# KEYS: leases (who -> lease expiry), tickets (who -> ticket expiry), line (who -> ticket number), next,
#       meta (hash: tat = the pace's next slot, opened = the pool was drawn)
# ARGV: now, cap ("" for none), lease expiry if seated now, ticket expiry if queued now, who,
#       rate ("" for none), opened ("1" once the space started), seed (orders the pool), burst seconds
# Scores are passed as the caller's exact float text, so nothing is rounded by Lua; the pace is kept
# as %.17g text, which reads back as the same double.
_SEATS = """
local leases, tickets, line, nexts, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, cap, lease_until, ticket_until, who = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local rate, want_open, seed, burst = tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8], tonumber(ARGV[9])
local hands_over = ARGV[10] == '1'
local nowf = tonumber(now)
local opened = redis.call('HGET', meta, 'opened') == '1'
local tat = tonumber(redis.call('HGET', meta, 'tat') or '-inf')

local function room()
  if cap and cap <= redis.call('ZCARD', leases) then return false end
  return (not rate) or tat <= nowf
end

local function pace()
  if rate then
    tat = math.max(tat, nowf - burst) + 60.0 / rate
    redis.call('HSET', meta, 'tat', string.format('%.17g', tat))
  end
end

local function admit(member)
  pace()
  redis.call('ZADD', leases, lease_until, member)
end

local function expire()
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  local gone = redis.call('ZRANGEBYSCORE', tickets, '-inf', now)
  for i = 1, #gone, 1000 do
    redis.call('ZREM', line, unpack(gone, i, math.min(i + 999, #gone)))
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', tickets, '-inf', now) end
  if not opened then return end
  while room() do
    local head = redis.call('ZPOPMIN', line)
    if #head == 0 then return end
    redis.call('ZREM', tickets, head[1])
    admit(head[1])
    if not rate and not cap then
      -- no limit at all: everyone waiting is seated in one go
      local rest = redis.call('ZRANGE', line, 0, -1)
      redis.call('DEL', line)
      for i = 1, #rest do redis.call('ZREM', tickets, rest[i]) redis.call('ZADD', leases, lease_until, rest[i]) end
      return
    end
  end
end

local function draw()
  -- the space opened: the pool in a random order (ascending SHA-1 of seed and key), once
  if opened or not want_open then return end
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  local gone = redis.call('ZRANGEBYSCORE', tickets, '-inf', now)
  for i = 1, #gone, 1000 do
    redis.call('ZREM', line, unpack(gone, i, math.min(i + 999, #gone)))
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', tickets, '-inf', now) end
  local pool = redis.call('ZRANGE', line, 0, -1)
  local keyed = {}
  for i = 1, #pool do keyed[i] = {redis.sha1hex(seed .. pool[i]), pool[i]} end
  table.sort(keyed, function(a, b) return a[1] < b[1] end)
  for i = 1, #keyed do redis.call('ZADD', line, i - 1, keyed[i][2]) end
  redis.call('HSET', meta, 'opened', '1')
  opened = true
end

local function settle()
  draw()
  expire()
end

local function seat()
  redis.call('ZADD', leases, lease_until, who)
  return {1, lease_until}
end

local function waiting()
  redis.call('ZADD', tickets, ticket_until, who)
  if not opened then return {0, 0} end
  return {0, redis.call('ZRANK', line, who) + 1}
end
"""

_JOIN = (
    _SEATS
    + """
settle()
if redis.call('ZSCORE', leases, who) then
  if hands_over then
    redis.call('ZREM', leases, who)
    return {1, lease_until}
  end
  return seat()
end
if redis.call('ZSCORE', line, who) then return waiting() end
if opened and redis.call('ZCARD', line) == 0 and room() then
  if hands_over then pace() else admit(who) end
  return {1, lease_until}
end
redis.call('ZADD', line, redis.call('INCR', nexts), who)
return waiting()
"""
)

_POLL = (
    _SEATS
    + """
settle()
local expires = redis.call('ZSCORE', leases, who)
if expires then return {1, expires} end
if redis.call('ZSCORE', line, who) then return waiting() end
return false
"""
)

_RENEW = (
    _SEATS
    + """
settle()
if redis.call('ZSCORE', leases, who) then return seat()[2] end
return false
"""
)

# `SeatBook.refresh_many` of one open book (domain/admission.py `Seats.refresh`). KEYS: the book's leases
# and departures; ARGV: now, the lease's length, then (who, at) pairs
_REFRESH_MANY = f"""
local leases, departed = KEYS[1], KEYS[2]
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', departed, '-inf', '(' .. string.format('%.17g', now - {DEPARTURE_MEMORY_S}))
for i = 3, #ARGV, 2 do
  local who, at = ARGV[i], tonumber(ARGV[i + 1])
  local left = redis.call('ZSCORE', departed, who)
  local until_ = at + ttl
  if until_ > now and not (left and tonumber(left) >= at) then
    redis.call('ZADD', leases, 'GT', string.format('%.17g', until_), who)
  end
end
return 1
"""

_LEAVE = (
    _SEATS
    + """
redis.call('ZREM', leases, who)
redis.call('ZREM', line, who)
redis.call('ZREM', tickets, who)
redis.call('ZADD', KEYS[6], now, who)  -- remembered a while: a renewal written behind must not bring them back
redis.call('PEXPIRE', KEYS[6], DEPARTURE_MS)
settle()
return 1
""".replace("DEPARTURE_MS", str(round(DEPARTURE_MEMORY_S * 1000) + 1000))
)

_SEATED = _SEATS + "settle()\nreturn redis.call('ZCARD', leases)\n"
_QUEUED = _SEATS + "settle()\nreturn redis.call('ZCARD', line)\n"

# --- small atomic helpers ----------------------------------------------------------------------
_SET_MAX = """
local current = redis.call('GET', KEYS[1]) or '0'
if tonumber(ARGV[1]) > tonumber(current) then redis.call('SET', KEYS[1], ARGV[1]) return ARGV[1] end
return current
"""

# a hit in a fixed window's counter; ARGV: milliseconds after which Redis may forget the window (`now`
# decides which window a hit is in: the expiry only forgets it)
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# ARGV: now, expiry in the caller's time, milliseconds after which Redis may forget the key
_FIRST_SEEN = """
local until_ = redis.call('GET', KEYS[1])
if until_ and tonumber(until_) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# a small value with an optional expiry in the caller's time (field "e"), kept as a hash under "val:"
# (values were plain strings under "v:" before expiries were the caller's: the old keys are never read)
# KEYS: the value's key; ARGV: value, expiry ("" for none), milliseconds after which Redis may forget it
_PUT = """
redis.call('DEL', KEYS[1])
if ARGV[2] == '' then redis.call('HSET', KEYS[1], 'v', ARGV[1]) return 1 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# counters in a hash that expires as a whole, `ttl` after the latest write in the caller's time; the
# expiry is the reserved field UNTIL. ARGV: field, by, now, expiry, milliseconds after which Redis may forget it
_HINCR = """
local until_ = redis.call('HGET', KEYS[1], '\\0until')
if until_ and tonumber(until_) <= tonumber(ARGV[3]) then redis.call('DEL', KEYS[1]) end
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], '\\0until', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""
UNTIL = b"\0until"

# a sorted set scored by arrival: unique members, bounded length, listed oldest first
_QPUSH = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local n = 1
if #last > 0 then n = tonumber(last[2]) + 1 end
redis.call('ZADD', KEYS[1], n, ARGV[1])
return 1
"""


def _text(x: float) -> str:
    """A float as text Redis parses back to exactly the same double."""
    return repr(float(x))


def _alive(value: bytes | None, until: bytes | None, now: float) -> bytes | None:
    """A small value as read (its value and expiry fields): None once its expiry has passed."""
    return None if until is not None and float(until) <= now else value


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _soon(loop: asyncio.AbstractEventLoop, call: Callable[..., None], *args: object) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is left to release
        loop.call_soon_threadsafe(call, *args)


def _admission(reply: list[Any]) -> Admission:
    if reply[0] == 1:
        return Admitted(float(reply[1]))
    position = int(reply[1])
    return Waiting(position=position, ahead=max(0, position - 1))


class _Channels:
    """Every subscription of one store multiplexed over one pub/sub connection.

    A subscription is registered when `subscribe` returns and SUBSCRIBE is sent at once; `settle`
    waits until the server has acknowledged every subscription so far, which `publish` does first.
    A lost connection is retried with a doubling backoff, and every subscription is made again on the
    new one (the driver replays those it sent; those that failed are sent again from `_pending`).
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self._pubsub = client.pubsub()
        self._queues: dict[bytes, set[asyncio.Queue[bytes | None]]] = {}
        self._ready: dict[bytes, asyncio.Future[None]] = {}
        self._unacked: dict[bytes, int] = {}
        self._pending: set[bytes] = set()  # wanted, but SUBSCRIBE failed: sent again once reconnected
        self._lock = asyncio.Lock()  # keeps SUBSCRIBE and UNSUBSCRIBE in the order they were decided
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self.down = False  # the last attempt on the pub/sub connection failed

    def subscribe(self, name: bytes) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._queues.setdefault(name, set()).add(q)
        ready = self._ready.get(name)
        if ready is None:
            ready = self._ready[name] = loop.create_future()
            self._spawn(self._subscribe(name))
        messages = self._messages(name, q, ready)
        # an iterator dropped before its first step; garbage may be collected on any thread
        weakref.finalize(messages, _soon, loop, self._release, name, q)
        return messages

    async def _messages(
        self, name: bytes, q: asyncio.Queue[bytes | None], ready: asyncio.Future[None]
    ) -> AsyncIterator[bytes]:
        try:
            await asyncio.shield(ready)
            while (message := await q.get()) is not None:
                yield message
        finally:
            self._release(name, q)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release(self, name: bytes, q: asyncio.Queue[bytes | None]) -> None:
        queues = self._queues.get(name)
        if queues is None or q not in queues:
            return
        queues.discard(q)
        if queues:
            return
        del self._queues[name]
        self._pending.discard(name)
        ready = self._ready.pop(name, None)
        if ready is not None and not ready.done():
            ready.cancel()
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the loop is gone: so is the connection
            return
        self._spawn(self._unsubscribe(name))

    async def _subscribe(self, name: bytes) -> None:
        async with self._lock:
            if name not in self._queues:
                return
            try:
                self._unacked[name] = self._unacked.get(name, 0) + 1
                await self._pubsub.subscribe(name)
            except DRIVER_ERRORS:
                self._unacked.pop(name, None)
                self._pending.add(name)
                self.down = True
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read())

    async def _subscribe_pending(self) -> None:
        async with self._lock:
            names = [n for n in self._pending if n in self._queues]
            if names:
                for name in names:
                    self._unacked[name] = self._unacked.get(name, 0) + 1
                await self._pubsub.subscribe(*names)
            self._pending.difference_update(names)

    async def _unsubscribe(self, name: bytes) -> None:
        async with self._lock:
            if name in self._queues or self._pubsub.connection is None:
                return
            with contextlib.suppress(*DRIVER_ERRORS):
                await self._pubsub.unsubscribe(name)

    def _acknowledged(self, name: bytes) -> None:
        left = self._unacked.get(name, 0) - 1
        if left > 0:
            self._unacked[name] = left
            return
        self._unacked.pop(name, None)
        ready = self._ready.get(name)
        if ready is not None and not ready.done():
            ready.set_result(None)

    async def _read(self) -> None:
        backoff = RECONNECT_FIRST_S
        while True:
            try:
                if self._pending:
                    await self._subscribe_pending()
                if self._pubsub.connection is None:
                    return  # nothing was ever subscribed on a connection: the next subscribe starts a reader
                message = await self._pubsub.get_message(timeout=None)
            except DRIVER_ERRORS:
                if not self.down:
                    log.warning("pub/sub connection lost; reconnecting", exc_info=True)
                self.down = True
                await asyncio.sleep(backoff)
                backoff = min(2 * backoff, RECONNECT_MAX_S)
                continue
            if self.down:
                log.info("pub/sub connection back")
            self.down, backoff = False, RECONNECT_FIRST_S
            if message is None:
                continue
            if message["type"] == "subscribe":
                self._acknowledged(message["channel"])
            elif message["type"] == "message":
                for q in tuple(self._queues.get(message["channel"], ())):
                    if q.qsize() < QUEUE_MAX:
                        q.put_nowait(message["data"])

    async def settle(self) -> None:
        """Wait until every subscription opened so far is acknowledged by the server (not while the
        connection is down: the publish that follows fails at once)."""
        pending = [f for f in self._ready.values() if not f.done()]
        if pending and not self.down:
            await asyncio.wait(pending, timeout=SUBSCRIBE_WAIT_S)

    async def close(self) -> None:
        """End every open subscription (their iterators stop) and close the connection."""
        tasks = [*self._tasks, *([self._reader] if self._reader else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ready in self._ready.values():
            if not ready.done():
                ready.set_result(None)
        for queues in self._queues.values():
            for q in queues:
                q.put_nowait(None)
        self._queues.clear()
        self._ready.clear()
        with contextlib.suppress(*DRIVER_ERRORS):
            await self._pubsub.aclose()


class RedisState:
    def _connect(self, url: str, max_connections: int) -> aioredis.Redis:
        # a burst of requests waits for a free connection rather than failing (the default pool raises)
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=POOL_WAIT_S, socket_connect_timeout=5
        )
        return aioredis.Redis.from_pool(pool)  # closes the pool with the client

    def __init__(
        self, url: str, lease_ttl: float, wait_ttl: float, prefix: str = "th:", max_connections: int = 64
    ) -> None:
        self._lease_ttl = lease_ttl
        self._wait_ttl = wait_ttl
        self._p = prefix
        self._redis = self._connect(url, max_connections)
        self._channels = _Channels(self._redis)
        script = self._redis.register_script
        self._join, self._poll, self._renew = script(_JOIN), script(_POLL), script(_RENEW)
        self._leave, self._seated, self._queued = script(_LEAVE), script(_SEATED), script(_QUEUED)
        self._set_max, self._first_seen, self._qpush = script(_SET_MAX), script(_FIRST_SEEN), script(_QPUSH)
        self._put, self._hincr, self._refresh_many = script(_PUT), script(_HINCR), script(_REFRESH_MANY)
        self._hit = script(_HIT)

    # --- admission ------------------------------------------------------------------------------
    def lasting(self, lease_ttl: float) -> Self:
        """The same store (shared data and connections) whose seat leases last `lease_ttl` (open spaces')."""
        view = copy.copy(self)
        view._lease_ttl = lease_ttl
        return view

    def _seat_keys(self, space_id: str) -> list[str]:
        book = f"{self._p}seats:{{{space_id}}}"  # one hash slot per space, for Redis Cluster
        return [f"{book}:leases", f"{book}:tickets", f"{book}:line", f"{book}:next", f"{book}:meta", f"{book}:left"]

    def _seat_args(self, who: str, policy: Policy | int | None, now: float) -> list[str]:
        p = as_policy(policy)
        cap_text = "" if p.cap is None else str(p.cap)
        rate_text = "" if p.rate is None else str(p.rate)
        return [
            _text(now),
            cap_text,
            _text(now + self._lease_ttl),
            _text(now + self._wait_ttl),
            who,
            rate_text,
            "1" if p.opened else "0",
            p.seed,
            _text(BURST_S),
            "1" if p.hands_over else "0",
        ]

    @_translated
    async def join(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> Admission:
        reply = await self._join(keys=self._seat_keys(space_id), args=self._seat_args(who, cap, now))
        return _admission(reply)

    @_translated
    async def poll(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> Admission | None:
        reply = await self._poll(keys=self._seat_keys(space_id), args=self._seat_args(who, cap, now))
        return None if reply is None else _admission(reply)

    @_translated
    async def renew(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> float | None:
        reply = await self._renew(keys=self._seat_keys(space_id), args=self._seat_args(who, cap, now))
        return None if reply is None else float(reply)

    @_translated
    async def refresh_many(self, renewals: Sequence[tuple[str, str, float]], now: float) -> None:
        books: dict[str, list[str]] = {}  # book -> (who, at) pairs: one script call per book
        for book, who, at in renewals:
            books.setdefault(book, []).extend((who, _text(at)))
        if not books:
            return
        head = [_text(now), _text(self._lease_ttl)]
        calls = []
        for book, pairs in books.items():
            keys = self._seat_keys(book)
            calls.append(([keys[0], keys[5]], [*head, *pairs]))  # its leases and departures
        try:
            await self._pipelined(self._refresh_many, calls)
        except NoScriptError:
            # a cluster pipeline sends EVALSHA as is (a single node's loads its scripts first): a node that has
            # not seen the script yet (new, restarted, failed over) refuses it, so load it everywhere and send
            # again; a refresh written twice is written once
            await self._redis.script_load(_REFRESH_MANY)
            await self._pipelined(self._refresh_many, calls)

    async def _pipelined(self, script: AsyncScript, calls: list[tuple[list[str], list[str]]]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await script(keys=keys, args=args, client=pipe)
            return await pipe.execute()

    @_translated
    async def leave(self, space_id: str, who: str, cap: Policy | int | None, now: float) -> None:
        await self._leave(keys=self._seat_keys(space_id), args=self._seat_args(who, cap, now))

    @_translated
    async def seated(self, space_id: str, cap: Policy | int | None, now: float) -> int:
        return int(await self._seated(keys=self._seat_keys(space_id), args=self._seat_args("", cap, now)))

    @_translated
    async def queued(self, space_id: str, cap: Policy | int | None, now: float) -> int:
        return int(await self._queued(keys=self._seat_keys(space_id), args=self._seat_args("", cap, now)))

    @_translated
    async def drop_space(self, space_id: str) -> None:
        await self._redis.delete(*self._seat_keys(space_id))

    # --- rate limits ----------------------------------------------------------------------------
    @_translated
    async def hit(self, key: str, limit: int, window_s: float, now: float) -> bool:
        window = int(now // window_s)
        name = f"{self._p}rl:{key}:{window}"
        count = await self._hit(keys=[name], args=[str(_ms(window_s) + 1000)])  # one call, not MULTI/EXEC
        return int(count) <= limit

    # --- counters -------------------------------------------------------------------------------
    @_translated
    async def incr(self, key: str, by: int = 1) -> int:
        return int(await self._redis.incrby(f"{self._p}n:{key}", by))

    @_translated
    async def get_count(self, key: str) -> int:
        value = await self._redis.get(f"{self._p}n:{key}")
        return 0 if value is None else int(value)

    @_translated
    async def set_max(self, key: str, value: int) -> int:
        return int(await self._set_max(keys=[f"{self._p}n:{key}"], args=[str(int(value))]))

    @_translated
    async def hincr(self, key: str, field: str, by: int, ttl_s: float, now: float) -> None:
        args = [field, str(int(by)), _text(now), _text(now + ttl_s), str(_ms(ttl_s) + 1000)]
        await self._hincr(keys=[f"{self._p}h:{key}"], args=args)

    @_translated
    async def hgetall(self, key: str, now: float) -> dict[str, int]:
        fields = cast(dict[bytes, bytes], await self._redis.hgetall(f"{self._p}h:{key}"))
        until = fields.pop(UNTIL, None)
        if until is not None and float(until) <= now:
            return {}
        return {k.decode(): int(v) for k, v in fields.items()}

    # --- uniques --------------------------------------------------------------------------------
    @_translated
    async def pfadd(self, key: str, *items: str) -> None:
        await self._redis.pfadd(f"{self._p}u:{key}", *items)

    @_translated
    async def pfcount(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._redis.pfcount(*(f"{self._p}u:{k}" for k in keys)))

    @_translated
    async def first_seen(self, key: str, ttl_s: float, now: float) -> bool:
        args = [_text(now), _text(now + ttl_s), str(_ms(ttl_s) + 1000)]
        return bool(await self._first_seen(keys=[f"{self._p}s:{key}"], args=args))

    # --- values ---------------------------------------------------------------------------------
    @_translated
    async def put(self, key: str, value: bytes, now: float, ttl_s: float | None = None) -> None:
        args: list[bytes | str] = [value, "", ""]
        if ttl_s is not None:
            args[1:] = [_text(now + ttl_s), str(_ms(ttl_s) + 1000)]
        await self._put(keys=[f"{self._p}val:{key}"], args=args)

    @_translated
    async def get(self, key: str, now: float) -> bytes | None:
        value, until = cast(list[bytes | None], await self._redis.hmget(f"{self._p}val:{key}", ["v", "e"]))
        return _alive(value, until, now)

    @_translated
    async def get_many(self, keys: Sequence[str], now: float) -> list[bytes | None]:
        if not keys:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(f"{self._p}val:{key}", ["v", "e"])
            replies = cast(list[list[bytes | None]], await pipe.execute())
        return [_alive(value, until, now) for value, until in replies]

    # --- bounded queues -------------------------------------------------------------------------
    @_translated
    async def qpush(self, key: str, member: str, limit: int) -> bool:
        return bool(await self._qpush(keys=[f"{self._p}q:{key}"], args=[member, str(limit)]))

    @_translated
    async def qlist(self, key: str) -> list[str]:
        members = cast(list[bytes], await self._redis.zrange(f"{self._p}q:{key}", 0, -1))
        return [m.decode() for m in members]

    @_translated
    async def qremove(self, key: str, member: str) -> bool:
        return bool(await self._redis.zrem(f"{self._p}q:{key}", member))

    # --- pub/sub --------------------------------------------------------------------------------
    @_translated
    async def publish(self, channel: str, message: bytes) -> None:
        await self._channels.settle()  # a subscription opened through this store before now hears it
        await self._redis.publish(f"{self._p}{channel}", message)

    def subscribe(self, channel: str) -> AsyncIterator[bytes]:
        """Messages on `channel`, in the order published. Registered before this returns: a publish
        through this store afterwards is delivered, and one through any other store once the
        server has acknowledged SUBSCRIBE (sent at once; the first message proves it)."""
        return self._channels.subscribe(f"{self._p}{channel}".encode())

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._channels.close()
        with contextlib.suppress(*DRIVER_ERRORS):
            await self._redis.aclose()
