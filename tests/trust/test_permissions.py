"""Only moderators act and only admins record orders or read the audit log; notices need no account."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_KEYS
from tests.support.api import auth, live_space
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


def test_townhall_grant_is_audited_and_an_unknown_handle_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`townhall grant` writes the API's `role.granted` entry (the OS user as the actor); a handle that does
    not exist is a one-line error, not a traceback."""
    from tests.trust.conftest import trust_settings
    from townhall.app import build_app
    from townhall.cli import main

    monkeypatch.setenv("TOWNHALL_TOKEN_KEYS", TEST_KEYS)
    settings = trust_settings(tmp_path)

    async def in_app(work: Callable[[httpx.AsyncClient, Any], Awaitable[Any]]) -> Any:
        application = build_app(settings)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await work(client, application)

    async def sign_up(client: httpx.AsyncClient, application: Any) -> None:
        await application.state.runtime.accounts.register("operator_pick", "a long password", "127.0.0.1")

    asyncio.run(in_app(sign_up))
    assert main(["grant", "operator_pick", "admin", "--data-dir", str(settings.data_dir)]) == 0
    capsys.readouterr()

    async def audit(client: httpx.AsyncClient, application: Any) -> list[dict[str, Any]]:
        signed = await application.state.runtime.accounts.login("operator_pick", "a long password", "127.0.0.1")
        r = await client.get("/api/admin/audit", headers=auth(signed.session_token))
        assert r.status_code == 200, r.text
        entries: list[dict[str, Any]] = r.json()["entries"]
        return entries

    entries = asyncio.run(in_app(audit))
    granted = [e for e in entries if e["action"] == "role.granted"]
    assert len(granted) == 1 and granted[0]["payload"] == {"role": "admin"}
    assert granted[0]["actor_kind"] == "operator" and granted[0]["actor_id"]

    capsys.readouterr()
    assert main(["grant", "nosuchuser", "moderator", "--data-dir", str(settings.data_dir)]) == 1
    err = capsys.readouterr().err.strip()
    assert "nosuchuser" in err and "Traceback" not in err and len(err.splitlines()) == 1
