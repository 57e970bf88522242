"""A live space nobody is on stage in ends by itself after a grace period (the reason is `unattended`,
sent to its listeners), while a space with a speaker publishing stays live past the same grace."""

from __future__ import annotations

import httpx
import pytest

from tests.support.servers import live_server
from tests.support.wait import until
from townhall.media.synthetic import SignalTrack, looping, tone, whip_publish
from townhall.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

GRACE_S = 2.0


async def test_a_space_nobody_hosts_ends_by_itself_and_an_attended_one_stays_live(settings: Settings) -> None:
    async with live_server(settings.model_copy(update={"unattended_end_s": GRACE_S})) as server:
        rt = server.runtime
        host = (await rt.accounts.register("stage_host", "password-host", "127.0.0.1")).account
        empty = await rt.spaces.start(host, (await rt.spaces.create(host, "Nobody came", None, None)).id)
        held = await rt.spaces.start(host, (await rt.spaces.create(host, "On air", None, None)).id)
        token = await rt.spaces.speaker_token(host, held.id)
        session = await whip_publish(f"{server.url}/whip/{held.id}", token, SignalTrack(looping(tone(440, 1.0))))
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:

                async def ended() -> bool:
                    space = (await http.get(f"/api/spaces/{empty.id}")).json()
                    return space["state"] == "ended"

                await until(ended, 20, "the unattended space ended by itself")
                space = (await http.get(f"/api/spaces/{empty.id}")).json()
                assert space["ended_reason"] == "unattended"
                started = (await http.get(f"/api/spaces/{held.id}")).json()
                assert rt.clock() - started["started_at"] > GRACE_S  # past the grace, and still
                assert started["state"] == "live"
        finally:
            await session.close()
