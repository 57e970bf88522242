"""Request and response bodies of the trust and safety endpoints (api/trust/); OpenAPI comes from here.
Shapes only: the DSA rules (required fields per ground, windows, limits) are checked in the domain.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from townhall.api.schemas import Body
from townhall.domain.accounts import PlatformRole
from townhall.domain.appeals import AppealOutcome
from townhall.domain.moderation import ActionKind, Automation, Ground
from townhall.domain.notices import NOT_SPECIFIED


class NoticeItemIn(Body):
    kind: Literal["space", "replay", "clip", "account"] = Field(description="what is reported")
    id: str = Field(max_length=64, description="space, clip or account id (or an account's handle)")
    media_start_ms: int | None = Field(None, ge=0, description="where in the audio it starts")
    media_end_ms: int | None = Field(None, ge=0)


class NoticeIn(Body):
    items: list[NoticeItemIn] = Field(max_length=1000, description="exact locations (Art. 16(2)(b))")
    category: str = Field(NOT_SPECIFIED, max_length=100, description="a Transparency Database category")
    keywords: list[str] = Field([], max_length=20)
    explanation: str = Field(max_length=20_000, description="why the content is illegal or against the terms")
    is_illegal_content_claim: bool = Field(True, description="false for a terms report that claims no illegality")
    bona_fide: bool = Field(False, description="the good-faith statement (Art. 16(2)(d))")
    threat_to_life: bool = False
    notifier_name: str | None = Field(None, max_length=200)
    notifier_email: str | None = Field(None, max_length=320)


class NoticeOut(BaseModel):
    id: str
    state: str
    received_at: float
    source_kind: str
    message: str


class ProposalIn(Body):
    action: ActionKind
    target_kind: str | None = Field(None, description="space, replay, clip or account")
    target_id: str | None = Field(None, max_length=64)
    category: str = Field(NOT_SPECIFIED, max_length=100)
    ground: Ground | None = None
    legal_ground: str = Field("", max_length=1000)
    legal_explanation: str = Field("", max_length=4000)
    tos_ground: str = Field("", max_length=1000)
    tos_explanation: str = Field("", max_length=4000)
    tos_also_illegal: bool = False
    keywords: list[str] = Field([], max_length=20)
    speaker_id: str | None = Field(None, max_length=64)
    countries: list[str] = Field([], max_length=250)
    until: float | None = Field(None, description="Unix seconds; none means indefinitely")
    label: str = Field("", max_length=400)
    facts: str = Field("", max_length=10_000, description="internal notes; never sent to the Transparency Database")
    automated_detection: bool = False
    automated_decision: Automation = Automation.NOT
    manifestly: bool = Field(
        False, description="manifestly illegal content, or with no_action a manifestly unfounded notice (Art. 23)"
    )


class DecisionIn(ProposalIn):
    notice_ids: list[str] = Field([], max_length=100)


class DecisionOut(BaseModel):
    id: str
    puid: str
    basis: str
    action: str
    target_kind: str
    target_id: str
    affected_account_id: str | None
    decided_by: str
    decided_at: float
    state: str
    statement_id: str | None = None


class AppealIn(Body):
    text: str = Field(max_length=20_000)


class AppealDecisionIn(Body):
    outcome: AppealOutcome
    reasons: str = Field(max_length=20_000)
    manifestly_unfounded: bool = Field(
        False, description="with upheld: the complaint was manifestly unfounded (Art. 23)"
    )


class AppealOut(BaseModel):
    id: str
    decision_id: str
    role: str
    state: str
    lodged_at: float
    outcome: str | None = None
    reasons: str = ""
    reviewer_id: str | None = None
    new_decision_id: str | None = None


class OrderIn(Body):
    kind: Literal["act_against_content", "provide_information", "other_request"]
    authority: str = Field(max_length=300)
    member_state: str = Field(max_length=2)
    legal_basis: str = Field(max_length=500)
    reasons: str = Field(max_length=10_000)
    target_kind: str = Field(description="space, replay, clip or account")
    target_id: str = Field(max_length=64)
    territorial_scope: list[str] = Field([], max_length=250)
    category: str = Field(NOT_SPECIFIED, max_length=100)
    deadline: float | None = None


class OrderActIn(Body):
    outcome: Literal["effect_given", "partial", "not_given"] = "effect_given"
    note: str = Field("", max_length=5000)
    decision: ProposalIn | None = Field(None, description="the decision that gives effect (target: the order's)")


class RoleIn(Body):
    role: PlatformRole
    granted: bool = Field(True, description="false takes the role away")


class DisputeIn(Body):
    decision_id: str = Field(max_length=64)
    body_name: str = Field(max_length=300, description="the certified out-of-court dispute settlement body")
    body_certification_ref: str = Field(
        max_length=300, description="its certification by a Digital Services Coordinator"
    )
    appeal_id: str | None = Field(None, max_length=64)


class DisputeCloseIn(Body):
    outcome: Literal["for_recipient", "for_provider", "settled", "withdrawn"]
    implemented: bool = Field(description="whether the platform implemented the body's decision")
    note: str = Field("", max_length=5000)


class ReferralIn(Body):
    notice_id: str | None = Field(None, max_length=64)
    decision_id: str | None = Field(None, max_length=64)
    member_states: list[str] = Field(max_length=30)
    authority: str = Field(max_length=300)
    channel: str = Field(max_length=100, description="how it was sent, e.g. police portal, e-mail, Europol")
    summary: str = Field(max_length=5000)
