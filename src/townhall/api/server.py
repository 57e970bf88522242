"""How the origin is served: uvicorn with httptools, bounded against hostile clients.

Varnish bounds what reaches the origin through the edge, but the origin answers anyone who reaches it
directly. uvicorn's httptools protocol has no limit on a request's head (one 200 MB header was answered
200 and took the process from 211 to 621 MB), and an ASGI body read has no time-out (a body shorter
than its declared length waited forever). `BoundedHttpTools` closes a connection whose head passes
`HEAD_MAX_BYTES` with 431; `BodyDeadline` answers 408 when a body stalls for `BODY_IDLE_S`.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from townhall.api.errors import error_response
from townhall.api.shedding import ReadGate

HEAD_MAX_BYTES = 32 * 1024  # request line and headers together; Varnish's own default is 32 KB too
READ_PAUSE_S = 0.05  # how often a public connection held by the read gate looks at the loop again
PUBLIC_READS = "townhall.public_reads"  # the app's ReadGate, in the server's lifespan state
BODY_IDLE_S = 15.0  # longest wait for the next piece of a request body


class BoundedHttpTools(HttpToolsProtocol):
    """httptools with a cap on the bytes of each request's head (request line plus headers); and, on the
    public port of a server with an internal port for the edge, no reading between requests while the
    event loop runs late (the app's `ReadGate`, api/shedding.py): the bytes wait, unparsed, until it
    catches up, so a flood straight at the public port cannot hold up the edge's port."""

    _in_head = True
    _head_bytes = 0
    _gate: ReadGate | None = None  # this connection's gate: on the public port only
    _held: list[bytes] | None = None  # bytes received while the gate was closed, in order

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        gate = self.app_state.get(PUBLIC_READS)
        sockname = transport.get_extra_info("sockname")
        port = sockname[1] if isinstance(sockname, tuple) and len(sockname) > 1 else None
        if isinstance(gate, ReadGate) and port == self.config.port and gate.guards:
            self._gate = gate

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    def data_received(self, data: bytes) -> None:
        if self._held is not None:  # still waiting for the loop (uvicorn's flow control may resume reading)
            self._held.append(data)
            self.transport.pause_reading()
            return
        if self._gate is not None and self._between_requests() and not self._gate.admit():
            self._held = [data]
            self.transport.pause_reading()
            self._look_again()
            return
        self._parse(data)

    def _between_requests(self) -> bool:
        return self._in_head and self._head_bytes == 0 and (self.cycle is None or self.cycle.response_complete)

    def _look_again(self) -> None:
        self.loop.call_later(READ_PAUSE_S * random.uniform(0.5, 1.5), self._read_held)  # spread out

    def _read_held(self) -> None:
        if self.transport.is_closing():
            self._held = None
            return
        if self._gate is not None and not self._gate.admit():
            self._look_again()
            return
        held, self._held = self._held or [], None
        self.transport.resume_reading()
        for data in held:
            if self.transport.is_closing():
                return
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        counting = self._in_head
        super().data_received(data)
        if counting and self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > HEAD_MAX_BYTES:
                body = b'{"code":"headers_too_large","message":"the request line and headers exceed 32 KB"}'
                self.transport.write(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                    b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
                )
                self.transport.close()


class BodyDeadline:
    """ASGI middleware: a request body that stops arriving for `BODY_IDLE_S` is answered 408."""

    def __init__(self, app: Any, idle_s: float = BODY_IDLE_S) -> None:
        self.app = app
        self.idle_s = idle_s

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        body_done = False

        async def tracked_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def bounded_receive() -> Any:
            nonlocal body_done
            if body_done:  # after the body, receive() waits for a disconnect: as long as it takes
                return await receive()
            message = await asyncio.wait_for(receive(), self.idle_s)
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        try:
            await self.app(scope, bounded_receive, tracked_send)
        except TimeoutError:
            if started:
                raise
            response = error_response(408, "body_timeout", f"the request body stalled for {self.idle_s:.0f} s")
            response.headers["Connection"] = "close"
            await response(scope, receive, send)


def config(app: Any, host: str, port: int, **extra: Any) -> uvicorn.Config:
    """The one uvicorn configuration every served form uses (the commands and the tests)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="none",
        http=BoundedHttpTools,
        ws="auto",
        log_level="warning",
        access_log=False,
        **{"lifespan": "on", **extra},
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on host:port (OSError if it cannot be bound), to hand to a server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


STARTED_WITHIN_S = 10.0
GRACE_S = 2.0  # held requests (blocking reloads, streamed segments) get this long to finish at stop


class ThreadedServer:
    """An ASGI app served by uvicorn on a thread and an event loop of its own (by default no lifespan: the
    app it serves is part of one whose lifespan runs elsewhere; `lifespan=True` runs the app's own on the
    server's loop, for connections that belong to it). Nothing the main loop does can delay it beyond the
    GIL's share."""

    def __init__(self, app: Any, host: str, port: int, name: str, lifespan: bool = False) -> None:
        self.app, self.host, self.port, self.name = app, host, port, name
        self.lifespan = lifespan  # the app has a lifespan of its own, run on the server's loop
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        sock = listening_socket(self.host, self.port)
        lifespan = "on" if self.lifespan else "off"
        cfg = config(self.app, self.host, self.port, lifespan=lifespan, timeout_graceful_shutdown=GRACE_S)
        server = self._server = uvicorn.Server(cfg)
        failed: list[BaseException] = []

        def run() -> None:
            loop = uvloop.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(server.serve([sock]))
            except BaseException as exc:
                failed.append(exc)
            finally:
                sock.close()
                loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        async with asyncio.timeout(STARTED_WITHIN_S):
            while not server.started:
                if not self._thread.is_alive():
                    raise RuntimeError(f"{self.name} did not start: {failed[0] if failed else 'it stopped'}")
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        await asyncio.to_thread(thread.join)
        self._server = self._thread = None
