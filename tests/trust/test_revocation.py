"""A removed, blocked or suspended listener, or one in a country the space is then withheld in, loses the
seat and the stream within seconds: the renewal is refused, the origin refuses the token, and a real
Varnish edge refuses it within `edge_revocation_ttl_s` (its copy of the space's revocation list)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.support.api import live_space
from tests.support.servers import LiveServer, free_port, live_server
from tests.support.wait import until
from tests.trust.conftest import Staff, staff_maker, trust_settings
from tests.trust.support import ILLEGAL, TERMS, decide

pytestmark = pytest.mark.integration
BOUND_S = 1.0  # edge_revocation_ttl_s: how old the edge's copy of the list may be
DE = {"X-Country-Code": "DE"}


@asynccontextmanager
async def _stack(tmp_path: Any) -> AsyncIterator[tuple[LiveServer, httpx.AsyncClient, httpx.AsyncClient, Staff]]:
    """The app, a real Varnish edge in front of it, a client of each and a staff maker."""
    from townhall.edge.varnish import Edge

    settings = trust_settings(tmp_path, edge_revocation_ttl_s=BOUND_S)
    async with live_server(settings) as server, server.client() as api:
        edge_settings = settings.model_copy(update={"edge_host": "127.0.0.1"})
        async with (
            Edge(edge_settings, server.runtime.keys.keys, credential=server.runtime.edge_secret, origin=server.url,
                 port=free_port()) as edge,
            httpx.AsyncClient(base_url=edge.url, timeout=10) as viewer,
        ):  # fmt: skip
            yield server, api, viewer, staff_maker(api, server.app)


async def _listening(api: httpx.AsyncClient, viewer: httpx.AsyncClient, space_id: str, person: dict[str, Any]) -> str:
    """Join signed in and play through the edge; returns the listener token."""
    joined = await api.post(f"/api/spaces/{space_id}/join", json={}, headers=person["headers"])
    assert joined.status_code == 200, joined.text
    token: str = joined.json()["token"]
    path = f"/e/{token}/live/{space_id}/media.m3u8"
    await until(lambda: _status(viewer, path, 200), 20, "the stream through the edge")
    return token


async def _status(client: httpx.AsyncClient, path: str, want: int, headers: dict[str, str] | None = None) -> bool:
    return (await client.get(path, headers=headers)).status_code == want


async def _edge_refuses_within_bound(viewer: httpx.AsyncClient, path: str, since: float, code: str) -> float:
    """Wait for the edge to refuse `path` with `code`; return how long after `since` it first did."""

    async def refused() -> bool:
        r = await viewer.get(path)
        return r.status_code == 403 and r.json()["code"] == code

    await until(refused, BOUND_S + 2, f"the edge to refuse with {code}", every=0.05)
    took = time.time() - since
    assert took <= BOUND_S + 0.5, f"the edge refused only {took:.2f} s after the revocation"
    return took


async def test_a_removed_listener_loses_seat_renewals_origin_and_edge_within_the_bound(tmp_path: Any) -> None:
    async with _stack(tmp_path) as (server, api, viewer, staff):
        host, listener, other = await staff(), await staff(), await staff()
        space = await live_space(api, host)
        sid = space["id"]
        token = await _listening(api, viewer, sid, listener)
        other_token = await _listening(api, viewer, sid, other)
        renewed = await api.post(f"/api/spaces/{sid}/lease", headers={"Authorization": f"Bearer {token}"})
        assert renewed.status_code == 200 and renewed.json()["token"].count(".") == 7  # a fresh token
        seated_before = (await server.runtime.admission.counts(await server.runtime.spaces.get(sid)))[0]
        assert seated_before == 2

        removed = await api.post(
            f"/api/spaces/{sid}/remove", json={"account_id": listener["account_id"]}, headers=host["headers"]
        )
        assert removed.status_code == 204
        at = time.time()
        for t in (token, renewed.json()["token"]):
            lease = await api.post(f"/api/spaces/{sid}/lease", headers={"Authorization": f"Bearer {t}"})
            assert lease.status_code == 403 and lease.json()["code"] == "token_revoked"
            direct = await api.get(f"/e/{t}/live/{sid}/media.m3u8")
            assert direct.status_code == 403 and direct.json()["code"] == "token_revoked"
        await _edge_refuses_within_bound(viewer, f"/e/{token}/live/{sid}/media.m3u8", at, "token_revoked")
        for name in ("init.mp4", "master.m3u8"):  # every object, not only the playlist
            assert (await viewer.get(f"/e/{token}/live/{sid}/{name}")).status_code == 403
        assert (await server.runtime.admission.counts(await server.runtime.spaces.get(sid)))[0] == 1
        # the list itself is for edges only, not for listeners
        assert (await viewer.get(f"/e/{other_token}/live/{sid}/revoked")).status_code == 404
        assert (await api.get(f"/e/{other_token}/live/{sid}/revoked")).status_code == 404
        assert (await api.get(f"/live/{sid}/revoked")).status_code == 403
        # the others keep listening, and the removed one cannot come back
        assert (await viewer.get(f"/e/{other_token}/live/{sid}/media.m3u8")).status_code == 200
        again = await api.post(f"/api/spaces/{sid}/join", json={}, headers=listener["headers"])
        assert again.status_code == 403


async def test_a_suspended_account_loses_every_seat_and_stream(tmp_path: Any) -> None:
    async with _stack(tmp_path) as (_server, api, viewer, staff):
        host, listener, moderator = await staff(), await staff(), await staff("moderator")
        sid = (await live_space(api, host))["id"]
        token = await _listening(api, viewer, sid, listener)
        await decide(
            api, moderator, action="suspend_account", target_kind="account", target_id=listener["handle"], **TERMS
        )
        at = time.time()
        lease = await api.post(f"/api/spaces/{sid}/lease", headers={"Authorization": f"Bearer {token}"})
        assert lease.status_code == 403 and lease.json()["code"] == "token_revoked"
        assert (await api.get(f"/e/{token}/live/{sid}/media.m3u8")).status_code == 403
        await _edge_refuses_within_bound(viewer, f"/e/{token}/live/{sid}/media.m3u8", at, "token_revoked")
        again = await api.post(f"/api/spaces/{sid}/join", json={}, headers=listener["headers"])
        assert again.status_code == 403 and again.json()["code"] == "account_suspended"


async def test_a_moderators_removal_blocks_the_listener_and_a_reversal_lets_them_back(tmp_path: Any) -> None:
    async with _stack(tmp_path) as (_server, api, viewer, staff):
        host, listener, moderator = await staff(), await staff(), await staff("moderator")
        sid = (await live_space(api, host))["id"]
        r = await api.post(f"/api/spaces/{sid}/requests", headers=listener["headers"])  # a member row
        assert r.status_code in (200, 201, 202), r.text
        token = await _listening(api, viewer, sid, listener)
        decision = await decide(
            api, moderator, action="remove_speaker", target_kind="space", target_id=sid,
            speaker_id=listener["account_id"], **TERMS,
        )  # fmt: skip
        at = time.time()
        lease = await api.post(f"/api/spaces/{sid}/lease", headers={"Authorization": f"Bearer {token}"})
        assert lease.status_code == 403 and lease.json()["code"] == "token_revoked"
        await _edge_refuses_within_bound(viewer, f"/e/{token}/live/{sid}/media.m3u8", at, "token_revoked")
        assert decision["id"]


async def test_a_withholding_for_the_listeners_country_ends_the_seat_and_the_stream_there(tmp_path: Any) -> None:
    async with _stack(tmp_path) as (server, api, viewer, staff):
        host, moderator = await staff(), await staff("moderator")
        sid = (await live_space(api, host))["id"]
        joined = await api.post(f"/api/spaces/{sid}/join", json={"device_id": "device-de-0042"}, headers=DE)
        token = joined.json()["token"]
        path = f"/e/{token}/live/{sid}/media.m3u8"
        await until(lambda: _status(viewer, path, 200, DE), 20, "the stream through the edge")
        await decide(api, moderator, action="withhold", target_kind="space", target_id=sid, countries=["de"], **ILLEGAL)
        at = time.time()
        lease = await api.post(f"/api/spaces/{sid}/lease", headers={"Authorization": f"Bearer {token}", **DE})
        assert lease.status_code == 451 and lease.json()["code"] == "withheld_in_country"
        assert (await server.runtime.admission.counts(await server.runtime.spaces.get(sid)))[0] == 0
        await until(lambda: _status(viewer, path, 451, DE), BOUND_S + 2, "the edge to answer 451", every=0.05)
        assert time.time() - at <= BOUND_S + 0.5
