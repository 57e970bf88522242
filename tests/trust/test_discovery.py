"""A space a moderator restricts from discovery drops out of the public listing but stays reachable."""

from __future__ import annotations

import httpx

from tests.support.api import live_space
from tests.trust.conftest import Clock, Staff
from tests.trust.support import TERMS, decide


async def test_restricted_space_leaves_the_listing(tc: httpx.AsyncClient, staff: Staff, clock: Clock) -> None:
    moderator, host = await staff("moderator"), await staff()
    hidden = await live_space(tc, host)
    shown = await live_space(tc, host)
    await decide(
        tc,
        moderator,
        action="restrict_discovery",
        target_kind="space",
        target_id=hidden["id"],
        until=clock.now + 3600,
        **TERMS,
    )
    listed = {s["id"] for s in (await tc.get("/api/spaces?state=live")).json()["spaces"]}
    assert shown["id"] in listed and hidden["id"] not in listed
    assert (await tc.get(f"/api/spaces/{hidden['id']}")).status_code == 200
