"""The origin as a hostile client finds it when it reaches it directly (not through the edge): an
oversized request head is refused with 431 and costs the process nothing lasting; a body that stops
arriving is answered 408 instead of holding the connection for ever."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.support.servers import live_server
from tests.support.wait import until
from townhall.api.server import HEAD_MAX_BYTES
from townhall.settings import Settings

pytestmark = pytest.mark.timeout(60)


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        writer.close()


async def test_an_oversized_head_is_refused_and_the_server_goes_on(settings: Settings) -> None:
    async with live_server(settings) as server:
        huge = b"GET /api/spaces HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (4 * HEAD_MAX_BYTES) + b"\r\n\r\n"
        answer = await _exchange(server.port, huge)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b'"code":"headers_too_large"' in answer
        many = b"GET /api/spaces HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"
        assert (await _exchange(server.port, many)).startswith(b"HTTP/1.1 431 ")
        async with server.client() as c:  # the server is unharmed, and a normal head passes
            assert (await c.get("/api/spaces", headers={"X-Fine": "a" * 4000})).status_code == 200


async def test_a_stalled_body_is_answered_408(settings: Settings) -> None:
    async with live_server(settings.model_copy(update={"body_idle_s": 0.5})) as server:
        short = (
            b"POST /api/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"handle":'
        )
        answer = await _exchange(server.port, short)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b'"body_timeout"' in answer


async def test_a_client_gone_mid_body_is_not_a_server_error(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 14's fuzzing: a client that went away mid-body was logged as a 500 with a traceback."""
    caplog.set_level(logging.INFO, logger="townhall")
    async with live_server(settings) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /api/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"handle":'
        )
        await writer.drain()

        def logged() -> list[dict[str, object]]:
            lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "townhall.access"]
            return [x for x in lines if x["path"] == "/api/accounts"]

        async def seen() -> bool:
            return bool(logged())

        writer.close()
        await until(seen, 10, "the access log line of the abandoned request")
        assert [x["status"] for x in logged()] == [499]
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [], [r.getMessage() for r in errors]
