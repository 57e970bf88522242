"""A minimal HTTP/1.1 keep-alive client for load on loopback: one request at a time per connection.

Built on asyncio.Protocol so thousands of simulated players fit in one uvloop process; it parses only
what a player needs (status, Content-Length or chunked body) and never talks to anything but loopback.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast


@dataclass(slots=True)
class Answer:
    status: int
    head: bytes  # the raw header block, lower-cased
    body: bytes


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Answer] | None = None

    @classmethod
    async def open(cls, host: str, port: int, local_host: str | None = None) -> Connection:
        loop = asyncio.get_running_loop()
        local = (local_host, 0) if local_host else None
        _, protocol = await loop.create_connection(cls, host, port, local_addr=local)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed mid-response"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        answer = self._parse()
        if answer is not None:
            self.waiter.set_result(answer)

    def _parse(self) -> Answer | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower()
        start = end + 4
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end > 0 else len(head)])
            if len(self.buffer) < start + length:
                return None
            body = bytes(self.buffer[start : start + length])
            del self.buffer[: start + length]
        elif b"transfer-encoding: chunked" in head:
            stop = self.buffer.find(b"\r\n0\r\n\r\n", start - 2)
            if stop < 0:
                return None
            body = _unchunk(bytes(self.buffer[start : stop + 7]))
            del self.buffer[: stop + 7]
        else:
            body = b""
            del self.buffer[:start]
        return Answer(int(head[9:12]), head, body)

    async def request(self, raw: bytes) -> Answer:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("the server closed the connection")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    async def get(self, path: str, extra: str = "") -> Answer:
        return await self.request(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{extra}\r\n".encode())

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


async def once(
    host: str, port: int, method: str, path: str, body: bytes = b"", headers: str = "", local_host: str | None = None
) -> Answer:
    """One request on a fresh connection, closed after (for the control plane: joins, renewals)."""
    conn = await Connection.open(host, port, local_host)
    try:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Length: {len(body)}\r\n"
        return await conn.request(f"{head}{headers}\r\n".encode() + body)
    finally:
        conn.close()
