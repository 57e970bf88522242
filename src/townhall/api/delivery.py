"""The edge's live media on a server of its own: `delivery_port`, served on a thread and an event loop
of its own (the embedded form, and the scaled-out form's API process).

The edge fetches every playlist, part and segment from the origin, one request for all its listeners.
On the API's port those fetches wait behind whatever else the API's loop is doing: a flood straight at
the origin (documents, joins, junk) delayed them by seconds, and a listener heard that as a stall
although the audio clock (its own thread, decision 0007) never missed a tick. Here they share nothing
with the API but the interpreter: the LiveOrigin port hops onto the media loop as it does from the API.
In the scaled-out form the relay's reader (media/relay.py `RemoteOrigin`) reads the hot state over
connections that belong to one loop, so this server opens a reader of its own on its loop (`own_origin`):
its own subscription per space and its own connections, none shared with the API's loop.

Only the edge is served, by its credential; listeners with a token in the path, the room state and the
revocation list stay on the API's port.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from townhall.api import dash, origin
from townhall.api.errors import HANDLERS, error_response
from townhall.api.listen import from_edge
from townhall.api.origin import LiveOrigin
from townhall.api.runtime import Runtime


class EdgeOnly:
    """Every request must carry the edge's credential; anything else is refused before routing."""

    def __init__(self, app: ASGIApp, credential: str) -> None:
        self.app = app
        self.credential = credential

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if from_edge(scope, self.credential):
            await self.app(scope, receive, send)
        else:
            message = "this port serves the edge's live media fetches only (with the edge's credential)"
            await error_response(403, "edge_credential_required", message)(scope, receive, send)


OwnOrigin = Callable[[], tuple[LiveOrigin, Callable[[], Awaitable[None]]]]


def delivery_app(rt: Runtime, own_origin: OwnOrigin | None = None) -> ASGIApp:
    """The live media routes of the origin (LL-HLS and chunked CMAF), for the edge alone. With
    `own_origin`, the server's lifespan opens a `LiveOrigin` on its own loop (and its closer) and answers
    from it; serve it with a lifespan (`ThreadedServer(..., lifespan=True)`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if own_origin is None:
            yield
            return
        live, close = own_origin()
        app.state.runtime = dataclasses.replace(rt, origin=live)
        try:
            yield
        finally:
            await close()

    app = Starlette(routes=[*dash.routes(), *origin.routes()], exception_handlers=HANDLERS, lifespan=lifespan)
    app.state.runtime = rt
    return EdgeOnly(app, rt.edge_secret)
