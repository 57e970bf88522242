"""The edge checks the listener token itself: bad tokens stop there, good ones never reach the cache key."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from edge_support import KEYS, SPACE, EdgeFactory, Origin, listener_token

from townhall.domain.tokens import Scope

pytestmark = pytest.mark.integration
PART = f"/live/{SPACE}/part-1.m4s"


@pytest.fixture
async def edge_url(origin: Origin, start_edge: EdgeFactory) -> str:
    origin.publish(PART, b"part one", content_type="video/mp4", cache_control="max-age=31536000, immutable")
    return (await start_edge(origin.url)).url


async def test_a_missing_forged_expired_or_foreign_token_gets_403_and_never_reaches_the_origin(
    edge_url: str, origin: Origin
) -> None:
    token = listener_token()
    forged = token[:-1] + ("1" if token.endswith("0") else "0")
    cases = {
        PART: "token_malformed",
        f"/e/not-a-token{PART}": "token_malformed",
        f"/e/{forged}{PART}": "token_bad_signature",
        f"{PART}?t={forged}": "token_bad_signature",
        f"/e/{listener_token(ttl_s=-1)}{PART}": "token_expired",
        f"/e/{listener_token(space='space-two')}{PART}": "token_wrong_space",
        f"/e/{listener_token(scope=Scope.SPEAK)}{PART}": "token_wrong_scope",
    }
    async with httpx.AsyncClient(base_url=edge_url) as client:
        answers = {path: await client.get(path) for path in cases}
    assert {path: (a.status_code, a.json()["code"]) for path, a in answers.items()} == {
        path: (403, code) for path, code in cases.items()
    }
    assert origin.total == 0


async def test_the_token_is_accepted_in_the_path_the_query_and_the_cookie_and_is_stripped(
    edge_url: str, origin: Origin
) -> None:
    token = listener_token()
    async with httpx.AsyncClient(base_url=edge_url) as client:
        in_path = await client.get(f"/e/{token}{PART}")
        in_query = await client.get(f"{PART}?t={listener_token(kid='key-old')}&utm=x")
        in_cookie = await client.get(PART, headers={"Cookie": f"a=b; th_t={listener_token()}"})
    assert [r.status_code for r in (in_path, in_query, in_cookie)] == [200, 200, 200]
    assert in_cookie.content == b"part one"
    # Three listeners with three tokens share one cached object: the token is not in the key,
    # and the origin saw the bare URL without cookie.
    assert origin.requests == {PART: 1}
    assert "cookie" not in origin.seen_headers[0]
    assert [r.headers["x-cache"] for r in (in_path, in_query, in_cookie)] == ["miss", "hit", "hit"]


async def test_every_configured_key_verifies_and_a_retired_key_does_not(
    origin: Origin, start_edge: EdgeFactory
) -> None:
    origin.publish(PART, b"part one")
    rotated = await start_edge(origin.url, keys={"key-new": KEYS["key-new"]})
    async with httpx.AsyncClient(base_url=rotated.url) as client:
        new = await client.get(f"/e/{listener_token(kid='key-new')}{PART}")
        retired = await client.get(f"/e/{listener_token(kid='key-old')}{PART}")
    assert new.status_code == 200
    assert retired.status_code == 403 and retired.json()["code"] == "token_unknown_key"


async def test_the_api_passes_through_uncached_and_the_origins_operations_endpoints_stay_hidden(
    edge_url: str, origin: Origin
) -> None:
    origin.publish("/api/spaces", b"[]", cache_control="max-age=60")
    async with httpx.AsyncClient(base_url=edge_url) as client:
        api = [await client.get("/api/spaces") for _ in range(2)]
        hidden = [await client.get(path) for path in ("/metrics", "/healthz", "/readyz")]
    assert [a.status_code for a in api] == [200, 200]
    assert origin.requests == {"/api/spaces": 2}
    assert {(a.status_code, a.json()["code"]) for a in hidden} == {(404, "not_found")}


async def test_a_key_rotation_reloads_the_vcl_without_a_restart(origin: Origin, start_edge: EdgeFactory) -> None:
    origin.publish(PART, b"part one")
    edge = await start_edge(origin.url, keys={"key-old": KEYS["key-old"]})
    async with httpx.AsyncClient(base_url=edge.url) as client:
        before = await client.get(f"/e/{listener_token(kid='key-new')}{PART}")
        await asyncio.to_thread(edge.reload, KEYS)
        after = await client.get(f"/e/{listener_token(kid='key-new')}{PART}")
        old = await client.get(f"/e/{listener_token(kid='key-old')}{PART}")
    assert before.json()["code"] == "token_unknown_key"
    assert (after.status_code, old.status_code) == (200, 200)
    assert old.headers["x-cache"] == "hit"  # same varnishd, same cache
