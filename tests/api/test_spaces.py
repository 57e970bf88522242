"""Spaces and roles over HTTP: lifecycle, listing, requests to speak, invitations, mute, demote, remove."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import live_space, register


async def test_create_schedule_start_end(client: httpx.AsyncClient, app: Any) -> None:
    host = await register(client)
    start_at = app.state.runtime.clock() + 3600
    r = await client.post(
        "/api/spaces", json={"title": "Later", "scheduled_start": start_at, "listener_cap": 10}, headers=host["headers"]
    )
    assert r.status_code == 201
    space = r.json()
    assert space["state"] == "scheduled" and space["listener_cap"] == 10 and space["recording"] is True
    listed = (await client.get("/api/spaces?state=scheduled")).json()["spaces"]
    assert [s["id"] for s in listed] == [space["id"]]
    assert (await client.post(f"/api/spaces/{space['id']}/start", headers=host["headers"])).json()["state"] == "live"
    assert [s["id"] for s in (await client.get("/api/spaces?state=live")).json()["spaces"]] == [space["id"]]
    ended = (await client.post(f"/api/spaces/{space['id']}/end", headers=host["headers"])).json()
    assert ended["state"] == "ended" and ended["ended_at"] is not None
    r = await client.post(f"/api/spaces/{space['id']}/start", headers=host["headers"])
    assert r.status_code == 410 and r.json()["code"] == "space_ended"


async def test_the_listing_names_each_host_and_sends_nobody_to_an_untokened_playlist(
    client: httpx.AsyncClient,
) -> None:
    ada, bo = await register(client, "ada_host"), await register(client, "bo_host")
    first, second = await live_space(client, ada), await live_space(client, bo)
    listed = {s["id"]: s for s in (await client.get("/api/spaces?state=live")).json()["spaces"]}
    assert listed[first["id"]]["host"] == "ada_host" and listed[second["id"]]["host"] == "bo_host"
    for space in [*listed.values(), (await client.get(f"/api/spaces/{first['id']}")).json()]:
        assert "listener_url" not in space  # a playlist without a token cannot play: join for one
        assert space["page_url"].endswith(f"/s/{space['id']}")


async def test_only_the_host_starts_and_ends(client: httpx.AsyncClient) -> None:
    host, other = await register(client), await register(client)
    space = await live_space(client, host)
    r = await client.post(f"/api/spaces/{space['id']}/end", headers=other["headers"])
    assert r.status_code == 403 and r.json()["code"] == "not_allowed"


async def test_request_accept_mute_unmute_demote(client: httpx.AsyncClient) -> None:
    host, fan = await register(client), await register(client)
    sid = (await live_space(client, host))["id"]
    base = f"/api/spaces/{sid}"
    assert (await client.post(f"{base}/requests", headers=fan["headers"])).status_code == 201
    pending = (await client.get(f"{base}/requests", headers=host["headers"])).json()["members"]
    assert [m["handle"] for m in pending] == [fan["handle"]]
    # a listener cannot see the queue nor accept itself
    assert (await client.get(f"{base}/requests", headers=fan["headers"])).status_code == 403
    r = await client.post(f"{base}/accept", json={"account_id": fan["account_id"]}, headers=fan["headers"])
    assert r.status_code == 403
    r = await client.post(f"{base}/accept", json={"account_id": fan["account_id"]}, headers=host["headers"])
    assert r.status_code == 204
    roles = {m["handle"]: m for m in (await client.get(f"{base}/members")).json()["members"]}
    assert roles[fan["handle"]]["role"] == "speaker" and roles[fan["handle"]]["muted"] is False
    # host mutes; the host cannot unmute them; the speaker can unmute themself
    await client.post(f"{base}/mute", json={"account_id": fan["account_id"], "muted": True}, headers=host["headers"])
    r = await client.post(
        f"{base}/mute", json={"account_id": fan["account_id"], "muted": False}, headers=host["headers"]
    )
    assert r.status_code == 403
    r = await client.post(
        f"{base}/mute", json={"account_id": fan["account_id"], "muted": False}, headers=fan["headers"]
    )
    assert r.status_code == 204
    # the speaker may not mute the host; the host moves them back to listener
    r = await client.post(f"{base}/mute", json={"account_id": host["account_id"]}, headers=fan["headers"])
    assert r.status_code == 403
    r = await client.post(f"{base}/demote", json={"account_id": fan["account_id"]}, headers=host["headers"])
    assert r.status_code == 204
    roles = {m["handle"]: m["role"] for m in (await client.get(f"{base}/members")).json()["members"]}
    assert roles[fan["handle"]] == "listener"


async def test_invite_and_accept(client: httpx.AsyncClient) -> None:
    host, guest = await register(client), await register(client)
    sid = (await live_space(client, host))["id"]
    r = await client.post(f"/api/spaces/{sid}/invite/accept", headers=guest["headers"])
    assert r.status_code == 403 and r.json()["code"] == "not_invited"
    r = await client.post(
        f"/api/spaces/{sid}/invite", json={"account_id": guest["account_id"]}, headers=host["headers"]
    )
    assert r.status_code == 204
    assert (await client.post(f"/api/spaces/{sid}/invite/accept", headers=guest["headers"])).status_code == 204
    r = await client.post(f"/api/spaces/{sid}/speaker-token", headers=guest["headers"])
    assert r.status_code == 200 and r.json()["token"].startswith("v1.") and r.json()["whip_url"].endswith(sid)


async def test_listener_gets_no_speaker_token(client: httpx.AsyncClient) -> None:
    host, fan = await register(client), await register(client)
    sid = (await live_space(client, host))["id"]
    r = await client.post(f"/api/spaces/{sid}/speaker-token", headers=fan["headers"])
    assert r.status_code == 403


async def test_cohost_limit_and_speaker_limit(client: httpx.AsyncClient) -> None:
    host = await register(client)
    sid = (await live_space(client, host))["id"]
    people = [await register(client) for _ in range(3)]
    for p in people[:2]:
        await client.post(f"/api/spaces/{sid}/invite", json={"account_id": p["account_id"]}, headers=host["headers"])
        r = await client.post(
            f"/api/spaces/{sid}/cohost", json={"account_id": p["account_id"]}, headers=host["headers"]
        )
        assert r.status_code == 204
    r = await client.post(
        f"/api/spaces/{sid}/cohost", json={"account_id": people[2]["account_id"]}, headers=host["headers"]
    )
    assert r.status_code in (404, 409)


async def test_removed_listener_is_blocked_from_rejoining(client: httpx.AsyncClient) -> None:
    host, troll = await register(client), await register(client)
    sid = (await live_space(client, host))["id"]
    assert (await client.post(f"/api/spaces/{sid}/join", json={}, headers=troll["headers"])).status_code == 200
    await client.post(f"/api/spaces/{sid}/requests", headers=troll["headers"])
    r = await client.post(
        f"/api/spaces/{sid}/remove", json={"account_id": troll["account_id"]}, headers=host["headers"]
    )
    assert r.status_code == 204
    r = await client.post(f"/api/spaces/{sid}/join", json={}, headers=troll["headers"])
    assert r.status_code == 403 and r.json()["code"] == "removed_from_space"
    assert (await client.get(f"/api/spaces/{sid}/requests", headers=host["headers"])).json()["members"] == []


async def test_suspended_account_cannot_host(client: httpx.AsyncClient, app: Any) -> None:
    from townhall.domain.accounts import AccountStatus

    host = await register(client)
    await app.state.runtime.accounts.set_status(host["account_id"], AccountStatus.SUSPENDED)
    r = await client.post("/api/spaces", json={"title": "no"}, headers=host["headers"])
    assert r.status_code == 403 and r.json()["code"] == "account_suspended"


async def test_host_removes_a_listener_who_never_asked_to_speak(client: httpx.AsyncClient) -> None:
    host, quiet = await register(client), await register(client)
    sid = (await live_space(client, host))["id"]
    assert (await client.post(f"/api/spaces/{sid}/join", json={}, headers=quiet["headers"])).status_code == 200
    r = await client.post(
        f"/api/spaces/{sid}/remove", json={"account_id": quiet["account_id"]}, headers=host["headers"]
    )
    assert r.status_code == 204
    r = await client.post(f"/api/spaces/{sid}/join", json={}, headers=quiet["headers"])
    assert r.status_code == 403 and r.json()["code"] == "removed_from_space"
    r = await client.post(f"/api/spaces/{sid}/remove", json={"account_id": "no-such-account"}, headers=host["headers"])
    assert r.status_code == 404


async def test_a_refused_invitation_leaves_no_trace_and_removed_people_cannot_be_invited(
    client: httpx.AsyncClient,
) -> None:
    host, fan, friend = await register(client), await register(client), await register(client)
    sid = (await live_space(client, host))["id"]
    r = await client.post(
        f"/api/spaces/{sid}/invite", json={"account_id": friend["account_id"]}, headers=fan["headers"]
    )
    assert r.status_code == 403
    handles = {m["handle"] for m in (await client.get(f"/api/spaces/{sid}/members")).json()["members"]}
    assert handles == {host["handle"]}
    await client.post(f"/api/spaces/{sid}/remove", json={"account_id": friend["account_id"]}, headers=host["headers"])
    r = await client.post(
        f"/api/spaces/{sid}/invite", json={"account_id": friend["account_id"]}, headers=host["headers"]
    )
    assert r.status_code == 403 and r.json()["code"] == "target_removed"
