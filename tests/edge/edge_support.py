"""What edge tests share: a counting origin that can hold requests, listener tokens, a raw timed client.

The origin stands in for townhall's (it is what the edge talks to); the edge itself is always real Varnish.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from townhall.domain.tokens import Claims, Scope, sign, sign_session
from townhall.edge.varnish import Edge

KEYS = {"key-new": b"6e65772d6b65792d666f722d74657374", "key-old": b"6f6c642d6b65792d666f722d74657374"}
SPACE = "space-one"
CREDENTIAL = "edge-credential-for-the-tests-0123456789"  # what edges fetch live media with


def listener_token(space: str = SPACE, kid: str = "key-new", ttl_s: int = 300, scope: Scope = Scope.LISTEN) -> str:
    return sign(Claims(kid, scope, space, "d-device-0001", int(time.time()) + ttl_s), KEYS[kid])


def session_token(kid: str = "key-new", ttl_s: int = 300, key: bytes | None = None) -> str:
    """A session token as the origin issues it (signed; `key` to forge one)."""
    return sign_session("a-random-session-nonce", int(time.time()) + ttl_s, kid, key or KEYS[kid])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Origin:
    """Serves what a test published; holds a request for anything not yet published, until it is."""

    objects: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    arrivals: dict[str, asyncio.Event] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    seen_headers: list[dict[str, str]] = field(default_factory=list)
    published_at: dict[str, float] = field(default_factory=dict)
    url: str = ""
    hold_s: float = 12.0  # below the edge's first_byte_timeout (15 s)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def publish(self, key: str, body: bytes, status: int = 200, **headers: str) -> float:
        """Make `key` exist (waking the requests held for it); returns the wall-clock time it did."""
        self.objects[key] = (status, {k.replace("_", "-"): v for k, v in headers.items()}, body)
        self.published_at[key] = time.time()
        self.arrivals.setdefault(key, asyncio.Event()).set()
        return self.published_at[key]

    async def socket(self, websocket: WebSocket) -> None:
        """A WebSocket: counted as a request to its path, answered with this origin's URL, then closed."""
        self.requests[websocket.url.path] += 1
        await websocket.accept()
        await websocket.send_text(self.url)
        await websocket.close()

    async def handle(self, request: Request) -> Response:
        key = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        self.requests[key] += 1
        self.seen_headers.append(dict(request.headers))
        if key not in self.objects:
            try:
                await asyncio.wait_for(self.arrivals.setdefault(key, asyncio.Event()).wait(), self.hold_s)
            except TimeoutError:
                return Response(b'{"code":"not_found"}', 404, media_type="application/json")
        status, headers, body = self.objects[key]
        return Response(body, status, headers=headers)


EdgeFactory = Callable[..., Awaitable[Edge]]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_get(
    port: int, path: str, headers: dict[str, str] | None = None, sent: asyncio.Event | None = None
) -> RawResponse:
    """One GET on its own connection, read to the end (light enough to run 200 at once)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.1", "Host: edge.test", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    if sent is not None:
        sent.set()
    raw = await reader.read(-1)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    if parsed.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return RawResponse(int(status_line.split()[1]), parsed, body)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


def delivered_at(edge: Edge, url_fragment: str) -> list[float]:
    """When varnishd finished delivering each response whose URL contains `url_fragment` (its own
    `Timestamp Resp` log records, wall clock): the edge's timing, free of the test client's."""
    records = subprocess.run(
        ["varnishlog", "-n", edge.name, "-d", "-g", "request", "-i", "Timestamp", "-q", f'ReqURL ~ "{url_fragment}"'],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return [float(line.split("Resp:")[1].split()[0]) for line in records.splitlines() if "Resp:" in line]
