"""End to end on a real server: a speaker publishes over WHIP, a listener keeps the chain heads from the
room state (`townhall keep-heads`), the host ends the space, the replay is published, and `townhall verify`
passes against the replay URL and the heads captured live; the download holds the speaker's audio."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support.servers import live_server
from tests.support.wait import until
from townhall.commands.verify import check, keep_heads, read_commitments
from townhall.media.synthetic import SignalTrack, looping, tone, whip_publish
from townhall.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.media, pytest.mark.timeout(90)]


def _rms(m4a: bytes) -> float:
    with av.open(io.BytesIO(m4a), "r") as f:
        samples = np.concatenate([fr.to_ndarray().reshape(-1) for fr in f.decode(audio=0)])
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


async def test_ended_space_publishes_a_replay_that_verifies_against_heads_captured_live(
    settings: Settings, tmp_path: Path
) -> None:
    async with live_server(settings) as server:
        rt = server.runtime
        host = (await rt.accounts.register("e2e_host", "password-host", "127.0.0.1")).account
        session = (await rt.accounts.login("e2e_host", "password-host", "127.0.0.1")).session_token
        space = await rt.spaces.create(host, "End to end replay", None, None)
        await rt.spaces.start(host, space.id)
        token = await rt.spaces.speaker_token(host, space.id)
        speaker = await whip_publish(f"{server.url}/whip/{space.id}", token, SignalTrack(looping(tone(440, 1.0))))
        commitments = tmp_path / "heads.jsonl"
        keeping = asyncio.create_task(
            asyncio.to_thread(keep_heads, f"{server.url}/live/{space.id}/state.json", commitments, 60, 0.3)
        )
        async with server.edge_client() as http:

            async def three_heads() -> bool | None:
                kept = read_commitments(commitments.read_text()) if commitments.exists() else []
                return True if len(kept) >= 3 else None

            await until(three_heads, 30, "three chain heads kept from the room state")
            # the head is also a tag of the live playlist, for anyone following it with any player
            listed = re.search(
                r'#EXT-X-TOWNHALL-CHAIN:MSN=(\d+),HEAD="([0-9a-f]{64})"',
                (await http.get(f"/live/{space.id}/media.m3u8")).text,
            )
            assert listed is not None
            await speaker.close(http)
            r = await http.post(f"/api/spaces/{space.id}/end", headers={"Authorization": f"Bearer {session}"})
            assert r.status_code == 200, r.text

            async def replay() -> Any:
                r = await http.get(f"/api/spaces/{space.id}/replay")
                return r.json() if r.status_code == 200 else None

            info = await until(replay, 30, "the replay to be published")
            audio = (await http.get(info["audio_url"])).content
        kept = await keeping  # it stops by itself once the room state says the space ended
        heads = dict(read_commitments(commitments.read_text()))
        assert kept == len(heads) >= 3
        verdict = await asyncio.to_thread(check, f"{server.url}/replay/{space.id}/", str(commitments))
        assert verdict.verified, verdict.text()
        assert f"matches all {len(heads)} chain heads captured live" in verdict.text()
        assert info["segments"] >= max(heads) + 1
        links = {x.msn: x.head for x, _ in await rt.recording.replay.links.links(space.id)}
        assert links[int(listed.group(1))] == listed.group(2)
        assert _rms(audio) > 0.01  # the speaker's tone, not silence
