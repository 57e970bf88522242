"""Priority admission: when the control plane is overloaded, the work that can wait is refused first.

Every HTTP request is put in one of three lanes before anything else reads it, from its head alone
(no database, no state backend: a signature check or a dictionary lookup):

- `staff`: a signed-in account's session this process has seen valid (hosts, co-hosts, speakers,
  moderators, admins), or a speaker token (WHIP). Its own in-flight budget, the largest.
- `listener`: a valid listener token (lease renewals, leaves, reactions, tokened live media) or the
  edge's credential (one fetch of live media for every listener behind it). Its own budget.
- `public`: everything else, and every join whoever sends it: anonymous reads, sign-ups and sign-ins,
  the documents, the transparency report. The smallest budget, and the only lane refused when the
  event loop runs late.

A request is refused (503, `Retry-After`, JSON `{code: "overloaded"}`) when its lane already holds its
budget of requests in flight, or, in the public lane only, when the event loop's lag (how late a 20 ms
timer fires, which is the queueing delay every request waiting on the loop sees) is past a threshold.
A flood of anonymous requests therefore fills the public lane and is refused there, while a host's
request still finds its own lane free (docs/architecture.md, "Shedding load").
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from townhall.domain import tokens
from townhall.domain.errors import TownhallError

PUBLIC, LISTENER, STAFF = "public", "listener", "staff"
LANES = (PUBLIC, LISTENER, STAFF)
NEVER_SHED = frozenset({"/healthz"})  # liveness: shedding it would get a busy process killed
TICK_S = 0.02  # how often the loop's lag is sampled
LAG_SAMPLES = 5  # the lag is the least lateness of this many samples in a row: a standing queue, not one stall


@dataclass(frozen=True)
class Budgets:
    public: int
    listener: int
    staff: int
    loop_lag_s: float
    retry_after_s: int


class Load:
    """The load the middleware reads: requests in flight by lane, and how late the event loop runs: a
    task sleeps `TICK_S` and measures how much later it woke; `lag` is the least lateness of the last
    `LAG_SAMPLES` samples, in seconds. As CoDel, it looks for a standing queue: a flood keeps every
    sample late, while one stall (a garbage collection, a start-up step) is a single late sample and
    sheds nothing."""

    def __init__(self, report: Callable[[float], None] = lambda lag: None) -> None:
        self.lag = 0.0
        self._samples = collections.deque([0.0] * LAG_SAMPLES, maxlen=LAG_SAMPLES)
        self.in_flight = dict.fromkeys(LANES, 0)
        self.report = report
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="townhall-loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            late = max(0.0, time.perf_counter() - before - TICK_S)
            self._samples.append(late)
            self.lag = min(self._samples)
            self.report(self.lag)


class ReadGate:
    """Whether the public port may read a request now (api/server.py `BoundedHttpTools`), asked of each
    connection on the public port between requests. It may not while the loop runs later than `lag_s`,
    nor past `per_s` requests a second (counted in windows of `TICK_S`): a flood straight at the public
    port then waits in the kernel's buffers instead of costing the loop the parsing and the refusal of
    every request (which kept a host's request on the edge's port waiting about 20 s), and the held
    connections come back a window's worth at a time, not all at once. The edge's internal port is
    always read; the lanes above still sort what is."""

    def __init__(self, load: Load, lag_s: float, per_s: float, guards: bool) -> None:
        self.load = load
        self.lag_s = lag_s
        self.per_window = max(1, round(per_s * TICK_S))
        self.guards = guards  # only with another port (the edge's internal one) that stays read
        self._window = 0.0
        self._left = self.per_window

    def admit(self) -> bool:
        if self.load.lag > self.lag_s:
            return False
        now = time.perf_counter()
        if now - self._window >= TICK_S:
            self._window, self._left = now, self.per_window
        if self._left <= 0:
            return False
        self._left -= 1
        return True


class Shedding:
    """ASGI middleware: the lanes above, their in-flight counts and the refusal."""

    def __init__(
        self,
        app: ASGIApp,
        budgets: Budgets,
        load: Load,
        known_session: Callable[[str], bool],
        on_shed: Callable[[str], None] = lambda lane: None,
    ) -> None:
        self.app = app
        self.budgets = budgets
        self.load = load
        self.known_session = known_session
        self.on_shed = on_shed
        self._limits = {PUBLIC: budgets.public, LISTENER: budgets.listener, STAFF: budgets.staff}
        body = orjson.dumps({"code": "overloaded", "message": "the service is busy; retry after the delay given"})
        self._refusal = body
        self._refusal_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"retry-after", str(budgets.retry_after_s).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_SHED:
            await self.app(scope, receive, send)
            return
        lane = self.lane(scope)
        in_flight = self.load.in_flight
        if in_flight[lane] >= self._limits[lane] or (lane == PUBLIC and self.load.lag > self.budgets.loop_lag_s):
            self.on_shed(lane)
            # a list of its own: the middlewares outside add headers to the message's list
            await send({"type": "http.response.start", "status": 503, "headers": list(self._refusal_headers)})
            await send({"type": "http.response.body", "body": self._refusal})
            return
        in_flight[lane] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            in_flight[lane] -= 1

    def lane(self, scope: Scope) -> str:
        path: str = scope["path"]
        if path.endswith("/join"):
            return PUBLIC  # a join is the work to shed first, whoever asks
        headers = dict(scope.get("headers") or ())
        edge = headers.get(b"x-townhall-edge")
        if edge is not None:
            expected = scope["app"].state.runtime.edge_secret.encode()
            return LISTENER if hmac.compare_digest(edge, expected) else PUBLIC
        token = ""
        if path.startswith("/e/"):
            token = path.split("/", 3)[2]
        else:
            scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                token = value.strip()
        if not token:
            return PUBLIC
        if token.startswith(tokens.VERSION + "."):
            return self._token_lane(scope, token)
        return STAFF if self.known_session(token) else PUBLIC

    @staticmethod
    def _token_lane(scope: Scope, token: str) -> str:
        rt = scope["app"].state.runtime
        parts = token.split(".")
        lane = {
            tokens.Scope.SPEAK.value: STAFF,
            tokens.Scope.SESSION.value: STAFF,
            tokens.Scope.LISTEN.value: LISTENER,
        }.get(parts[2] if len(parts) == 8 else "")
        if lane is None:
            return PUBLIC
        try:
            tokens.verify(token, rt.keys.keys, rt.clock(), tokens.Scope(parts[2]), parts[3])
        except TownhallError:
            return PUBLIC
        return lane
