"""No spelling of a URL gets live media past the edge without a token, and nothing reaches the origin's
operator endpoints through it: the VCL normalises the URL before it checks the token and picks the path.
"""

from __future__ import annotations

import httpx
import pytest
from edge_support import CREDENTIAL, SPACE, EdgeFactory, Origin, listener_token, raw_get

pytestmark = pytest.mark.integration
PLAYLIST = f"/live/{SPACE}/media.m3u8"


@pytest.fixture
async def edge_port(origin: Origin, start_edge: EdgeFactory) -> int:
    origin.publish(PLAYLIST, b"#EXTM3U\n", content_type="application/vnd.apple.mpegurl", cache_control="max-age=1")
    for path in ("/metrics", "/healthz", "/readyz", "/api/spaces"):
        origin.publish(path, b"{}", content_type="application/json")
    return (await start_edge(origin.url)).port


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/%6cive/space-one/media.m3u8", 403, "token_malformed"),  # decoded to /live/, then checked
        ("/%6Cive/space-one/media.m3u8", 403, "token_malformed"),
        ("/l%69ve/space-one/media%2em3u8", 403, "token_malformed"),
        ("http://edge.test/live/space-one/media.m3u8", 403, "token_malformed"),  # absolute form
        ("HTTP://edge.test/%6cive/space-one/media.m3u8", 403, "token_malformed"),
        ("/live%2fspace-one/media.m3u8", 400, "bad_url"),  # an encoded slash means nothing here
        ("/live%2Fspace-one/media.m3u8", 400, "bad_url"),
        ("/live%5cspace-one/media.m3u8", 400, "bad_url"),
        ("/live/space-one/media.m3u8%00", 400, "bad_url"),
        ("/%zzlive/space-one/media.m3u8", 400, "bad_url"),  # malformed escape
        ("/live/space-one/media.m3u8%", 400, "bad_url"),
        ("//live/space-one/media.m3u8", 400, "bad_url"),
        ("/api/../live/space-one/media.m3u8", 400, "bad_url"),
        ("/api/%2e%2e/live/space-one/media.m3u8", 400, "bad_url"),
        ("/./live/space-one/media.m3u8", 400, "bad_url"),
        ("/static/..", 400, "bad_url"),
        ("live/space-one/media.m3u8", 400, "bad_url"),  # not origin-form
        ("/%6detrics", 404, "not_found"),  # operator endpoints are not for the internet
        ("/metrics", 404, "not_found"),
        ("/metrics?x=1", 404, "not_found"),
        ("/healthz", 404, "not_found"),
        ("/%72eadyz", 404, "not_found"),
        ("/e/not-a-token", 404, "not_found"),
    ],
)
async def test_no_spelling_reaches_live_media_or_operator_paths_without_a_token(
    edge_port: int, origin: Origin, path: str, status: int, code: str
) -> None:
    answer = await raw_get(edge_port, path)
    assert (answer.status, answer.body and httpx.Response(200, content=answer.body).json()["code"]) == (status, code)
    assert origin.total == 0, f"{path} reached the origin: {dict(origin.requests)}"


async def test_an_upgrade_is_refused_everywhere_but_on_the_events_socket(edge_port: int, origin: Origin) -> None:
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"}
    for path in (PLAYLIST, f"/e/{listener_token()}{PLAYLIST}", "/api/spaces", "/%6cive/space-one/media.m3u8"):
        answer = await raw_get(edge_port, path, upgrade)
        assert answer.status == 400, path
        assert b"upgrade_refused" in answer.body
    h2c = await raw_get(edge_port, "/api/spaces", {"Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings"})
    assert h2c.status == 400
    assert origin.total == 0
    # The events socket is piped to the origin, which decides (it authenticates the socket itself; this
    # stand-in accepts any and answers with its own URL).
    events = await raw_get(
        edge_port,
        f"/api/spaces/{SPACE}/events",
        {**upgrade, "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
    )
    assert events.status == 101 and origin.url.encode() in events.body
    assert origin.requests[f"/api/spaces/{SPACE}/events"] == 1


async def test_a_token_inside_a_token_is_not_a_way_around_the_cache(edge_port: int, origin: Origin) -> None:
    token = listener_token()
    answer = await raw_get(edge_port, f"/e/{token}/e/{token}{PLAYLIST}")
    assert answer.status == 404
    assert origin.total == 0


async def test_a_tokened_request_in_any_spelling_shares_one_cached_object(edge_port: int, origin: Origin) -> None:
    token = listener_token()
    spellings = [f"/e/{token}{PLAYLIST}", f"/e/{token}/%6cive/space-one/media.m3u8",
                 f"http://edge.test/e/{token}/live/space-%6fne/media.m3u8"]  # fmt: skip
    answers = [await raw_get(edge_port, path) for path in spellings]
    assert [a.status for a in answers] == [200, 200, 200]
    assert origin.requests == {PLAYLIST: 1}


async def test_the_edge_proves_itself_to_the_origin_on_live_fetches_only(edge_port: int, origin: Origin) -> None:
    await raw_get(edge_port, f"/e/{listener_token()}{PLAYLIST}")
    await raw_get(edge_port, "/api/spaces", {"X-Townhall-Edge": "a client's guess"})
    live, api = origin.seen_headers
    assert live["x-townhall-edge"] == CREDENTIAL
    assert "x-townhall-edge" not in api  # a pass never carries it, and a client cannot set it


async def test_a_shield_serves_live_media_only_to_an_edge(origin: Origin, start_edge: EdgeFactory) -> None:
    origin.publish(PLAYLIST, b"#EXTM3U\n", cache_control="max-age=1")
    shield = await start_edge(origin.url, edge_role="shield")
    edge = await start_edge(shield.url)
    async with httpx.AsyncClient() as client:
        direct = await client.get(f"{shield.url}{PLAYLIST}")
        guessed = await client.get(f"{shield.url}{PLAYLIST}", headers={"X-Townhall-Edge": "x" * 40})
        through = await client.get(f"{edge.url}/e/{listener_token()}{PLAYLIST}")
    assert (direct.status_code, direct.json()["code"]) == (403, "edge_credential_required")
    assert guessed.status_code == 403
    assert through.status_code == 200
    assert origin.requests == {PLAYLIST: 1}
    assert origin.seen_headers[0]["x-townhall-edge"] == CREDENTIAL
