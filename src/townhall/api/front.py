"""The public port's front: read and sort every request on a thread and loop of its own, and hand only
the admitted ones to the API's loop (issue 14, the host's lane in the embedded form).

Priority admission (api/shedding.py) refuses anonymous work first, but only once a request is read, and
reading is work for the loop that reads it: a flood of thousands of requests a second straight at the
public port kept the API's loop parsing and refusing, and a host's request on the edge's internal port
waited behind it for about 20 s (`bench/flood.py`). Here the public port is served by its own uvicorn
server on a thread and loop of its own (`ThreadedServer`), whose app is the same shedding middleware
(its own in-flight counts; the API loop's lag, which the API's loop measures) in front of a bridge to
the API's loop: a refused request never reaches the API's loop, an admitted one runs there exactly as
before (access log, the API's own shedding, the routes), its reads and writes hopping back to the
connection's loop. The internal port (the edge, and through it hosts and speakers) stays on the API's
loop. What the two threads still share is the interpreter (decision 0007).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townhall.api.shedding import LANES, Load, Shedding


class OnLoop:
    """An ASGI app run on another thread's event loop (`loop`), for a server on this one: the call runs
    there, and each receive and send it makes hops back to the connection's loop."""

    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        here = asyncio.get_running_loop()

        async def hop_back(call: Coroutine[Any, Any, Any]) -> Any:
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call, here))

        async def receive_here() -> Message:
            message: Message = await hop_back(receive())  # type: ignore[arg-type]
            return message

        async def send_here(message: Message) -> None:
            await hop_back(send(message))  # type: ignore[arg-type]

        async def call() -> None:
            await self.app(scope, receive_here, send_here)

        done = asyncio.run_coroutine_threadsafe(call(), self.loop)
        try:
            await asyncio.wrap_future(done)
        except asyncio.CancelledError:
            done.cancel()
            raise


class FrontLoad:
    """The front's own requests in flight, and the lag of the API's loop (where admitted work runs),
    which the API's loop measures."""

    def __init__(self, api: Load) -> None:
        self.api = api
        self.in_flight = dict.fromkeys(LANES, 0)

    @property
    def lag(self) -> float:
        return self.api.lag


class Front:
    """The public port's app: `scope["app"]` set as Starlette would (the lanes read the runtime from it),
    then the API's budgets and refusal, then the bridge."""

    def __init__(self, app: Starlette, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        api = app.state.shedding  # the keyword arguments of the API's own Shedding (app/__init__.py)
        self.gate = Shedding(OnLoop(app, loop), **{**api, "load": FrontLoad(api["load"])})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.app
        await self.gate(scope, receive, send)


def front_of(app: Any) -> Front | None:
    """The front for `app`, run on this loop, when it sheds (the control plane; not a media node's app)."""
    if getattr(app.state, "shedding", None) is None:
        return None
    return Front(app, asyncio.get_running_loop())
