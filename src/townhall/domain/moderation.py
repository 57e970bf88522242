"""Moderation decisions (DSA Art. 17): what a moderator may decide, what each decision needs, and the
decision's states through appeal and reversal. Pure: no I/O, no clock; times are passed in.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from townhall.domain.errors import Conflict, Invalid
from townhall.domain.notices import TargetKind

COUNTRY = re.compile(r"^[A-Z]{2}\Z")
LEGAL_GROUND_MAX = 500
EXPLANATION_MAX = 2000
FACTS_MAX = 5000
LABEL_MAX = 200


class ActionKind(StrEnum):
    END_SPACE = "end_space"
    REMOVE_SPEAKER = "remove_speaker"
    MUTE_SPEAKER = "mute_speaker"
    WITHHOLD = "withhold"
    LABEL = "label"
    RESTRICT_DISCOVERY = "restrict_discovery"
    SUSPEND_ACCOUNT = "suspend_account"
    NO_ACTION = "no_action"
    REVERSAL = "reversal"  # an appeal reversed an earlier decision; its restrictions are lifted


class Ground(StrEnum):
    ILLEGAL = "illegal"
    INCOMPATIBLE = "incompatible"


class Basis(StrEnum):
    NOTICE = "notice"
    OWN_INITIATIVE = "own_initiative"
    MISUSE = "misuse"  # Art. 23 rule after a warning
    ART9_ORDER = "art9_order"
    AUTHORITY_OTHER = "authority_other"
    APPEAL_REVERSAL = "appeal_reversal"
    DISPUTE_OUTCOME = "dispute_outcome"  # an out-of-court body decided for the recipient (Art. 21)


class Automation(StrEnum):
    FULLY = "fully"
    PARTIALLY = "partially"
    NOT = "not"


class DecisionState(StrEnum):
    COMMUNICATED = "communicated"  # applied and the statement of reasons delivered, together
    UNDER_APPEAL = "under_appeal"
    SUPERSEDED = "superseded"  # reversed on appeal


SPACE_TARGETS = frozenset({TargetKind.SPACE_LIVE, TargetKind.SPACE_REPLAY})
CONTENT_TARGETS = frozenset({TargetKind.SPACE_LIVE, TargetKind.SPACE_REPLAY, TargetKind.CLIP})
TARGETS: dict[ActionKind, frozenset[TargetKind]] = {
    ActionKind.END_SPACE: frozenset({TargetKind.SPACE_LIVE}),
    ActionKind.REMOVE_SPEAKER: frozenset({TargetKind.SPACE_LIVE}),
    ActionKind.MUTE_SPEAKER: frozenset({TargetKind.SPACE_LIVE}),
    ActionKind.WITHHOLD: CONTENT_TARGETS,
    ActionKind.LABEL: CONTENT_TARGETS,
    ActionKind.RESTRICT_DISCOVERY: CONTENT_TARGETS,
    ActionKind.SUSPEND_ACCOUNT: frozenset({TargetKind.ACCOUNT}),
    ActionKind.NO_ACTION: frozenset(TargetKind),
    ActionKind.REVERSAL: frozenset(TargetKind),
}
SPEAKER_ACTIONS = frozenset({ActionKind.REMOVE_SPEAKER, ActionKind.MUTE_SPEAKER})


@dataclass(frozen=True, slots=True)
class Proposal:
    """What a moderator (or an order, or the misuse rule) asks to decide, before it is checked."""

    action: ActionKind
    target_kind: TargetKind
    target_id: str
    category: str
    ground: Ground | None = None
    legal_ground: str = ""
    legal_explanation: str = ""
    tos_ground: str = ""
    tos_explanation: str = ""
    tos_also_illegal: bool = False
    keywords: tuple[str, ...] = ()
    speaker_id: str | None = None  # the speaker to remove or mute
    countries: tuple[str, ...] = ()  # withholding: ISO 3166-1 alpha-2
    until: float | None = None  # end of a suspension, withholding or label; None = indefinite
    label: str = ""
    facts: str = ""
    automated_detection: bool = False
    automated_decision: Automation = Automation.NOT
    manifestly: bool = False  # manifestly illegal content, or (no action) a manifestly unfounded notice


def proposal_fields(p: Proposal) -> dict[str, object]:
    """A proposal as plain JSON values (how it is stored and shown)."""
    out = asdict(p)
    out.update(
        action=p.action.value,
        target_kind=p.target_kind.value,
        ground=p.ground.value if p.ground else None,
        automated_decision=p.automated_decision.value,
        keywords=list(p.keywords),
        countries=list(p.countries),
    )
    return out


def proposal_from(d: Mapping[str, Any]) -> Proposal:
    """The inverse of `proposal_fields` (values as JSON gives them back)."""
    return Proposal(
        **{
            **d,
            "action": ActionKind(d["action"]),
            "target_kind": TargetKind(d["target_kind"]),
            "ground": Ground(d["ground"]) if d["ground"] else None,
            "automated_decision": Automation(d["automated_decision"]),
            "keywords": tuple(d["keywords"]),
            "countries": tuple(d["countries"]),
        }
    )


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    basis: Basis
    proposal: Proposal
    affected_account_id: str | None
    decided_by: str
    decided_at: float
    content_created_at: float
    state: DecisionState = DecisionState.COMMUNICATED
    notice_ids: tuple[str, ...] = ()
    source_trusted_flagger: bool = False
    source_illegal_claim: bool = True
    order_id: str | None = None
    appeal_id: str | None = None
    supersedes_id: str | None = None

    @property
    def puid(self) -> str:
        """Platform unique id for the Transparency Database: never reused, `^[a-zA-Z0-9_-]+$`."""
        return f"th-dec-{self.id}"

    @property
    def action(self) -> ActionKind:
        return self.proposal.action

    @property
    def restricts(self) -> bool:
        return self.action not in (ActionKind.NO_ACTION, ActionKind.REVERSAL)


def _text(value: str, code: str, what: str, limit: int) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise Invalid(code, f"{what} is required")
    if len(cleaned) > limit:
        raise Invalid(f"{code.removesuffix('_required')}_too_long", f"{what} may have at most {limit} characters")
    return cleaned


def _check_ground(p: Proposal) -> None:
    if p.ground is None:
        raise Invalid("ground_required", "say whether the content is illegal or incompatible with the terms")
    if p.ground is Ground.ILLEGAL:
        _text(p.legal_ground, "legal_ground_required", "the legal ground", LEGAL_GROUND_MAX)
        _text(p.legal_explanation, "legal_explanation_required", "why the content is illegal", EXPLANATION_MAX)
    else:
        _text(p.tos_ground, "tos_ground_required", "the terms ground", LEGAL_GROUND_MAX)
        _text(p.tos_explanation, "tos_explanation_required", "why the content breaks the terms", EXPLANATION_MAX)


def check_proposal(p: Proposal, now: float, categories: Collection[str], keywords: Collection[str]) -> Proposal:
    """Raise unless the proposal is complete for its action (Art. 17(3)); return it cleaned."""
    if p.target_kind not in TARGETS[p.action]:
        raise Invalid("action_not_for_target", f"{p.action.value} does not apply to a {p.target_kind.value}")
    if p.category not in categories:
        raise Invalid("invalid_category", "category must be one of the Transparency Database categories")
    unknown = [k for k in p.keywords if k not in keywords]
    if unknown:
        raise Invalid("invalid_keyword", f"unknown keyword {unknown[0]}")
    if len(p.facts) > FACTS_MAX:
        raise Invalid("facts_too_long", f"the facts may have at most {FACTS_MAX} characters")
    if p.action in (ActionKind.NO_ACTION, ActionKind.REVERSAL):
        return p
    _check_ground(p)
    if p.action in SPEAKER_ACTIONS and not p.speaker_id:
        raise Invalid("speaker_required", "name the speaker (account id) to remove or mute")
    countries = tuple(sorted({c.strip().upper() for c in p.countries}))
    if p.action is ActionKind.WITHHOLD:
        if not countries or not all(COUNTRY.match(c) for c in countries):
            raise Invalid("countries_required", "withholding needs ISO 3166-1 alpha-2 country codes, e.g. DE")
    if p.action is ActionKind.LABEL:
        _text(p.label, "label_required", "the label", LABEL_MAX)
    if p.until is not None and p.until <= now:
        raise Invalid("until_in_past", "the end of the restriction must be in the future")
    return replace(p, countries=countries, label=p.label.strip())


# --- states -----------------------------------------------------------------------------------------
def under_appeal(decision: Decision) -> Decision:
    if decision.state is DecisionState.SUPERSEDED:
        raise Conflict("decision_superseded", "this decision was already reversed")
    return replace(decision, state=DecisionState.UNDER_APPEAL)


def upheld(decision: Decision) -> Decision:
    return replace(decision, state=DecisionState.COMMUNICATED)


def reversed_by(decision: Decision) -> Decision:
    if decision.state is DecisionState.SUPERSEDED:
        raise Conflict("decision_superseded", "this decision was already reversed")
    return replace(decision, state=DecisionState.SUPERSEDED)


def reversal(
    original: Decision,
    new_id: str,
    reviewer_id: str,
    appeal_id: str | None,
    reasons: str,
    now: float,
    basis: Basis = Basis.APPEAL_REVERSAL,
) -> Decision:
    """The decision that reverses `original` (on appeal, or after an out-of-court settlement): it lifts
    what the original imposed."""
    how = "on appeal" if basis is Basis.APPEAL_REVERSAL else "after an out-of-court dispute settlement"
    proposal = replace(
        original.proposal,
        action=ActionKind.REVERSAL,
        facts=f"Decision {original.puid} reversed {how}. {reasons}"[:FACTS_MAX],
        automated_detection=False,
        automated_decision=Automation.NOT,
        manifestly=False,
    )
    return Decision(
        id=new_id,
        basis=basis,
        proposal=proposal,
        affected_account_id=original.affected_account_id,
        decided_by=reviewer_id,
        decided_at=now,
        content_created_at=original.content_created_at,
        appeal_id=appeal_id,
        supersedes_id=original.id,
    )
