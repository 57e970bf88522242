"""Every statement of reasons export validates against the shipped JSON Schema (one by one, in bulk
over HTTP and from `townhall sor export`); a tampered audit log fails `townhall audit verify`; the
transparency report comes as JSON, as a page with charts and from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.support.api import live_space
from tests.trust.conftest import Clock, Staff
from tests.trust.support import ILLEGAL, TERMS, decide, notice
from townhall.trust import reasons


async def _every_kind(tc: httpx.AsyncClient, staff: Staff, clock: Clock) -> dict[str, dict[str, Any]]:
    moderator, host, speaker, flagger = (
        await staff("moderator"),
        await staff(),
        await staff(),
        await staff("trusted_flagger"),
    )
    space = await live_space(tc, host)
    await tc.post(
        f"/api/spaces/{space['id']}/invite", json={"account_id": speaker["account_id"]}, headers=host["headers"]
    )
    await tc.post(f"/api/spaces/{space['id']}/invite/accept", headers=speaker["headers"])
    on_space = {"target_kind": "space", "target_id": space["id"]}
    flagged = await notice(tc, space["id"], flagger["headers"])
    made = {
        "label": await decide(tc, moderator, action="label", label="Disputed claims", notice_ids=[flagged],
                              **on_space, **TERMS),
        "demote": await decide(tc, moderator, action="restrict_discovery", automated_detection=True,
                               automated_decision="partially", until=clock.now + 86400, **on_space, **TERMS),
        "withhold": await decide(tc, moderator, action="withhold", countries=["DE", "AT", "TR"], **on_space, **ILLEGAL),
        "withhold_outside_eea": await decide(tc, moderator, action="withhold", countries=["TR"], **on_space, **ILLEGAL),
        "mute": await decide(tc, moderator, action="mute_speaker", speaker_id=speaker["account_id"],
                             **on_space, **TERMS),
        "remove": await decide(tc, moderator, action="remove_speaker", speaker_id=speaker["account_id"],
                               **on_space, **TERMS),
        "end": await decide(tc, moderator, action="end_space", **on_space, **ILLEGAL),
        "suspend": await decide(tc, moderator, action="suspend_account", target_kind="account",
                                target_id=host["account_id"], **TERMS),
    }  # fmt: skip
    return made


async def test_every_export_validates_against_the_shipped_schema(
    bc: httpx.AsyncClient, both_staff: Staff, clock: Clock, both_app: Any, capsys: Any
) -> None:
    made = await _every_kind(bc, both_staff, clock)
    moderator = await both_staff("moderator")
    exported: dict[str, dict[str, Any]] = {}
    for name, decision in made.items():
        r = await bc.get(f"/api/admin/decisions/{decision['id']}/sor.json", headers=moderator["headers"])
        if name == "withhold_outside_eea":
            assert r.status_code == 409  # the database takes EEA countries only
            continue
        assert r.status_code == 200, r.text
        assert reasons.problems(r.json()) == [], name
        exported[name] = r.json()
    assert exported["label"]["source_type"] == "SOURCE_TRUSTED_FLAGGER"
    assert exported["demote"]["automated_detection"] == "Yes"
    assert exported["demote"]["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"
    assert exported["withhold"]["territorial_scope"] == ["AT", "DE"]
    assert exported["withhold"]["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    assert exported["remove"]["decision_visibility_other"] == "Speaker removed from a live audio space"
    assert exported["end"]["source_type"] == "SOURCE_VOLUNTARY" and len(exported["end"]["territorial_scope"]) == 30
    assert exported["suspend"]["end_date_account_restriction"] is None  # indefinite

    bulk = await bc.get("/api/admin/sor-export", headers=moderator["headers"])
    lines = [json.loads(line) for line in bulk.text.splitlines()]
    assert sorted(s["puid"] for s in lines) == sorted(s["puid"] for s in exported.values())
    assert all(reasons.problems(s) == [] for s in lines)

    from townhall.commands.trust import sor_verb

    rt = both_app.state.runtime
    year = str(__import__("datetime").datetime.fromtimestamp(clock.now).year)
    args = argparse.Namespace(action="export", start=f"{year}-01-01", end=f"{year}-12-31", data_dir=None)
    assert await sor_verb(args, rt.settings) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == lines


async def test_a_tampered_audit_log_fails_audit_verify(
    bc: httpx.AsyncClient, both_staff: Staff, both_app: Any, capsys: Any
) -> None:
    host, moderator = await both_staff(), await both_staff("moderator")
    space = await live_space(bc, host)
    notice_id = await notice(bc, space["id"])
    await decide(bc, moderator, notice_ids=[notice_id], action="end_space", target_kind="space",
                 target_id=space["id"], **ILLEGAL)  # fmt: skip
    from townhall.commands.trust import audit_verb

    rt = both_app.state.runtime
    data_dir = str(rt.settings.data_dir)
    args = argparse.Namespace(action="verify", data_dir=data_dir, start="2000-01-01", end="2100-01-01")
    assert await audit_verb(args, rt.settings) == 0
    assert capsys.readouterr().out.strip() == "audit log intact: 2 entries verified"

    async with both_app.state.runtime.db.begin() as conn:
        await conn.execute(
            sa.text("UPDATE trust_audit_log SET payload = replace(payload, 'end_space', 'no_action') WHERE seq = 2")
        )
    env = {"TOWNHALL_DATABASE_URL": rt.settings.database_url} if rt.settings.database_url else {}
    code, err = await _cli("audit", "verify", "--data-dir", data_dir, env=env)
    assert code == 1 and "BROKEN at entry 2" in err
    admin = await both_staff("admin")
    verified = (await bc.get("/api/admin/audit/verify", headers=admin["headers"])).json()
    assert verified["ok"] is False and verified["first_bad_seq"] == 2


async def test_a_truncated_audit_log_fails_verification(tc: httpx.AsyncClient, staff: Staff, trust_app: Any) -> None:
    host, admin = await staff(), await staff("admin")
    space = await live_space(tc, host)
    for _ in range(3):
        await notice(tc, space["id"])
    async with trust_app.state.runtime.db.begin() as conn:
        await conn.execute(sa.text("DELETE FROM trust_audit_log WHERE seq = 3"))
    verified = (await tc.get("/api/admin/audit/verify", headers=admin["headers"])).json()
    assert verified["ok"] is False and verified["checked"] == 2


async def _cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    command = str(Path(sys.executable).parent / "townhall")
    pipe = asyncio.subprocess.PIPE
    environment = {**os.environ, **(env or {})}
    proc = await asyncio.create_subprocess_exec(command, *argv, stdout=pipe, stderr=pipe, env=environment)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, (out if proc.returncode == 0 else err).decode().strip()


async def test_the_transparency_report_as_json_page_and_command(
    tc: httpx.AsyncClient, staff: Staff, clock: Clock, trust_app: Any, tmp_path: Path
) -> None:
    made = await _every_kind(tc, staff, clock)
    shown = (await tc.get(f"/api/spaces/{made['label']['target_id']}/moderation")).json()
    assert shown == {"labels": ["Disputed claims"], "discoverable": False, "withheld_in": ["AT", "DE", "TR"]}
    assert await trust_app.state.runtime.trust.effects.undiscoverable() == {made["label"]["target_id"]}
    report = (await tc.get("/api/transparency")).json()
    assert report["schema"] == "townhall.transparency.v1"
    assert report["notices_by_source"] == {"trusted_flagger": 1}
    assert report["notices_art16"][0]["from_trusted_flaggers"] == 1
    assert report["notices_art16"][0]["action_on_terms"] == 1
    assert report["decisions"]["total"] == 8 and report["decisions"]["by_action"]["withhold"] == 2
    assert report["decisions"]["automated_decision"]["partially"] == 1
    assert {w["country"] for w in report["withholdings"]} == {"AT", "DE", "TR"}
    page = await tc.get("/transparency")
    assert page.status_code == 200 and page.text.count('<figure class="chart">') == 10 and "<script" not in page.text
    assert "Decisions by type" in page.text
    # human labels beside the DSA codes, never cut off
    assert "Illegal or harmful speech <code>STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH</code>" in page.text

    year = str(__import__("datetime").datetime.fromtimestamp(clock.now).year)
    html_file = tmp_path / "report.html"
    data_dir = str(trust_app.state.runtime.settings.data_dir)
    code, out = await _cli(
        "transparency-report", "--from", f"{year}-01-01", "--to", f"{year}-12-31", "--data-dir", data_dir,
        "--html", str(html_file),
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["decisions"]["total"] == 8
    assert '<figure class="chart">' in html_file.read_text()


async def test_audit_export_prints_the_period_as_ndjson_that_verifies(
    tc: httpx.AsyncClient, staff: Staff, trust_app: Any, capsys: Any
) -> None:
    from townhall.commands.trust import audit_verb
    from townhall.domain import audit as chain

    host = await staff()
    space = await live_space(tc, host)
    for _ in range(3):
        await notice(tc, space["id"])
    rt = trust_app.state.runtime
    args = argparse.Namespace(action="export", data_dir=str(rt.settings.data_dir), start="2000-01-01", end="2100-01-01")
    assert await audit_verb(args, rt.settings) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3] and {e["action"] for e in lines} == {"notice.received"}
    entries = [chain.AuditEntry(**{**e, "payload": e["payload"]}) for e in lines]
    assert chain.verify(entries).ok


@pytest.mark.parametrize("path", ["/api/transparency", "/transparency"])
@pytest.mark.parametrize("query", ["to=9999-12-31", "from=0001-01-01&to=9999-12-31", "to=2026-13-01"])
async def test_a_period_out_of_range_is_a_400_not_a_500(tc: httpx.AsyncClient, path: str, query: str) -> None:
    r = await tc.get(f"{path}?{query}")
    assert r.status_code == 400 and r.json()["code"] == "invalid_period", r.text


def test_the_report_page_gives_every_category_in_words_beside_its_code_in_full() -> None:
    from townhall.trust import reasons, transparency

    chart = transparency.bar_chart("Notices by category", {c: 1 for c in reasons.CATEGORIES})
    for code in reasons.CATEGORIES:
        assert f"<code>{code}</code>" in chart  # the code whole, however long
        assert "_" not in transparency.label(code) and "STATEMENT" not in transparency.label(code)
    assert "Negative effects on civic discourse or elections <code>" in chart
    assert "Other violation of the terms and conditions <code>" in chart
