"""Withholding by country: 451 at join, 451 or the `X-Townhall-Withheld` header on media the origin
serves, 451 at the real Varnish edge, and access back once an appeal reverses the withholding."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import join, live_space
from tests.support.servers import free_port, live_server
from tests.trust.conftest import Staff, staff_maker, trust_settings
from tests.trust.support import ILLEGAL, decide

DE = {"X-Country-Code": "DE"}
FR = {"X-Country-Code": "fr"}


async def _withhold(client: httpx.AsyncClient, staff: Staff) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    host, moderator = await staff(), await staff("moderator")
    space = await live_space(client, host)
    decision = await decide(
        client, moderator, action="withhold", target_kind="space", target_id=space["id"], countries=["de"], **ILLEGAL
    )
    return space, decision, host


async def test_a_listener_in_a_withheld_country_gets_451_at_join(bc: httpx.AsyncClient, both_staff: Staff) -> None:
    space, decision, _ = await _withhold(bc, both_staff)
    refused = await bc.post(f"/api/spaces/{space['id']}/join", json={"device_id": "device-de-0001"}, headers=DE)
    assert refused.status_code == 451
    body = refused.json()
    assert body["code"] == "withheld_in_country" and body["country"] == "DE" and "withheld in DE" in body["message"]
    assert refused.headers["cache-control"] == "no-store"
    admitted = await bc.post(f"/api/spaces/{space['id']}/join", json={"device_id": "device-fr-0001"}, headers=FR)
    assert admitted.status_code == 200 and admitted.json()["status"] == "admitted"
    assert (await join(bc, space["id"])).status_code == 200  # no country known: not withheld
    statement = decision["statement_id"]
    assert statement is not None


async def test_the_origin_marks_withheld_media_and_refuses_it_when_serving_listeners_directly(
    tc: httpx.AsyncClient, staff: Staff
) -> None:
    space, _, _ = await _withhold(tc, staff)
    state = f"/live/{space['id']}/state.json"
    assert (await tc.get(state, headers=DE)).status_code == 451
    served = await tc.get(state, headers=FR)
    assert served.status_code == 200 and served.headers["x-townhall-withheld"] == "DE"
    assert (await tc.get(f"/replay/{space['id']}/index.m3u8", headers=DE)).status_code == 451
    other = await live_space(tc, await staff())
    assert "x-townhall-withheld" not in (await tc.get(f"/live/{other['id']}/state.json", headers=DE)).headers


async def test_reversing_a_withholding_on_appeal_lets_the_country_back_in(tc: httpx.AsyncClient, staff: Staff) -> None:
    space, decision, host = await _withhold(tc, staff)
    appeal = await tc.post(
        f"/api/decisions/{decision['id']}/appeals", json={"text": "Lawful in Germany."}, headers=host["headers"]
    )
    reviewer = await staff("moderator")
    r = await tc.post(
        f"/api/admin/appeals/{appeal.json()['id']}/decision",
        json={"outcome": "reversed", "reasons": "Satire, lawful under the cited provision."},
        headers=reviewer["headers"],
    )
    assert r.status_code == 200, r.text
    back = await tc.post(f"/api/spaces/{space['id']}/join", json={"device_id": "device-de-0002"}, headers=DE)
    assert back.status_code == 200
    assert "x-townhall-withheld" not in (await tc.get(f"/live/{space['id']}/state.json", headers=DE)).headers


@pytest.mark.integration
async def test_the_varnish_edge_answers_451_in_a_withheld_country(tmp_path: Any) -> None:
    from townhall.edge.varnish import Edge

    settings = trust_settings(tmp_path)
    async with live_server(settings) as server, server.client() as client:
        staff = staff_maker(client, server.app)
        space, _, _ = await _withhold(client, staff)
        joined = await client.post(f"/api/spaces/{space['id']}/join", json={"device_id": "device-fr-0003"}, headers=FR)
        token = joined.json()["token"]
        edge_settings = settings.model_copy(update={"edge_host": "127.0.0.1"})
        async with Edge(
            edge_settings,
            server.runtime.keys.keys,
            credential=server.runtime.edge_secret,
            origin=server.url,
            port=free_port(),
        ) as edge:
            async with httpx.AsyncClient(base_url=edge.url, timeout=10) as viewer:
                path = f"/e/{token}/live/{space['id']}/state.json"
                in_germany = await viewer.get(path, headers=DE)
                in_france = await viewer.get(path, headers=FR)
        assert in_germany.status_code == 451 and in_germany.json()["code"] == "withheld_in_country"
        assert in_france.status_code == 200 and "speakers" in in_france.text


async def test_no_clip_is_cut_where_the_space_is_withheld(tc: httpx.AsyncClient, staff: Staff) -> None:
    space, _, host = await _withhold(tc, staff)
    path = f"/api/spaces/{space['id']}/clips"
    refused = await tc.post(path, json={"duration_s": 3}, headers={**host["headers"], **DE})
    assert refused.status_code == 451 and refused.json()["code"] == "withheld_in_country"
    assert refused.json()["message"].endswith("based on local law.")
    elsewhere = await tc.post(path, json={"duration_s": 3}, headers={**host["headers"], **FR})
    assert elsewhere.status_code != 451  # cut, or not yet recorded: the country gate let it through
