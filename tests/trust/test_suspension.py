"""A suspended account cannot host or speak, its live space ends, it loses its voice in other spaces;
a suspension for a period ends by itself; platform moderators can mute or remove one speaker."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import live_space
from tests.trust.conftest import Clock, Staff
from tests.trust.support import TERMS, decide


async def _speaker_in(client: httpx.AsyncClient, space_id: str, host: dict[str, Any], person: dict[str, Any]) -> None:
    base = f"/api/spaces/{space_id}"
    await client.post(f"{base}/invite", json={"account_id": person["account_id"]}, headers=host["headers"])
    r = await client.post(f"{base}/invite/accept", headers=person["headers"])
    assert r.status_code == 204, r.text


async def test_a_suspended_account_cannot_host_or_speak_and_its_live_space_ends(
    bc: httpx.AsyncClient, both_staff: Staff, clock: Clock
) -> None:
    offender, other_host, moderator = await both_staff(), await both_staff(), await both_staff("moderator")
    own = await live_space(bc, offender)
    elsewhere = await live_space(bc, other_host)
    await _speaker_in(bc, elsewhere["id"], other_host, offender)
    until = clock.now + 3 * 86400
    await decide(
        bc,
        moderator,
        action="suspend_account",
        target_kind="account",
        target_id=offender["handle"],
        until=until,
        **TERMS,
    )
    assert (await bc.get(f"/api/spaces/{own['id']}")).json()["state"] == "ended"
    assert (await bc.get(f"/api/spaces/{own['id']}")).json()["ended_reason"] == "host_suspended"
    members = {m["account_id"]: m for m in (await bc.get(f"/api/spaces/{elsewhere['id']}/members")).json()["members"]}
    assert members[offender["account_id"]]["role"] == "listener"
    assert (await bc.get(f"/api/spaces/{elsewhere['id']}")).json()["state"] == "live"
    r = await bc.post("/api/spaces", json={"title": "Comeback"}, headers=offender["headers"])
    assert r.status_code == 403 and r.json()["code"] == "account_suspended"
    r = await bc.post(f"/api/spaces/{elsewhere['id']}/speaker-token", headers=offender["headers"])
    assert r.status_code == 403
    r = await bc.post(f"/api/spaces/{elsewhere['id']}/requests", headers=offender["headers"])
    assert r.status_code == 403
    # the period ends by itself
    clock.now = until + 1
    assert (await bc.post("/api/spaces", json={"title": "Comeback"}, headers=offender["headers"])).status_code == 201
    history = (await bc.get("/api/me/account-history", headers=offender["headers"])).json()["history"]
    assert [(h["to_status"], h["actor_kind"]) for h in history] == [
        ("suspended", "moderator"),
        ("active", "system_expiry"),
    ]
    assert history[1]["effective_at"] == until


async def test_platform_moderators_mute_or_remove_one_speaker(tc: httpx.AsyncClient, staff: Staff) -> None:
    host, speaker, moderator = await staff(), await staff(), await staff("moderator")
    space = await live_space(tc, host)
    await _speaker_in(tc, space["id"], host, speaker)
    common = {"target_kind": "space", "target_id": space["id"], "speaker_id": speaker["account_id"], **TERMS}
    muted = await decide(tc, moderator, action="mute_speaker", **common)
    roster = {m["account_id"]: m for m in (await tc.get(f"/api/spaces/{space['id']}/members")).json()["members"]}
    assert roster[speaker["account_id"]]["muted"] is True and muted["affected_account_id"] == speaker["account_id"]
    removed = await decide(tc, moderator, action="remove_speaker", **common)
    roster = {m["account_id"]: m for m in (await tc.get(f"/api/spaces/{space['id']}/members")).json()["members"]}
    assert speaker["account_id"] not in roster  # removed members are hidden and blocked
    r = await tc.post(f"/api/spaces/{space['id']}/join", json={}, headers=speaker["headers"])
    assert r.status_code == 403 and r.json()["code"] == "removed_from_space"
    kinds = [
        m["body"]["action"] for m in (await tc.get("/api/me/inbox", headers=speaker["headers"])).json()["messages"]
    ]
    assert sorted(kinds) == ["mute_speaker", "remove_speaker"]
    assert (await tc.get(f"/api/spaces/{space['id']}")).json()["state"] == "live"
    # the speaker, not the host, may appeal; the reversal is addressed to the speaker too
    path = f"/api/decisions/{removed['id']}/appeals"
    assert (await tc.post(path, json={"text": "Why?"}, headers=host["headers"])).status_code == 403
    appeal = (await tc.post(path, json={"text": "I was quoting."}, headers=speaker["headers"])).json()
    reviewer = await staff("moderator")
    r = await tc.post(
        f"/api/admin/appeals/{appeal['id']}/decision",
        json={"outcome": "reversed", "reasons": "Quoting to condemn."},
        headers=reviewer["headers"],
    )
    assert r.json()["reversal"]["affected_account_id"] == speaker["account_id"]
    messages = (await tc.get("/api/me/inbox", headers=speaker["headers"])).json()["messages"]
    assert "reversal" in [m["body"].get("action") for m in messages]
    rejoined = await tc.post(f"/api/spaces/{space['id']}/join", json={}, headers=speaker["headers"])
    assert rejoined.status_code == 200  # the removal was lifted with the reversal


async def test_suspending_a_host_ends_only_live_spaces_and_a_reinstated_host_starts_the_scheduled_one(
    tc: httpx.AsyncClient, staff: Staff, clock: Clock
) -> None:
    host, moderator, reviewer = await staff(), await staff("moderator"), await staff("moderator")
    live = await live_space(tc, host)
    r = await tc.post(
        "/api/spaces", json={"title": "Next week", "scheduled_start": clock.now + 7 * 86400}, headers=host["headers"]
    )
    scheduled = r.json()
    decision = await decide(
        tc, moderator, action="suspend_account", target_kind="account", target_id=host["handle"], **TERMS
    )
    assert (await tc.get(f"/api/spaces/{live['id']}")).json()["ended_reason"] == "host_suspended"
    still = (await tc.get(f"/api/spaces/{scheduled['id']}")).json()
    assert still["state"] == "scheduled" and still["ended_reason"] is None
    appeal = await tc.post(
        f"/api/decisions/{decision['id']}/appeals", json={"text": "Not me."}, headers=host["headers"]
    )
    reversal_reason = "The recording shows someone else speaking."
    r = await tc.post(
        f"/api/admin/appeals/{appeal.json()['id']}/decision",
        json={"outcome": "reversed", "reasons": reversal_reason},
        headers=reviewer["headers"],
    )
    assert r.status_code == 200, r.text
    started = await tc.post(f"/api/spaces/{scheduled['id']}/start", headers=host["headers"])
    assert started.status_code == 200 and started.json()["state"] == "live"
    history = (await tc.get("/api/me/account-history", headers=host["headers"])).json()["history"]
    assert [h["to_status"] for h in history] == ["suspended", "active"]
    assert reversal_reason in history[1]["public_reason"]
    assert history[1]["public_reason"] != history[0]["public_reason"]


async def test_after_a_timed_suspension_ends_the_account_shows_as_active(
    tc: httpx.AsyncClient, staff: Staff, clock: Clock
) -> None:
    person, moderator = await staff(), await staff("moderator")
    until = clock.now + 86400
    await decide(
        tc, moderator, action="suspend_account", target_kind="account", target_id=person["handle"], until=until, **TERMS
    )
    me = (await tc.get("/api/me", headers=person["headers"])).json()
    assert me["status"] == "suspended" and me["suspended_until"] == until
    clock.now = until + 1
    me = (await tc.get("/api/me", headers=person["headers"])).json()
    assert me["status"] == "active" and me["suspended_until"] is None
    assert (await tc.get(f"/api/accounts/{person['handle']}")).json()["status"] == "active"
