"""The shipped Transparency Database schema and the statement builder: every restricting action maps
to a valid statement on either ground; orders, reversals and no-action decisions are never submitted."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from townhall.domain.moderation import ActionKind, Automation, Basis, Decision, Ground, Proposal
from townhall.domain.notices import TargetKind
from townhall.trust import reasons

VALID: dict[str, Any] = {
    "puid": "th-dec-abc_123",
    "decision_visibility": ["DECISION_VISIBILITY_CONTENT_DISABLED"],
    "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
    "illegal_content_legal_ground": "Section 130 StGB",
    "illegal_content_explanation": "Incitement.",
    "content_type": ["CONTENT_TYPE_AUDIO"],
    "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "territorial_scope": ["DE"],
    "content_date": "2024-08-12",
    "application_date": "2024-08-14",
    "decision_facts": "Notice reviewed.",
    "source_type": "SOURCE_ARTICLE_16",
    "automated_detection": "No",
    "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
}


def test_the_schema_accepts_a_valid_statement_and_rejects_common_mistakes() -> None:
    assert reasons.problems(VALID) == []
    broken = {
        "non-EEA country": {**VALID, "territorial_scope": ["TR"]},
        "no decision": {k: v for k, v in VALID.items() if k != "decision_visibility"},
        "mixed grounds": {**VALID, "incompatible_content_ground": "ToS 5"},
        "other without text": {**VALID, "decision_visibility": ["DECISION_VISIBILITY_OTHER"]},
        "puid with a space": {**VALID, "puid": "th dec"},
        "unknown field": {**VALID, "title": "A space title"},
        "no territorial scope": {k: v for k, v in VALID.items() if k != "territorial_scope"},
    }
    for name, statement in broken.items():
        assert reasons.problems(statement), name


def decision(action: ActionKind, ground: Ground, **extra: Any) -> Decision:
    target = TargetKind.ACCOUNT if action is ActionKind.SUSPEND_ACCOUNT else TargetKind.SPACE_LIVE
    proposal = Proposal(
        action,
        target,
        "t1",
        "STATEMENT_CATEGORY_VIOLENCE",
        ground,
        legal_ground="Law 1",
        legal_explanation="Because.",
        tos_ground="ToS 1",
        tos_explanation="Because.",
        countries=("FR",) if action is ActionKind.WITHHOLD else (),
        label="Disputed",
        speaker_id="s1",
    )
    return replace(Decision("dec-1", Basis.NOTICE, proposal, "acct-owner-42", "mod-7", 1.8e9, 1.7e9), **extra)


@pytest.mark.parametrize("ground", list(Ground))
@pytest.mark.parametrize("action", [a for a in ActionKind if a not in (ActionKind.NO_ACTION, ActionKind.REVERSAL)])
def test_every_restricting_action_gives_a_valid_statement(action: ActionKind, ground: Ground) -> None:
    payload = reasons.to_tdb(decision(action, ground))
    assert payload is not None and reasons.problems(payload) == []
    assert payload["puid"] == "th-dec-dec-1" and payload["application_date"] == "2027-01-15"


def test_statements_are_not_submitted_for_orders_reversals_no_action_or_outside_the_eea() -> None:
    assert reasons.to_tdb(decision(ActionKind.END_SPACE, Ground.ILLEGAL, basis=Basis.ART9_ORDER)) is None
    assert reasons.to_tdb(decision(ActionKind.REVERSAL, Ground.ILLEGAL)) is None
    assert reasons.to_tdb(decision(ActionKind.NO_ACTION, Ground.ILLEGAL)) is None
    outside = decision(ActionKind.WITHHOLD, Ground.ILLEGAL)
    outside = replace(outside, proposal=replace(outside.proposal, countries=("TR", "US")))
    assert reasons.to_tdb(outside) is None


def test_the_source_and_automation_follow_the_decision() -> None:
    flagged = decision(ActionKind.LABEL, Ground.INCOMPATIBLE, source_trusted_flagger=True)
    assert (reasons.to_tdb(flagged) or {})["source_type"] == "SOURCE_TRUSTED_FLAGGER"
    terms_report = decision(ActionKind.LABEL, Ground.INCOMPATIBLE, source_illegal_claim=False)
    assert (reasons.to_tdb(terms_report) or {})["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"
    own = decision(ActionKind.END_SPACE, Ground.ILLEGAL, basis=Basis.OWN_INITIATIVE)
    automated = replace(
        own, proposal=replace(own.proposal, automated_detection=True, automated_decision=Automation.FULLY)
    )
    payload = reasons.to_tdb(automated) or {}
    assert payload["source_type"] == "SOURCE_VOLUNTARY" and payload["automated_detection"] == "Yes"
    assert payload["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert "acct-owner-42" not in str(payload) and "mod-7" not in str(payload)


def test_the_statement_text_names_what_why_and_how_to_appeal() -> None:
    text = reasons.body(decision(ActionKind.WITHHOLD, Ground.ILLEGAL), window_ends_at=1.9e9, months=6)
    assert "disabled in: FR" in text and "Legal ground: Law 1" in text
    assert "Article 20" in text and "out-of-court" in text and "court" in text
