"""The event WebSocket of host and speaker pages: voices get every event of the space, other accounts
only their own plus the start and end; a connection without a valid session is refused and says why."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from tests.support.servers import REDIS_URL, LiveServer, live_server
from townhall.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.fixture(params=["memory", "redis"])
async def server(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[LiveServer]:
    """The server on in-memory state and on Redis: events travel through either one's pub/sub."""
    if request.param == "redis":
        prefix = f"th-test-{uuid.uuid4().hex[:8]}:"
        settings = settings.model_copy(update={"state_url": f"{REDIS_URL}/0", "state_prefix": prefix})
    async with live_server(settings) as s:
        yield s


def ws_url(server: LiveServer, space_id: str, token: str) -> str:
    return f"ws://127.0.0.1:{server.port}/api/spaces/{space_id}/events?access_token={token}"


async def next_event(ws: Any, timeout_s: float = 5.0) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
    return event


async def test_a_connection_without_a_valid_session_is_refused_with_the_reason(server: LiveServer) -> None:
    rt = server.runtime
    host = (await rt.accounts.register("ev_host0", "password-host", "127.0.0.1")).account
    space = await rt.spaces.create(host, "Events", None, None)
    async with websockets.connect(ws_url(server, space.id, "not-a-session")) as ws:
        assert (await next_event(ws))["code"] == "session_invalid"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_the_host_sees_every_event_and_a_listener_only_their_own_and_the_end(server: LiveServer) -> None:
    rt = server.runtime
    host = await rt.accounts.register("ev_host", "password-host", "127.0.0.1")
    fan = await rt.accounts.register("ev_fan", "password-fan", "127.0.0.1")
    other = await rt.accounts.register("ev_other", "password-other", "127.0.0.1")
    space = await rt.spaces.start(host.account, (await rt.spaces.create(host.account, "Events", None, None)).id)
    async with (
        websockets.connect(ws_url(server, space.id, host.session_token)) as host_ws,
        websockets.connect(ws_url(server, space.id, fan.session_token)) as fan_ws,
    ):
        assert (await next_event(host_ws))["role"] == "host"
        assert (await next_event(fan_ws))["role"] == "listener"

        await rt.spaces.request_to_speak(other.account, space.id)  # someone else's business
        await rt.spaces.request_to_speak(fan.account, space.id)
        seen = [await next_event(host_ws), await next_event(host_ws)]
        assert [(e["type"], e["account_id"]) for e in seen] == [
            ("request", other.account.id),
            ("request", fan.account.id),
        ]
        mine = await next_event(fan_ws)
        assert (mine["type"], mine["account_id"]) == ("request", fan.account.id)

        await rt.spaces.accept_request(host.account, space.id, fan.account.id)
        assert (await next_event(fan_ws))["role"] == "speaker"
        await rt.spaces.accept_request(host.account, space.id, other.account.id)  # now the fan, a voice, sees it
        event = await next_event(fan_ws)
        assert (event["type"], event["account_id"]) == ("role", other.account.id)

        await rt.spaces.end(host.account, space.id)
        assert (await next_event(fan_ws))["type"] == "ended"
