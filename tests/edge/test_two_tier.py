"""Two tiers on loopback: edges in front of a shield in front of the origin, one origin request per object."""

from __future__ import annotations

import httpx
import pytest
from edge_support import SPACE, EdgeFactory, Origin, listener_token

pytestmark = pytest.mark.integration
PART = f"/live/{SPACE}/part-9.m4s"


async def test_two_edges_behind_one_shield_reach_the_origin_once_per_object(
    origin: Origin, start_edge: EdgeFactory
) -> None:
    origin.publish(PART, b"part nine", x_townhall_withheld="DE")
    shield = await start_edge(origin.url, edge_role="shield")
    edges = [await start_edge(shield.url), await start_edge(shield.url)]
    async with httpx.AsyncClient() as client:
        answers = [await client.get(f"{edge.url}/e/{listener_token()}{PART}") for edge in edges]
        forged = await client.get(f"{edges[0].url}{PART}?t=v1.key-new.l.{SPACE}.d-x.1.0.{'0' * 64}")
        withheld = await client.get(f"{edges[1].url}/e/{listener_token()}{PART}", headers={"X-Country-Code": "DE"})
    assert [(a.status_code, a.content) for a in answers] == [(200, b"part nine")] * 2
    assert forged.status_code == 403
    # The edges still decide 451: the shield passed the withholding header on to them.
    assert withheld.status_code == 451
    assert origin.requests == {PART: 1}
