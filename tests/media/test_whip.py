"""WHIP (RFC 9725) at the door: who may publish, what an offer must look like, and the session resource."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from tests.media.conftest import Stage, offer, post
from tests.support.wait import until

from townhall.media.mixer import SILENCE
from townhall.media.synthetic import SignalTrack

pytestmark = [pytest.mark.media, pytest.mark.timeout(60)]


async def test_a_speaker_publishes_gets_a_session_resource_and_hangs_up_with_delete(stage: Stage) -> None:
    pc, sdp = await offer()
    try:
        token = await stage.host_token()
        response = await post(stage, sdp, token)
        assert response.status_code == 201, response.text
        assert response.headers["content-type"].startswith("application/sdp")
        assert response.text.startswith("v=0") and "a=candidate:" in response.text  # no trickle needed
        assert "usedtx=1" in response.text  # silent browsers may stop sending (Opus DTX)
        location = response.headers["location"]
        assert location.startswith(f"/whip/{stage.space_id}/") and response.headers["etag"]
        assert len(stage.live.publishers) == 1
        assert (await stage.http.delete(location)).status_code == 401
        assert (await stage.http.delete(location, headers={"Authorization": f"Bearer {token}"})).status_code == 200
        assert stage.live.publishers == {}
        again = await stage.http.delete(location, headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 404 and again.json()["code"] == "whip_session_not_found"
    finally:
        await pc.close()


async def test_a_removed_speaker_is_hung_up_and_a_reconnect_replaces_the_old_session(stage: Stage) -> None:
    account, token = await stage.speaker("speaker_r")
    pcs = []
    try:
        for _ in range(2):
            pc, sdp = await offer()
            pcs.append(pc)
            assert (await post(stage, sdp, token)).status_code == 201
        assert len(stage.live.publishers) == 1  # the second session replaced the first
        await stage.rt.spaces.remove(stage.host, stage.space_id, account.id)
        await until(lambda: account.id not in stage.live.publishers, 5, "the removed speaker to be hung up")
    finally:
        for pc in pcs:
            await pc.close()


async def test_offers_per_second_per_account_are_limited(stage: Stage) -> None:
    token = await stage.host_token()
    limit = stage.rt.settings.whip_offers_per_second
    statuses = [(await post(stage, "hello", token)).status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [400] * limit and statuses[-1] == 429


async def test_a_space_refuses_more_open_peer_connections_than_its_limit(stage: Stage) -> None:
    stage.rt.media.node.config = replace(stage.rt.media.node.config, publishers_max=1)
    _, token = await stage.speaker("speaker_x")
    pcs = []
    try:
        for t, expected in ((await stage.host_token(), 201), (token, 409)):
            pc, sdp = await offer()
            pcs.append(pc)
            response = await post(stage, sdp, t)
            assert response.status_code == expected, response.text
        assert response.json()["code"] == "too_many_publishers" and len(stage.live.publishers) == 1
    finally:
        for pc in pcs:
            await pc.close()


async def test_a_send_only_client_such_as_obs_publishes_without_a_mix_minus(stage: Stage) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(SignalTrack(lambda i: SILENCE), direction="sendonly")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        response = await post(stage, pc.localDescription.sdp, await stage.host_token())
        assert response.status_code == 201, response.text
        assert "a=recvonly" in response.text
        (publisher,) = stage.live.publishers.values()
        assert publisher.out is None
    finally:
        await pc.close()
