"""The origin serves live media only with a listener token or the edge's credential, whatever the URL's
spelling, so a full capped space's cap and waiting room bind every client (through a real uvicorn, which
decodes the path the router reads)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.api import join, live_space, register
from tests.support.servers import LiveServer
from townhall.settings import Settings

pytestmark = pytest.mark.integration


async def raw_status(server: LiveServer, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request exactly as written (httpx would tidy the odd spellings away)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    lines = [f"GET {path} HTTP/1.1", "Host: origin.test", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    raw = await reader.read(-1)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
async def full_space(server: LiveServer) -> AsyncIterator[tuple[str, str]]:
    """A live space capped at one listener, its seat taken: (space id, the seated listener's token)."""
    async with server.client() as client:
        host = await register(client)
        sid = (await live_space(client, host, listener_cap=1))["id"]
        seated = await join(client, sid, "device-seated1")
        assert seated.status_code == 200
        assert (await join(client, sid, "device-waiting")).status_code == 202  # the space is full
        yield sid, seated.json()["token"]


@pytest.mark.parametrize(
    "spelling",
    [
        "/live/{sid}/media.m3u8",
        "/live/{sid}/master.m3u8",
        "/live/{sid}/init.mp4",
        "/%6cive/{sid}/media.m3u8",
        "/%6Cive/{sid}/init.mp4",
        "/live%2f{sid}/media.m3u8",
        "/live%2F{sid}/media.m3u8",
        "//live/{sid}/media.m3u8",
        "http://origin.test/live/{sid}/media.m3u8",
    ],
)
async def test_live_media_without_a_token_is_refused_in_every_spelling(
    server: LiveServer, full_space: tuple[str, str], spelling: str
) -> None:
    sid, _ = full_space
    status, body = await raw_status(server, spelling.format(sid=sid))
    assert status in (403, 404), body  # 404: a spelling the router does not know at all
    assert b"#EXTM3U" not in body and b"ftyp" not in body


async def test_a_listener_token_or_the_edge_credential_opens_live_media(
    server: LiveServer, full_space: tuple[str, str]
) -> None:
    sid, token = full_space
    edge = {"X-Townhall-Edge": server.runtime.edge_secret}
    tokened = await raw_status(server, f"/e/{token}/live/{sid}/media.m3u8")
    tokened_odd = await raw_status(server, f"/e/{token}/%6cive/{sid}/media.m3u8")
    from_edge = await raw_status(server, f"/live/{sid}/media.m3u8", edge)
    from_edge_odd = await raw_status(server, f"/%6cive/{sid}/media.m3u8", edge)
    guessed = await raw_status(server, f"/live/{sid}/media.m3u8", {"X-Townhall-Edge": "x" * 43})
    assert [r[0] for r in (tokened, tokened_odd, from_edge, from_edge_odd)] == [200] * 4
    assert all(r[1].startswith(b"#EXTM3U") for r in (tokened, from_edge))
    assert guessed[0] == 403 and b'"token_missing"' in guessed[1]


async def test_a_token_of_another_space_or_an_upgrade_does_not_open_live_media(
    server: LiveServer, full_space: tuple[str, str]
) -> None:
    sid, token = full_space
    async with server.client() as client:
        other = (await live_space(client, await register(client, "other_host"), listener_cap=None))["id"]
    assert (await raw_status(server, f"/e/{token}/live/{other}/media.m3u8"))[0] == 403
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
    status, body = await raw_status(server, f"/live/{sid}/media.m3u8", upgrade)
    assert status != 200 and b"#EXTM3U" not in body


async def test_the_room_state_stays_public_at_the_origin(server: LiveServer, full_space: tuple[str, str]) -> None:
    sid, _ = full_space
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get(f"/live/{sid}/state.json")).status_code == 200


async def test_an_origin_with_no_edge_secret_configured_generates_one(settings: Settings) -> None:
    from townhall.app import edge_secret

    first = edge_secret(settings)
    assert len(first) >= 32 and edge_secret(settings) == first  # kept in the data directory's secrets
    assert edge_secret(settings.model_copy(update={"edge_secret": "given-" + "x" * 40})) == "given-" + "x" * 40
