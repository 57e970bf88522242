"""The demo's synthetic speakers: two aiortc clients publishing through the real WHIP path, heard in the
programme, shown as speaking in the room state, counted on /metrics, and hung up when told to stop."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from tests.media.conftest import Follower, Stage
from tests.support.wait import until

from townhall.media.synthetic import run_synthetic_speakers

pytestmark = [pytest.mark.media, pytest.mark.timeout(90)]


async def test_synthetic_speakers_are_heard_shown_as_speaking_and_hang_up_on_stop(stage: Stage) -> None:
    guest, guest_token = await stage.speaker("speaker_g")
    stop = asyncio.Event()
    speakers = asyncio.create_task(
        run_synthetic_speakers(lambda i: stage.whip_url, [await stage.host_token(), guest_token], stop)
    )
    try:
        await until(lambda: len(stage.live.publishers) == 2, 30, "both synthetic speakers to publish")
        follower = Follower(stage.http, f"{stage.server.url}/live/{stage.space_id}")
        await follower.follow(3.0)
        assert float(np.abs(follower.audio()).max()) > 0.05, "the programme carries their voices"

        async def speaking() -> set[str]:
            raw = await stage.rt.state.get(f"speaking:{stage.space_id}", stage.rt.clock())
            return set(json.loads(raw)) if raw else set()

        heard: set[str] = set()

        async def both_spoke() -> bool:
            heard.update(await speaking())
            return heard >= {stage.host.id, guest.id}

        await until(both_spoke, 30, "each speaker to show as speaking in turn", every=0.1)
        metrics = (await stage.http.get("/metrics")).text
        for name in (
            "townhall_media_publishers",
            "townhall_media_parts_total",
            "townhall_media_part_lateness_seconds_bucket",
            "townhall_media_mixer_underruns_total",
            "townhall_media_cpu_seconds_total",
        ):
            assert name in metrics, name
    finally:
        stop.set()
        await asyncio.wait_for(speakers, 20)
    await until(lambda: not stage.live.publishers, 10, "the speakers to hang up")
