"""Out-of-court disputes (Art. 21): recorded, closed with the body's outcome; implementing an outcome
for the recipient reverses the decision and reinstates the account. Referrals to law enforcement
(Art. 18) are recorded by moderators. Both appear in the transparency report."""

from __future__ import annotations

import httpx

from tests.support.api import live_space
from tests.trust.conftest import Clock, Staff
from tests.trust.support import TERMS, decide, notice


async def test_an_implemented_outcome_for_the_recipient_reinstates_the_account(
    tc: httpx.AsyncClient, staff: Staff, clock: Clock
) -> None:
    user, moderator, reviewer, admin = (
        await staff(),
        await staff("moderator"),
        await staff("moderator"),
        await staff("admin"),
    )
    suspend = {"action": "suspend_account", "target_kind": "account", "target_id": user["account_id"], **TERMS}
    decision = await decide(tc, moderator, **suspend)
    appeal = (
        await tc.post(f"/api/decisions/{decision['id']}/appeals", json={"text": "Not me."}, headers=user["headers"])
    ).json()
    upheld = await tc.post(
        f"/api/admin/appeals/{appeal['id']}/decision",
        json={"outcome": "upheld", "reasons": "The recording shows it."},
        headers=reviewer["headers"],
    )
    assert (
        upheld.status_code == 200 and (await tc.get("/api/me", headers=user["headers"])).json()["status"] == "suspended"
    )
    body = {"decision_id": decision["id"], "body_name": "User Rights ODS", "body_certification_ref": "DSC-IE-0001",
            "appeal_id": appeal["id"]}  # fmt: skip
    opened = await tc.post("/api/admin/disputes", json=body, headers=admin["headers"])
    assert opened.status_code == 201, opened.text
    assert (await tc.post("/api/admin/disputes", json=body, headers=moderator["headers"])).status_code == 403
    clock.now += 20 * 86400
    path = f"/api/admin/disputes/{opened.json()['id']}/close"
    closed = await tc.post(path, json={"outcome": "for_recipient", "implemented": True, "note": "Mistaken identity."},
                           headers=admin["headers"])  # fmt: skip
    assert closed.status_code == 200, closed.text
    out = closed.json()
    assert out["dispute"]["outcome"] == "for_recipient" and out["reversal"]["basis"] == "dispute_outcome"
    assert (await tc.get("/api/me", headers=user["headers"])).json()["status"] == "active"
    history = (await tc.get("/api/me/account-history", headers=user["headers"])).json()["history"]
    assert history[-1]["to_status"] == "active" and history[-1]["reason_code"] == "dispute_outcome"
    again = await tc.post(path, json={"outcome": "settled", "implemented": False}, headers=admin["headers"])
    assert again.status_code == 409
    report = (await tc.get("/api/transparency")).json()["out_of_court_art21"]
    assert report["submitted"] == 1 and report["outcomes"]["for_recipient"] == 1
    assert report["share_implemented"] == 1.0 and report["median_days_to_complete"] == 20.0


async def test_an_outcome_for_the_provider_changes_nothing(tc: httpx.AsyncClient, staff: Staff) -> None:
    user, moderator, admin = await staff(), await staff("moderator"), await staff("admin")
    suspend = {"action": "suspend_account", "target_kind": "account", "target_id": user["account_id"], **TERMS}
    decision = await decide(tc, moderator, **suspend)
    body = {"decision_id": decision["id"], "body_name": "ODS", "body_certification_ref": "DSC-1"}
    dispute = (await tc.post("/api/admin/disputes", json=body, headers=admin["headers"])).json()
    closed = await tc.post(f"/api/admin/disputes/{dispute['id']}/close",
                           json={"outcome": "for_provider", "implemented": True}, headers=admin["headers"])  # fmt: skip
    assert closed.json()["reversal"] is None
    assert (await tc.get("/api/me", headers=user["headers"])).json()["status"] == "suspended"


async def test_moderators_record_referrals_to_law_enforcement(tc: httpx.AsyncClient, staff: Staff) -> None:
    host, moderator, someone = await staff(), await staff("moderator"), await staff()
    space = await live_space(tc, host)
    notice_id = await notice(tc, space["id"], threat_to_life=True)
    body = {"notice_id": notice_id, "member_states": ["de", "AT"], "authority": "Bundeskriminalamt",
            "channel": "police portal", "summary": "Specific threat against a named person at 00:12."}  # fmt: skip
    assert (await tc.post("/api/admin/referrals", json=body, headers=someone["headers"])).status_code == 403
    r = await tc.post("/api/admin/referrals", json={**body, "member_states": ["Germany"]}, headers=moderator["headers"])
    assert r.status_code == 400
    r = await tc.post("/api/admin/referrals", json=body, headers=moderator["headers"])
    assert r.status_code == 201 and r.json()["member_states"] == ["AT", "DE"]
    listed = (await tc.get("/api/admin/referrals", headers=moderator["headers"])).json()["referrals"]
    assert [x["authority"] for x in listed] == ["Bundeskriminalamt"]
    report = (await tc.get("/api/transparency")).json()["referrals_art18"]
    assert report == {"sent": 1, "by_member_state": {"AT": 1, "DE": 1}}
