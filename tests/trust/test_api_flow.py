"""End to end through the API on SQLite and PostgreSQL: notice -> decision -> statement of reasons ->
appeal -> reversal -> reinstatement, with the exports valid and the audit chain intact."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import live_space, register
from tests.trust.conftest import staff_maker
from tests.trust.support import ILLEGAL, decide, notice
from townhall.trust import reasons


async def test_notice_decision_statement_appeal_reversal_reinstatement(bc: httpx.AsyncClient, both_app: Any) -> None:
    staff = staff_maker(bc, both_app)
    host, reporter = await staff(), await register(bc)
    moderator, reviewer, admin = await staff("moderator"), await staff("moderator"), await staff("admin")
    space = await live_space(bc, host)

    # Anyone reports, signed in or not; the notice is acknowledged at once with an id and queued.
    anonymous_id = await notice(bc, space["id"])
    signed_id = await notice(bc, space["id"], reporter["headers"])
    queue = (await bc.get("/api/admin/queue", headers=moderator["headers"])).json()["notices"]
    assert {n["id"] for n in queue} == {anonymous_id, signed_id}
    assert all(n["items"][0]["kind"] == "space_live" for n in queue)

    # The moderator suspends the host for a week: the live space ends, the host gets a statement.
    until = both_app.state.runtime.clock() + 7 * 86400
    decision = await decide(
        bc,
        moderator,
        notice_ids=[anonymous_id, signed_id],
        action="suspend_account",
        target_kind="account",
        target_id=host["account_id"],
        until=until,
        **ILLEGAL,
    )
    assert decision["basis"] == "notice" and decision["statement_id"]
    assert (await bc.get(f"/api/spaces/{space['id']}")).json()["state"] == "ended"
    assert (await bc.get("/api/me", headers=host["headers"])).json()["status"] == "suspended"
    assert (await bc.get("/api/admin/queue", headers=moderator["headers"])).json()["notices"] == []

    inbox = (await bc.get("/api/me/inbox", headers=host["headers"])).json()["messages"]
    assert [m["kind"] for m in inbox] == ["statement_of_reasons"]
    statement = (await bc.get(f"/api/me/statements/{decision['statement_id']}", headers=host["headers"])).json()
    assert "Section 130" in statement["text"] and "appeal" in statement["text"]
    assert reasons.problems(statement["tdb"]) == []
    assert statement["tdb"]["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert statement["tdb"]["source_type"] == "SOURCE_ARTICLE_16"
    assert host["handle"] not in str(statement["tdb"])  # no personal data in the submission
    notified = (await bc.get("/api/me/inbox", headers=reporter["headers"])).json()["messages"]
    assert [m["kind"] for m in notified] == ["notice_decided"]
    assert "Article 20" in notified[0]["body"]["redress"] and notified[0]["body"]["automated"] is False
    one = (await bc.get(f"/api/admin/decisions/{decision['id']}/sor.json", headers=moderator["headers"])).json()
    assert one == statement["tdb"]

    # The host appeals; the moderator who decided may not decide the appeal; another one reverses it.
    r = await bc.post(
        f"/api/decisions/{decision['id']}/appeals",
        json={"text": "I quoted a speech to refute it."},
        headers=host["headers"],
    )
    assert r.status_code == 201, r.text
    appeal = r.json()
    assert appeal["role"] == "affected_recipient" and appeal["state"] == "open"
    path = f"/api/admin/appeals/{appeal['id']}/decision"
    body = {"outcome": "reversed", "reasons": "The audio quotes the statement in order to condemn it."}
    r = await bc.post(path, json=body, headers=moderator["headers"])
    assert r.status_code == 403 and r.json()["code"] == "same_moderator"
    wrong = {**body, "manifestly_unfounded": True}
    r = await bc.post(path, json=wrong, headers=reviewer["headers"])
    assert r.status_code == 400 and r.json()["code"] == "unfounded_needs_upheld"
    r = await bc.post(path, json=body, headers=reviewer["headers"])
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["outcome"] == "reversed" and decided["reversal"]["basis"] == "appeal_reversal"
    assert decided["new_decision_id"] == decided["reversal"]["id"]

    # Reinstated, with the history kept and visible to the holder and to moderators.
    assert (await bc.get("/api/me", headers=host["headers"])).json()["status"] == "active"
    history = (await bc.get("/api/me/account-history", headers=host["headers"])).json()["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [("active", "suspended"), ("suspended", "active")]
    assert history[1]["actor_id"] == reviewer["account_id"] and "internal_note" not in history[0]
    seen = await bc.get(f"/api/admin/accounts/{host['account_id']}/history", headers=moderator["headers"])
    assert "internal_note" in seen.json()["history"][0]
    original = (await bc.get(f"/api/admin/decisions/{decision['id']}", headers=moderator["headers"])).json()
    assert original["state"] == "superseded"
    kinds = [m["kind"] for m in (await bc.get("/api/me/inbox", headers=host["headers"])).json()["messages"]]
    assert sorted(kinds) == ["appeal_decided", "statement_of_reasons", "statement_of_reasons"]
    r = await bc.post("/api/spaces", json={"title": "Back again"}, headers=host["headers"])
    assert r.status_code == 201

    # Bulk export: one valid statement (the reversal is not submitted); the audit chain verifies.
    export = await bc.get("/api/admin/sor-export", headers=moderator["headers"])
    lines = [line for line in export.text.splitlines() if line]
    assert len(lines) == 1 and reasons.problems(__import__("json").loads(lines[0])) == []
    verified = (await bc.get("/api/admin/audit/verify", headers=admin["headers"])).json()
    assert verified["ok"] is True and verified["checked"] >= 6
    entries = (await bc.get("/api/admin/audit", headers=admin["headers"])).json()["entries"]
    actions = [e["action"] for e in entries]
    assert actions[:3] == ["notice.received", "notice.received", "decision.made"]
    assert "appeal.lodged" in actions and "appeal.reversed" in actions
