"""Statements of reasons: the DSA Transparency Database submission object (Art. 24(5)) built from a
decision, validated against the shipped JSON Schema, and the text shown to the affected user (Art. 17).
Never puts personal data (names, handles, e-mails, addresses, titles) into the submission.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jsonschema

from townhall.domain.moderation import ActionKind, Automation, Basis, Decision, Ground
from townhall.domain.notices import TargetKind

SCHEMA_FILE = "tdb-statement.schema.json"
NO_ACTION_BASES = frozenset({Basis.ART9_ORDER, Basis.APPEAL_REVERSAL, Basis.DISPUTE_OUTCOME})  # S5; §11(3)

VISIBILITY = {
    ActionKind.END_SPACE: "DECISION_VISIBILITY_CONTENT_REMOVED",
    ActionKind.WITHHOLD: "DECISION_VISIBILITY_CONTENT_DISABLED",
    ActionKind.RESTRICT_DISCOVERY: "DECISION_VISIBILITY_CONTENT_DEMOTED",
    ActionKind.LABEL: "DECISION_VISIBILITY_CONTENT_LABELLED",
    ActionKind.REMOVE_SPEAKER: "DECISION_VISIBILITY_OTHER",
    ActionKind.MUTE_SPEAKER: "DECISION_VISIBILITY_OTHER",
}
VISIBILITY_OTHER = {
    ActionKind.REMOVE_SPEAKER: "Speaker removed from a live audio space",
    ActionKind.MUTE_SPEAKER: "Speaker muted in a live audio space",
}
AUTOMATED = {
    Automation.FULLY: "AUTOMATED_DECISION_FULLY",
    Automation.PARTIALLY: "AUTOMATED_DECISION_PARTIALLY",
    Automation.NOT: "AUTOMATED_DECISION_NOT_AUTOMATED",
}
WHAT = {
    ActionKind.END_SPACE: "Your live space was ended and removed.",
    ActionKind.REMOVE_SPEAKER: "You were removed as a speaker from a live space.",
    ActionKind.MUTE_SPEAKER: "You were muted as a speaker in a live space.",
    ActionKind.WITHHOLD: "Access to your content was disabled in: {countries}.",
    ActionKind.LABEL: "Your content was labelled: {label}.",
    ActionKind.RESTRICT_DISCOVERY: "Your content was removed from discovery, search and recommendations.",
    ActionKind.SUSPEND_ACCOUNT: "Your account was suspended {duration}; you cannot host or speak.",
    ActionKind.NO_ACTION: "No action was taken.",
    ActionKind.REVERSAL: "An earlier decision was reversed and its restrictions lifted.",
}
FACTS = {
    Basis.NOTICE: "Notice received through the notice and action mechanism and reviewed by a moderator.",
    Basis.OWN_INITIATIVE: "Found and reviewed by a moderator on the platform's own initiative.",
    Basis.MISUSE: "Measure under the misuse policy after a prior warning (Article 23 DSA).",
    Basis.ART9_ORDER: "Order from a Member State authority (Article 9 DSA).",
    Basis.AUTHORITY_OTHER: "Request from an authority that is not an Article 9 order.",
    Basis.APPEAL_REVERSAL: "Reversal after an internal complaint (Article 20 DSA).",
    Basis.DISPUTE_OUTCOME: "Reversal after a certified out-of-court dispute settlement body decided (Article 21 DSA).",
}
CONTENT = {
    TargetKind.SPACE_LIVE: "a live audio space",
    TargetKind.SPACE_REPLAY: "the recording of an audio space",
    TargetKind.CLIP: "a clip of an audio space",
    TargetKind.ACCOUNT: "an account and the audio spaces it hosts",
}
REDRESS = (
    "You can appeal this decision free of charge through the platform's internal complaint system "
    "(Article 20 DSA) for {months} months, until {until}. You may also refer the dispute to a certified "
    "out-of-court dispute settlement body (Article 21 DSA) or seek redress before a court."
)


@functools.cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(resources.files("townhall.trust").joinpath(SCHEMA_FILE).read_text())
    return loaded


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())


def _enum(name: str) -> tuple[str, ...]:
    prop = schema()["properties"][name]
    values = prop.get("enum") or prop["items"]["enum"]
    return tuple(v for v in values if v is not None)


CATEGORIES = _enum("category")
KEYWORDS = _enum("category_specification")
EEA = frozenset(_enum("territorial_scope"))


def problems(payload: dict[str, Any]) -> list[str]:
    """Why the object is not a valid submission (empty when it is)."""
    return [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in _validator().iter_errors(payload)]


def day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).date().isoformat()


def territorial_scope(decision: Decision) -> list[str]:
    """Where the restriction applies, as EEA codes: everywhere means all 30."""
    if decision.action is ActionKind.WITHHOLD:
        return sorted(c for c in decision.proposal.countries if c in EEA)
    return sorted(EEA)


def applies_to_tdb(decision: Decision) -> bool:
    """Whether the decision is submitted to the Transparency Database at all."""
    return decision.restricts and decision.basis not in NO_ACTION_BASES and bool(territorial_scope(decision))


def source_type(decision: Decision) -> str:
    if decision.basis is Basis.NOTICE:
        if decision.source_trusted_flagger:
            return "SOURCE_TRUSTED_FLAGGER"
        return "SOURCE_ARTICLE_16" if decision.source_illegal_claim else "SOURCE_TYPE_OTHER_NOTIFICATION"
    if decision.basis is Basis.AUTHORITY_OTHER:
        return "SOURCE_TYPE_OTHER_NOTIFICATION"
    return "SOURCE_VOLUNTARY"


def _ground(decision: Decision) -> dict[str, Any]:
    p = decision.proposal
    if p.ground is Ground.ILLEGAL:
        return {
            "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
            "illegal_content_legal_ground": p.legal_ground.strip(),
            "illegal_content_explanation": p.legal_explanation.strip(),
        }
    return {
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "incompatible_content_ground": p.tos_ground.strip(),
        "incompatible_content_explanation": p.tos_explanation.strip(),
        "incompatible_content_illegal": "Yes" if p.tos_also_illegal else "No",
    }


def _restriction(decision: Decision) -> dict[str, Any]:
    p = decision.proposal
    until = day(p.until) if p.until is not None else None
    if p.action is ActionKind.SUSPEND_ACCOUNT:
        return {
            "decision_account": "DECISION_ACCOUNT_SUSPENDED",
            "end_date_account_restriction": until,
            "decision_provision": "DECISION_PROVISION_PARTIAL_SUSPENSION",
            "end_date_service_restriction": until,
        }
    out: dict[str, Any] = {"decision_visibility": [VISIBILITY[p.action]], "end_date_visibility_restriction": until}
    if p.action in VISIBILITY_OTHER:
        out["decision_visibility_other"] = VISIBILITY_OTHER[p.action]
    return out


def decision_facts(decision: Decision) -> str:
    """Templated facts: no personal data (Art. 24(5)); the moderator's free text stays internal."""
    p = decision.proposal
    facts = [FACTS[decision.basis], f"Content: {CONTENT[p.target_kind]}."]
    if p.automated_detection:
        facts.append("The content was detected by automated means.")
    return " ".join(facts)


