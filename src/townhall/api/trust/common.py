"""What the trust and safety endpoints share: the area's services on the runtime, query helpers, and
the JSON shapes of notices, decisions, appeals and statements. No handlers here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from townhall.api.runtime import runtime_of
from townhall.api.trust.schemas import AppealOut, DecisionOut, ProposalIn
from townhall.domain.appeals import Appeal
from townhall.domain.errors import Invalid
from townhall.domain.moderation import Decision, Proposal, proposal_fields
from townhall.domain.notices import Notice, TargetKind
from townhall.services.trust.appeals import AppealService
from townhall.services.trust.decisions import ModerationService
from townhall.services.trust.disputes import DisputeService
from townhall.services.trust.effects import Effects
from townhall.services.trust.misuse import MisuseService
from townhall.services.trust.notices import NoticeService
from townhall.services.trust.orders import OrderService
from townhall.services.trust.ports import Dispute, InboxEntry, Order, Referral, Restriction, Statement, TrustStores
from townhall.services.trust.staff import StaffService
from townhall.services.trust.tdb import TdbPublisher
from townhall.services.trust.withholding import Withholdings
from townhall.trust import geo


@dataclass
class Trust:
    """The area's services and its read ports, built once per runtime by `app/trust.py`."""

    stores: TrustStores
    withholdings: Withholdings
    notices: NoticeService
    moderation: ModerationService
    effects: Effects
    appeals: AppealService
    orders: OrderService
    geo: geo.CountryLookup
    disputes: DisputeService
    staff: StaffService
    misuse: MisuseService
    tdb: TdbPublisher | None = None


def trust_of(request: Request) -> Trust:
    found: Trust = runtime_of(request).trust
    return found


def limit_of(request: Request, default: int = 50) -> int:
    try:
        wanted = int(request.query_params.get("limit", str(default)))
    except ValueError as exc:
        raise Invalid("invalid_limit", "limit must be a number") from exc
    cap: int = runtime_of(request).settings.list_limit_max
    return max(1, min(wanted, cap))


def period_of(request: Request) -> tuple[str, str]:
    today = datetime.fromtimestamp(runtime_of(request).clock(), UTC).date()
    return (
        request.query_params.get("from", f"{today.year}-01-01"),
        request.query_params.get("to", today.isoformat()),
    )


# --- output shapes ----------------------------------------------------------------------------------
def notice_out(n: Notice, priority: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": n.id,
        "state": n.state.value,
        "received_at": n.received_at,
        "source_kind": n.source_kind.value,
        "category": n.category,
        "keywords": list(n.keywords),
        "explanation": n.explanation,
        "is_illegal_content_claim": n.is_illegal_content_claim,
        "threat_to_life": n.threat_to_life,
        "items": [
            {
                "kind": i.kind.value,
                "id": i.target_id,
                "media_start_ms": i.media_start_ms,
                "media_end_ms": i.media_end_ms,
            }
            for i in n.items
        ],
        "decision_id": n.decision_id,
        "signed_in_notifier": n.notifier_account_id is not None,
    }
    if priority is not None:
        out["priority"] = priority
    return out


def decision_out(d: Decision, statement_id: str | None = None) -> dict[str, Any]:
    return {
        **DecisionOut(
            id=d.id,
            puid=d.puid,
            basis=d.basis.value,
            action=d.action.value,
            target_kind=d.proposal.target_kind.value,
            target_id=d.proposal.target_id,
            affected_account_id=d.affected_account_id,
            decided_by=d.decided_by,
            decided_at=d.decided_at,
            state=d.state.value,
            statement_id=statement_id,
        ).model_dump(),
        "proposal": proposal_fields(d.proposal),
        "notice_ids": list(d.notice_ids),
        "order_id": d.order_id,
        "appeal_id": d.appeal_id,
        "supersedes_id": d.supersedes_id,
    }


def appeal_out(a: Appeal) -> dict[str, Any]:
    return AppealOut(
        id=a.id,
        decision_id=a.decision_id,
        role=a.role.value,
        state=a.state.value,
        lodged_at=a.lodged_at,
        outcome=a.outcome.value if a.outcome else None,
        reasons=a.reasons,
        reviewer_id=a.reviewer_id,
        new_decision_id=a.new_decision_id,
    ).model_dump()


def proposal_of(body: ProposalIn, target_kind: str, target_id: str) -> Proposal:
    kinds = {"space": TargetKind.SPACE_LIVE, "replay": TargetKind.SPACE_REPLAY}
    try:
        kind = kinds.get(target_kind) or TargetKind(target_kind)
    except ValueError as exc:
        raise Invalid("invalid_target_kind", "target_kind must be space, replay, clip or account") from exc
    return Proposal(
        action=body.action,
        target_kind=kind,
        target_id=target_id,
        category=body.category,
        ground=body.ground,
        legal_ground=body.legal_ground,
        legal_explanation=body.legal_explanation,
        tos_ground=body.tos_ground,
        tos_explanation=body.tos_explanation,
        tos_also_illegal=body.tos_also_illegal,
        keywords=tuple(body.keywords),
        speaker_id=body.speaker_id,
        countries=tuple(body.countries),
        until=body.until,
        label=body.label,
        facts=body.facts,
        automated_detection=body.automated_detection,
        automated_decision=body.automated_decision,
        manifestly=body.manifestly,
    )


def statement_out(s: Statement) -> dict[str, Any]:
    return {
        "id": s.id,
        "decision_id": s.decision_id,
        "recipient_account_id": s.recipient_account_id,
        "created_at": s.created_at,
        "text": s.body,
        "appeal_until": s.window_ends_at,
        "tdb_state": s.tdb_state,
        "tdb": json.loads(s.tdb_payload) if s.tdb_payload else None,
    }


def record_out(record: Order | Dispute | Referral | Restriction | InboxEntry) -> dict[str, Any]:
    """A stored record (order, dispute, referral, restriction, inbox entry) as JSON, field by field."""
    return dataclasses.asdict(record)
