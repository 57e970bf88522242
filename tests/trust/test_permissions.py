"""Only moderators act and only admins record orders or read the audit log; notices need no account."""

from __future__ import annotations

import httpx

from tests.support.api import live_space
from tests.trust.conftest import Staff
from tests.trust.support import ILLEGAL, notice


async def test_a_non_moderator_acting_gets_403_and_nothing_changes(tc: httpx.AsyncClient, staff: Staff) -> None:
    host, someone = await staff(), await staff()
    space = await live_space(tc, host)
    notice_id = await notice(tc, space["id"])
    body = {"notice_ids": [notice_id], "action": "end_space", "target_kind": "space", "target_id": space["id"]}
    r = await tc.post("/api/admin/decisions", json={**body, **ILLEGAL}, headers=someone["headers"])
    assert r.status_code == 403 and r.json()["code"] == "not_a_moderator"
    assert (await tc.get("/api/admin/queue", headers=someone["headers"])).status_code == 403
    assert (await tc.get("/api/admin/appeals", headers=someone["headers"])).status_code == 403
    assert (
        await tc.get(f"/api/admin/accounts/{host['account_id']}/history", headers=someone["headers"])
    ).status_code == 403
    assert (await tc.post("/api/admin/decisions", json=body)).status_code == 401
    assert (await tc.get(f"/api/spaces/{space['id']}")).json()["state"] == "live"
    # a trusted flagger is not a moderator either
    flagger = await staff("trusted_flagger")
    r = await tc.post("/api/admin/decisions", json={**body, **ILLEGAL}, headers=flagger["headers"])
    assert r.status_code == 403


async def test_orders_and_the_audit_log_are_for_admins_only(tc: httpx.AsyncClient, staff: Staff) -> None:
    moderator = await staff("moderator")
    assert (await tc.get("/api/admin/orders", headers=moderator["headers"])).status_code == 403
    assert (await tc.get("/api/admin/audit/verify", headers=moderator["headers"])).status_code == 403
    admin = await staff("admin")
    assert (await tc.get("/api/admin/audit/verify", headers=admin["headers"])).json()["ok"] is True


async def test_a_decision_needs_its_grounds(tc: httpx.AsyncClient, staff: Staff) -> None:
    moderator, host = await staff("moderator"), await staff()
    space = await live_space(tc, host)
    base = {"action": "end_space", "target_kind": "space", "target_id": space["id"]}
    r = await tc.post("/api/admin/decisions", json={**base, "ground": "illegal"}, headers=moderator["headers"])
    assert r.status_code == 400 and r.json()["code"] == "legal_ground_required"
    r = await tc.post(
        "/api/admin/decisions",
        json={**base, "action": "withhold", **ILLEGAL},
        headers=moderator["headers"],
    )
    assert r.status_code == 400 and r.json()["code"] == "countries_required"
    r = await tc.post(
        "/api/admin/decisions", json={**base, **ILLEGAL, "category": "NOPE"}, headers=moderator["headers"]
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_category"


async def test_an_admin_grants_and_takes_the_moderator_role_and_it_is_audited(
    tc: httpx.AsyncClient, staff: Staff
) -> None:
    admin, person, other_moderator = await staff("admin"), await staff(), await staff("moderator")
    path = f"/api/admin/accounts/{person['account_id']}/roles"
    assert (await tc.post(path, json={"role": "moderator"}, headers=other_moderator["headers"])).status_code == 403
    assert (await tc.get("/api/admin/queue", headers=person["headers"])).status_code == 403
    granted = await tc.post(path, json={"role": "moderator"}, headers=admin["headers"])
    assert granted.status_code == 200 and granted.json()["platform_roles"] == ["moderator"]
    assert (await tc.get("/api/admin/queue", headers=person["headers"])).status_code == 200
    await tc.post(path, json={"role": "moderator", "granted": False}, headers=admin["headers"])
    assert (await tc.get("/api/admin/queue", headers=person["headers"])).status_code == 403
    own = f"/api/admin/accounts/{admin['account_id']}/roles"
    assert (await tc.post(own, json={"role": "admin", "granted": False}, headers=admin["headers"])).status_code == 409
    entries = (await tc.get("/api/admin/audit", headers=admin["headers"])).json()["entries"]
    assert [(e["action"], e["payload"]["role"]) for e in entries] == [
        ("role.granted", "moderator"),
        ("role.revoked", "moderator"),
    ]