def to_tdb(decision: Decision, terms_url: str = "") -> dict[str, Any] | None:
    """The Transparency Database object for the decision, or None when none is submitted."""
    if not applies_to_tdb(decision):
        return None
    p = decision.proposal
    payload: dict[str, Any] = {
        "puid": decision.puid,
        **_restriction(decision),
        **_ground(decision),
        "content_type": ["CONTENT_TYPE_AUDIO"],
        "category": p.category,
        "territorial_scope": territorial_scope(decision),
        "content_date": day(decision.content_created_at),
        "application_date": day(decision.decided_at),
        "decision_facts": decision_facts(decision),
        "source_type": source_type(decision),
        "automated_detection": "Yes" if p.automated_detection else "No",
        "automated_decision": AUTOMATED[p.automated_decision],
    }
    if p.keywords:
        payload["category_specification"] = list(p.keywords)
    if terms_url and p.ground is Ground.INCOMPATIBLE:
        payload["decision_ground_reference_url"] = terms_url
    found = problems(payload)
    if found:  # a mapping bug: fail loudly rather than export an invalid statement
        raise ValueError(f"statement {decision.puid} does not match the schema: {found[0]}")
    return payload


def _duration(decision: Decision) -> str:
    until = decision.proposal.until
    return "indefinitely" if until is None else f"until {datetime.fromtimestamp(until, UTC):%Y-%m-%d %H:%M} UTC"


def body(decision: Decision, window_ends_at: float, months: int) -> str:
    """The statement of reasons as the affected user reads it: Art. 17(3)(a)-(f)."""
    p = decision.proposal
    what = WHAT[p.action].format(countries=", ".join(p.countries), label=p.label, duration=_duration(decision))
    lines = [what]
    if decision.restricts and p.action is not ActionKind.SUSPEND_ACCOUNT and p.until is not None:
        lines.append(f"The restriction lasts {_duration(decision)}.")
    lines.append(FACTS[decision.basis])
    if p.facts.strip() and decision.action is ActionKind.REVERSAL:
        lines.append(p.facts.strip())
    lines.append(
        "The content was detected by automated means." if p.automated_detection else "No automated detection was used."
    )
    human = p.automated_decision is Automation.NOT
    lines.append("The decision was taken by a person." if human else "Automated means helped decide.")
    if p.ground is Ground.ILLEGAL:
        lines.append(f"Legal ground: {p.legal_ground.strip()}. Why: {p.legal_explanation.strip()}")
    elif p.ground is Ground.INCOMPATIBLE:
        lines.append(f"Terms ground: {p.tos_ground.strip()}. Why: {p.tos_explanation.strip()}")
    if decision.action is not ActionKind.REVERSAL:
        lines.append(redress(window_ends_at, months))
    return "\n".join(lines)


def redress(window_ends_at: float, months: int) -> str:
    """How to contest a decision (Art. 17(3)(f), 16(5), 20, 21)."""
    return REDRESS.format(months=months, until=f"{datetime.fromtimestamp(window_ends_at, UTC):%Y-%m-%d}")
