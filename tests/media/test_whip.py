"""WHIP (RFC 9725) at the door: who may publish, what an offer must look like, and the session resource."""

from __future__ import annotations

import gc
from dataclasses import replace
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from tests.media.conftest import Stage, until

from townhall.domain.tokens import Claims, Scope, sign
from townhall.media.mixer import SILENCE
from townhall.media.synthetic import SignalTrack

pytestmark = [pytest.mark.media, pytest.mark.timeout(60)]


def peer_connections() -> int:
    return sum(isinstance(o, RTCPeerConnection) for o in gc.get_objects())


async def offer() -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(SignalTrack(lambda i: SILENCE), direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def token_for(
    stage: Stage, account_id: str, scope: Scope = Scope.SPEAK, space_id: str | None = None, expires: int | None = None
) -> str:
    keys = stage.rt.keys
    claims = Claims(
        keys.signing_kid,
        scope,
        space_id or stage.space_id,
        f"a-{account_id}",
        expires if expires is not None else int(stage.rt.clock()) + 600,
    )
    return sign(claims, keys.signing_key)


async def post(stage: Stage, sdp: str | bytes, token: str | None, content_type: str = "application/sdp") -> Any:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await stage.http.post(f"/whip/{stage.space_id}", content=sdp, headers=headers)


async def test_a_speaker_publishes_gets_a_session_resource_and_hangs_up_with_delete(stage: Stage) -> None:
    pc, sdp = await offer()
    try:
        token = await stage.host_token()
        response = await post(stage, sdp, token)
        assert response.status_code == 201, response.text
        assert response.headers["content-type"].startswith("application/sdp")
        assert response.text.startswith("v=0") and "a=candidate:" in response.text  # no trickle needed
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


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("nobody", 401, "token_missing"),
        ("listener", 403, "token_wrong_scope"),
        ("expired", 401, "token_expired"),
        ("other_space", 403, "token_wrong_space"),
        ("not_a_speaker", 403, "not_a_speaker"),
        ("removed", 403, "not_a_speaker"),
        ("forged", 401, "token_bad_signature"),
    ],
)
async def test_unauthorised_publishes_are_refused_with_nothing_set_up(
    stage: Stage, who: str, status: int, code: str
) -> None:
    rt = stage.rt
    host_id = stage.host.id
    token: str | None
    if who in ("not_a_speaker", "removed"):
        account = (await rt.accounts.register("someone", "password-someone", "127.0.0.1")).account
        if who == "removed":
            await rt.spaces.invite(stage.host, stage.space_id, account.id)
            await rt.spaces.accept_invite(account, stage.space_id)
            await rt.spaces.remove(stage.host, stage.space_id, account.id)
        token = token_for(stage, account.id)
    else:
        token = {
            "nobody": None,
            "listener": token_for(stage, host_id, Scope.LISTEN),
            "expired": token_for(stage, host_id, expires=int(rt.clock()) - 5),
            "other_space": token_for(stage, host_id, space_id="another_space"),
            "forged": token_for(stage, host_id)[:-4] + "0000",
        }[who]
    pc, sdp = await offer()
    try:
        before = peer_connections()
        response = await post(stage, sdp, token)
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
        assert stage.live.publishers == {}
        assert peer_connections() == before
    finally:
        await pc.close()


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        ("hello", "application/sdp", "sdp_malformed"),
        ("v=0\r\n" + "a=x\r\n" * 5000, "application/sdp", "sdp_too_large"),
        (
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
            "application/sdp",
            "sdp_no_audio",
        ),
        ("{}", "application/json", "unsupported_media_type"),
        (b"v=0\xff\xfe", "application/sdp", "sdp_malformed"),
    ],
)
async def test_malformed_or_oversized_offers_are_a_400_with_a_clear_message(
    stage: Stage, body: str | bytes, content_type: str, code: str
) -> None:
    before = peer_connections()
    response = await post(stage, body, await stage.host_token(), content_type)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code and response.json()["message"]
    assert stage.live.publishers == {} and peer_connections() == before


@pytest.mark.parametrize(
    ("drop", "code"),
    [
        ("a=fingerprint", "sdp_no_fingerprint"),
        ("a=ice-pwd", "sdp_no_ice_credentials"),
        ("a=rtpmap:96", "sdp_no_opus"),
    ],
)
async def test_an_offer_missing_what_webrtc_needs_is_a_400_before_any_peer_connection(
    stage: Stage, drop: str, code: str
) -> None:
    pc, sdp = await offer()
    try:
        before = peer_connections()
        broken = "\r\n".join(x for x in sdp.split("\r\n") if not x.startswith(drop))
        response = await post(stage, broken, await stage.host_token())
        assert response.status_code == 400 and response.json()["code"] == code, response.text
        assert stage.live.publishers == {} and peer_connections() == before
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
    stage.rt.media.config = replace(stage.rt.media.config, publishers_max=1)
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
