"""Notices over HTTP: anyone, signed in or not; acknowledged at once with an id; rate-limited per
reporter; trusted flaggers first in the queue; not processed while the notifier is suspended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.api import live_space
from tests.trust.conftest import Clock, Staff, _app, _client, staff_maker, trust_settings
from tests.trust.support import notice_body


async def test_anyone_can_report_and_gets_an_id_at_once(tc: httpx.AsyncClient, trust_app: Any, staff: Staff) -> None:
    host = await staff()
    space = await live_space(tc, host)
    r = await tc.post("/api/notices", json=notice_body(space["id"]))
    assert r.status_code == 201
    out = r.json()
    assert out["state"] == "queued" and out["source_kind"] == "public" and len(out["id"]) >= 16
    stored = await trust_app.state.runtime.trust.stores.notices.get(out["id"])
    assert stored is not None and stored.target.media_start_ms == 61_000  # committed before the answer


async def test_a_notice_without_good_faith_or_location_is_refused(tc: httpx.AsyncClient, staff: Staff) -> None:
    host = await staff()
    space = await live_space(tc, host)
    r = await tc.post("/api/notices", json=notice_body(space["id"], bona_fide=False))
    assert r.status_code == 400 and r.json()["code"] == "bona_fide_required"
    r = await tc.post("/api/notices", json={**notice_body(space["id"]), "items": []})
    assert r.status_code == 400 and r.json()["code"] == "notice_without_location"
    r = await tc.post("/api/notices", json=notice_body("no-such-space"))
    assert r.status_code == 404
    terms_only = notice_body(space["id"], bona_fide=False, is_illegal_content_claim=False)
    assert (await tc.post("/api/notices", json=terms_only)).status_code == 201


async def test_notices_are_rate_limited_per_reporter(tmp_path: Path, clock: Clock) -> None:
    async for application in _app(trust_settings(tmp_path, notices_per_hour_per_reporter=2), clock):
        async with _client(application) as client:
            staff = staff_maker(client, application)
            host, reporter = await staff(), await staff()
            space = await live_space(client, host)
            codes = [
                (
                    await client.post("/api/notices", json=notice_body(space["id"]), headers=reporter["headers"])
                ).status_code
                for _ in range(3)
            ]
            assert codes == [201, 201, 429]
            # another reporter is not held back by the first one's limit
            assert (await client.post("/api/notices", json=notice_body(space["id"]))).status_code == 201


async def test_queue_puts_trusted_flaggers_and_live_spaces_first(tc: httpx.AsyncClient, staff: Staff) -> None:
    host, moderator, flagger = await staff(), await staff("moderator"), await staff("trusted_flagger")
    ended = await live_space(tc, host)
    await tc.post(f"/api/spaces/{ended['id']}/end", headers=host["headers"])
    live = await live_space(tc, await staff())
    replay_notice = (await tc.post("/api/notices", json=notice_body(ended["id"], kind="replay"))).json()["id"]
    live_notice = (await tc.post("/api/notices", json=notice_body(live["id"]))).json()["id"]
    flagged = await tc.post("/api/notices", json=notice_body(live["id"]), headers=flagger["headers"])
    assert flagged.json()["source_kind"] == "trusted_flagger"
    queue = (await tc.get("/api/admin/queue", headers=moderator["headers"])).json()["notices"]
    assert [n["id"] for n in queue] == [flagged.json()["id"], live_notice, replay_notice]
    assert queue[0]["priority"] > queue[1]["priority"] > queue[2]["priority"]
