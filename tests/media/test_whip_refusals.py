"""WHIP refusals (RFC 9725): who may not publish and what an offer must look like; each refusal is a
clear 4xx with nothing set up. One live space serves the module: a refusal leaves it unchanged."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.media.conftest import Stage, offer, peer_connections, post, token_for

from townhall.domain.tokens import Scope

pytestmark = [pytest.mark.media, pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]


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
    shared_stage: Stage, who: str, status: int, code: str
) -> None:
    stage = shared_stage
    rt = stage.rt
    host_id = stage.host.id
    token: str | None
    if who in ("not_a_speaker", "removed"):
        account = (await rt.accounts.register(f"someone_{who}", "password-someone", "127.0.0.1")).account
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
        assert peer_connections() <= before
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
    shared_stage: Stage, body: str | bytes, content_type: str, code: str
) -> None:
    stage = shared_stage
    before = peer_connections()
    response = await post(stage, body, await stage.host_token(), content_type)
    assert response.status_code == (415 if code == "unsupported_media_type" else 400), response.text
    assert response.json()["code"] == code and response.json()["message"]
    assert stage.live.publishers == {} and peer_connections() <= before


@pytest.mark.parametrize(
    ("drop", "code"),
    [
        ("a=fingerprint", "sdp_no_fingerprint"),
        ("a=ice-pwd", "sdp_no_ice_credentials"),
        ("a=rtpmap:96", "sdp_no_opus"),
    ],
)
async def test_an_offer_missing_what_webrtc_needs_is_a_400_before_any_peer_connection(
    shared_stage: Stage, drop: str, code: str
) -> None:
    stage = shared_stage
    pc, sdp = await offer()
    try:
        before = peer_connections()
        broken = "\r\n".join(x for x in sdp.split("\r\n") if not x.startswith(drop))
        response = await post(stage, broken, await stage.host_token())
        assert response.status_code == 400 and response.json()["code"] == code, response.text
        assert stage.live.publishers == {} and peer_connections() <= before
    finally:
        await pc.close()


def _fingerprint(value: str) -> Callable[[str], str]:
    return lambda line: value if line.startswith("a=fingerprint:") else line


def _direction(value: str) -> Callable[[str], str]:
    directions = ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive")
    return lambda line: value if line in directions else line


@pytest.mark.parametrize(
    ("rewrite", "code"),
    [
        (_fingerprint("a=fingerprint:sha-256 zz:zz"), "sdp_bad_fingerprint"),
        (_fingerprint("a=fingerprint:md5 " + ":".join(["AB"] * 16)), "sdp_bad_fingerprint"),
        (_fingerprint("a=fingerprint:sha-256 " + ":".join(["AB"] * 31)), "sdp_bad_fingerprint"),
        (_direction("a=inactive"), "sdp_bad_direction"),
        (_direction("a=recvonly"), "sdp_bad_direction"),
    ],
)
async def test_a_broken_offer_is_a_400_and_touches_no_session(
    shared_stage: Stage, rewrite: Callable[[str], str], code: str
) -> None:
    """Issue 14's fuzzing: a bad fingerprint or an inactive direction was answered 201, replacing the
    speaker's live session; it must be refused before any session or peer connection is touched."""
    stage = shared_stage
    pc, sdp = await offer()
    try:
        before = peer_connections()
        broken = "\r\n".join(rewrite(x) for x in sdp.split("\r\n"))
        assert broken != sdp
        response = await post(stage, broken, await stage.host_token())
        assert response.status_code == 400 and response.json()["code"] == code, response.text
        assert stage.live.publishers == {} and peer_connections() <= before
    finally:
        await pc.close()


async def test_the_endpoint_and_the_resource_answer_a_cors_preflight(shared_stage: Stage) -> None:
    """RFC 9725 4.2: OPTIONS for CORS, with Accept-Post; a refusal is readable from another origin too."""
    stage = shared_stage
    preflight = {"Origin": "https://studio.example", "Access-Control-Request-Method": "POST"}
    r = await stage.http.options(f"/whip/{stage.space_id}", headers=preflight)
    assert r.status_code == 204, r.text
    assert r.headers["accept-post"] == "application/sdp"
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert {"authorization", "content-type"} <= {
        h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")
    }
    r = await stage.http.options(f"/whip/{stage.space_id}/some-resource", headers=preflight)
    assert r.status_code == 204 and "DELETE" in r.headers["access-control-allow-methods"]
    refused = await post(stage, "v=0", None)
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "*"
    assert "Location" in refused.headers["access-control-expose-headers"]
