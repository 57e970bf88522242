"""Orders from authorities (Art. 9, 10) produce decisions with their timings kept; misuse (Art. 23):
repeat manifestly illegal content and manifestly unfounded notices are warned, then suspended."""

from __future__ import annotations

import httpx

from tests.support.api import live_space
from tests.trust.conftest import Clock, Staff
from tests.trust.support import ILLEGAL, TERMS, decide, notice


async def test_an_order_is_recorded_acted_on_and_timed(tc: httpx.AsyncClient, staff: Staff, clock: Clock) -> None:
    admin, host = await staff("admin"), await staff()
    space = await live_space(tc, host)
    order = {
        "kind": "act_against_content",
        "authority": "Landgericht Berlin",
        "member_state": "de",
        "legal_basis": "Section 130 StGB; Art. 9 DSA",
        "reasons": "Incitement to hatred in the live audio at 00:41.",
        "target_kind": "space",
        "target_id": space["id"],
        "territorial_scope": ["DE"],
        "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    }
    recorded = await tc.post("/api/admin/orders", json=order, headers=admin["headers"])
    assert recorded.status_code == 201, recorded.text
    row = recorded.json()
    assert row["state"] == "receipt_confirmed" and row["receipt_confirmed_at"] == row["received_at"]
    clock.now += 3600
    act = {"outcome": "effect_given", "decision": {"action": "withhold", "countries": ["DE"], **ILLEGAL}}
    r = await tc.post(f"/api/admin/orders/{row['id']}/act", json=act, headers=admin["headers"])
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["order"]["state"] == "effect_given" and done["decision"]["basis"] == "art9_order"
    assert done["order"]["effect_given_at"] - done["order"]["received_at"] == 3600
    assert done["order"]["decision_id"] == done["decision"]["id"]
    # Art. 17(5): no Transparency Database statement for an Art. 9 order; the owner is still informed.
    sor = await tc.get(f"/api/admin/decisions/{done['decision']['id']}/sor.json", headers=admin["headers"])
    assert sor.status_code == 409
    assert [m["kind"] for m in (await tc.get("/api/me/inbox", headers=host["headers"])).json()["messages"]] == [
        "statement_of_reasons"
    ]
    r = await tc.post(
        f"/api/spaces/{space['id']}/join", json={"device_id": "device-de-0009"}, headers={"X-Country-Code": "DE"}
    )
    assert r.status_code == 451 and "legal demand" in r.json()["message"]
    again = await tc.post(f"/api/admin/orders/{row['id']}/act", json=act, headers=admin["headers"])
    assert again.status_code == 409


async def test_repeat_manifestly_illegal_content_is_warned_then_suspended(
    tc: httpx.AsyncClient, staff: Staff, clock: Clock
) -> None:
    offender, moderator = await staff(), await staff("moderator")
    for _ in range(3):
        clock.now += 60
        space = await live_space(tc, offender)
        await decide(
            tc, moderator, action="end_space", target_kind="space", target_id=space["id"], manifestly=True, **ILLEGAL
        )
    inbox = (await tc.get("/api/me/inbox", headers=offender["headers"])).json()["messages"]
    assert [m["kind"] for m in inbox].count("misuse_warn") == 1
    assert (await tc.get("/api/me", headers=offender["headers"])).json()["status"] == "active"
    clock.now += 60
    space = await live_space(tc, offender)
    await decide(
        tc, moderator, action="end_space", target_kind="space", target_id=space["id"], manifestly=True, **ILLEGAL
    )
    me = (await tc.get("/api/me", headers=offender["headers"])).json()
    assert me["status"] == "suspended" and me["suspended_until"] is not None
    history = (await tc.get("/api/me/account-history", headers=offender["headers"])).json()["history"]
    assert history[-1]["reason_code"] == "misuse" and history[-1]["to_status"] == "suspended"
    report = (await tc.get("/api/transparency")).json()
    assert report["suspensions_art23"]["manifestly_illegal_content"] == 1
    assert report["warnings_art23"]["manifestly_illegal_content"] == 1


async def test_a_notifier_of_manifestly_unfounded_notices_is_warned_then_not_processed(
    tc: httpx.AsyncClient, staff: Staff, clock: Clock
) -> None:
    reporter, moderator, host = await staff(), await staff("moderator"), await staff()
    space = await live_space(tc, host)

    async def unfounded() -> None:
        clock.now += 60
        notice_id = await notice(tc, space["id"], reporter["headers"])
        await decide(
            tc,
            moderator,
            notice_ids=[notice_id],
            action="no_action",
            target_kind="space",
            target_id=space["id"],
            manifestly=True,
            category=TERMS["category"],
        )

    for _ in range(4):
        await unfounded()
    kinds = [m["kind"] for m in (await tc.get("/api/me/inbox", headers=reporter["headers"])).json()["messages"]]
    assert kinds.count("misuse_warn") == 1 and kinds.count("misuse_suspend") == 1
    r = await tc.post(
        "/api/notices",
        json={"items": [{"kind": "space", "id": space["id"]}], "explanation": "again", "bona_fide": True},
        headers=reporter["headers"],
    )
    assert r.status_code == 201 and r.json()["state"] == "not_processed"
    queue = (await tc.get("/api/admin/queue", headers=moderator["headers"])).json()["notices"]
    assert r.json()["id"] not in [n["id"] for n in queue]
    # others' notices are still processed
    assert (
        await tc.post(
            "/api/notices",
            json={"items": [{"kind": "space", "id": space["id"]}], "explanation": "x", "bona_fide": True},
        )
    ).json()["state"] == "queued"


async def test_a_complainant_of_manifestly_unfounded_appeals_is_warned_then_not_processed(
    tc: httpx.AsyncClient, staff: Staff, clock: Clock
) -> None:
    host, moderator, reviewer = await staff(), await staff("moderator"), await staff("moderator")

    async def appeal() -> httpx.Response:
        clock.now += 60
        space = await live_space(tc, host)
        decision = await decide(tc, moderator, action="label", label="Disputed", target_kind="space",
                                target_id=space["id"], **TERMS)  # fmt: skip
        return await tc.post(f"/api/decisions/{decision['id']}/appeals", json={"text": "No!"}, headers=host["headers"])

    for _ in range(4):
        lodged = (await appeal()).json()
        assert lodged["state"] == "open"
        r = await tc.post(
            f"/api/admin/appeals/{lodged['id']}/decision",
            json={"outcome": "upheld", "reasons": "The label is accurate.", "manifestly_unfounded": True},
            headers=reviewer["headers"],
        )
        assert r.status_code == 200, r.text
    kinds = [m["kind"] for m in (await tc.get("/api/me/inbox", headers=host["headers"])).json()["messages"]]
    assert kinds.count("misuse_warn") == 1 and kinds.count("misuse_suspend") == 1
    late = await appeal()
    assert late.status_code == 201 and late.json()["state"] == "not_processed"
    assert late.json()["id"] not in [
        a["id"] for a in (await tc.get("/api/admin/appeals", headers=reviewer["headers"])).json()["appeals"]
    ]
    report = (await tc.get("/api/transparency")).json()["suspensions_art23"]
    assert report["manifestly_unfounded_complaints"] == 1
    wrong = await tc.post(
        f"/api/admin/appeals/{late.json()['id']}/decision",
        json={"outcome": "upheld", "reasons": "x"},
        headers=reviewer["headers"],
    )
    assert wrong.status_code == 409 and wrong.json()["code"] == "appeal_not_open"
